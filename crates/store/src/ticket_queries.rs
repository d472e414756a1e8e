//! Read queries of support tickets and their voice notes (tables of migrations 0040, 0041).

use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use vpnkeeper_domain::command::voice::{VoiceNote, VoiceStatus};
use vpnkeeper_domain::ticket::{Ticket, TicketMessage, TicketStatus};

use crate::queries::{Page, ReadStore};

const TICKET_COLS: &str = "id, telegram_id, user_id, status, created_at, updated_at, closed_at";
const MESSAGE_COLS: &str = "id, ticket_id, author, text, at";
const VOICE_COLS: &str =
    "message_id, ticket_id, telegram_id, file_id, duration_secs, language, status, result, created_at";

fn voice_from_row(r: &SqliteRow) -> VoiceNote {
    let status: String = r.get(6);
    let result: Option<String> = r.get(7);
    VoiceNote {
        message_id: r.get(0),
        ticket_id: r.get(1),
        telegram_id: r.get(2),
        file_id: r.get(3),
        duration_secs: r.get::<i64, _>(4).clamp(0, u32::MAX as i64) as u32,
        language: r.get(5),
        // An unknown state (a newer version) reads as failed: nobody works on it.
        status: VoiceStatus::parse(&status).unwrap_or(VoiceStatus::Failed),
        result: result.and_then(|r| serde_json::from_str(&r).ok()),
        created_at_ms: r.get(8),
    }
}

fn ticket_from_row(r: &SqliteRow) -> Ticket {
    let status: String = r.get(3);
    Ticket {
        id: r.get(0),
        telegram_id: r.get(1),
        user_id: r.get(2),
        // An unknown state (a newer version) reads as closed: nothing is sent on it.
        status: TicketStatus::parse(&status).unwrap_or(TicketStatus::Closed),
        created_at_ms: r.get(4),
        updated_at_ms: r.get(5),
        closed_at_ms: r.get(6),
    }
}

fn message_from_row(r: &SqliteRow) -> TicketMessage {
    TicketMessage {
        id: r.get(0),
        ticket_id: r.get(1),
        author: r.get(2),
        text: r.get(3),
        at_ms: r.get(4),
    }
}

impl ReadStore {
    pub async fn ticket(&self, id: i64) -> Result<Option<Ticket>, sqlx::Error> {
        let row = sqlx::query(&format!("SELECT {TICKET_COLS} FROM tickets WHERE id = ?"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.as_ref().map(ticket_from_row))
    }

    /// Tickets, most recently active first; only those in `status` when given.
    pub async fn tickets(
        &self,
        status: Option<TicketStatus>,
        page: Page,
    ) -> Result<Vec<Ticket>, sqlx::Error> {
        let rows = sqlx::query(&format!(
            "SELECT {TICKET_COLS} FROM tickets WHERE (?1 IS NULL OR status = ?1)
             ORDER BY updated_at DESC, id DESC LIMIT ?2 OFFSET ?3"
        ))
        .bind(status.map(|s| s.as_str()))
        .bind(page.limit.clamp(1, 1000))
        .bind(page.offset.max(0))
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(ticket_from_row).collect())
    }

    /// A ticket's messages, oldest first.
    pub async fn ticket_messages(&self, ticket_id: i64) -> Result<Vec<TicketMessage>, sqlx::Error> {
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLS} FROM ticket_messages WHERE ticket_id = ? ORDER BY id"
        ))
        .bind(ticket_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(message_from_row).collect())
    }

    pub async fn ticket_message(&self, id: i64) -> Result<Option<TicketMessage>, sqlx::Error> {
        let row = sqlx::query(&format!(
            "SELECT {MESSAGE_COLS} FROM ticket_messages WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(message_from_row))
    }

    /// A ticket message's voice note, if it is one.
    pub async fn voice_note(&self, message_id: i64) -> Result<Option<VoiceNote>, sqlx::Error> {
        let row = sqlx::query(&format!(
            "SELECT {VOICE_COLS} FROM voice_notes WHERE message_id = ?"
        ))
        .bind(message_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(voice_from_row))
    }

    /// Voice notes waiting for their transcript, oldest first: the worker's queue.
    pub async fn pending_voice_notes(&self, limit: i64) -> Result<Vec<VoiceNote>, sqlx::Error> {
        let rows = sqlx::query(&format!(
            "SELECT {VOICE_COLS} FROM voice_notes WHERE status = 'pending'
             ORDER BY message_id LIMIT ?"
        ))
        .bind(limit.clamp(1, 1000))
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(voice_from_row).collect())
    }

    /// How many voice notes wait for their transcript (`/health`).
    pub async fn voice_queue_len(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT COUNT(*) FROM voice_notes WHERE status = 'pending'")
            .fetch_one(self.pool())
            .await
    }
}

//! Voice notes to support: the durable transcription queue (see
//! `vpnkeeper_domain::command::voice`). A note is a ticket message plus a `voice_notes` row,
//! pending until its result; the result applies once per note and queues the admins'
//! message in the bot's outbox in the same transaction, so they get it exactly once whoever
//! (which leader, how many retries) transcribed it.

use vpnkeeper_domain::command::voice::{self, VoiceResult, VoiceStatus};
use vpnkeeper_domain::telegram::OutboxItem;
use vpnkeeper_domain::{Applied, CommandError};

use super::{refuse_at, telegram::insert_outbox, ticket, Applying, Effect};
use crate::sql::{self, Conn};

/// The outbox payload of a transcript for an admin, in the bot's `Out` format
/// (`crates/bot/src/outbox.rs`, `Out::VoiceTranscript`): the store writes it, the bot reads it.
fn transcript_payload(message_id: i64) -> serde_json::Value {
    serde_json::json!({ "do": "voice_transcript", "message_id": message_id })
}

fn json_err(e: serde_json::Error) -> sql::Error {
    sql::Error::ToSqlConversionFailure(Box::new(e))
}

/// A `TicketVoice`, borrowed.
pub(super) struct Post<'a> {
    pub telegram_id: i64,
    pub file_id: &'a str,
    pub duration_secs: u32,
    pub language: Option<&'a str>,
    pub notify: &'a [i64],
}

/// A user's voice note: a message of their open ticket (or a new one), pending transcription.
pub(super) fn post(conn: &Conn, at: i64, p: Post<'_>) -> Applying {
    let (ticket_id, opened) = ticket::open_or_new(conn, at, p.telegram_id)?;
    let text = voice::pending_text(p.duration_secs);
    let message_id = ticket::add_message(conn, at, ticket_id, "user", &text)?;
    let notify = serde_json::to_string(p.notify).map_err(json_err)?;
    sql::query(
        "INSERT INTO voice_notes(message_id, ticket_id, telegram_id, file_id, duration_secs,
             language, notify, status, created_at)
         VALUES(?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
    )
    .bind(message_id)
    .bind(ticket_id)
    .bind(p.telegram_id)
    .bind(p.file_id)
    .bind(p.duration_secs as i64)
    .bind(p.language)
    .bind(notify)
    .bind(at)
    .execute(conn)?;
    Ok(Effect::new(
        Applied::Ticket {
            ticket_id,
            message_id,
            opened,
        },
        format!("ticket:{ticket_id}"),
    ))
}

/// The result of a pending note: stored, written into the ticket's message and queued to
/// the note's admins. A note that already has its result is left as it is.
pub(super) fn transcribed(conn: &Conn, at: i64, message_id: i64, result: &VoiceResult) -> Applying {
    let target = Some(format!("voice:{message_id}"));
    let row = sql::query(
        "SELECT ticket_id, status, notify, duration_secs FROM voice_notes WHERE message_id = ?",
    )
    .bind(message_id)
    .fetch_optional(conn)?;
    let Some(row) = row else {
        return Err(refuse_at(
            &target,
            CommandError::not_found(format!("voice note {message_id}")),
        ));
    };
    let ticket_id: i64 = row.get(0);
    let target = Some(format!("ticket:{ticket_id}"));
    if row.get::<String, _>(1) != VoiceStatus::Pending.as_str() {
        // Another worker's result is in (a former leader's, or one from before a crash).
        return Ok(Effect::new(Applied::Done, target));
    }
    let notify: Vec<i64> = serde_json::from_str(&row.get::<String, _>(2)).unwrap_or_default();
    let duration_secs = row.get::<i64, _>(3).clamp(0, u32::MAX as i64) as u32;
    sql::query("UPDATE voice_notes SET status = ?, result = ?, done_at = ? WHERE message_id = ?")
        .bind(VoiceStatus::of(result).as_str())
        .bind(serde_json::to_string(result).map_err(json_err)?)
        .bind(at)
        .bind(message_id)
        .execute(conn)?;
    sql::query("UPDATE ticket_messages SET text = ? WHERE id = ?")
        .bind(voice::result_text(duration_secs, result))
        .bind(message_id)
        .execute(conn)?;
    sql::query("UPDATE tickets SET updated_at = ? WHERE id = ?")
        .bind(at)
        .bind(ticket_id)
        .execute(conn)?;
    let items: Vec<OutboxItem> = notify
        .into_iter()
        .map(|chat_id| OutboxItem {
            chat_id,
            payload: transcript_payload(message_id),
        })
        .collect();
    insert_outbox(conn, at, None, &items, &[])?;
    Ok(Effect::new(Applied::Done, target))
}

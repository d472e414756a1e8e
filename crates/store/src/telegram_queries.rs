//! Read queries of the Telegram bot's state (tables of migration 0003).

use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use vpnkeeper_domain::telegram::{AccessRequest, AccessStatus, Broadcast, OutboxRow, TelegramChat};
use vpnkeeper_domain::{ApplyOutcome, NodeId};

use crate::queries::{Page, ReadStore};

/// The numbers of the admin's stats screen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BotStats {
    pub users: i64,
    pub users_enabled: i64,
    pub devices_active: i64,
    /// Active devices with a handshake since the given time.
    pub devices_seen: i64,
    pub rx_bytes: i64,
    pub tx_bytes: i64,
}

fn json_col(r: &SqliteRow, i: usize) -> Result<Option<serde_json::Value>, sqlx::Error> {
    let text: Option<String> = r.get(i);
    text.map(|t| serde_json::from_str(&t))
        .transpose()
        .map_err(|e| sqlx::Error::ColumnDecode {
            index: i.to_string(),
            source: Box::new(e),
        })
}

fn access_from_row(r: &SqliteRow) -> AccessRequest {
    let status: String = r.get(2);
    AccessRequest {
        telegram_id: r.get(0),
        display: r.get(1),
        // Unknown states (a newer version) read as denied: never as access.
        status: AccessStatus::parse(&status).unwrap_or(AccessStatus::Denied),
        requested_at_ms: r.get(3),
        decided_at_ms: r.get(4),
        decided_by: r.get(5),
    }
}

fn broadcast_from_row(r: &SqliteRow) -> Broadcast {
    Broadcast {
        id: r.get(0),
        text: r.get(1),
        admin_chat: r.get(2),
        created_at_ms: r.get(3),
        cursor: r.get(4),
        sent: r.get(5),
        failed: r.get(6),
        finished_at_ms: r.get(7),
    }
}

const BROADCAST_COLS: &str = "id, text, admin_chat, created_at, cursor, sent, failed, finished_at";
const ACCESS_COLS: &str = "telegram_id, display, status, requested_at, decided_at, decided_by";

impl ReadStore {
    /// The getUpdates offset to resume from: every update id below it is handled.
    pub async fn tg_next_offset(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT next_offset FROM tg_poll WHERE id = 1")
            .fetch_one(self.pool())
            .await
    }

    /// Whether an update id is known to be handled (so a redelivery can be skipped early;
    /// apply checks again, this is only a shortcut).
    pub async fn tg_is_handled(&self, update_id: i64) -> Result<bool, sqlx::Error> {
        let row: Option<i64> = sqlx::query_scalar(
            "SELECT 1 WHERE ? < (SELECT next_offset FROM tg_poll WHERE id = 1)
             OR EXISTS (SELECT 1 FROM tg_handled WHERE update_id = ?)",
        )
        .bind(update_id)
        .bind(update_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.is_some())
    }

    /// Pending outbox rows, oldest first.
    pub async fn tg_outbox(&self, limit: i64) -> Result<Vec<OutboxRow>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, update_id, chat_id, payload, outcomes, created_at FROM tg_outbox ORDER BY id LIMIT ?",
        )
        .bind(limit.clamp(1, 10_000))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let outcomes: String = r.get(4);
                Ok(OutboxRow {
                    id: r.get(0),
                    update_id: r.get(1),
                    chat_id: r.get(2),
                    payload: json_col(r, 3)?.unwrap_or_default(),
                    outcomes: serde_json::from_str::<Vec<ApplyOutcome>>(&outcomes)
                        .unwrap_or_default(),
                    created_at_ms: r.get(5),
                })
            })
            .collect()
    }

    /// Whether the outbox still holds exactly this row (not performed and reported since;
    /// row ids can be reused once a row is gone, so the id alone does not tell).
    pub async fn tg_outbox_has(&self, row: &OutboxRow) -> Result<bool, sqlx::Error> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM tg_outbox WHERE id = ? AND chat_id = ? AND created_at = ? AND update_id IS ?",
        )
        .bind(row.id)
        .bind(row.chat_id)
        .bind(row.created_at_ms)
        .bind(row.update_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(found.is_some())
    }

    pub async fn tg_chat(&self, telegram_id: i64) -> Result<Option<TelegramChat>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT telegram_id, lang, main_message_id, pending FROM tg_chats WHERE telegram_id = ?",
        )
        .bind(telegram_id)
        .fetch_optional(self.pool())
        .await?;
        row.map(|r| {
            Ok(TelegramChat {
                telegram_id: r.get(0),
                lang: r.get(1),
                main_message_id: r.get(2),
                pending: json_col(&r, 3)?,
            })
        })
        .transpose()
    }

    pub async fn tg_access_request(
        &self,
        telegram_id: i64,
    ) -> Result<Option<AccessRequest>, sqlx::Error> {
        let row = sqlx::query(&format!(
            "SELECT {ACCESS_COLS} FROM tg_access_requests WHERE telegram_id = ?"
        ))
        .bind(telegram_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(access_from_row))
    }

    /// Requests waiting for an admin, oldest first, and how many there are in all.
    pub async fn tg_pending_requests(
        &self,
        page: Page,
    ) -> Result<(Vec<AccessRequest>, i64), sqlx::Error> {
        let rows = sqlx::query(&format!(
            "SELECT {ACCESS_COLS} FROM tg_access_requests WHERE status = 'pending'
             ORDER BY requested_at, telegram_id LIMIT ? OFFSET ?"
        ))
        .bind(page.limit.clamp(1, 1000))
        .bind(page.offset.max(0))
        .fetch_all(self.pool())
        .await?;
        let total: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM tg_access_requests WHERE status = 'pending'")
                .fetch_one(self.pool())
                .await?;
        Ok((rows.iter().map(access_from_row).collect(), total))
    }

    /// The broadcast that is still being sent, if any.
    pub async fn tg_active_broadcast(&self) -> Result<Option<Broadcast>, sqlx::Error> {
        let row = sqlx::query(&format!(
            "SELECT {BROADCAST_COLS} FROM tg_broadcasts WHERE finished_at IS NULL ORDER BY created_at LIMIT 1"
        ))
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(broadcast_from_row))
    }

    pub async fn tg_broadcast(&self, id: &str) -> Result<Option<Broadcast>, sqlx::Error> {
        let row = sqlx::query(&format!(
            "SELECT {BROADCAST_COLS} FROM tg_broadcasts WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(broadcast_from_row))
    }

    /// Broadcast recipients after user id `after`: `(user id, telegram id)` of enabled users.
    pub async fn tg_recipients(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(i64, i64)>, sqlx::Error> {
        sqlx::query_as(
            "SELECT id, telegram_id FROM users WHERE id > ? AND enabled = 1 AND telegram_id IS NOT NULL ORDER BY id LIMIT ?",
        )
        .bind(after)
        .bind(limit.clamp(1, 10_000))
        .fetch_all(self.pool())
        .await
    }

    /// How many users a broadcast would reach.
    pub async fn tg_recipient_count(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT COUNT(*) FROM users WHERE enabled = 1 AND telegram_id IS NOT NULL",
        )
        .fetch_one(self.pool())
        .await
    }

    /// Counts for the admin stats; `seen_since_ms` bounds "active" (last handshake).
    pub async fn bot_stats(&self, seen_since_ms: i64) -> Result<BotStats, sqlx::Error> {
        let r = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM users), (SELECT COUNT(*) FROM users WHERE enabled = 1),
                    (SELECT COUNT(*) FROM devices WHERE revoked_at IS NULL),
                    (SELECT COUNT(*) FROM devices WHERE revoked_at IS NULL AND last_handshake_at >= ?),
                    (SELECT COALESCE(SUM(rx_bytes), 0) FROM devices),
                    (SELECT COALESCE(SUM(tx_bytes), 0) FROM devices)",
        )
        .bind(seen_since_ms)
        .fetch_one(self.pool())
        .await?;
        Ok(BotStats {
            users: r.get(0),
            users_enabled: r.get(1),
            devices_active: r.get(2),
            devices_seen: r.get(3),
            rx_bytes: r.get(4),
            tx_bytes: r.get(5),
        })
    }

    /// Active devices per node, for choosing the least loaded node for a new device.
    pub async fn active_devices_per_node(&self) -> Result<Vec<(NodeId, i64)>, sqlx::Error> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT n.id, (SELECT COUNT(*) FROM devices d WHERE d.node_id = n.id AND d.revoked_at IS NULL)
             FROM nodes n ORDER BY n.id",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|(n, c)| (n as NodeId, c)).collect())
    }
}

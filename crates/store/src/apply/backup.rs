//! `TelegramBackupDue`: queues a scheduled backup for each admin chat in the bot's outbox,
//! once per schedule slot. The row holds only the slot; the bot's sender makes the sealed
//! file when it performs the row, so no backup (and no secret) enters the log.

use vpnkeeper_domain::telegram::OutboxItem;
use vpnkeeper_domain::Applied;

use super::{telegram::insert_outbox, Applying, Effect};
use crate::sql::{self, Conn};

/// The outbox payload of a scheduled backup, in the bot's `Out` format
/// (`crates/bot/src/outbox.rs`, `Out::Backup`): the store writes it, the bot reads it.
fn backup_payload(slot_ms: i64) -> serde_json::Value {
    serde_json::json!({ "do": "backup", "slot_ms": slot_ms })
}

/// Queues slot `slot_ms` to `chats` unless a slot as late was queued already (a proposal
/// repeated after a leader change, or a late one): then nothing changes.
pub(super) fn telegram_due(conn: &Conn, at: i64, slot_ms: i64, chats: &[i64]) -> Applying {
    let target = format!("slot:{slot_ms}");
    let last: Option<i64> =
        sql::query_scalar("SELECT last_slot_ms FROM backup_telegram WHERE id = 1")
            .fetch_optional(conn)?;
    if last.is_some_and(|l| l >= slot_ms) {
        return Ok(Effect::new(Applied::Telegram { duplicate: true }, target));
    }
    sql::query(
        "INSERT INTO backup_telegram(id, last_slot_ms, queued_at) VALUES(1, ?, ?)
         ON CONFLICT(id) DO UPDATE SET last_slot_ms = excluded.last_slot_ms,
                                       queued_at = excluded.queued_at",
    )
    .bind(slot_ms)
    .bind(at)
    .execute(conn)?;
    let items: Vec<OutboxItem> = chats
        .iter()
        .map(|chat| OutboxItem {
            chat_id: *chat,
            payload: backup_payload(slot_ms),
        })
        .collect();
    insert_outbox(conn, at, None, &items, &[])?;
    Ok(Effect::new(Applied::Telegram { duplicate: false }, target))
}

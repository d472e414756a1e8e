//! The Telegram bot's updates, delivery reports and chat state (see
//! `vpnkeeper_domain::telegram` for the design).
//!
//! The exactly-once rule lives in [`update`]: an update id below the stored offset or in
//! `tg_handled` changes nothing; otherwise its commands, its outbox rows, its id and the new
//! offset are written in the same transaction as every other effect of the entry.

use vpnkeeper_domain::telegram::{ChatChange, Delivered, OutboxItem};
use vpnkeeper_domain::{Applied, ApplyOutcome, Command};

use super::{all_or_nothing, Applying, Ctx, Effect};
use crate::change::Change;
use crate::sql::{self, Conn};

fn json_err(e: serde_json::Error) -> sql::Error {
    sql::Error::ToSqlConversionFailure(Box::new(e))
}

/// One update and everything it causes. Its commands apply all or nothing, each audited
/// under the envelope's actor; their outcomes are stored with the outbox rows.
pub(super) fn update(
    conn: &Conn,
    ctx: Ctx<'_>,
    command: &Command,
    changes: &mut Vec<Change>,
) -> Applying {
    let Command::TelegramUpdate {
        update_id,
        offset,
        commands,
        outbox,
    } = command
    else {
        unreachable!("dispatched on TelegramUpdate")
    };
    let update_id = *update_id;
    let target = Some(format!("tg_update:{update_id}"));
    let next_offset: i64 =
        sql::query_scalar("SELECT next_offset FROM tg_poll WHERE id = 1").fetch_one(conn)?;
    let seen: Option<i64> = sql::query_scalar("SELECT 1 FROM tg_handled WHERE update_id = ?")
        .bind(update_id)
        .fetch_optional(conn)?;
    if update_id < next_offset || seen.is_some() {
        return Ok(Effect::new(Applied::Telegram { duplicate: true }, target));
    }
    let outcomes = all_or_nothing(conn, ctx, commands, changes)?;
    insert_outbox(conn, ctx.at, Some(update_id), outbox, &outcomes)?;
    // The offset only moves forward; ids below it need no row of their own any more.
    let new_offset = next_offset.max(*offset);
    sql::query("UPDATE tg_poll SET next_offset = ? WHERE id = 1")
        .bind(new_offset)
        .execute(conn)?;
    sql::query("INSERT INTO tg_handled(update_id) VALUES(?)")
        .bind(update_id)
        .execute(conn)?;
    sql::query("DELETE FROM tg_handled WHERE update_id < ?")
        .bind(new_offset)
        .execute(conn)?;
    Ok(Effect::new(Applied::Telegram { duplicate: false }, target))
}

pub(super) fn delivered(conn: &Conn, at: i64, delivered: &[Delivered]) -> Applying {
    for d in delivered {
        let chat: Option<i64> =
            sql::query_scalar("DELETE FROM tg_outbox WHERE id = ? RETURNING chat_id")
                .bind(d.outbox_id)
                .fetch_optional(conn)?;
        // Only a row that was still pending may set the main message: a late duplicate report
        // must not point the chat back at an older message.
        if let (Some(chat), Some(message)) = (chat, d.main_message_id) {
            sql::query(
                "INSERT INTO tg_chats(telegram_id, main_message_id, updated_at) VALUES(?, ?, ?)
                 ON CONFLICT(telegram_id) DO UPDATE SET main_message_id = excluded.main_message_id, updated_at = excluded.updated_at",
            )
            .bind(chat)
            .bind(message)
            .bind(at)
            .execute(conn)?;
        }
    }
    Ok(Effect::new(Applied::Done, None))
}

pub(super) fn chat(conn: &Conn, at: i64, telegram_id: i64, change: &ChatChange) -> Applying {
    sql::query(
        "INSERT INTO tg_chats(telegram_id, updated_at) VALUES(?, ?) ON CONFLICT(telegram_id) DO NOTHING",
    )
    .bind(telegram_id)
    .bind(at)
    .execute(conn)?;
    if let Some(lang) = &change.lang {
        sql::query("UPDATE tg_chats SET lang = ?, updated_at = ? WHERE telegram_id = ?")
            .bind(lang)
            .bind(at)
            .bind(telegram_id)
            .execute(conn)?;
    }
    if let Some(pending) = &change.pending {
        sql::query("UPDATE tg_chats SET pending = ?, updated_at = ? WHERE telegram_id = ?")
            .bind(pending.as_ref().map(|p| p.to_string()))
            .bind(at)
            .bind(telegram_id)
            .execute(conn)?;
    }
    Ok(Effect::new(Applied::Done, format!("tg:{telegram_id}")))
}

/// Appends outbox rows with ids from `tg_poll.next_outbox_id`.
pub(super) fn insert_outbox(
    conn: &Conn,
    at: i64,
    update_id: Option<i64>,
    items: &[OutboxItem],
    outcomes: &[ApplyOutcome],
) -> Result<(), sql::Error> {
    let outcomes_json = serde_json::to_string(outcomes).map_err(json_err)?;
    let mut id: i64 =
        sql::query_scalar("SELECT next_outbox_id FROM tg_poll WHERE id = 1").fetch_one(conn)?;
    for item in items {
        sql::query(
            "INSERT INTO tg_outbox(id, update_id, chat_id, payload, outcomes, created_at) VALUES(?, ?, ?, ?, ?, ?)",
        )
        .bind(id)
        .bind(update_id)
        .bind(item.chat_id)
        .bind(item.payload.to_string())
        .bind(&outcomes_json)
        .bind(at)
        .execute(conn)?;
        id += 1;
    }
    sql::query("UPDATE tg_poll SET next_outbox_id = ? WHERE id = 1")
        .bind(id)
        .execute(conn)?;
    Ok(())
}

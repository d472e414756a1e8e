//! Messages to all users: start, and progress reports from the bot's sender.

use vpnkeeper_domain::{Applied, Command, CommandError};

use super::telegram::insert_outbox;
use super::{refuse_at, Applying, Effect};
use crate::sql::{self, Conn};

pub(super) fn start(conn: &Conn, at: i64, id: &str, text: &str, admin_chat: i64) -> Applying {
    let target = Some(format!("broadcast:{id}"));
    let running: Option<String> =
        sql::query_scalar("SELECT id FROM tg_broadcasts WHERE finished_at IS NULL LIMIT 1")
            .fetch_optional(conn)?;
    if let Some(other) = running {
        return Err(refuse_at(
            &target,
            CommandError::conflict(
                None,
                format!("broadcast {other} is still running; wait until it finishes"),
            ),
        ));
    }
    let n = sql::query(
        "INSERT OR IGNORE INTO tg_broadcasts(id, text, admin_chat, created_at) VALUES(?, ?, ?, ?)",
    )
    .bind(id)
    .bind(text)
    .bind(admin_chat)
    .bind(at)
    .execute(conn)?
    .rows_affected();
    if n == 0 {
        return Err(refuse_at(
            &target,
            CommandError::conflict(
                Some("broadcast_id"),
                format!("broadcast {id} exists already"),
            ),
        ));
    }
    Ok(Effect::new(Applied::Done, target))
}

/// How far a broadcast got. Counts are absolute and the cursor only moves forward, so a
/// repeated report is harmless; the "finished" notice is stored once.
pub(super) fn progress(conn: &Conn, at: i64, command: &Command) -> Applying {
    let Command::BroadcastProgress {
        broadcast_id: id,
        cursor,
        sent,
        failed,
        finished,
        notify,
    } = command
    else {
        unreachable!("dispatched on BroadcastProgress")
    };
    let target = Some(format!("broadcast:{id}"));
    let open: Option<Option<i64>> =
        sql::query_scalar("SELECT finished_at FROM tg_broadcasts WHERE id = ?")
            .bind(id)
            .fetch_optional(conn)?;
    let Some(finished_at) = open else {
        return Err(refuse_at(
            &target,
            CommandError::not_found(format!("broadcast {id}")),
        ));
    };
    sql::query(
        "UPDATE tg_broadcasts SET cursor = MAX(cursor, ?), sent = MAX(sent, ?), failed = MAX(failed, ?),
           finished_at = CASE WHEN ? AND finished_at IS NULL THEN ? ELSE finished_at END
         WHERE id = ?",
    )
    .bind(cursor)
    .bind(sent)
    .bind(failed)
    .bind(finished)
    .bind(at)
    .bind(id)
    .execute(conn)?;
    if *finished && finished_at.is_none() {
        insert_outbox(conn, at, None, notify, &[])?;
    }
    Ok(Effect::new(Applied::Done, target))
}

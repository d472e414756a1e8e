//! Applying the Telegram bot's commands (see `vpnkeeper_domain::telegram` for the design).
//!
//! The exactly-once rule lives in [`telegram_update`]: an update id below the stored offset or
//! in `tg_handled` changes nothing; otherwise its commands, its outbox rows, its id and the
//! new offset are written in the same transaction as every other effect of the entry.

use crate::sql::{self, Conn};
use vpnkeeper_domain::telegram::{AccessStatus, ChatChange, Delivered, OutboxItem};
use vpnkeeper_domain::{Applied, ApplyOutcome, Command, CommandError, Envelope, NodeId};

use crate::apply::{audit, run, Step};
use crate::state_machine::Change;

fn json_err(e: serde_json::Error) -> sql::Error {
    sql::Error::ToSqlConversionFailure(Box::new(e))
}

pub(crate) fn telegram_update(
    conn: &Conn,
    env: &Envelope,
    update_id: i64,
    offset: i64,
    commands: &[Command],
    outbox: &[OutboxItem],
    changes: &mut Vec<Change>,
) -> Result<Step, sql::Error> {
    let target = Some(format!("tg_update:{update_id}"));
    let next_offset: i64 =
        sql::query_scalar("SELECT next_offset FROM tg_poll WHERE id = 1").fetch_one(conn)?;
    let seen: Option<i64> = sql::query_scalar("SELECT 1 FROM tg_handled WHERE update_id = ?")
        .bind(update_id)
        .fetch_optional(conn)?;
    if update_id < next_offset || seen.is_some() {
        return Ok((Ok(Applied::Telegram { duplicate: true }), target));
    }

    // The update's commands: all or nothing, so a refusal half-way leaves no partial effect.
    let mut outcomes: Vec<ApplyOutcome> = Vec::with_capacity(commands.len());
    {
        let sp = sql::savepoint(conn)?;
        let mut local_changes = Vec::new();
        let mut refused = None;
        for command in commands {
            let inner = Envelope {
                at_ms: env.at_ms,
                actor: env.actor.clone(),
                command: command.clone(),
            };
            let (outcome, inner_target) = (run(&sp, &inner, &mut local_changes))?;
            match &outcome {
                Ok(_) => {
                    if command.is_audited() {
                        audit(&sp, &inner, inner_target.as_deref(), None)?;
                    }
                    outcomes.push(outcome);
                }
                Err(e) => {
                    refused = Some((inner, inner_target, e.clone()));
                    outcomes.push(outcome);
                    break;
                }
            }
        }
        match refused {
            None => {
                sp.commit()?;
                changes.extend(local_changes);
            }
            Some((inner, inner_target, e)) => {
                sp.rollback()?;
                audit(
                    conn,
                    &inner,
                    inner_target.as_deref(),
                    Some(&format!("refused: {e}")),
                )?;
            }
        }
    }

    insert_outbox(conn, env.at_ms, Some(update_id), outbox, &outcomes)?;
    // The offset only moves forward; ids below it need no row of their own any more.
    let new_offset = next_offset.max(offset);
    sql::query("UPDATE tg_poll SET next_offset = ? WHERE id = 1")
        .bind(new_offset)
        .execute(conn)?;
    sql::query("INSERT INTO tg_handled(update_id) VALUES(?)")
        .bind(update_id)
        .execute(conn)?;
    sql::query("DELETE FROM tg_handled WHERE update_id < ?")
        .bind(new_offset)
        .execute(conn)?;
    Ok((Ok(Applied::Telegram { duplicate: false }), target))
}

pub(crate) fn delivered(conn: &Conn, at: i64, delivered: &[Delivered]) -> Result<Step, sql::Error> {
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
    Ok((Ok(Applied::Done), None))
}

pub(crate) fn chat(
    conn: &Conn,
    at: i64,
    telegram_id: i64,
    change: &ChatChange,
) -> Result<Step, sql::Error> {
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
    Ok((Ok(Applied::Done), Some(format!("tg:{telegram_id}"))))
}

pub(crate) fn access_request(
    conn: &Conn,
    at: i64,
    telegram_id: i64,
    display: &str,
) -> Result<Step, sql::Error> {
    let target = Some(format!("tg:{telegram_id}"));
    let status: Option<String> =
        sql::query_scalar("SELECT status FROM tg_access_requests WHERE telegram_id = ?")
            .bind(telegram_id)
            .fetch_optional(conn)?;
    match status.as_deref().and_then(AccessStatus::parse) {
        Some(AccessStatus::Pending) => {
            return Ok((
                Err(CommandError::Conflict {
                    field: None,
                    message: "an access request is already waiting for an admin".into(),
                }),
                target,
            ))
        }
        Some(AccessStatus::Denied) => {
            return Ok((
                Err(CommandError::Conflict {
                    field: None,
                    message: "access was denied by an admin".into(),
                }),
                target,
            ))
        }
        // Approved before (and since removed or disabled) or never asked: ask (again).
        Some(AccessStatus::Approved) | None => {}
    }
    sql::query(
        "INSERT INTO tg_access_requests(telegram_id, display, status, requested_at) VALUES(?, ?, 'pending', ?)
         ON CONFLICT(telegram_id) DO UPDATE SET display = excluded.display, status = 'pending',
           requested_at = excluded.requested_at, decided_at = NULL, decided_by = NULL",
    )
    .bind(telegram_id)
    .bind(display)
    .bind(at)
    .execute(conn)?;
    Ok((Ok(Applied::Done), target))
}

pub(crate) fn access_decision(
    conn: &Conn,
    env: &Envelope,
    telegram_id: i64,
    approve: bool,
) -> Result<Step, sql::Error> {
    let target = Some(format!("tg:{telegram_id}"));
    let status = if approve {
        AccessStatus::Approved
    } else {
        AccessStatus::Denied
    };
    let n = sql::query(
        "UPDATE tg_access_requests SET status = ?, decided_at = ?, decided_by = ?
         WHERE telegram_id = ? AND status = 'pending'",
    )
    .bind(status.as_str())
    .bind(env.at_ms)
    .bind(env.actor.to_string())
    .bind(telegram_id)
    .execute(conn)?
    .rows_affected();
    if n == 0 {
        // Two admins pressing at once: the second finds it decided already.
        return Ok((
            Err(CommandError::NotFound {
                what: format!("pending access request of Telegram id {telegram_id}"),
            }),
            target,
        ));
    }
    Ok((Ok(Applied::Done), target))
}

pub(crate) fn request_reboot(conn: &Conn, node_id: NodeId) -> Result<Step, sql::Error> {
    let target = Some(format!("node:{node_id}"));
    let exists: Option<i64> = sql::query_scalar("SELECT 1 FROM nodes WHERE id = ?")
        .bind(node_id as i64)
        .fetch_optional(conn)?;
    if exists.is_none() {
        return Ok((
            Err(CommandError::NotFound {
                what: format!("node {node_id}"),
            }),
            target,
        ));
    }
    Ok((Ok(Applied::Node { id: node_id }), target))
}

pub(crate) fn start_broadcast(
    conn: &Conn,
    at: i64,
    id: &str,
    text: &str,
    admin_chat: i64,
) -> Result<Step, sql::Error> {
    let target = Some(format!("broadcast:{id}"));
    let running: Option<String> =
        sql::query_scalar("SELECT id FROM tg_broadcasts WHERE finished_at IS NULL LIMIT 1")
            .fetch_optional(conn)?;
    if let Some(other) = running {
        return Ok((
            Err(CommandError::Conflict {
                field: None,
                message: format!("broadcast {other} is still running; wait until it finishes"),
            }),
            target,
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
        return Ok((
            Err(CommandError::Conflict {
                field: Some("broadcast_id".into()),
                message: format!("broadcast {id} exists already"),
            }),
            target,
        ));
    }
    Ok((Ok(Applied::Done), target))
}

pub(crate) struct Progress<'a> {
    pub id: &'a str,
    pub cursor: i64,
    pub sent: i64,
    pub failed: i64,
    pub finished: bool,
    pub notify: &'a [OutboxItem],
}

pub(crate) fn broadcast_progress(
    conn: &Conn,
    at: i64,
    p: Progress<'_>,
) -> Result<Step, sql::Error> {
    let target = Some(format!("broadcast:{}", p.id));
    let open: Option<Option<i64>> =
        sql::query_scalar("SELECT finished_at FROM tg_broadcasts WHERE id = ?")
            .bind(p.id)
            .fetch_optional(conn)?;
    let Some(finished_at) = open else {
        return Ok((
            Err(CommandError::NotFound {
                what: format!("broadcast {}", p.id),
            }),
            target,
        ));
    };
    // Counts are absolute and the cursor only moves forward, so a repeated report is harmless.
    sql::query(
        "UPDATE tg_broadcasts SET cursor = MAX(cursor, ?), sent = MAX(sent, ?), failed = MAX(failed, ?),
           finished_at = CASE WHEN ? AND finished_at IS NULL THEN ? ELSE finished_at END
         WHERE id = ?",
    )
    .bind(p.cursor)
    .bind(p.sent)
    .bind(p.failed)
    .bind(p.finished)
    .bind(at)
    .bind(p.id)
    .execute(conn)?;
    if p.finished && finished_at.is_none() {
        insert_outbox(conn, at, None, p.notify, &[])?;
    }
    Ok((Ok(Applied::Done), target))
}

/// Appends outbox rows with ids from `tg_poll.next_outbox_id`.
fn insert_outbox(
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

//! Support tickets (see `vpnkeeper_domain::ticket`). A reply and a close queue their
//! message to the user in the bot's outbox here, in the same transaction, so whoever
//! answers (the bot or the API) the user gets it exactly once. Audit targets name the
//! ticket only: texts never reach the audit log.

use vpnkeeper_domain::command::UserRef;
use vpnkeeper_domain::telegram::OutboxItem;
use vpnkeeper_domain::{Applied, CommandError};

use super::{refuse_at, telegram::insert_outbox, user, Applying, Ctx, Effect};
use crate::sql::{self, Conn};

/// The outbox payload of an answer, in the bot's `Out` format (`crates/bot/src/outbox.rs`,
/// `Out::TicketAnswer`): the store writes it, the bot reads it.
fn answer_payload(message_id: i64) -> serde_json::Value {
    serde_json::json!({ "do": "ticket_answer", "message_id": message_id })
}

/// The outbox payload telling the user their ticket was closed (`Out::TicketClosed`).
fn closed_payload(ticket_id: i64) -> serde_json::Value {
    serde_json::json!({ "do": "ticket_closed", "ticket_id": ticket_id })
}

/// A user's message: appended to their open ticket, or to a new one.
pub(super) fn post(conn: &Conn, at: i64, telegram_id: i64, text: &str) -> Applying {
    let (ticket_id, opened) = open_or_new(conn, at, telegram_id)?;
    let message_id = add_message(conn, at, ticket_id, "user", text)?;
    Ok(Effect::new(
        Applied::Ticket {
            ticket_id,
            message_id,
            opened,
        },
        format!("ticket:{ticket_id}"),
    ))
}

/// The user's open ticket, or a new one (`true` when opened now). Refused when the chat
/// has no user.
pub(super) fn open_or_new(
    conn: &Conn,
    at: i64,
    telegram_id: i64,
) -> Result<(i64, bool), super::Failure> {
    let (user_id, _) = user::existing(conn, &UserRef::TelegramId(telegram_id))?;
    let open: Option<i64> = sql::query_scalar(
        "SELECT id FROM tickets WHERE telegram_id = ? AND status = 'open' ORDER BY id DESC LIMIT 1",
    )
    .bind(telegram_id)
    .fetch_optional(conn)?;
    let (ticket_id, opened) = match open {
        Some(id) => (id, false),
        None => {
            let id: i64 = sql::query_scalar(
                "INSERT INTO tickets(telegram_id, user_id, status, created_at, updated_at)
                 VALUES(?, ?, 'open', ?, ?) RETURNING id",
            )
            .bind(telegram_id)
            .bind(user_id)
            .bind(at)
            .bind(at)
            .fetch_one(conn)?;
            (id, true)
        }
    };
    Ok((ticket_id, opened))
}

/// An answer in an open ticket, queued to the ticket's chat.
pub(super) fn reply(conn: &Conn, ctx: Ctx<'_>, ticket_id: i64, text: &str) -> Applying {
    let target = Some(format!("ticket:{ticket_id}"));
    let telegram_id = open_ticket_chat(conn, ticket_id, &target)?;
    let message_id = add_message(conn, ctx.at, ticket_id, &ctx.actor.to_string(), text)?;
    let item = OutboxItem {
        chat_id: telegram_id,
        payload: answer_payload(message_id),
    };
    insert_outbox(conn, ctx.at, None, &[item], &[])?;
    Ok(Effect::new(
        Applied::Ticket {
            ticket_id,
            message_id,
            opened: false,
        },
        target,
    ))
}

/// Closes a ticket; the user is told once (closing again is a no-op).
pub(super) fn close(conn: &Conn, at: i64, ticket_id: i64) -> Applying {
    let target = Some(format!("ticket:{ticket_id}"));
    let row = sql::query("SELECT telegram_id, status FROM tickets WHERE id = ?")
        .bind(ticket_id)
        .fetch_optional(conn)?;
    let Some(row) = row else {
        return Err(refuse_at(
            &target,
            CommandError::not_found(format!("ticket {ticket_id}")),
        ));
    };
    let telegram_id: i64 = row.get(0);
    let status: String = row.get(1);
    if status == "open" {
        sql::query(
            "UPDATE tickets SET status = 'closed', closed_at = ?, updated_at = ? WHERE id = ?",
        )
        .bind(at)
        .bind(at)
        .bind(ticket_id)
        .execute(conn)?;
        let item = OutboxItem {
            chat_id: telegram_id,
            payload: closed_payload(ticket_id),
        };
        insert_outbox(conn, at, None, &[item], &[])?;
    }
    Ok(Effect::new(Applied::Done, target))
}

/// The chat of an open ticket, or a refusal (unknown or closed).
fn open_ticket_chat(
    conn: &Conn,
    ticket_id: i64,
    target: &Option<String>,
) -> Result<i64, super::Failure> {
    let row = sql::query("SELECT telegram_id, status FROM tickets WHERE id = ?")
        .bind(ticket_id)
        .fetch_optional(conn)?;
    let Some(row) = row else {
        return Err(refuse_at(
            target,
            CommandError::not_found(format!("ticket {ticket_id}")),
        ));
    };
    if row.get::<String, _>(1) != "open" {
        return Err(refuse_at(
            target,
            CommandError::conflict(None, format!("ticket {ticket_id} is closed")),
        ));
    }
    Ok(row.get(0))
}

pub(super) fn add_message(
    conn: &Conn,
    at: i64,
    ticket_id: i64,
    author: &str,
    text: &str,
) -> Result<i64, sql::Error> {
    sql::query("UPDATE tickets SET updated_at = ? WHERE id = ?")
        .bind(at)
        .bind(ticket_id)
        .execute(conn)?;
    sql::query_scalar(
        "INSERT INTO ticket_messages(ticket_id, author, text, at) VALUES(?, ?, ?, ?) RETURNING id",
    )
    .bind(ticket_id)
    .bind(author)
    .bind(text)
    .bind(at)
    .fetch_one(conn)
}

//! Access requests in the bot's `approval` mode, and the admins' decisions.

use vpnkeeper_domain::telegram::AccessStatus;
use vpnkeeper_domain::{Applied, CommandError};

use super::{refuse_at, Applying, Ctx, Effect};
use crate::sql::{self, Conn};

pub(super) fn request(conn: &Conn, at: i64, telegram_id: i64, display: &str) -> Applying {
    let target = Some(format!("tg:{telegram_id}"));
    let status: Option<String> =
        sql::query_scalar("SELECT status FROM tg_access_requests WHERE telegram_id = ?")
            .bind(telegram_id)
            .fetch_optional(conn)?;
    let refusal = match status.as_deref().and_then(AccessStatus::parse) {
        Some(AccessStatus::Pending) => Some("an access request is already waiting for an admin"),
        Some(AccessStatus::Denied) => Some("access was denied by an admin"),
        // Approved before (and since removed or disabled) or never asked: ask (again).
        Some(AccessStatus::Approved) | None => None,
    };
    if let Some(message) = refusal {
        return Err(refuse_at(&target, CommandError::conflict(None, message)));
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
    Ok(Effect::new(Applied::Done, target))
}

pub(super) fn decide(conn: &Conn, ctx: Ctx<'_>, telegram_id: i64, approve: bool) -> Applying {
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
    .bind(ctx.at)
    .bind(ctx.actor.to_string())
    .bind(telegram_id)
    .execute(conn)?
    .rows_affected();
    if n == 0 {
        // Two admins pressing at once: the second finds it decided already.
        return Err(refuse_at(
            &target,
            CommandError::not_found(format!(
                "pending access request of Telegram id {telegram_id}"
            )),
        ));
    }
    Ok(Effect::new(Applied::Done, target))
}

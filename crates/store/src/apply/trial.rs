//! The free trial (issue #16 item 4): once per Telegram account ever. `trials_used` is keyed
//! by Telegram id with no foreign key, so deleting the user and coming back does not re-arm it.

use vpnkeeper_domain::{Applied, CommandError, UserRef};

use super::{plan, refuse_at, user, Applying, Effect};
use crate::change::Change;
use crate::sql::{self, Conn};

const DAY_MS: i64 = 86_400_000;

/// Assigns the trial plan and sets its length to `days` (not the plan's own duration).
pub(super) fn start(
    conn: &Conn,
    at: i64,
    telegram_id: i64,
    plan_id: i64,
    days: i64,
    changes: &mut Vec<Change>,
) -> Applying {
    let who = UserRef::TelegramId(telegram_id);
    let (user_id, _) = user::existing(conn, &who)?;
    let target = Some(format!("user:{user_id}"));
    let used: Option<i64> = sql::query_scalar("SELECT at FROM trials_used WHERE telegram_id = ?")
        .bind(telegram_id)
        .fetch_optional(conn)?;
    if used.is_some() {
        return Err(refuse_at(
            &target,
            CommandError::conflict(
                None,
                "the free trial has already been used by this Telegram account",
            ),
        ));
    }
    let before: Option<i64> = sql::query_scalar("SELECT expires_at FROM users WHERE id = ?")
        .bind(user_id)
        .fetch_one(conn)?;
    let assign = plan::Assign {
        user: &who,
        plan_id,
        on_hold: false,
        on_hold_timeout_ms: None,
        archived_ok: false,
    };
    plan::assign(conn, at, assign, changes)?;
    let expires = before.filter(|e| *e > at).unwrap_or(at) + days * DAY_MS;
    sql::query("UPDATE users SET expires_at = ?, updated_at = ? WHERE id = ?")
        .bind(expires)
        .bind(at)
        .bind(user_id)
        .execute(conn)?;
    plan::refresh_status(conn, at, user_id, changes)?;
    sql::query(
        "INSERT INTO trials_used(telegram_id, user_id, plan_id, days, at) VALUES(?, ?, ?, ?, ?)",
    )
    .bind(telegram_id)
    .bind(user_id)
    .bind(plan_id)
    .bind(days)
    .bind(at)
    .execute(conn)?;
    Ok(Effect::new(Applied::User { id: user_id }, target))
}

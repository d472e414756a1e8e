//! User balances in Stars (issue #16 item 3). [`credit`] is the one writer of
//! `user_balances`, and every movement leaves a `balance_ledger` row with its actor.

use vpnkeeper_domain::{Applied, CommandError, UserRef};

use super::{refuse_at, user, Applying, Ctx, Effect};
use crate::sql::{self, Conn};

/// The user's balance in Stars (0 when they never had one).
pub(crate) fn balance_of(conn: &Conn, user_id: i64) -> Result<i64, sql::Error> {
    Ok(
        sql::query_scalar("SELECT stars FROM user_balances WHERE user_id = ?")
            .bind(user_id)
            .fetch_optional(conn)?
            .unwrap_or(0),
    )
}

/// One movement of a balance.
pub(crate) struct Movement<'a> {
    pub user_id: i64,
    pub delta: i64,
    pub reason: &'a str,
    pub actor: &'a str,
    pub payment_id: Option<i64>,
    pub at: i64,
}

/// Moves the balance by `m.delta` and records it; the caller has checked the result is not
/// negative. Returns the new balance.
pub(crate) fn credit(conn: &Conn, m: &Movement<'_>) -> Result<i64, sql::Error> {
    let after = balance_of(conn, m.user_id)? + m.delta;
    sql::query(
        "INSERT INTO user_balances(user_id, stars, updated_at) VALUES(?1, ?2, ?3)
         ON CONFLICT(user_id) DO UPDATE SET stars = ?2, updated_at = ?3",
    )
    .bind(m.user_id)
    .bind(after)
    .bind(m.at)
    .execute(conn)?;
    sql::query(
        "INSERT INTO balance_ledger(user_id, delta, balance_after, reason, actor, payment_id, at)
         VALUES(?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(m.user_id)
    .bind(m.delta)
    .bind(after)
    .bind(m.reason)
    .bind(m.actor)
    .bind(m.payment_id)
    .bind(m.at)
    .execute(conn)?;
    Ok(after)
}

/// An admin's credit or debit. A debit larger than the balance is refused, saying both.
pub(super) fn adjust(
    conn: &Conn,
    ctx: Ctx<'_>,
    user: &UserRef,
    delta: i64,
    reason: &str,
) -> Applying {
    let (user_id, _) = user::existing(conn, user)?;
    let target = Some(format!("user:{user_id}"));
    let current = balance_of(conn, user_id)?;
    if current + delta < 0 {
        return Err(refuse_at(
            &target,
            CommandError::conflict(
                Some("amount"),
                format!(
                    "the balance of user {user_id} is {current} Stars: a debit of {} would take it below zero",
                    -delta
                ),
            ),
        ));
    }
    let actor = ctx.actor.to_string();
    let reason = if reason.is_empty() { "manual" } else { reason };
    let stars = credit(
        conn,
        &Movement {
            user_id,
            delta,
            reason,
            actor: &actor,
            payment_id: None,
            at: ctx.at,
        },
    )?;
    Ok(Effect::new(Applied::Balance { user_id, stars }, target))
}

//! Promo codes (issue #16 item 5): create, disable, redeem. Redemption runs in the serial
//! state machine, so `uses < max_uses` and "one per user" are checked and written in one step
//! that nothing can interleave with: the maximum holds under any number of concurrent callers.

use vpnkeeper_domain::command::promo::{PromoGrant, PromoSpec};
use vpnkeeper_domain::{Applied, CommandError, UserRef};

use super::{plan, refuse, refuse_at, user, Applying, Ctx, Effect, Failure};
use crate::change::Change;
use crate::sql::{self, Conn};

const DAY_MS: i64 = 86_400_000;

fn code_target(code: &str) -> Option<String> {
    Some(format!("promo:{code}"))
}

pub(super) fn create(conn: &Conn, ctx: Ctx<'_>, p: &PromoSpec) -> Applying {
    let target = code_target(&p.code);
    let taken: Option<i64> = sql::query_scalar("SELECT id FROM promo_codes WHERE code = ?")
        .bind(&p.code)
        .fetch_optional(conn)?;
    if taken.is_some() {
        return Err(refuse_at(
            &target,
            CommandError::conflict(
                Some("code"),
                format!("promo code {} already exists; pick another code", p.code),
            ),
        ));
    }
    let id: i64 = sql::query_scalar(
        "INSERT INTO promo_codes(code, kind, amount, max_uses, expires_at, created_at, created_by)
         VALUES(?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(&p.code)
    .bind(p.grant.kind())
    .bind(p.grant.amount())
    .bind(p.max_uses)
    .bind(p.expires_at_ms)
    .bind(ctx.at)
    .bind(ctx.actor.to_string())
    .fetch_one(conn)?;
    Ok(Effect::new(Applied::PromoCode { id }, target))
}

pub(super) fn disable(conn: &Conn, code: &str) -> Applying {
    let target = code_target(code);
    let id: Option<i64> = sql::query_scalar("SELECT id FROM promo_codes WHERE code = ?")
        .bind(code)
        .fetch_optional(conn)?;
    let Some(id) = id else {
        return Err(refuse_at(
            &target,
            CommandError::not_found(format!("promo code {code}")),
        ));
    };
    sql::query("UPDATE promo_codes SET disabled = 1 WHERE id = ?")
        .bind(id)
        .execute(conn)?;
    Ok(Effect::new(Applied::PromoCode { id }, target))
}

/// A code row as redemption needs it.
struct Code {
    id: i64,
    grant: PromoGrant,
    max_uses: i64,
    uses: i64,
    expires_at: Option<i64>,
    disabled: bool,
}

fn load(conn: &Conn, code: &str) -> Result<Option<Code>, sql::Error> {
    let row = sql::query(
        "SELECT id, kind, amount, max_uses, uses, expires_at, disabled FROM promo_codes WHERE code = ?",
    )
    .bind(code)
    .fetch_optional(conn)?;
    Ok(row.and_then(|r| {
        Some(Code {
            id: r.get(0),
            grant: PromoGrant::from_parts(&r.get::<String, _>(1), r.get(2))?,
            max_uses: r.get(3),
            uses: r.get(4),
            expires_at: r.get(5),
            disabled: r.get::<i64, _>(6) != 0,
        })
    }))
}

/// Whether `user_id` may redeem `c` now: the code's own limits, then the user's.
fn check(conn: &Conn, at: i64, code: &str, c: &Code, user_id: i64) -> Result<(), Failure> {
    let no = |message: String| Err(refuse(CommandError::conflict(Some("code"), message)));
    if c.disabled {
        return no(format!("promo code {code} is no longer valid"));
    }
    if c.expires_at.is_some_and(|e| e <= at) {
        return no(format!("promo code {code} has expired"));
    }
    let used: Option<i64> =
        sql::query_scalar("SELECT id FROM promo_redemptions WHERE code_id = ? AND user_id = ?")
            .bind(c.id)
            .bind(user_id)
            .fetch_optional(conn)?;
    if used.is_some() {
        return no(format!("you have already used promo code {code}"));
    }
    if c.uses >= c.max_uses {
        return no(format!(
            "promo code {code} has been used up ({} of {} uses)",
            c.uses, c.max_uses
        ));
    }
    Ok(())
}

pub(super) fn redeem(
    conn: &Conn,
    at: i64,
    user: &UserRef,
    code: &str,
    changes: &mut Vec<Change>,
) -> Applying {
    let (user_id, _) = user::existing(conn, user)?;
    let Some(c) = load(conn, code)? else {
        return Err(refuse(CommandError::not_found(format!(
            "promo code {code}"
        ))));
    };
    check(conn, at, code, &c, user_id)?;
    let used_at = grant(conn, at, user_id, c.grant, changes)?;
    sql::query("UPDATE promo_codes SET uses = uses + 1 WHERE id = ?")
        .bind(c.id)
        .execute(conn)?;
    let redemption_id: i64 = sql::query_scalar(
        "INSERT INTO promo_redemptions(code_id, user_id, kind, amount, at, used_at)
         VALUES(?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(c.id)
    .bind(user_id)
    .bind(c.grant.kind())
    .bind(c.grant.amount())
    .bind(at)
    .bind(used_at)
    .fetch_one(conn)?;
    Ok(Effect::new(
        Applied::Redeemed {
            redemption_id,
            grant: c.grant,
        },
        format!("user:{user_id}"),
    ))
}

/// Gives what the code grants; returns when it counts as used (`None`: a discount, used
/// later by a paid order).
fn grant(
    conn: &Conn,
    at: i64,
    user_id: i64,
    g: PromoGrant,
    changes: &mut Vec<Change>,
) -> Result<Option<i64>, Failure> {
    let row = sql::query("SELECT expires_at, traffic_limit_bytes FROM users WHERE id = ?")
        .bind(user_id)
        .fetch_one(conn)?;
    let expires: Option<i64> = row.get(0);
    let quota: Option<i64> = row.get(1);
    let no = |message: &str| Err(refuse(CommandError::conflict(Some("code"), message)));
    match g {
        PromoGrant::Days { days } => {
            let Some(expires) = expires else {
                return no(
                    "your access does not expire, so this code (extra days) gives you nothing",
                );
            };
            let new = expires.max(at).saturating_add(days * DAY_MS);
            sql::query("UPDATE users SET expires_at = ?, updated_at = ? WHERE id = ?")
                .bind(new)
                .bind(at)
                .bind(user_id)
                .execute(conn)?;
        }
        PromoGrant::Traffic { bytes } => {
            let Some(quota) = quota else {
                return no(
                    "your traffic is unlimited, so this code (extra traffic) gives you nothing",
                );
            };
            sql::query("UPDATE users SET traffic_limit_bytes = ?, updated_at = ? WHERE id = ?")
                .bind(quota.saturating_add(bytes))
                .bind(at)
                .bind(user_id)
                .execute(conn)?;
        }
        PromoGrant::Discount { .. } => {
            if super::payment_hooks::pending_discount(conn, user_id)?.is_some() {
                return no(
                    "you already have a discount waiting for your next purchase; use it first",
                );
            }
            return Ok(None);
        }
    }
    plan::refresh_status(conn, at, user_id, changes)?;
    Ok(Some(at))
}

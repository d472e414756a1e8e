//! Referrals (issue #16 item 6): binding a new user to their referrer. The reward is paid
//! and taken back by `payment_hooks.rs`.

use vpnkeeper_domain::command::referral::{self, ReferralReward};
use vpnkeeper_domain::{Applied, CommandError, UserRef};

use super::{refuse_at, user, Applying, Effect, Failure};
use crate::sql::{self, Conn};

/// How far up a referral chain the loop check looks (chains are short; this bounds the work).
const MAX_CHAIN: usize = 10_000;

pub(super) fn bind(
    conn: &Conn,
    at: i64,
    referee: &UserRef,
    code: &str,
    reward: &ReferralReward,
) -> Applying {
    let (referee_id, _) = user::existing(conn, referee)?;
    let target = Some(format!("user:{referee_id}"));
    let no = |message: &str| {
        Err(refuse_at(
            &target,
            CommandError::conflict(Some("referral"), message),
        ))
    };
    let Some(referrer_id) = referral::user_of(code) else {
        return no("this referral link is not valid");
    };
    if referrer_id == referee_id {
        return no("you cannot use your own referral link");
    }
    if user::resolve(conn, &UserRef::Id(referrer_id))?.is_none() {
        return no("this referral link is not valid (its owner is gone)");
    }
    let created_at: i64 = sql::query_scalar("SELECT created_at FROM users WHERE id = ?")
        .bind(referee_id)
        .fetch_one(conn)?;
    let bound: Option<i64> =
        sql::query_scalar("SELECT referrer_id FROM referrals WHERE referee_id = ?")
            .bind(referee_id)
            .fetch_optional(conn)?;
    // "New" = created by this same entry (the bot plans the user's creation and the binding
    // in one update): an existing user cannot switch or gain a referrer.
    if created_at != at || bound.is_some() {
        return no("referral links count only for new users");
    }
    if leads_to(conn, referrer_id, referee_id)? {
        return no("this referral would make a loop");
    }
    sql::query(
        "INSERT INTO referrals(referee_id, referrer_id, reward_kind, reward_amount, bound_at)
         VALUES(?, ?, ?, ?, ?)",
    )
    .bind(referee_id)
    .bind(referrer_id)
    .bind(reward.kind())
    .bind(reward.amount())
    .bind(at)
    .execute(conn)?;
    Ok(Effect::new(Applied::User { id: referee_id }, target))
}

/// Whether following referrers up from `from` reaches `to`.
fn leads_to(conn: &Conn, from: i64, to: i64) -> Result<bool, Failure> {
    let mut cur = from;
    for _ in 0..MAX_CHAIN {
        let up: Option<i64> =
            sql::query_scalar("SELECT referrer_id FROM referrals WHERE referee_id = ?")
                .bind(cur)
                .fetch_optional(conn)?;
        match up {
            Some(u) if u == to => return Ok(true),
            Some(u) => cur = u,
            None => return Ok(false),
        }
    }
    Ok(true)
}

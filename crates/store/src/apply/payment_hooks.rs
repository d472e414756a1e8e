//! The seam between a paid order (apply/payment.rs) and promo codes / referrals.
//!
//! `pay` calls these inside the transaction that credits or refunds a payment; they write
//! only promo's tables (and the referrer's expiry or balance). A reward of days that brings
//! an expired referrer back, or its reversal that expires them, goes into the transaction's
//! change list, so the data planes follow at once.

use vpnkeeper_domain::command::referral::ReferralReward;

use super::balance::{self, Movement};
use super::plan;
use crate::change::Change;
use crate::sql::{self, Conn};

const DAY_MS: i64 = 86_400_000;

/// The ledger's actor for rewards paid and taken back by the payment flow.
const REFERRAL_ACTOR: &str = "system:referral";

/// A discount the user's redeemed-but-unused promo code gives on the next purchase.
pub(crate) struct Discount {
    /// The promo redemption that the paid order consumes.
    pub redemption_id: i64,
    /// 1..=100.
    pub percent: i64,
}

/// What a credited order was: passed to the hooks in the transaction that credits it.
pub(crate) struct Credited {
    pub user_id: i64,
    pub payment_id: i64,
    pub amount_stars: i64,
    /// The user's first successful (not refunded) payment ever.
    pub first_payment: bool,
    pub discount_redemption_id: Option<i64>,
    pub at: i64,
}

/// Read when an order (invoice) is created for `user_id`: its price is reduced by this.
pub(crate) fn pending_discount(conn: &Conn, user_id: i64) -> Result<Option<Discount>, sql::Error> {
    let row = sql::query(
        "SELECT id, amount FROM promo_redemptions
         WHERE user_id = ? AND kind = 'discount' AND used_at IS NULL ORDER BY id LIMIT 1",
    )
    .bind(user_id)
    .fetch_optional(conn)?;
    Ok(row.map(|r| Discount {
        redemption_id: r.get(0),
        percent: r.get(1),
    }))
}

/// Whether the discount an order was priced with is still waiting (not consumed by another
/// paid order), checked at the order's pre-checkout.
pub(crate) fn discount_unused(conn: &Conn, redemption_id: i64) -> Result<bool, sql::Error> {
    let unused: Option<i64> =
        sql::query_scalar("SELECT 1 FROM promo_redemptions WHERE id = ? AND used_at IS NULL")
            .bind(redemption_id)
            .fetch_optional(conn)?;
    Ok(unused.is_some())
}

/// In the transaction that credits a paid order (consumes the discount, rewards a referrer).
pub(crate) fn on_payment_credited(
    conn: &Conn,
    c: &Credited,
    changes: &mut Vec<Change>,
) -> Result<(), sql::Error> {
    if let Some(redemption_id) = c.discount_redemption_id {
        sql::query(
            "UPDATE promo_redemptions SET used_at = ?, payment_id = ?
             WHERE id = ? AND user_id = ? AND used_at IS NULL",
        )
        .bind(c.at)
        .bind(c.payment_id)
        .bind(redemption_id)
        .bind(c.user_id)
        .execute(conn)?;
    }
    if c.first_payment {
        reward_referrer(conn, c, changes)?;
    }
    Ok(())
}

/// Pays a pending referral of `c.user_id` (once: the row leaves `pending` for good).
fn reward_referrer(conn: &Conn, c: &Credited, changes: &mut Vec<Change>) -> Result<(), sql::Error> {
    let Some(row) = sql::query(
        "SELECT referrer_id, reward_kind, reward_amount FROM referrals
         WHERE referee_id = ? AND status = 'pending'",
    )
    .bind(c.user_id)
    .fetch_optional(conn)?
    else {
        return Ok(());
    };
    let referrer: i64 = row.get(0);
    let given = match ReferralReward::from_parts(&row.get::<String, _>(1), row.get(2)) {
        Some(ReferralReward::Days { days }) => shift_expiry(conn, c.at, referrer, days, changes)?,
        Some(ReferralReward::Percent { percent }) => {
            let stars = c.amount_stars.max(0) * percent / 100;
            if stars > 0 {
                let reason = format!("referral reward: user {}'s first payment", c.user_id);
                balance::credit(
                    conn,
                    &movement(referrer, stars, &reason, c.payment_id, c.at),
                )?;
            }
            stars
        }
        None => 0,
    };
    sql::query(
        "UPDATE referrals SET status = 'rewarded', payment_id = ?, given = ?, rewarded_at = ?
         WHERE referee_id = ?",
    )
    .bind(c.payment_id)
    .bind(given)
    .bind(c.at)
    .bind(c.user_id)
    .execute(conn)?;
    Ok(())
}

/// In the transaction that marks a payment refunded after Telegram's yes (takes back a
/// referral reward paid for it).
pub(crate) fn on_payment_refunded(
    conn: &Conn,
    user_id: i64,
    payment_id: i64,
    at: i64,
    changes: &mut Vec<Change>,
) -> Result<(), sql::Error> {
    let Some(row) = sql::query(
        "SELECT referrer_id, reward_kind, given FROM referrals
         WHERE referee_id = ? AND status = 'rewarded' AND payment_id = ?",
    )
    .bind(user_id)
    .bind(payment_id)
    .fetch_optional(conn)?
    else {
        return Ok(());
    };
    let referrer: i64 = row.get(0);
    let given: i64 = row.get(2);
    match row.get::<String, _>(1).as_str() {
        "days" => {
            shift_expiry(conn, at, referrer, -given, changes)?;
        }
        _ => {
            // Only what is left can be taken back: a balance never goes below zero.
            let take = given.min(balance::balance_of(conn, referrer)?);
            if take > 0 {
                let reason = format!("referral reward taken back: payment {payment_id} refunded");
                balance::credit(
                    conn,
                    &movement(referrer, -take, &reason, Some(payment_id), at),
                )?;
            }
        }
    }
    sql::query("UPDATE referrals SET status = 'reversed', reversed_at = ? WHERE referee_id = ?")
        .bind(at)
        .bind(user_id)
        .execute(conn)?;
    Ok(())
}

fn movement<'a>(
    user_id: i64,
    delta: i64,
    reason: &'a str,
    payment_id: impl Into<Option<i64>>,
    at: i64,
) -> Movement<'a> {
    Movement {
        user_id,
        delta,
        reason,
        actor: REFERRAL_ACTOR,
        payment_id: payment_id.into(),
        at,
    }
}

/// Moves a user's expiry by `days` (a reward, or taking it back). A user without an expiry
/// (unlimited time) gets nothing: returns the days actually moved.
fn shift_expiry(
    conn: &Conn,
    at: i64,
    user_id: i64,
    days: i64,
    changes: &mut Vec<Change>,
) -> Result<i64, sql::Error> {
    let expires: Option<Option<i64>> =
        sql::query_scalar("SELECT expires_at FROM users WHERE id = ?")
            .bind(user_id)
            .fetch_optional(conn)?;
    let Some(Some(expires)) = expires else {
        return Ok(0);
    };
    // A reward starts from now when the referrer had already expired; taking it back
    // subtracts from wherever the expiry is now.
    let base = if days > 0 { expires.max(at) } else { expires };
    sql::query("UPDATE users SET expires_at = ?, updated_at = ? WHERE id = ?")
        .bind(base.saturating_add(days * DAY_MS))
        .bind(at)
        .bind(user_id)
        .execute(conn)?;
    plan::refresh_status(conn, at, user_id, changes)?;
    Ok(days.abs())
}

#[cfg(test)]
mod tests {
    //! The hooks driven as `pay`'s apply drives them, on a state built by real commands
    //! through the state machine: a referral is rewarded once, not again for a later
    //! payment, and taken back on refund of the payment that earned it.
    use openraft::storage::RaftStateMachine;
    use openraft::{CommittedLeaderId, EntryPayload};
    use vpnkeeper_domain::command::promo::{PromoGrant, PromoSpec};
    use vpnkeeper_domain::command::referral::{code_of, ReferralReward};
    use vpnkeeper_domain::command::Update;
    use vpnkeeper_domain::{Actor, ApplyOutcome, Command, CommandError, Envelope, UserRef};

    use super::*;
    use crate::{Proposal, StateMachine, TypeConfig};

    const T0: i64 = 1_780_000_000_000;

    fn create(name: &str, tg: i64) -> Command {
        Command::CreateUser {
            name: name.into(),
            telegram_id: Some(tg),
            sub_token: format!("{name:a<32}"),
        }
    }

    fn bind(referee_tg: i64, referrer_id: i64, reward: ReferralReward) -> Command {
        Command::BindReferrer {
            referee: UserRef::TelegramId(referee_tg),
            code: code_of(referrer_id),
            reward,
        }
    }

    async fn apply(
        sm: &mut StateMachine,
        index: u64,
        at: i64,
        cmds: Vec<Command>,
    ) -> Vec<ApplyOutcome> {
        let envs = cmds
            .into_iter()
            .map(|command| Envelope {
                at_ms: at,
                actor: Actor::Telegram { telegram_id: 9001 },
                command,
            })
            .collect();
        let entry = openraft::Entry::<TypeConfig> {
            log_id: openraft::LogId::new(CommittedLeaderId::new(1, 1), index),
            payload: EntryPayload::Normal(Proposal(envs)),
        };
        sm.apply(vec![entry]).await.unwrap().remove(0)
    }

    fn conn(dir: &std::path::Path) -> Conn {
        let c = Conn::open(dir.join("state.db")).unwrap();
        c.execute_batch("PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;")
            .unwrap();
        c
    }

    fn credited(
        c: &Conn,
        user_id: i64,
        payment_id: i64,
        stars: i64,
        first: bool,
        discount: Option<i64>,
    ) -> Vec<Change> {
        let tx = c.unchecked_transaction().unwrap();
        let paid = Credited {
            user_id,
            payment_id,
            amount_stars: stars,
            first_payment: first,
            discount_redemption_id: discount,
            at: T0 + 100,
        };
        let mut changes = Vec::new();
        on_payment_credited(&tx, &paid, &mut changes).unwrap();
        tx.commit().unwrap();
        changes
    }

    fn refunded(c: &Conn, user_id: i64, payment_id: i64) -> Vec<Change> {
        let tx = c.unchecked_transaction().unwrap();
        let mut changes = Vec::new();
        on_payment_refunded(&tx, user_id, payment_id, T0 + 200, &mut changes).unwrap();
        tx.commit().unwrap();
        changes
    }

    fn expires(c: &Conn, user_id: i64) -> i64 {
        c.query_row(
            "SELECT expires_at FROM users WHERE id = ?",
            [user_id],
            |r| r.get(0),
        )
        .unwrap()
    }

    fn refused(o: &ApplyOutcome, words: &str) {
        match o {
            Err(CommandError::Conflict { message, .. }) => {
                assert!(message.contains(words), "{message}")
            }
            other => panic!("expected a refusal with `{words}`, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn referral_reward_is_paid_once_and_taken_back_on_refund() {
        let dir = tempfile::tempdir().unwrap();
        let (_log, mut sm, _read) = crate::open(dir.path()).await.unwrap();
        let pct = ReferralReward::Percent { percent: 10 };
        let days = ReferralReward::Days { days: 5 };
        // ann (1) refers bob (2), who refers cid (3); bindings are planned with the creation.
        let out = apply(
            &mut sm,
            1,
            T0,
            vec![create("ann", 11), create("bob", 12), bind(12, 1, pct)],
        )
        .await;
        assert!(out.iter().all(Result::is_ok), "{out:?}");
        let out = apply(
            &mut sm,
            2,
            T0 + 1,
            vec![create("cid", 13), bind(13, 2, days)],
        )
        .await;
        assert!(out.iter().all(Result::is_ok), "{out:?}");
        // Self-referral, an existing user, a loop: refused, nothing bound.
        let out = apply(&mut sm, 3, T0 + 2, vec![bind(11, 1, pct)]).await;
        refused(&out[0], "your own referral link");
        let out = apply(&mut sm, 4, T0 + 3, vec![bind(11, 3, pct)]).await;
        refused(&out[0], "only for new users");
        let bob_expiry = T0 + 30 * 86_400_000;
        let set = Command::UpdateUser {
            user: UserRef::Id(2),
            name: None,
            telegram_id: None,
            expires_at_ms: Some(Update::Set(bob_expiry)),
            traffic_limit_bytes: None,
        };
        assert!(apply(&mut sm, 5, T0 + 4, vec![set]).await[0].is_ok());

        let c = conn(dir.path());
        let bal = |c: &Conn| balance::balance_of(c, 1).unwrap();
        // bob's first payment (500 Stars): ann gets 10 % = 50, once.
        credited(&c, 2, 100, 500, true, None);
        assert_eq!(bal(&c), 50);
        credited(&c, 2, 101, 700, false, None);
        credited(&c, 2, 102, 700, true, None);
        assert_eq!(bal(&c), 50, "a later payment pays no second reward");
        // Refunding another payment takes nothing; refunding the first takes the reward.
        refunded(&c, 2, 101);
        assert_eq!(bal(&c), 50);
        refunded(&c, 2, 100);
        assert_eq!(bal(&c), 0);
        refunded(&c, 2, 100);
        assert_eq!(bal(&c), 0);
        credited(&c, 2, 103, 900, true, None);
        assert_eq!(bal(&c), 0, "a reversed referral is not paid again");
        let actors: Vec<(i64, String)> = c
            .prepare("SELECT delta, actor FROM balance_ledger WHERE user_id = 1 ORDER BY id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            actors,
            [(50, REFERRAL_ACTOR.into()), (-50, REFERRAL_ACTOR.into())]
        );

        // cid's first payment: bob gets 5 days, and loses them on the refund.
        credited(&c, 3, 200, 300, true, None);
        assert_eq!(expires(&c, 2), bob_expiry + 5 * DAY_MS);
        refunded(&c, 3, 200);
        assert_eq!(expires(&c, 2), bob_expiry);
    }

    #[tokio::test]
    async fn an_expired_referrer_brought_back_or_expired_again_reaches_the_change_list() {
        let dir = tempfile::tempdir().unwrap();
        let (_log, mut sm, _read) = crate::open(dir.path()).await.unwrap();
        let days = ReferralReward::Days { days: 5 };
        let out = apply(
            &mut sm,
            1,
            T0,
            vec![create("ann", 11), create("bob", 12), bind(12, 1, days)],
        )
        .await;
        assert!(out.iter().all(Result::is_ok), "{out:?}");
        let lapsed = Command::UpdateUser {
            user: UserRef::Id(1),
            name: None,
            telegram_id: None,
            expires_at_ms: Some(Update::Set(T0 - DAY_MS)),
            traffic_limit_bytes: None,
        };
        assert!(apply(&mut sm, 2, T0 + 1, vec![lapsed]).await[0].is_ok());
        let c = conn(dir.path());
        let status = |c: &Conn| -> String {
            c.query_row("SELECT status FROM users WHERE id = 1", [], |r| r.get(0))
                .unwrap()
        };
        assert_eq!(status(&c), "expired");
        // ann holds a device on node 7: its data plane is the one to tell.
        c.execute_batch(
            "INSERT INTO nodes(id, name, raft_addr, api_addr, public_host, created_at, updated_at)
                 VALUES(7, 'n7', 'r', 'a', 'h', 0, 0);
             INSERT INTO devices(uuid, user_id, node_id, name, device_type, protocol, created_at)
                 VALUES('d1', 1, 7, 'phone', 'phone', 'vless', 0);",
        )
        .unwrap();
        let told = [Change::Devices { node_id: 7 }];
        // bob's first payment brings ann back for 5 days: the data planes are told.
        let back = credited(&c, 2, 100, 50, true, None);
        assert_eq!(expires(&c, 1), T0 + 100 + 5 * DAY_MS);
        assert_eq!(status(&c), "active");
        assert_eq!(back, told, "ann served again at once");
        // Its refund takes the 5 days back: ann has expired again, at once too.
        let gone = refunded(&c, 2, 100);
        assert_eq!(status(&c), "expired");
        assert_eq!(gone, told, "ann no longer served");
    }

    #[tokio::test]
    async fn a_discount_waits_for_the_paid_order_that_consumes_it() {
        let dir = tempfile::tempdir().unwrap();
        let (_log, mut sm, _read) = crate::open(dir.path()).await.unwrap();
        let promo = Command::CreatePromoCode {
            promo: PromoSpec {
                code: "SAVE20".into(),
                grant: PromoGrant::Discount { percent: 20 },
                max_uses: 5,
                expires_at_ms: None,
            },
        };
        let redeem = |code: &str| Command::RedeemPromoCode {
            user: UserRef::Id(1),
            code: code.into(),
        };
        let out = apply(
            &mut sm,
            1,
            T0,
            vec![create("ann", 11), promo, redeem("save20")],
        )
        .await;
        assert!(out.iter().all(Result::is_ok), "{out:?}");
        let c = conn(dir.path());
        let d = pending_discount(&c, 1)
            .unwrap()
            .expect("a pending discount");
        assert_eq!(d.percent, 20);
        assert!(discount_unused(&c, d.redemption_id).unwrap());
        credited(&c, 1, 100, 400, true, Some(d.redemption_id));
        assert!(pending_discount(&c, 1).unwrap().is_none());
        assert!(
            !discount_unused(&c, d.redemption_id).unwrap(),
            "another invoice priced with it is refused at its pre-checkout"
        );
        drop(c);
        let out = apply(&mut sm, 2, T0 + 1, vec![redeem("SAVE20")]).await;
        refused(&out[0], "already used");
    }
}

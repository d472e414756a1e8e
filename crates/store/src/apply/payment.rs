//! Payments (issue #16): orders, pre-checkout checks, credits and refunds. See
//! `vpnkeeper_domain::command::payment` for the flow.
//!
//! Exactly-once: a payment row is keyed by `(provider, provider_payment_id)`; a second
//! confirmation with the same key is refused (audited, no effect). The confirmation to the
//! user and the provider's refund call are outbox rows written here, in the same
//! transaction as the money's effect.

use serde_json::json;
use vpnkeeper_domain::command::payment::ProviderPayment;
use vpnkeeper_domain::telegram::OutboxItem;
use vpnkeeper_domain::{Applied, CommandError, UserRef};

use super::payment_hooks::{self, Credited};
use super::plan::{self, Assign};
use super::telegram::insert_outbox;
use super::{refuse_at, user, Applying, Ctx, Effect};
use crate::change::Change;
use crate::sql::{self, Conn};

const DAY_MS: i64 = 86_400_000;

fn order_target(id: &str) -> Option<String> {
    Some(format!("order:{id}"))
}

fn payment_target(id: i64) -> Option<String> {
    Some(format!("payment:{id}"))
}

/// What the invoice will ask: the plan's price less a pending promo discount (at least 1
/// star, Telegram's minimum).
pub(super) fn create_order(
    conn: &Conn,
    at: i64,
    order_id: &str,
    telegram_id: i64,
    plan_id: i64,
) -> Applying {
    let target = order_target(order_id);
    let (user_id, _) = user::existing(conn, &UserRef::TelegramId(telegram_id))?;
    let plan = sql::query("SELECT price_stars, archived FROM plans WHERE id = ?")
        .bind(plan_id)
        .fetch_optional(conn)?
        .ok_or_else(|| refuse_at(&target, CommandError::not_found(format!("plan {plan_id}"))))?;
    let (price, archived): (i64, i64) = (plan.get(0), plan.get(1));
    if archived != 0 || price <= 0 {
        return Err(refuse_at(
            &target,
            CommandError::invalid("plan", format!("plan {plan_id} is not for sale")),
        ));
    }
    let taken: Option<i64> = sql::query_scalar("SELECT 1 FROM payment_orders WHERE id = ?")
        .bind(order_id)
        .fetch_optional(conn)?;
    if taken.is_some() {
        return Err(refuse_at(
            &target,
            CommandError::conflict(Some("order_id"), "order id already used"),
        ));
    }
    let discount = payment_hooks::pending_discount(conn, user_id)?;
    let percent = discount.as_ref().map(|d| d.percent.clamp(0, 100));
    let amount = discounted(price, percent.unwrap_or(0));
    sql::query(
        "INSERT INTO payment_orders(id, user_id, telegram_id, plan_id, amount, currency, discount_percent,
            discount_redemption_id, created_at) VALUES(?, ?, ?, ?, ?, 'XTR', ?, ?, ?)",
    )
    .bind(order_id)
    .bind(user_id)
    .bind(telegram_id)
    .bind(plan_id)
    .bind(amount)
    .bind(percent)
    .bind(discount.map(|d| d.redemption_id))
    .bind(at)
    .execute(conn)?;
    Ok(Effect::new(Applied::Done, target))
}

/// `price` less `percent`%, rounded down, never below 1.
pub(crate) fn discounted(price: i64, percent: i64) -> i64 {
    (price - price * percent / 100).max(1)
}

/// Telegram's pre-checkout: refused (with a field the bot turns into the user's message)
/// unless the order is ours, unpaid, for a plan still sold, at the offered amount.
pub(super) fn check_order(
    conn: &Conn,
    order_id: &str,
    telegram_id: i64,
    amount: i64,
    currency: &str,
) -> Applying {
    let target = order_target(order_id);
    let refuse =
        |field: &str, message: &str| Err(refuse_at(&target, CommandError::invalid(field, message)));
    let Some(row) = sql::query(
        "SELECT o.telegram_id, o.amount, o.currency, o.payment_id, p.archived, o.discount_redemption_id
           FROM payment_orders o LEFT JOIN plans p ON p.id = o.plan_id WHERE o.id = ?",
    )
    .bind(order_id)
    .fetch_optional(conn)?
    else {
        return refuse("order", "unknown order");
    };
    if row.get::<i64, _>(0) != telegram_id {
        return refuse("order", "unknown order");
    }
    if row.get::<Option<i64>, _>(3).is_some() {
        return refuse("paid", "order already paid");
    }
    if row.get::<Option<i64>, _>(4).unwrap_or(1) != 0 {
        return refuse("plan", "plan no longer sold");
    }
    if row.get::<i64, _>(1) != amount || row.get::<String, _>(2) != currency {
        return refuse("amount", "amount differs from the invoice");
    }
    // Every invoice made while a discount waits carries it; once one of them is paid the
    // others would be a second discount from one code (the bot asks for a new invoice).
    if let Some(redemption) = row.get::<Option<i64>, _>(5) {
        if !payment_hooks::discount_unused(conn, redemption)? {
            return refuse(
                "order",
                "the discount on this invoice was used by another payment",
            );
        }
    }
    Ok(Effect::new(Applied::Done, target))
}

/// A confirmed payment: recorded, its order's plan extended, the hooks told and the
/// confirmation queued — or, for a confirmation already recorded, refused with no effect.
pub(super) fn credit(
    conn: &Conn,
    at: i64,
    p: &ProviderPayment,
    changes: &mut Vec<Change>,
) -> Applying {
    let seen: Option<i64> =
        sql::query_scalar("SELECT id FROM payments WHERE provider = ? AND provider_payment_id = ?")
            .bind(&p.provider)
            .bind(&p.provider_payment_id)
            .fetch_optional(conn)?;
    if let Some(id) = seen {
        return Err(refuse_at(
            &payment_target(id),
            CommandError::conflict(None, format!("payment {id} was credited already")),
        ));
    }
    let target = order_target(&p.order_id);
    let order = sql::query(
        "SELECT o.user_id, o.telegram_id, o.plan_id, o.discount_redemption_id, p.duration_days
           FROM payment_orders o JOIN plans p ON p.id = o.plan_id WHERE o.id = ?",
    )
    .bind(&p.order_id)
    .fetch_optional(conn)?
    .ok_or_else(|| {
        refuse_at(
            &target,
            CommandError::not_found(format!("order {}", p.order_id)),
        )
    })?;
    let (user_id, telegram_id, plan_id): (i64, i64, i64) =
        (order.get(0), order.get(1), order.get(2));
    let redemption: Option<i64> = order.get(3);
    let days: i64 = order.get(4);
    let earlier: Option<i64> = sql::query_scalar(
        "SELECT 1 FROM payments WHERE user_id = ? AND status != 'refunded' LIMIT 1",
    )
    .bind(user_id)
    .fetch_optional(conn)?;
    let payment_id: i64 = sql::query_scalar(
        "INSERT INTO payments(provider, provider_payment_id, order_id, user_id, telegram_id, plan_id,
            amount, currency, days, status, paid_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, 'paid', ?) RETURNING id",
    )
    .bind(&p.provider)
    .bind(&p.provider_payment_id)
    .bind(&p.order_id)
    .bind(user_id)
    .bind(telegram_id)
    .bind(plan_id)
    .bind(p.amount)
    .bind(&p.currency)
    .bind(days)
    .bind(at)
    .fetch_one(conn)?;
    sql::query("UPDATE payment_orders SET payment_id = COALESCE(payment_id, ?) WHERE id = ?")
        .bind(payment_id)
        .bind(&p.order_id)
        .execute(conn)?;
    let assign = Assign {
        user: &UserRef::Id(user_id),
        plan_id,
        on_hold: false,
        on_hold_timeout_ms: None,
        archived_ok: true,
    };
    plan::assign(conn, at, assign, changes)?;
    let credited = Credited {
        user_id,
        payment_id,
        amount_stars: p.amount,
        first_payment: earlier.is_none(),
        discount_redemption_id: redemption,
        at,
    };
    payment_hooks::on_payment_credited(conn, &credited, changes)?;
    queue(conn, at, telegram_id, "payment_done", payment_id)?;
    Ok(Effect::new(Applied::Done, payment_target(payment_id)))
}

/// An admin's refund: the provider call is queued; the payment waits for its answer.
pub(super) fn request_refund(conn: &Conn, ctx: Ctx<'_>, payment_id: i64) -> Applying {
    let target = payment_target(payment_id);
    let row = sql::query("SELECT status, telegram_id, provider FROM payments WHERE id = ?")
        .bind(payment_id)
        .fetch_optional(conn)?
        .ok_or_else(|| {
            refuse_at(
                &target,
                CommandError::not_found(format!("payment {payment_id}")),
            )
        })?;
    let status: String = row.get(0);
    let telegram_id: Option<i64> = row.get(1);
    let provider: String = row.get(2);
    if status != "paid" && status != "refund_failed" {
        let why = match status.as_str() {
            "refunded" => "is refunded already".to_string(),
            "refund_pending" => "has a refund in progress".to_string(),
            other => format!("is {other}"),
        };
        return Err(refuse_at(
            &target,
            CommandError::conflict(Some("status"), format!("payment {payment_id} {why}")),
        ));
    }
    let (Some(telegram_id), true) = (
        telegram_id,
        provider == vpnkeeper_domain::command::payment::STARS,
    ) else {
        return Err(refuse_at(
            &target,
            CommandError::invalid(
                "provider",
                format!("payments of {provider} cannot be refunded here"),
            ),
        ));
    };
    sql::query(
        "UPDATE payments SET status = 'refund_pending', refund_requested_by = ?, refund_error = NULL WHERE id = ?",
    )
    .bind(ctx.actor.to_string())
    .bind(payment_id)
    .execute(conn)?;
    queue(conn, ctx.at, telegram_id, "refund", payment_id)?;
    Ok(Effect::new(Applied::Done, target))
}

/// The provider's answer to a refund. Only a pending refund takes one.
pub(super) fn refund_result(
    conn: &Conn,
    at: i64,
    payment_id: i64,
    ok: bool,
    error: Option<&str>,
    changes: &mut Vec<Change>,
) -> Applying {
    let target = payment_target(payment_id);
    let row = sql::query("SELECT status, user_id, days, telegram_id FROM payments WHERE id = ?")
        .bind(payment_id)
        .fetch_optional(conn)?
        .ok_or_else(|| {
            refuse_at(
                &target,
                CommandError::not_found(format!("payment {payment_id}")),
            )
        })?;
    let status: String = row.get(0);
    if status != "refund_pending" {
        return Err(refuse_at(
            &target,
            CommandError::conflict(
                Some("status"),
                format!("payment {payment_id} has no refund pending (it is {status})"),
            ),
        ));
    }
    if !ok {
        sql::query("UPDATE payments SET status = 'refund_failed', refund_error = ? WHERE id = ?")
            .bind(error.unwrap_or("refused"))
            .bind(payment_id)
            .execute(conn)?;
        return Ok(Effect::new(Applied::Done, target));
    }
    let (user_id, days, telegram_id): (i64, i64, Option<i64>) =
        (row.get(1), row.get(2), row.get(3));
    sql::query("UPDATE payments SET status = 'refunded', refunded_at = ? WHERE id = ?")
        .bind(at)
        .bind(payment_id)
        .execute(conn)?;
    // The days the payment added come off the expiry (an expiry in the past expires them).
    sql::query(
        "UPDATE users SET expires_at = expires_at - ?, updated_at = ? WHERE id = ? AND expires_at IS NOT NULL",
    )
    .bind(days * DAY_MS)
    .bind(at)
    .bind(user_id)
    .execute(conn)?;
    plan::refresh_status(conn, at, user_id, changes)?;
    payment_hooks::on_payment_refunded(conn, user_id, payment_id, at, changes)?;
    if let Some(chat) = telegram_id {
        queue(conn, at, chat, "refund_done", payment_id)?;
    }
    Ok(Effect::new(Applied::Done, target))
}

/// An outbox row `{"do": kind, "payment_id": id}` for the bot (its `Out` format).
fn queue(conn: &Conn, at: i64, chat: i64, kind: &str, payment_id: i64) -> Result<(), sql::Error> {
    let item = OutboxItem {
        chat_id: chat,
        payload: json!({ "do": kind, "payment_id": payment_id }),
    };
    insert_outbox(conn, at, None, &[item], &[])
}

#[cfg(test)]
mod tests {
    #[test]
    fn discount_rounds_down_and_never_reaches_zero() {
        assert_eq!(super::discounted(100, 0), 100);
        assert_eq!(super::discounted(100, 15), 85);
        assert_eq!(super::discounted(99, 50), 50);
        assert_eq!(super::discounted(10, 100), 1);
    }
}

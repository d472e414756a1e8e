//! Buying a plan with Telegram Stars (issue #16): the plans on sale (Buy, and Renew under a
//! reminder), the invoice, the pre-checkout answer, the credit of a successful payment and
//! the messages that confirm a payment or a refund to the payer.
//!
//! Money moves only in the store's apply (`apply/payment.rs`): a press plans `CreateOrder`,
//! a pre-checkout plans `CheckOrder` (whose refusal is the answer), a successful payment
//! plans `CreditPayment` in the update's own entry, so a redelivered update or a second
//! update with the same charge id credits nothing.

use vpnkeeper_domain::command::payment::{InvoicePayload, PaymentProvider, ProviderInput, Stars};
use vpnkeeper_domain::{Command, CommandError, UserRef};
use vpnkeeper_store::ReadError;

use super::{back_menu, btn, error_text, kb, Rendered, View};
use crate::callback::Cb;
use crate::decide::Turn;
use crate::outbox::{Notice, Out, Outcomes, Screen};
use crate::texts::{html, num, s, t, tr, Lang};
use crate::Ctx;

/// A handful of plans are on sale; a keyboard stays usable well below Telegram's limits.
const MAX_PLAN_BUTTONS: usize = 24;

// ---- decide ----

pub(crate) fn buy(turn: &mut Turn<'_>) {
    turn.ok(Screen::Buy);
}

/// A plan chosen: an order at the plan's price (apply takes a promo discount off) and its
/// invoice. The order id is fresh, so every invoice is its own order.
pub(crate) fn buy_plan(turn: &mut Turn<'_>, plan_id: i64) {
    let on_sale = turn
        .snap
        .plan
        .as_ref()
        .is_some_and(|p| p.id == plan_id && !p.archived && p.spec.price_stars > 0);
    if !on_sale {
        turn.answer(Some(Notice::PlanUnavailable), true);
        turn.show(Screen::Buy);
        return;
    }
    let order_id = turn.entropy.nonce();
    let order = turn.plan.command(Command::CreateOrder {
        order_id: order_id.clone(),
        telegram_id: turn.tg(),
        plan_id,
    });
    turn.answer(None, false);
    let lang = turn.lang;
    turn.out(Out::Invoice {
        lang,
        order_id,
        order,
    });
}

/// Telegram's pre-checkout query: checked by apply against the order (`CheckOrder`); the
/// answer is sent from the outbox with the outcome.
pub(crate) fn pre_checkout(
    turn: &mut Turn<'_>,
    query_id: &str,
    currency: &str,
    total_amount: i64,
    payload: &str,
) {
    let check = InvoicePayload::parse(payload).map(|p| {
        turn.plan.command(Command::CheckOrder {
            order_id: p.order_id,
            telegram_id: turn.inc.telegram_id(),
            amount: total_amount,
            currency: currency.to_string(),
        })
    });
    let lang = turn.lang;
    turn.out(Out::PreCheckout {
        lang,
        query_id: query_id.to_string(),
        check,
    });
}

/// A successful payment: credited by apply (which queues the confirmation), once per
/// charge id.
pub(crate) fn paid(
    turn: &mut Turn<'_>,
    currency: &str,
    total_amount: i64,
    payload: &str,
    charge_id: &str,
) {
    let input = ProviderInput::TelegramSuccessfulPayment {
        currency,
        total_amount,
        invoice_payload: payload,
        telegram_payment_charge_id: charge_id,
    };
    match Stars.confirmation(&input) {
        Ok(payment) => {
            turn.plan.command(Command::CreditPayment { payment });
        }
        Err(_) => turn.notice(Notice::PaymentUnrecognized),
    }
}

// ---- load ----

pub(super) async fn load(ctx: &Ctx, view: &mut View) -> Result<(), ReadError> {
    view.plans = ctx
        .read()
        .plans(false)
        .await?
        .into_iter()
        .filter(|p| p.spec.price_stars > 0)
        .collect();
    Ok(())
}

// ---- render ----

pub(super) fn buy_screen(lang: Lang, view: &View) -> Rendered {
    let text = if view.plans.is_empty() {
        t(lang, "buy-empty")
    } else {
        t(lang, "buy-title")
    };
    let mut rows: Vec<_> = view
        .plans
        .iter()
        .take(MAX_PLAN_BUTTONS)
        .map(|p| {
            let label = tr(
                lang,
                "btn-buy-plan",
                &[
                    ("name", s(p.spec.name.clone())),
                    ("days", num(p.spec.duration_days)),
                    ("price", num(p.spec.price_stars)),
                ],
            );
            vec![btn(label, Cb::BuyPlan(p.id))]
        })
        .collect();
    rows.push(back_menu(lang));
    (text, kb(rows))
}

/// What the invoice of order `order_id` says: (title, description, payload, amount), read
/// when it is sent. `None` when the order or its plan is gone.
pub(crate) async fn invoice(
    ctx: &Ctx,
    lang: Lang,
    order_id: &str,
) -> Result<Option<(String, String, String, i64)>, ReadError> {
    let read = ctx.read();
    let Some(order) = read.order(order_id).await? else {
        return Ok(None);
    };
    let Some(plan) = read.plan(order.plan_id).await? else {
        return Ok(None);
    };
    // Telegram: title 1–32 characters, description 1–255.
    let title: String = plan.spec.name.chars().take(32).collect();
    let mut description = tr(
        lang,
        "invoice-description",
        &[("days", num(plan.spec.duration_days))],
    );
    if let Some(p) = order.discount_percent.filter(|p| *p > 0) {
        description.push(' ');
        description.push_str(&tr(lang, "invoice-discount", &[("percent", num(p))]));
    }
    let description: String = description.chars().take(255).collect();
    let payload = InvoicePayload {
        user_id: order.user_id,
        plan_id: order.plan_id,
        order_id: order.id.clone(),
    };
    Ok(Some((title, description, payload.encode(), order.amount)))
}

/// The pre-checkout answer: `None` = take the payment, else the message Telegram shows.
pub(crate) fn pre_checkout_error(
    lang: Lang,
    check: Option<crate::outbox::CommandRef>,
    outcomes: Outcomes<'_>,
) -> Option<String> {
    let Some(check) = check else {
        return Some(t(lang, "precheckout-unknown"));
    };
    match outcomes.of(check) {
        Some(Ok(_)) => None,
        Some(Err(CommandError::Invalid { field, .. })) => Some(t(
            lang,
            match field.as_str() {
                "paid" => "precheckout-paid",
                "plan" => "precheckout-archived",
                "amount" => "precheckout-amount",
                _ => "precheckout-unknown",
            },
        )),
        // A refusal of another kind (the user is unknown…), or no outcome at all.
        _ => Some(t(lang, "precheckout-unknown")),
    }
}

/// The invoice's refusal in words (the order was refused: plan archived meanwhile…).
pub(crate) fn order_refused(
    lang: Lang,
    outcomes: Outcomes<'_>,
    order: crate::outbox::CommandRef,
) -> Option<String> {
    match outcomes.of(order) {
        Some(Err(e)) => Some(error_text(lang, e)),
        Some(Ok(_)) => None,
        None => Some(t(lang, "plan-unavailable")),
    }
}

/// The payer's confirmation of a credited payment or of a refund, as the state is now.
pub(crate) async fn payer_text(
    ctx: &Ctx,
    chat: i64,
    payment_id: i64,
    refunded: bool,
) -> Result<Option<Rendered>, ReadError> {
    let read = ctx.read();
    let Some(p) = read.payment(payment_id).await? else {
        return Ok(None);
    };
    let lang = crate::snapshot::stored_lang(read, chat)
        .await?
        .unwrap_or(Lang::En);
    let plan = read
        .plan(p.plan_id)
        .await?
        .map(|p| p.spec.name)
        .unwrap_or_default();
    let until = read
        .user_account(&UserRef::Id(p.user_id))
        .await?
        .and_then(|u| u.expires_at_ms)
        .map(super::devices::date_time)
        .unwrap_or_else(|| "—".into());
    let key = if refunded {
        "refund-done"
    } else {
        "payment-done"
    };
    let text = tr(
        lang,
        key,
        &[
            ("stars", num(p.amount)),
            ("plan", s(html(&plan))),
            ("days", num(p.days)),
            ("until", s(until)),
        ],
    );
    Ok(Some((text, kb(vec![back_menu(lang)]))))
}

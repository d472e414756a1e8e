//! The admin's payments (issue #16): the list (paid, refunded, failed refunds), a refund
//! asked for and confirmed, and the outbox's refund call to Telegram.
//!
//! A refund is two commands: `RequestRefund` (the admin; marks it pending and queues the
//! call) and `RefundResult` (the sender, with Telegram's answer). The days come off only with
//! Telegram's yes; a transport failure is retried (the row stays queued, across leaders);
//! a refusal marks the payment "refund failed" and changes nothing else.

use std::sync::Arc;

use tokio::sync::watch;
use vpnkeeper_domain::telegram::OutboxRow;
use vpnkeeper_domain::Command;
use vpnkeeper_store::payment_queries::Payment;
use vpnkeeper_store::{Page, ReadError};

use super::{back_admin, btn, failed_text, kb, nav, Rendered, View};
use crate::callback::Cb;
use crate::decide::Turn;
use crate::outbox::{Outcomes, Screen};
use crate::telegram::TgError;
use crate::texts::{html, num, s, t, tr, Lang};
use crate::Ctx;

/// Payments per page of the admin's list.
pub(crate) const PAGE: i64 = 8;

// ---- decide ----

pub(crate) fn list(turn: &mut Turn<'_>, page: i64) {
    turn.ok(Screen::Payments { page });
}

pub(crate) fn refund(turn: &mut Turn<'_>, id: i64) {
    turn.ok(Screen::ConfirmRefund { id });
}

/// The confirmed refund: apply checks the payment can be refunded and queues the call.
pub(crate) fn refund_yes(turn: &mut Turn<'_>, id: i64) {
    let outcome = turn.plan.command(Command::RequestRefund { payment_id: id });
    turn.ok(Screen::RefundRequested { id, outcome });
}

// ---- load ----

pub(super) async fn load(ctx: &Ctx, screen: &Screen, view: &mut View) -> Result<(), ReadError> {
    let read = ctx.read();
    match screen {
        Screen::Payments { page } => {
            let page = Page {
                limit: PAGE + 1,
                offset: page.max(&0) * PAGE,
            };
            view.payments = read.payments(&[], page).await?;
        }
        Screen::ConfirmRefund { id } | Screen::RefundRequested { id, .. } => {
            view.payment = read.payment(*id).await?;
        }
        _ => {}
    }
    Ok(())
}

// ---- render ----

fn status_label(lang: Lang, status: &str) -> String {
    match status {
        "paid" => t(lang, "payment-paid"),
        "refund_pending" => t(lang, "payment-refund-pending"),
        "refunded" => t(lang, "payment-refunded"),
        "refund_failed" => t(lang, "payment-refund-failed"),
        other => html(other),
    }
}

fn refundable(p: &Payment) -> bool {
    p.status == "paid" || p.status == "refund_failed"
}

fn line(lang: Lang, p: &Payment) -> String {
    tr(
        lang,
        "payment-line",
        &[
            ("id", num(p.id)),
            ("stars", num(p.amount)),
            ("user", num(p.user_id)),
            ("status", s(status_label(lang, &p.status))),
            ("date", s(super::devices::date_time(p.paid_at_ms))),
        ],
    )
}

pub(super) fn list_screen(lang: Lang, page: i64, view: &View) -> Rendered {
    let page = page.max(0);
    let more = view.payments.len() as i64 > PAGE;
    let shown: Vec<&Payment> = view.payments.iter().take(PAGE as usize).collect();
    let mut text = t(lang, "payments-title");
    if shown.is_empty() {
        text.push_str("\n\n");
        text.push_str(&t(lang, "payments-empty"));
    }
    for p in &shown {
        text.push('\n');
        text.push_str(&line(lang, p));
    }
    let mut rows: Vec<_> = shown
        .iter()
        .filter(|p| refundable(p))
        .map(|p| {
            vec![btn(
                tr(lang, "btn-refund", &[("id", num(p.id))]),
                Cb::Refund(p.id),
            )]
        })
        .collect();
    let pages = if more { page + 2 } else { page + 1 };
    rows.push(nav(lang, page, pages, Cb::Payments));
    rows.push(back_admin(lang));
    (text, kb(rows))
}

pub(super) fn confirm_screen(lang: Lang, view: &View) -> Rendered {
    let back = vec![btn(t(lang, "btn-back"), Cb::Payments(0))];
    let Some(p) = &view.payment else {
        return (t(lang, "payment-gone"), kb(vec![back]));
    };
    let mut text = line(lang, p);
    if let Some(e) = &p.refund_error {
        text.push('\n');
        text.push_str(&tr(lang, "payment-refund-error", &[("reason", s(html(e)))]));
    }
    let mut rows = Vec::new();
    if refundable(p) {
        text.push_str("\n\n");
        text.push_str(&tr(
            lang,
            "refund-confirm",
            &[("days", num(p.days)), ("stars", num(p.amount))],
        ));
        rows.push(vec![btn(t(lang, "btn-yes-refund"), Cb::RefundYes(p.id))]);
    }
    rows.push(back);
    (text, kb(rows))
}

pub(super) fn requested_screen(lang: Lang, view: &View, outcomes: Outcomes<'_>) -> Rendered {
    let back = vec![btn(t(lang, "btn-back"), Cb::Payments(0))];
    let text = failed_text(lang, outcomes).unwrap_or_else(|| {
        let id = view.payment.as_ref().map_or(0, |p| p.id);
        tr(lang, "refund-requested", &[("id", num(id))])
    });
    (text, kb(vec![back]))
}

// ---- the refund call (sender) ----

/// Telegram's answer for a charge it refunded before (a repeat after a crash between its
/// yes and our record): the refund happened.
const ALREADY_REFUNDED: &str = "CHARGE_ALREADY_REFUNDED";

/// What became of a refund call.
pub(crate) enum RefundCall {
    /// Telegram's answer, to record.
    Answered { ok: bool, error: Option<String> },
    /// Nothing to do (the payment is gone or not pending any more).
    Nothing,
    /// Stopped while retrying: the row stays queued.
    Stopped,
}

/// Calls `refundStarPayment` for a pending refund, retrying transport failures until
/// Telegram answers (or this session stops).
pub(crate) async fn call_refund(
    ctx: &Arc<Ctx>,
    row: &OutboxRow,
    payment_id: i64,
    stop: &mut watch::Receiver<bool>,
) -> RefundCall {
    let payment = match ctx.read().payment(payment_id).await {
        Ok(Some(p)) if p.status == "refund_pending" => p,
        Ok(_) => return RefundCall::Nothing,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read a payment to refund; retrying later");
            return RefundCall::Stopped;
        }
    };
    let user = payment.telegram_id.unwrap_or(row.chat_id);
    let charge = payment.provider_payment_id.clone();
    let r = crate::sender::call(stop, None, || ctx.tg.refund_star_payment(user, &charge)).await;
    match r {
        None => RefundCall::Stopped,
        Some(Ok(())) => RefundCall::Answered {
            ok: true,
            error: None,
        },
        Some(Err(TgError::Permanent(_, m))) if m.contains(ALREADY_REFUNDED) => {
            RefundCall::Answered {
                ok: true,
                error: None,
            }
        }
        Some(Err(e)) => {
            tracing::warn!(payment = payment_id, error = %e, "Telegram refused a refund");
            let reason: String = e.to_string().chars().take(300).collect();
            RefundCall::Answered {
                ok: false,
                error: Some(reason),
            }
        }
    }
}

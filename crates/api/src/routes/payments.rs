//! `/api/v1/payments` (issue #16): payments received (Telegram Stars), and refunds. A
//! refund is the command the bot's button sends: apply marks the payment `refund_pending`
//! and queues the `refundStarPayment` call in the bot's outbox; the days are taken back
//! only when Telegram says yes (`refunded`), and a refusal leaves it `refund_failed`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vpnkeeper_domain::Command;
use vpnkeeper_store::payment_queries::Payment;
use vpnkeeper_store::Page;

use crate::auth::Admin;
use crate::error::ApiError;
use crate::extract::{Path, Query};
use crate::responses::{
    AdminReadErrors, BadPath, BadQuery, NoSuchPayment, NotRefundable, WriteErrors,
};
use crate::state::ApiState;

#[derive(Serialize, ToSchema)]
pub struct PaymentView {
    pub id: i64,
    /// `telegram_stars`.
    pub provider: String,
    /// The provider's payment id (Telegram's `telegram_payment_charge_id`).
    pub provider_payment_id: String,
    pub order_id: String,
    pub user_id: i64,
    pub telegram_id: Option<i64>,
    pub plan_id: i64,
    pub amount: i64,
    /// `XTR` for Telegram Stars.
    pub currency: String,
    /// Days of access the payment added (a refund takes them back).
    pub days: i64,
    /// `paid`, `refund_pending`, `refunded` or `refund_failed`.
    pub status: String,
    pub paid_at_ms: i64,
    /// Who asked for the refund (`tg:<id>`, `key:<id>`).
    pub refund_requested_by: Option<String>,
    pub refunded_at_ms: Option<i64>,
    /// Telegram's reason when it refused the refund.
    pub refund_error: Option<String>,
}

impl From<Payment> for PaymentView {
    fn from(p: Payment) -> PaymentView {
        PaymentView {
            id: p.id,
            provider: p.provider,
            provider_payment_id: p.provider_payment_id,
            order_id: p.order_id,
            user_id: p.user_id,
            telegram_id: p.telegram_id,
            plan_id: p.plan_id,
            amount: p.amount,
            currency: p.currency,
            days: p.days,
            status: p.status,
            paid_at_ms: p.paid_at_ms,
            refund_requested_by: p.refund_requested_by,
            refunded_at_ms: p.refunded_at_ms,
            refund_error: p.refund_error,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PaymentList {
    pub payments: Vec<PaymentView>,
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `paid`, `refunded`, `failed` (refunds Telegram refused) or `pending` (refunds
    /// waiting for Telegram); all when absent.
    pub status: Option<String>,
    /// At most this many (1–1000, default 100).
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

fn statuses(s: Option<&str>) -> Result<&'static [&'static str], ApiError> {
    Ok(match s {
        None => &[],
        Some("paid") => &["paid"],
        Some("refunded") => &["refunded"],
        Some("failed") => &["refund_failed"],
        Some("pending") => &["refund_pending"],
        Some(_) => {
            return Err(ApiError::bad_request(
                "status",
                "must be `paid`, `refunded`, `failed` or `pending`",
            ))
        }
    })
}

#[utoipa::path(get, path = "/api/v1/payments", tag = "payments", params(ListParams),
    security(("bearer" = [])),
    responses((status = 200, description = "Payments, newest first", body = PaymentList),
        AdminReadErrors, BadQuery))]
pub async fn list(
    State(state): State<ApiState>,
    _admin: Admin,
    Query(p): Query<ListParams>,
) -> Result<Json<PaymentList>, ApiError> {
    let statuses = statuses(p.status.as_deref())?;
    let page = Page {
        limit: p.limit.unwrap_or(100),
        offset: p.offset.unwrap_or(0),
    };
    let payments = state.read().payments(statuses, page).await?;
    Ok(Json(PaymentList {
        payments: payments.into_iter().map(PaymentView::from).collect(),
    }))
}

#[utoipa::path(post, path = "/api/v1/payments/{id}/refund", tag = "payments",
    params(("id" = i64, Path, description = "Payment id")),
    security(("bearer" = [])),
    responses((status = 202, description = "Refund requested: the payment is `refund_pending` until Telegram answers", body = PaymentView),
        WriteErrors, BadPath, NoSuchPayment, NotRefundable))]
pub async fn refund(
    State(state): State<ApiState>,
    Admin(caller): Admin,
    Path(id): Path<i64>,
) -> Result<(StatusCode, Json<PaymentView>), ApiError> {
    state
        .execute(caller.actor(), Command::RequestRefund { payment_id: id })
        .await?;
    let payment = state
        .read()
        .payment(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("payment {id}")))?;
    Ok((StatusCode::ACCEPTED, Json(payment.into())))
}

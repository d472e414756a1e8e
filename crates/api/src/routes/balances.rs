//! A user's balance in Stars and referral standing (issue #16 items 3 and 6):
//! `GET/POST /api/v1/users/{user}/balance`, `GET /api/v1/users/{user}/referral`.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vpnkeeper_domain::command::referral::{code_of, START_PREFIX};
use vpnkeeper_domain::{Applied, Command};

use crate::auth::Admin;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Body, Path};
use crate::responses::{AdminReadErrors, InvalidField, NoSuchUser, NotJson, WriteErrors};
use crate::routes::users::{fetch, parse_user};
use crate::state::ApiState;

/// How many ledger rows a balance answer carries.
const LEDGER_ROWS: i64 = 50;

#[derive(Serialize, ToSchema)]
pub struct LedgerView {
    pub id: i64,
    /// Stars: positive credits, negative debits.
    pub delta: i64,
    pub balance_after: i64,
    pub reason: String,
    /// Who moved it (`key:…`, `tg:…`, `system:referral`).
    pub actor: String,
    pub payment_id: Option<i64>,
    pub at_ms: i64,
}

#[derive(Serialize, ToSchema)]
pub struct BalanceView {
    pub user_id: i64,
    pub stars: i64,
    /// The latest movements, newest first (up to 50).
    pub ledger: Vec<LedgerView>,
}

async fn balance_view(state: &ApiState, user_id: i64) -> Result<BalanceView, ApiError> {
    let read = state.read();
    let stars = read.balance(user_id).await?;
    let ledger = read.balance_ledger(user_id, LEDGER_ROWS).await?;
    Ok(BalanceView {
        user_id,
        stars,
        ledger: ledger
            .into_iter()
            .map(|r| LedgerView {
                id: r.id,
                delta: r.delta,
                balance_after: r.balance_after,
                reason: r.reason,
                actor: r.actor,
                payment_id: r.payment_id,
                at_ms: r.at_ms,
            })
            .collect(),
    })
}

#[utoipa::path(get, path = "/api/v1/users/{user}/balance", tag = "users",
    params(("user" = String, Path, description = "User id, `tg:<telegram id>`, or name")),
    security(("bearer" = [])),
    responses((status = 200, description = "The balance and its latest movements", body = BalanceView), AdminReadErrors, NoSuchUser))]
pub async fn get(
    State(state): State<ApiState>,
    Admin(_caller): Admin,
    Path(user): Path<String>,
) -> Result<Json<BalanceView>, ApiError> {
    let account = fetch(&state, &parse_user(&user)).await?;
    Ok(Json(balance_view(&state, account.user.id).await?))
}

/// A credit (positive) or debit (negative).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustBody {
    /// Stars; negative debits. A debit below zero is refused (409).
    #[schema(example = 100)]
    pub amount: i64,
    /// Why, kept in the ledger (up to 200 characters).
    #[serde(default)]
    pub reason: String,
}

#[utoipa::path(post, path = "/api/v1/users/{user}/balance", tag = "users", request_body = AdjustBody,
    params(("user" = String, Path, description = "User id, `tg:<telegram id>`, or name")),
    security(("bearer" = [])),
    responses((status = 200, description = "The new balance", body = BalanceView), WriteErrors, InvalidField, NotJson, NoSuchUser,
        (status = 409, description = "The debit would take the balance below zero", body = ErrorBody)))]
pub async fn adjust(
    State(state): State<ApiState>,
    Admin(caller): Admin,
    Path(user): Path<String>,
    Body(req): Body<AdjustBody>,
) -> Result<Json<BalanceView>, ApiError> {
    let command = Command::AdjustBalance {
        user: parse_user(&user),
        delta_stars: req.amount,
        reason: req.reason,
    };
    let Applied::Balance { user_id, .. } = state.execute(caller.actor(), command).await? else {
        return Err(ApiError::internal(
            "balance command applied without a balance",
        ));
    };
    Ok(Json(balance_view(&state, user_id).await?))
}

#[derive(Serialize, ToSchema)]
pub struct ReferralView {
    pub user_id: i64,
    /// The `/start` payload of the user's referral link (`ref_<code>`).
    pub start_payload: String,
    /// Who referred this user, if anyone.
    pub referrer_id: Option<i64>,
    /// `pending`, `rewarded` or `reversed` for this user's own referral.
    pub status: Option<String>,
    /// Users this user referred, and how many of them earned a reward.
    pub referred: i64,
    pub rewarded: i64,
}

#[utoipa::path(get, path = "/api/v1/users/{user}/referral", tag = "users",
    params(("user" = String, Path, description = "User id, `tg:<telegram id>`, or name")),
    security(("bearer" = [])),
    responses((status = 200, description = "The user's referral standing", body = ReferralView), AdminReadErrors, NoSuchUser))]
pub async fn referral(
    State(state): State<ApiState>,
    Admin(_caller): Admin,
    Path(user): Path<String>,
) -> Result<Json<ReferralView>, ApiError> {
    let id = fetch(&state, &parse_user(&user)).await?.user.id;
    let info = state.read().referral_info(id).await?;
    Ok(Json(ReferralView {
        user_id: id,
        start_payload: format!("{START_PREFIX}{}", code_of(id)),
        referrer_id: info.referrer_id,
        status: info.status,
        referred: info.referred,
        rewarded: info.rewarded,
    }))
}

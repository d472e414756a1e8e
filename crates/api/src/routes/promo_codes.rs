//! `/api/v1/promo-codes` (create, list, disable) and `POST /api/v1/users/{user}/promo`
//! (redeem a code for a user) — issue #16 item 5. Redemptions are Commands applied one at a
//! time by the state machine, so a code's `max_uses` holds under any concurrency.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vpnkeeper_domain::command::promo::{normalize_code, PromoGrant, PromoSpec};
use vpnkeeper_domain::{Applied, Command};
use vpnkeeper_store::promo_queries::PromoCodeRow;

use crate::auth::{Admin, Caller};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Body, Path};
use crate::responses::{AdminReadErrors, BadPath, InvalidField, NoSuchUser, NotJson, WriteErrors};
use crate::routes::users::parse_user;
use crate::state::ApiState;

/// A new promo code.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromoBody {
    /// 3–32 latin letters, digits, `-`, `_`; case-insensitive (stored upper-case).
    #[schema(example = "SUMMER25")]
    pub code: String,
    /// `days` (added to the expiry), `traffic` (bytes added to the quota) or `discount`
    /// (percent off the next purchase).
    #[schema(example = "discount")]
    pub kind: String,
    /// Days, bytes or percent, by `kind`.
    #[schema(example = 25)]
    pub amount: i64,
    /// How many users may redeem it (each once).
    #[schema(minimum = 1, example = 100)]
    pub max_uses: i64,
    /// Unix ms after which it is refused; absent = never.
    #[serde(default)]
    pub expires_at_ms: Option<i64>,
}

impl PromoBody {
    fn spec(self) -> Result<PromoSpec, ApiError> {
        let grant = PromoGrant::from_parts(&self.kind, self.amount).ok_or_else(|| {
            ApiError::bad_request("kind", "must be one of days, traffic, discount")
        })?;
        let spec = PromoSpec {
            code: normalize_code(&self.code),
            grant,
            max_uses: self.max_uses,
            expires_at_ms: self.expires_at_ms,
        };
        spec.validate()?;
        Ok(spec)
    }
}

#[derive(Serialize, ToSchema)]
pub struct PromoCodeView {
    pub id: i64,
    pub code: String,
    pub kind: String,
    pub amount: i64,
    pub max_uses: i64,
    pub uses: i64,
    pub expires_at_ms: Option<i64>,
    pub disabled: bool,
    pub created_at_ms: i64,
    /// The actor that created it (`key:…`, `tg:…`).
    pub created_by: String,
}

impl From<PromoCodeRow> for PromoCodeView {
    fn from(r: PromoCodeRow) -> Self {
        PromoCodeView {
            id: r.id,
            code: r.code,
            kind: r.kind,
            amount: r.amount,
            max_uses: r.max_uses,
            uses: r.uses,
            expires_at_ms: r.expires_at_ms,
            disabled: r.disabled,
            created_at_ms: r.created_at_ms,
            created_by: r.created_by,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PromoCodeList {
    pub promo_codes: Vec<PromoCodeView>,
}

async fn fetch_code(state: &ApiState, code: &str) -> Result<PromoCodeView, ApiError> {
    state
        .read()
        .promo_code(code)
        .await?
        .map(PromoCodeView::from)
        .ok_or_else(|| ApiError::not_found(format!("promo code {code}")))
}

#[utoipa::path(get, path = "/api/v1/promo-codes", tag = "promo",
    security(("bearer" = [])),
    responses((status = 200, description = "Every promo code, oldest first", body = PromoCodeList), AdminReadErrors))]
pub async fn list(
    State(state): State<ApiState>,
    Admin(_caller): Admin,
) -> Result<Json<PromoCodeList>, ApiError> {
    let codes = state.read().promo_codes().await?;
    Ok(Json(PromoCodeList {
        promo_codes: codes.into_iter().map(PromoCodeView::from).collect(),
    }))
}

#[utoipa::path(post, path = "/api/v1/promo-codes", tag = "promo", request_body = PromoBody,
    security(("bearer" = [])),
    responses((status = 201, description = "Created", body = PromoCodeView), WriteErrors, InvalidField, NotJson,
        (status = 409, description = "The code exists", body = ErrorBody)))]
pub async fn create(
    State(state): State<ApiState>,
    Admin(caller): Admin,
    Body(req): Body<PromoBody>,
) -> Result<(StatusCode, Json<PromoCodeView>), ApiError> {
    let spec = req.spec()?;
    let code = spec.code.clone();
    state
        .execute(caller.actor(), Command::CreatePromoCode { promo: spec })
        .await?;
    Ok((StatusCode::CREATED, Json(fetch_code(&state, &code).await?)))
}

#[utoipa::path(post, path = "/api/v1/promo-codes/{code}/disable", tag = "promo",
    params(("code" = String, Path, description = "The code")),
    security(("bearer" = [])),
    responses((status = 200, description = "The disabled code", body = PromoCodeView), WriteErrors, BadPath,
        (status = 404, description = "No such code", body = ErrorBody)))]
pub async fn disable(
    State(state): State<ApiState>,
    Admin(caller): Admin,
    Path(code): Path<String>,
) -> Result<Json<PromoCodeView>, ApiError> {
    let code = normalize_code(&code);
    vpnkeeper_domain::command::promo::validate_code(&code)?;
    state
        .execute(
            caller.actor(),
            Command::DisablePromoCode { code: code.clone() },
        )
        .await?;
    Ok(Json(fetch_code(&state, &code).await?))
}

/// A code to redeem.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedeemBody {
    pub code: String,
}

#[derive(Serialize, ToSchema)]
pub struct RedeemView {
    pub redemption_id: i64,
    /// `days`, `traffic` or `discount`.
    pub kind: String,
    pub amount: i64,
    /// A discount waits for the user's next purchase; days and traffic apply at once.
    pub pending: bool,
}

#[utoipa::path(post, path = "/api/v1/users/{user}/promo", tag = "promo", request_body = RedeemBody,
    params(("user" = String, Path, description = "User id, `tg:<telegram id>`, or name")),
    security(("bearer" = [])),
    responses((status = 200, description = "Redeemed", body = RedeemView), WriteErrors, InvalidField, NotJson, NoSuchUser,
        (status = 409, description = "Refused: disabled, expired, used up, or already used by this user", body = ErrorBody)))]
pub async fn redeem(
    State(state): State<ApiState>,
    Admin(caller): Admin,
    Path(user): Path<String>,
    Body(req): Body<RedeemBody>,
) -> Result<Json<RedeemView>, ApiError> {
    let code = normalize_code(&req.code);
    vpnkeeper_domain::command::promo::validate_code(&code)?;
    redeem_as(&state, &caller, parse_user(&user), code).await
}

async fn redeem_as(
    state: &ApiState,
    caller: &Caller,
    user: vpnkeeper_domain::UserRef,
    code: String,
) -> Result<Json<RedeemView>, ApiError> {
    let applied = state
        .execute(caller.actor(), Command::RedeemPromoCode { user, code })
        .await?;
    let Applied::Redeemed {
        redemption_id,
        grant,
    } = applied
    else {
        return Err(ApiError::internal("redemption applied without a result"));
    };
    Ok(Json(RedeemView {
        redemption_id,
        kind: grant.kind().into(),
        amount: grant.amount(),
        pending: matches!(grant, PromoGrant::Discount { .. }),
    }))
}

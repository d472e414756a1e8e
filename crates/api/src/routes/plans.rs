//! `/api/v1/plans` (create, list, get, replace, archive) and the user lifecycle endpoints
//! `POST /api/v1/users/{user}/plan` (assign or extend) and `/reset-usage` (issue #15).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vpnkeeper_domain::command::plan::PlanSpec;
use vpnkeeper_domain::reset::ResetStrategy;
use vpnkeeper_domain::{Applied, Command, UserRef};
use vpnkeeper_store::plan_queries::Plan;

use crate::auth::{Admin, Caller};
use crate::error::ApiError;
use crate::extract::{Body, Path, Query};
use crate::responses::{
    BadPath, BadQuery, InvalidField, NoSuchUser, NotJson, PlanTaken, ReadErrors, WriteErrors,
};
use crate::routes::users::{fetch, parse_user, view};
use crate::views::UserView;

/// A plan's fields.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanBody {
    #[schema(min_length = 1, max_length = 64, example = "monthly")]
    pub name: String,
    /// Days of access a purchase or an extension adds (1–36500).
    #[schema(minimum = 1, maximum = 36500)]
    pub duration_days: i64,
    /// Quota per reset period in bytes; 0 = unlimited.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub traffic_limit_bytes: i64,
    /// Active devices allowed; 0 = unlimited.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub device_limit: i64,
    /// `no_reset`, `day`, `week`, `month`, `year`, `month_rolling` or `day_of_month`.
    #[serde(default = "no_reset")]
    pub reset_strategy: String,
    /// 1–31, with `day_of_month` only (clamped to the month's last day).
    #[serde(default)]
    pub reset_day: Option<i64>,
    /// Price in Telegram Stars; 0 = not for sale.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub price_stars: i64,
}

fn no_reset() -> String {
    "no_reset".into()
}

impl PlanBody {
    fn spec(self) -> Result<PlanSpec, ApiError> {
        let reset_strategy = ResetStrategy::parse(&self.reset_strategy).ok_or_else(|| {
            ApiError::bad_request(
                "reset_strategy",
                "must be one of no_reset, day, week, month, year, month_rolling, day_of_month",
            )
        })?;
        let reset_day = match self.reset_day {
            None => None,
            Some(d @ 1..=31) => Some(d as u8),
            Some(_) => {
                return Err(ApiError::bad_request(
                    "reset_day",
                    "must be a day of the month, 1–31",
                ))
            }
        };
        let spec = PlanSpec {
            name: self.name,
            duration_days: self.duration_days,
            traffic_limit_bytes: self.traffic_limit_bytes,
            device_limit: self.device_limit,
            reset_strategy,
            reset_day,
            price_stars: self.price_stars,
        };
        spec.validate()?;
        Ok(spec)
    }
}

#[derive(Serialize, ToSchema)]
pub struct PlanView {
    pub id: i64,
    pub name: String,
    pub duration_days: i64,
    pub traffic_limit_bytes: i64,
    pub device_limit: i64,
    pub reset_strategy: String,
    pub reset_day: Option<i64>,
    pub price_stars: i64,
    pub archived: bool,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl From<Plan> for PlanView {
    fn from(p: Plan) -> PlanView {
        PlanView {
            id: p.id,
            name: p.spec.name,
            duration_days: p.spec.duration_days,
            traffic_limit_bytes: p.spec.traffic_limit_bytes,
            device_limit: p.spec.device_limit,
            reset_strategy: p.spec.reset_strategy.as_str().into(),
            reset_day: p.spec.reset_day.map(i64::from),
            price_stars: p.spec.price_stars,
            archived: p.archived,
            created_at_ms: p.created_at_ms,
            updated_at_ms: p.updated_at_ms,
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Include archived plans.
    #[serde(default)]
    pub archived: bool,
}

#[derive(Serialize, ToSchema)]
pub struct PlanList {
    pub plans: Vec<PlanView>,
}

async fn fetch_plan(state: &crate::state::ApiState, id: i64) -> Result<PlanView, ApiError> {
    state
        .read()
        .plan(id)
        .await?
        .map(PlanView::from)
        .ok_or_else(|| ApiError::not_found(format!("plan {id}")))
}

fn plan_id(applied: Applied) -> Result<i64, ApiError> {
    match applied {
        Applied::Plan { id } => Ok(id),
        _ => Err(ApiError::internal("plan command applied without a plan")),
    }
}

#[utoipa::path(get, path = "/api/v1/plans", tag = "plans", params(ListParams),
    security(("bearer" = [])),
    responses((status = 200, description = "Plans", body = PlanList), ReadErrors, BadQuery))]
pub async fn list(
    State(state): State<crate::state::ApiState>,
    _caller: Caller,
    Query(p): Query<ListParams>,
) -> Result<Json<PlanList>, ApiError> {
    let plans = state.read().plans(p.archived).await?;
    Ok(Json(PlanList {
        plans: plans.into_iter().map(PlanView::from).collect(),
    }))
}

#[utoipa::path(post, path = "/api/v1/plans", tag = "plans", request_body = PlanBody,
    security(("bearer" = [])),
    responses((status = 201, description = "Created", body = PlanView), WriteErrors, InvalidField, NotJson, PlanTaken))]
pub async fn create(
    State(state): State<crate::state::ApiState>,
    Admin(caller): Admin,
    Body(req): Body<PlanBody>,
) -> Result<(StatusCode, Json<PlanView>), ApiError> {
    let command = Command::CreatePlan { plan: req.spec()? };
    let id = plan_id(state.execute(caller.actor(), command).await?)?;
    Ok((StatusCode::CREATED, Json(fetch_plan(&state, id).await?)))
}

#[utoipa::path(get, path = "/api/v1/plans/{id}", tag = "plans",
    params(("id" = i64, Path, description = "Plan id")),
    security(("bearer" = [])),
    responses((status = 200, description = "The plan", body = PlanView), ReadErrors, BadPath,
        (status = 404, description = "No such plan", body = crate::error::ErrorBody)))]
pub async fn get(
    State(state): State<crate::state::ApiState>,
    _caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<PlanView>, ApiError> {
    Ok(Json(fetch_plan(&state, id).await?))
}

#[utoipa::path(put, path = "/api/v1/plans/{id}", tag = "plans", request_body = PlanBody,
    params(("id" = i64, Path, description = "Plan id")),
    security(("bearer" = [])),
    responses((status = 200, description = "The replaced plan", body = PlanView), WriteErrors, InvalidField, NotJson, BadPath, PlanTaken,
        (status = 404, description = "No such plan", body = crate::error::ErrorBody)))]
pub async fn replace(
    State(state): State<crate::state::ApiState>,
    Admin(caller): Admin,
    Path(id): Path<i64>,
    Body(req): Body<PlanBody>,
) -> Result<Json<PlanView>, ApiError> {
    let command = Command::UpdatePlan {
        plan_id: id,
        plan: req.spec()?,
    };
    plan_id(state.execute(caller.actor(), command).await?)?;
    Ok(Json(fetch_plan(&state, id).await?))
}

#[utoipa::path(post, path = "/api/v1/plans/{id}/archive", tag = "plans",
    params(("id" = i64, Path, description = "Plan id")),
    security(("bearer" = [])),
    responses((status = 200, description = "The archived plan", body = PlanView), WriteErrors, BadPath,
        (status = 404, description = "No such plan", body = crate::error::ErrorBody)))]
pub async fn archive(
    State(state): State<crate::state::ApiState>,
    Admin(caller): Admin,
    Path(id): Path<i64>,
) -> Result<Json<PlanView>, ApiError> {
    plan_id(
        state
            .execute(caller.actor(), Command::ArchivePlan { plan_id: id })
            .await?,
    )?;
    Ok(Json(fetch_plan(&state, id).await?))
}

/// Assign or extend a plan.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// The plan's id (active, not archived).
    pub plan: i64,
    /// Start the clock at the first handshake or connection instead of now.
    #[serde(default)]
    pub on_hold: bool,
    /// With `on_hold`: unix ms at which the clock starts anyway.
    #[serde(default)]
    pub on_hold_timeout_ms: Option<i64>,
}

async fn run_user(
    state: crate::state::ApiState,
    caller: Caller,
    command: Command,
) -> Result<Json<UserView>, ApiError> {
    let Applied::User { id } = state.execute(caller.actor(), command).await? else {
        return Err(ApiError::internal("user command applied without a user"));
    };
    let a = fetch(&state, &UserRef::Id(id)).await?;
    Ok(Json(view(&state, &caller, a)))
}

#[utoipa::path(post, path = "/api/v1/users/{user}/plan", tag = "users", request_body = AssignBody,
    params(("user" = String, Path, description = "User id, `tg:<telegram id>`, or name")),
    security(("bearer" = [])),
    responses((status = 200, description = "The user on the plan", body = UserView), WriteErrors, InvalidField, NotJson, NoSuchUser))]
pub async fn assign(
    State(state): State<crate::state::ApiState>,
    Admin(caller): Admin,
    Path(user): Path<String>,
    Body(req): Body<AssignBody>,
) -> Result<Json<UserView>, ApiError> {
    let command = Command::AssignPlan {
        user: parse_user(&user),
        plan_id: req.plan,
        on_hold: req.on_hold,
        on_hold_timeout_ms: req.on_hold_timeout_ms,
    };
    run_user(state, caller, command).await
}

#[utoipa::path(post, path = "/api/v1/users/{user}/reset-usage", tag = "users",
    params(("user" = String, Path, description = "User id, `tg:<telegram id>`, or name")),
    security(("bearer" = [])),
    responses((status = 200, description = "The user with the period usage at zero", body = UserView), WriteErrors, BadPath, NoSuchUser))]
pub async fn reset_usage(
    State(state): State<crate::state::ApiState>,
    Admin(caller): Admin,
    Path(user): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    let command = Command::ResetUsage {
        user: parse_user(&user),
    };
    run_user(state, caller, command).await
}

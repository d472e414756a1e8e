//! `/api/v1/users`: create, list, get, enable/disable.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use vpnkeeper_domain::secrets::random_url_token;
use vpnkeeper_domain::{Applied, Command, User, UserRef};
use vpnkeeper_store::Page;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Body, Path, Query};
use crate::state::ApiState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub name: String,
    #[serde(default)]
    pub telegram_id: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    #[serde(default = "default_limit")]
    pub limit: i64,
    #[serde(default)]
    pub offset: i64,
    #[serde(default)]
    pub search: Option<String>,
}

fn default_limit() -> i64 {
    100
}

#[derive(Serialize)]
pub struct UserList {
    pub users: Vec<User>,
    pub limit: i64,
    pub offset: i64,
}

pub fn check_page(limit: i64, offset: i64) -> Result<Page, ApiError> {
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("limit", "must be between 1 and 1000"));
    }
    if offset < 0 {
        return Err(ApiError::bad_request("offset", "must not be negative"));
    }
    Ok(Page { limit, offset })
}

pub async fn list(
    State(state): State<ApiState>,
    _caller: Caller,
    Query(p): Query<ListParams>,
) -> Result<Json<UserList>, ApiError> {
    let page = check_page(p.limit, p.offset)?;
    let users = state.read().users(page, p.search.as_deref()).await?;
    Ok(Json(UserList {
        users,
        limit: p.limit,
        offset: p.offset,
    }))
}

pub async fn create(
    State(state): State<ApiState>,
    caller: Caller,
    Body(req): Body<CreateUser>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    caller.require_admin()?;
    let command = Command::CreateUser {
        name: req.name,
        telegram_id: req.telegram_id,
        sub_token: random_url_token(&mut OsRng, 24),
    };
    let Applied::User { id } = state.execute(caller.actor(), command).await? else {
        return Err(ApiError::internal(
            "user.create applied without returning a user",
        ));
    };
    let user = fetch(&state, &UserRef::Id(id)).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

pub async fn fetch(state: &ApiState, user: &UserRef) -> Result<User, ApiError> {
    state
        .read()
        .user(user)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("user {user}")))
}

pub async fn get(
    State(state): State<ApiState>,
    _caller: Caller,
    Path(user): Path<String>,
) -> Result<Json<User>, ApiError> {
    Ok(Json(fetch(&state, &UserRef::parse(&user)).await?))
}

async fn set_enabled(
    state: ApiState,
    caller: Caller,
    user: String,
    enabled: bool,
) -> Result<Json<User>, ApiError> {
    caller.require_admin()?;
    let user = UserRef::parse(&user);
    state
        .execute(
            caller.actor(),
            Command::SetUserEnabled {
                user: user.clone(),
                enabled,
            },
        )
        .await?;
    Ok(Json(fetch(&state, &user).await?))
}

pub async fn enable(
    State(state): State<ApiState>,
    caller: Caller,
    Path(user): Path<String>,
) -> Result<Json<User>, ApiError> {
    set_enabled(state, caller, user, true).await
}

pub async fn disable(
    State(state): State<ApiState>,
    caller: Caller,
    Path(user): Path<String>,
) -> Result<Json<User>, ApiError> {
    set_enabled(state, caller, user, false).await
}

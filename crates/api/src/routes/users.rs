//! `/api/v1/users`: create, list/search, get, update, enable/disable, delete, rotate the
//! subscription token.
//!
//! Delete is a hard delete of the user and their devices (their peers leave the data planes
//! on the next reconcile); the audit log keeps the record. Disable is the reversible way to
//! cut someone off.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rand::rngs::OsRng;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use vpnkeeper_domain::command::Update;
use vpnkeeper_domain::secrets::random_url_token;
use vpnkeeper_domain::{Applied, Command, UserRef};
use vpnkeeper_store::queries::{UserAccount, UserFilter};
use vpnkeeper_store::Page;

use crate::auth::{Admin, Caller};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Body, Path, Query};
use crate::responses::{
    BadPath, BadQuery, InvalidField, NoSuchUser, NotJson, ReadErrors, UserTaken, WriteErrors,
};
use crate::state::{now_ms, ApiState};
use crate::views::UserView;

/// Bytes of randomness in a subscription token (192 bits).
const SUB_TOKEN_BYTES: usize = 24;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// 1–64 characters, not a plain number, no control characters, no surrounding spaces.
    #[schema(min_length = 1, max_length = 64, example = "alice")]
    pub name: String,
    #[serde(default)]
    #[schema(minimum = 1)]
    pub telegram_id: Option<i64>,
    /// Unix ms after which access stops; omitted = never.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub expires_at_ms: Option<i64>,
    /// Quota of upload + download in bytes; omitted = unlimited.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub traffic_limit_bytes: Option<i64>,
}

/// Fields to change; an absent field keeps its value, `null` clears an optional one.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    #[serde(default)]
    #[schema(min_length = 1, max_length = 64)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, minimum = 1)]
    pub telegram_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, minimum = 1)]
    pub expires_at_ms: Option<Option<i64>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>, minimum = 1)]
    pub traffic_limit_bytes: Option<Option<i64>>,
}

/// Tells "absent" (`None`, via `default`) from "null" (`Some(None)`).
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

fn update_of(v: Option<Option<i64>>) -> Option<Update<i64>> {
    v.map(|inner| match inner {
        Some(x) => Update::Set(x),
        None => Update::Clear,
    })
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Page size.
    #[serde(default = "default_limit")]
    #[param(minimum = 1, maximum = 1000, default = 100)]
    pub limit: i64,
    #[serde(default)]
    #[param(minimum = 0, default = 0)]
    pub offset: i64,
    /// A name substring (case-insensitive for ASCII), or a Telegram id.
    #[serde(default)]
    #[param(max_length = 64)]
    pub search: Option<String>,
    /// Only enabled (true) or disabled (false) users.
    #[serde(default)]
    pub enabled: Option<bool>,
}

fn default_limit() -> i64 {
    100
}

#[derive(Serialize, ToSchema)]
pub struct UserList {
    pub users: Vec<UserView>,
    /// Users matching the filters, over all pages.
    pub total: i64,
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

/// A user as typed in a path: a numeric id, `tg:<telegram id>`, or a name.
pub fn parse_user(text: &str) -> UserRef {
    match text.strip_prefix("tg:").map(|t| t.parse::<i64>()) {
        Some(Ok(tg)) => UserRef::TelegramId(tg),
        _ => UserRef::parse(text),
    }
}

/// The subscription base shown to `caller`: subscription URLs grant access, so only admin
/// keys see them.
fn sub_base<'a>(state: &'a ApiState, caller: &Caller) -> Option<&'a str> {
    caller
        .is_admin()
        .then_some(state.options().public_url.as_str())
}

pub fn view(state: &ApiState, caller: &Caller, a: UserAccount) -> UserView {
    UserView::new(a, now_ms(), sub_base(state, caller))
}

#[utoipa::path(get, path = "/api/v1/users", tag = "users", params(ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of users", body = UserList),
        ReadErrors,
        BadQuery,
    ))]
pub async fn list(
    State(state): State<ApiState>,
    caller: Caller,
    Query(p): Query<ListParams>,
) -> Result<Json<UserList>, ApiError> {
    let page = check_page(p.limit, p.offset)?;
    if p.search.as_ref().is_some_and(|s| s.chars().count() > 64) {
        return Err(ApiError::bad_request(
            "search",
            "must be at most 64 characters",
        ));
    }
    let filter = UserFilter {
        search: p.search,
        enabled: p.enabled,
    };
    let accounts = state.read().user_accounts(&filter, page).await?;
    let total = state.read().users_total(&filter).await?;
    Ok(Json(UserList {
        users: accounts
            .into_iter()
            .map(|a| view(&state, &caller, a))
            .collect(),
        total,
        limit: p.limit,
        offset: p.offset,
    }))
}

#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUser,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = UserView),
        WriteErrors,
        InvalidField,
        UserTaken,
        NotJson,
    ))]
pub async fn create(
    State(state): State<ApiState>,
    Admin(caller): Admin,
    Body(req): Body<CreateUser>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    let command = Command::CreateUser {
        name: req.name.clone(),
        telegram_id: req.telegram_id,
        sub_token: random_url_token(&mut OsRng, SUB_TOKEN_BYTES),
    };
    // Limits travel in a second command (the create command predates them); validate both
    // before proposing either, so a bad limit does not leave a half-made user behind.
    let limits = (req.expires_at_ms.is_some() || req.traffic_limit_bytes.is_some()).then(|| {
        Command::UpdateUser {
            user: UserRef::Name(req.name.clone()),
            name: None,
            telegram_id: None,
            expires_at_ms: req.expires_at_ms.map(Update::Set),
            traffic_limit_bytes: req.traffic_limit_bytes.map(Update::Set),
        }
    });
    command.validate()?;
    if let Some(l) = &limits {
        l.validate()?;
    }
    let Applied::User { id } = state.execute(caller.actor(), command).await? else {
        return Err(ApiError::internal(
            "user.create applied without returning a user",
        ));
    };
    if let Some(Command::UpdateUser {
        expires_at_ms,
        traffic_limit_bytes,
        ..
    }) = limits
    {
        let set = Command::UpdateUser {
            user: UserRef::Id(id),
            name: None,
            telegram_id: None,
            expires_at_ms,
            traffic_limit_bytes,
        };
        state.execute(caller.actor(), set).await?;
    }
    let user = fetch(&state, &UserRef::Id(id)).await?;
    Ok((StatusCode::CREATED, Json(view(&state, &caller, user))))
}

pub async fn fetch(state: &ApiState, user: &UserRef) -> Result<UserAccount, ApiError> {
    state
        .read()
        .user_account(user)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("user {user}")))
}

#[utoipa::path(get, path = "/api/v1/users/{user}", tag = "users",
    params(("user" = String, Path, description = "User id, `tg:<telegram id>`, or name")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user", body = UserView),
        ReadErrors,
        BadPath,
        NoSuchUser,
    ))]
pub async fn get(
    State(state): State<ApiState>,
    caller: Caller,
    Path(user): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    let a = fetch(&state, &parse_user(&user)).await?;
    Ok(Json(view(&state, &caller, a)))
}

#[utoipa::path(patch, path = "/api/v1/users/{user}", tag = "users", request_body = UpdateUser,
    params(("user" = String, Path, description = "User id, `tg:<telegram id>`, or name")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The updated user", body = UserView),
        WriteErrors,
        InvalidField,
        NoSuchUser,
        UserTaken,
        NotJson,
    ))]
pub async fn update(
    State(state): State<ApiState>,
    Admin(caller): Admin,
    Path(user): Path<String>,
    Body(req): Body<UpdateUser>,
) -> Result<Json<UserView>, ApiError> {
    let user = parse_user(&user);
    let command = Command::UpdateUser {
        user: user.clone(),
        name: req.name.clone(),
        telegram_id: update_of(req.telegram_id),
        expires_at_ms: update_of(req.expires_at_ms),
        traffic_limit_bytes: update_of(req.traffic_limit_bytes),
    };
    let Applied::User { id } = state.execute(caller.actor(), command).await? else {
        return Err(ApiError::internal(
            "user.update applied without returning a user",
        ));
    };
    let a = fetch(&state, &UserRef::Id(id)).await?;
    Ok(Json(view(&state, &caller, a)))
}

#[utoipa::path(delete, path = "/api/v1/users/{user}", tag = "users",
    params(("user" = String, Path, description = "User id, `tg:<telegram id>`, or name")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted, with all their devices"),
        WriteErrors,
        BadPath,
        NoSuchUser,
        (status = 409, description = "Still referenced elsewhere; disable instead", body = ErrorBody),
    ))]
pub async fn delete(
    State(state): State<ApiState>,
    Admin(caller): Admin,
    Path(user): Path<String>,
) -> Result<StatusCode, ApiError> {
    let user = parse_user(&user);
    state
        .execute(caller.actor(), Command::DeleteUser { user })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn run_and_show(
    state: ApiState,
    Admin(caller): Admin,
    command: Command,
) -> Result<Json<UserView>, ApiError> {
    let Applied::User { id } = state.execute(caller.actor(), command).await? else {
        return Err(ApiError::internal("user command applied without a user"));
    };
    let a = fetch(&state, &UserRef::Id(id)).await?;
    Ok(Json(view(&state, &caller, a)))
}

#[utoipa::path(post, path = "/api/v1/users/{user}/enable", tag = "users",
    params(("user" = String, Path, description = "User id, `tg:<telegram id>`, or name")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user, enabled", body = UserView),
        WriteErrors,
        BadPath,
        NoSuchUser,
    ))]
pub async fn enable(
    State(state): State<ApiState>,
    caller: Admin,
    Path(user): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    let user = parse_user(&user);
    run_and_show(
        state,
        caller,
        Command::SetUserEnabled {
            user,
            enabled: true,
        },
    )
    .await
}

#[utoipa::path(post, path = "/api/v1/users/{user}/disable", tag = "users",
    params(("user" = String, Path, description = "User id, `tg:<telegram id>`, or name")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user, disabled: their devices stop working", body = UserView),
        WriteErrors,
        BadPath,
        NoSuchUser,
    ))]
pub async fn disable(
    State(state): State<ApiState>,
    caller: Admin,
    Path(user): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    let user = parse_user(&user);
    run_and_show(
        state,
        caller,
        Command::SetUserEnabled {
            user,
            enabled: false,
        },
    )
    .await
}

#[utoipa::path(post, path = "/api/v1/users/{user}/subscription/rotate", tag = "users",
    params(("user" = String, Path, description = "User id, `tg:<telegram id>`, or name")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The user with a new subscription_url; the old one stops working", body = UserView),
        WriteErrors,
        BadPath,
        NoSuchUser,
    ))]
pub async fn rotate_subscription(
    State(state): State<ApiState>,
    caller: Admin,
    Path(user): Path<String>,
) -> Result<Json<UserView>, ApiError> {
    let user = parse_user(&user);
    let sub_token = random_url_token(&mut OsRng, SUB_TOKEN_BYTES);
    run_and_show(state, caller, Command::RotateSubToken { user, sub_token }).await
}

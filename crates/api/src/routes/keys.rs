//! `/api/v1/keys`: API keys. The token is shown once, at creation; only its hash is kept.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vpnkeeper_domain::secrets::NewApiToken;
use vpnkeeper_domain::{ApiScope, Command};

use crate::auth::Admin;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Body, Path};
use crate::ratelimit::Class;
use crate::responses::{AdminReadErrors, InvalidField, NotJson, WriteErrors};
use crate::state::ApiState;
use crate::views::{ApiKeyView, ScopeView};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// What the key is for, e.g. `grafana` or `billing`.
    #[schema(min_length = 1, max_length = 64, example = "monitoring")]
    pub name: String,
    #[schema(value_type = ScopeView)]
    pub scope: String,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedKey {
    #[serde(flatten)]
    pub key: ApiKeyView,
    /// The bearer token. Shown only in this answer: store it now.
    pub token: String,
}

#[derive(Serialize, ToSchema)]
pub struct KeyList {
    pub keys: Vec<ApiKeyView>,
}

#[utoipa::path(get, path = "/api/v1/keys", tag = "keys",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every key, revoked ones included", body = KeyList),
        AdminReadErrors,
    ))]
pub async fn list(State(state): State<ApiState>, _admin: Admin) -> Result<Json<KeyList>, ApiError> {
    let keys = state.read().api_keys().await?;
    Ok(Json(KeyList {
        keys: keys.into_iter().map(ApiKeyView::from).collect(),
    }))
}

#[utoipa::path(post, path = "/api/v1/keys", tag = "keys", request_body = CreateKey,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The new key with its token (shown once)", body = CreatedKey),
        WriteErrors,
        InvalidField,
        NotJson,
        (status = 429, description = "Rate limited (key creation has its own, stricter limit)", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<ApiState>,
    Admin(caller): Admin,
    Body(req): Body<CreateKey>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let scope = ApiScope::parse(&req.scope).ok_or_else(|| {
        ApiError::bad_request(
            "scope",
            format!("unknown scope `{}`: expected admin or read_only", req.scope),
        )
    })?;
    state
        .limiters()
        .check_key(Class::KeyCreate, &caller.key_id)?;
    let token = NewApiToken::generate(&mut OsRng);
    state
        .execute(
            caller.actor(),
            Command::CreateApiKey {
                key_id: token.key_id.clone(),
                name: req.name,
                scope,
                secret_hash: token.hash(),
            },
        )
        .await?;
    let key = fetch(&state, &token.key_id).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            key: key.into(),
            token: token.token.clone(),
        }),
    ))
}

async fn fetch(state: &ApiState, id: &str) -> Result<vpnkeeper_domain::ApiKey, ApiError> {
    state
        .read()
        .api_key(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("API key {id}")))
}

#[utoipa::path(delete, path = "/api/v1/keys/{id}", tag = "keys",
    params(("id" = String, Path, description = "Key id (the hex part after `vk_`)", pattern = "^[0-9a-f]{12}$")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The key, revoked: it stops working at once", body = ApiKeyView),
        WriteErrors,
        (status = 404, description = "No such active key", body = ErrorBody),
    ))]
pub async fn revoke(
    State(state): State<ApiState>,
    Admin(caller): Admin,
    Path(id): Path<String>,
) -> Result<Json<ApiKeyView>, ApiError> {
    state
        .execute(caller.actor(), Command::RevokeApiKey { key_id: id.clone() })
        .await?;
    Ok(Json(fetch(&state, &id).await?.into()))
}

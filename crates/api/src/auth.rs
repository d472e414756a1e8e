//! Bearer API keys: `Authorization: Bearer vk_<key id>_<secret>`.
//!
//! Only the SHA-256 of a token is stored; the comparison is constant time. The admin token
//! written by `init` is an ordinary key with the admin scope.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use vpnkeeper_domain::secrets::{token_key_id, token_matches};
use vpnkeeper_domain::{Actor, ApiScope};

use crate::error::ApiError;
use crate::state::ApiState;

/// An authenticated caller. Extracting it rejects requests without a valid key.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key_id: String,
    pub scope: ApiScope,
}

impl Caller {
    pub fn actor(&self) -> Actor {
        Actor::ApiKey {
            key_id: self.key_id.clone(),
        }
    }

    /// Writes need the admin scope.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        match self.scope {
            ApiScope::Admin => Ok(()),
            ApiScope::ReadOnly => Err(ApiError::forbidden(
                "this API key is read-only; use an admin key for changes",
            )),
        }
    }
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "missing Authorization header; send `Authorization: Bearer <api key>`",
                )
            })?
            .to_str()
            .map_err(|_| ApiError::unauthorized("Authorization header is not valid text"))?;
        let token = header
            .strip_prefix("Bearer ")
            .ok_or_else(|| ApiError::unauthorized("Authorization must be `Bearer <api key>`"))?
            .trim();
        // One message for every kind of bad key, so the answer does not tell an attacker
        // which key ids exist.
        let invalid = || ApiError::unauthorized("invalid or revoked API key");
        let key_id = token_key_id(token).ok_or_else(invalid)?;
        let key = state.read().api_key(key_id).await?.ok_or_else(invalid)?;
        if key.revoked_at_ms.is_some() || !token_matches(token, &key.secret_hash) {
            return Err(invalid());
        }
        Ok(Caller {
            key_id: key.id,
            scope: key.scope,
        })
    }
}

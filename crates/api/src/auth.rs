//! Bearer API keys: `Authorization: Bearer vk_<key id>_<secret>`.
//!
//! Only the SHA-256 of a token is stored; the comparison is constant time. The admin token
//! written by `init` is an ordinary key with the admin scope.
//!
//! Extraction also charges the request to a rate-limit bucket (see [`crate::ratelimit`]):
//! the key's, by method, once the key is proven; the client address's when it is not, so
//! guessing keys is throttled like any anonymous traffic.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::Method;
use vpnkeeper_domain::secrets::{token_key_id, token_matches};
use vpnkeeper_domain::{Actor, ApiScope};

use crate::error::ApiError;
use crate::ratelimit::Class;
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

    pub fn is_admin(&self) -> bool {
        self.scope == ApiScope::Admin
    }
}

/// An authenticated caller with the admin scope: writes, and reads that reveal secrets
/// (configs, keys), take this in their signature instead of [`Caller`], so a handler cannot
/// forget the check. A read-only key gets 403 before the handler runs.
#[derive(Debug, Clone)]
pub struct Admin(pub Caller);

impl FromRequestParts<ApiState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let caller = Caller::from_request_parts(parts, state).await?;
        match caller.scope {
            ApiScope::Admin => Ok(Admin(caller)),
            ApiScope::ReadOnly => Err(ApiError::forbidden(
                "this API key is read-only; use an admin key for changes",
            )),
        }
    }
}

/// The client's address: the TCP peer, or the first `X-Forwarded-For` hop when the node is
/// configured to trust its reverse proxy.
pub fn client_ip(parts: &Parts, state: &ApiState) -> IpAddr {
    if state.options().trust_forwarded_for {
        let forwarded = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse::<IpAddr>().ok());
        if let Some(ip) = forwarded {
            return ip;
        }
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        // In-process callers (tests driving the router directly) have no peer address.
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// Extractor that charges one anonymous request to the client's address.
pub struct Anonymous;

impl FromRequestParts<ApiState> for Anonymous {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        state.limiters().check_ip(client_ip(parts, state))?;
        Ok(Anonymous)
    }
}

async fn authenticate(parts: &Parts, state: &ApiState) -> Result<Caller, ApiError> {
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
    let key = state.api_key(key_id).await?.ok_or_else(invalid)?;
    if key.revoked_at_ms.is_some() || !token_matches(token, &key.secret_hash) {
        return Err(invalid());
    }
    Ok(Caller {
        key_id: key.id,
        scope: key.scope,
    })
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        match authenticate(parts, state).await {
            Ok(caller) => {
                let class = if parts.method == Method::GET || parts.method == Method::HEAD {
                    Class::Read
                } else {
                    Class::Write
                };
                state.limiters().check_key(class, &caller.key_id)?;
                Ok(caller)
            }
            Err(e) if e.status == axum::http::StatusCode::UNAUTHORIZED => {
                // A failed attempt costs the address a token; past the limit the answer is
                // 429 rather than 401, which is what slows a guesser down.
                state.limiters().check_ip(client_ip(parts, state))?;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }
}

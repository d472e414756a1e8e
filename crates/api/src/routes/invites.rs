//! `/api/v1/invites`: one-time join links for new nodes.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vpnkeeper_cluster::{InviteError, ProposeError, SubmitError};

use crate::auth::Admin;
use crate::error::ApiError;
use crate::extract::Body;
use crate::responses::{InvalidField, NotJson, WriteErrors};
use crate::state::ApiState;

/// Longest invite: a link is a credential, it should not live for weeks.
const MAX_TTL: Duration = Duration::from_secs(7 * 86_400);
const DEFAULT_TTL: Duration = Duration::from_secs(15 * 60);

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct CreateInvite {
    /// How long the link works: `30s`, `15m`, `2h`, `1d` (default 15m, at most 7d).
    #[schema(example = "15m")]
    pub ttl: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedInvite {
    /// `vpnkeeper join --link <this>` on the new node. Works once.
    pub link: String,
    pub expires_at_ms: i64,
}

/// `30s`, `15m`, `2h`, `1d` → a duration.
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (n, unit) = text.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 15m, 2h or 1d"))?;
    let secs = match unit {
        "s" => n,
        "m" | "" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("`{text}`: unknown unit `{unit}`; use s, m, h or d")),
    };
    let ttl = Duration::from_secs(secs);
    if ttl.is_zero() || ttl > MAX_TTL {
        return Err(format!("`{text}` is out of range: between 1s and 7d"));
    }
    Ok(ttl)
}

#[utoipa::path(post, path = "/api/v1/invites", tag = "nodes", request_body = CreateInvite,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "A one-time join link", body = CreatedInvite),
        WriteErrors,
        InvalidField,
        NotJson,
    ))]
pub async fn create(
    State(state): State<ApiState>,
    Admin(caller): Admin,
    Body(req): Body<CreateInvite>,
) -> Result<(StatusCode, Json<CreatedInvite>), ApiError> {
    let ttl = match req.ttl.as_deref() {
        Some(t) => parse_ttl(t).map_err(|e| ApiError::bad_request("ttl", e))?,
        None => DEFAULT_TTL,
    };
    let invite = state
        .cluster()
        .create_invite(caller.actor(), ttl)
        .await
        .map_err(|e| match e {
            InviteError::Submit(SubmitError::Invalid(e)) => ApiError::from(e),
            InviteError::Submit(SubmitError::Propose(e)) => ApiError::from(e),
            InviteError::Refused(e) => ApiError::from(e),
            InviteError::NoLeader => ApiError::from(ProposeError::NoLeader),
        })?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedInvite {
            link: invite.link,
            expires_at_ms: invite.expires_at_ms,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_parse_and_bad_ones_say_why() {
        assert_eq!(parse_ttl("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(parse_ttl("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_ttl("1d").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_ttl("30s").unwrap(), Duration::from_secs(30));
        assert!(parse_ttl("8d").unwrap_err().contains("out of range"));
        assert!(parse_ttl("0s").unwrap_err().contains("out of range"));
        assert!(parse_ttl("5y").unwrap_err().contains("unknown unit"));
        assert!(parse_ttl("soon").unwrap_err().contains("not a duration"));
    }
}

//! `/api/v1/invites`: one-time join links for new nodes.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vpnkeeper_cluster::invite_ttl::{parse_ttl, DEFAULT_INVITE_TTL};
use vpnkeeper_cluster::{InviteError, ProposeError, SubmitError};

use crate::auth::Admin;
use crate::error::ApiError;
use crate::extract::Body;
use crate::responses::{InvalidField, NotJson, WriteErrors};
use crate::state::ApiState;

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
        None => DEFAULT_INVITE_TTL,
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

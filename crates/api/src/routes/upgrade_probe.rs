//! `POST /api/v1/upgrade-probe`: only in the `upgrade-next` test build. It proposes
//! `Command::UpgradeProbe`, the no-op one format above the release, so the rolling-upgrade test can show the
//! version gate refusing it (409 `version_gate`) while an older node remains, and accepting
//! it once every node runs this build. Not part of the OpenAPI document: no release has it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use vpnkeeper_domain::Command;

use crate::auth::Admin;
use crate::error::ApiError;
use crate::extract::Body;
use crate::state::ApiState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    pub note: String,
}

pub async fn propose(
    State(state): State<ApiState>,
    Admin(caller): Admin,
    Body(probe): Body<Probe>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let command = Command::UpgradeProbe { note: probe.note };
    state.execute(caller.actor(), command).await?;
    Ok((StatusCode::OK, Json(serde_json::json!({ "applied": true }))))
}

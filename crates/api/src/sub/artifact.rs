//! The API's side of `vpnkeeper_domain::artifact`: reads what a device's artifact needs,
//! maps its refusals to HTTP answers and serves it as a download. Used by
//! `/api/v1/devices/{id}/config`, `/qr`, and the subscription.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use vpnkeeper_domain::artifact::{ArtifactError, ClientArtifact};
use vpnkeeper_domain::{Device, Node, User, UserRef};

use crate::error::ApiError;
use crate::state::ApiState;

/// The artifact of `device`, reading its node and its user.
pub async fn for_device(state: &ApiState, device: &Device) -> Result<ClientArtifact, ApiError> {
    // Refused before any read: a revoked device's access material is never handed out again.
    if !device.is_active() {
        return Err(refusal(ArtifactError::Revoked { device: device.id }));
    }
    let node = state.read().node(device.node_id).await?.ok_or_else(|| {
        ApiError::not_found(format!("node {} of device {}", device.node_id, device.id))
    })?;
    let user = state
        .read()
        .user(&UserRef::Id(device.user_id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("user of device {}", device.id)))?;
    render(state, &node, device, &user)
}

/// The artifact of `device` of `user` on `node`.
pub fn render(
    state: &ApiState,
    node: &Node,
    device: &Device,
    user: &User,
) -> Result<ClientArtifact, ApiError> {
    ClientArtifact::render(state.sealer(), node, device, user, state.client_options())
        .map_err(refusal)
}

fn refusal(e: ArtifactError) -> ApiError {
    if e.is_internal() {
        // Never the key text: the error names the device only.
        tracing::error!(error = %e, "device keys cannot be opened with this node's cluster key");
        return ApiError::internal(
            "the device's keys cannot be opened with this node's cluster key",
        );
    }
    let code = match e {
        ArtifactError::Revoked { .. } => "revoked",
        _ => "no_config",
    };
    ApiError::new(StatusCode::CONFLICT, code, e.to_string())
}

/// The artifact's file (the `.conf`, or the share link as `.txt`) as a download.
pub fn attachment(artifact: &ClientArtifact) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                "text/plain; charset=utf-8".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", artifact.file_name),
            ),
            (header::CACHE_CONTROL, "no-store".to_string()),
        ],
        artifact.text.clone(),
    )
        .into_response()
}

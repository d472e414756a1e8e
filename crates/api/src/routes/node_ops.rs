//! Node operations (issue #14): `POST/GET /api/v1/nodes/{id}/speedtest`,
//! `POST /api/v1/nodes/{id}/reboot` and `POST /api/v1/nodes/{id}/drain|undrain`.
//!
//! A speed test runs between the node answering the request and node `id`, over their
//! authenticated node RPC (`vpnkeeper_cluster::node_ops`); its last result is kept in the
//! answering node's memory. A reboot is audited (a `RequestNodeReboot` command) before node
//! `id` is asked to run its own `node.reboot_command`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vpnkeeper_cluster::node_ops::{OpsError, SpeedError, SpeedResult};
use vpnkeeper_domain::Command;

use crate::auth::{Admin, Caller};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Body, Path};
use crate::responses::{BadNodeId, NoSuchNode, NotJson, ReadErrors, WriteErrors};
use crate::state::ApiState;

/// A download from the tested node's `node.speedtest_url`.
#[derive(Serialize, ToSchema)]
pub struct HttpSpeedView {
    pub url: String,
    pub mbps: f64,
    pub bytes: u64,
}

/// One speed test. Directions are the tested node's: `down` is data the measuring node
/// sent to it, `up` what it sent back.
#[derive(Serialize, ToSchema)]
pub struct SpeedTestView {
    pub node_id: u64,
    /// The node that measured (the one that answered the request that ran it).
    pub from_node_id: u64,
    /// When it finished (unix ms).
    pub at_ms: i64,
    pub down_mbps: f64,
    pub up_mbps: f64,
    /// Median round trip of a small node RPC, in milliseconds.
    pub rtt_ms: f64,
    /// Only when the tested node has `node.speedtest_url` set.
    pub http: Option<HttpSpeedView>,
    /// Why the HTTP download failed, when it did.
    pub http_error: Option<String>,
}

impl From<SpeedResult> for SpeedTestView {
    fn from(r: SpeedResult) -> Self {
        SpeedTestView {
            node_id: r.node_id,
            from_node_id: r.from_node_id,
            at_ms: r.at_ms,
            down_mbps: r.down_mbps,
            up_mbps: r.up_mbps,
            rtt_ms: r.rtt_ms,
            http: r.http.map(|h| HttpSpeedView {
                url: h.url,
                mbps: h.mbps,
                bytes: h.bytes,
            }),
            http_error: r.http_error,
        }
    }
}

/// The node must be registered (a member that has not registered yet cannot be asked).
async fn known(state: &ApiState, id: u64) -> Result<(), ApiError> {
    match state.read().node(id).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found(format!("node {id}"))),
    }
}

fn ops_error(e: OpsError) -> ApiError {
    match e {
        OpsError::NotMember(_) => ApiError::not_found(e.to_string()),
        OpsError::Unreachable { .. } => {
            ApiError::new(StatusCode::BAD_GATEWAY, "node_unreachable", e.to_string())
        }
        OpsError::Refused(_) => {
            ApiError::new(StatusCode::BAD_GATEWAY, "node_refused", e.to_string())
        }
    }
}

#[utoipa::path(post, path = "/api/v1/nodes/{id}/speedtest", tag = "nodes",
    params(("id" = u64, Path, description = "Node id", minimum = 1)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Throughput both ways (5 s each) and RTT between the answering node and this one; takes over 10 s", body = SpeedTestView),
        WriteErrors,
        (status = 400, description = "Not a node id, or the node answering the request", body = ErrorBody),
        NoSuchNode,
        (status = 409, description = "A speed test of this node is running", body = ErrorBody),
        (status = 502, description = "The node could not be reached or refused", body = ErrorBody),
    ))]
pub async fn speed_test(
    State(state): State<ApiState>,
    _admin: Admin,
    Path(id): Path<u64>,
) -> Result<Json<SpeedTestView>, ApiError> {
    known(&state, id).await?;
    match state.cluster().speed_test(id).await {
        Ok(r) => Ok(Json(r.into())),
        Err(e @ SpeedError::SameNode(_)) => Err(ApiError::bad_request("id", e.to_string())),
        Err(e @ SpeedError::Busy(_)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "speedtest_running",
            e.to_string(),
        )),
        Err(SpeedError::Ops(e)) => Err(ops_error(e)),
    }
}

#[utoipa::path(get, path = "/api/v1/nodes/{id}/speedtest", tag = "nodes",
    params(("id" = u64, Path, description = "Node id", minimum = 1)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The last speed test of this node run from the answering node", body = SpeedTestView),
        ReadErrors,
        BadNodeId,
        (status = 404, description = "No such node, or no speed test of it has run from here", body = ErrorBody),
    ))]
pub async fn last_speed_test(
    State(state): State<ApiState>,
    _caller: Caller,
    Path(id): Path<u64>,
) -> Result<Json<SpeedTestView>, ApiError> {
    known(&state, id).await?;
    state
        .cluster()
        .last_speed_test(id)
        .map(|r| Json(r.into()))
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "speed test of node {id} from this node (run one with POST)"
            ))
        })
}

/// The reboot must be confirmed explicitly.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RebootBody {
    /// Must be `true`.
    pub confirm: bool,
}

#[derive(Serialize, ToSchema)]
pub struct RebootStarted {
    pub node_id: u64,
    /// `rebooting`: the node's `node.reboot_command` started.
    pub status: String,
}

#[utoipa::path(post, path = "/api/v1/nodes/{id}/reboot", tag = "nodes", request_body = RebootBody,
    params(("id" = u64, Path, description = "Node id", minimum = 1)),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Audited, and the node's own node.reboot_command started", body = RebootStarted),
        WriteErrors,
        NotJson,
        (status = 400, description = "Not a node id, or confirm is not true", body = ErrorBody),
        NoSuchNode,
        (status = 502, description = "The node could not be reached, or its reboot command failed", body = ErrorBody),
    ))]
pub async fn reboot(
    State(state): State<ApiState>,
    Admin(caller): Admin,
    Path(id): Path<u64>,
    Body(req): Body<RebootBody>,
) -> Result<(StatusCode, Json<RebootStarted>), ApiError> {
    if !req.confirm {
        return Err(ApiError::bad_request(
            "confirm",
            format!("send {{\"confirm\": true}} to reboot node {id}"),
        ));
    }
    // Audited before it runs; refused (404) for an unknown node.
    state
        .execute(caller.actor(), Command::RequestNodeReboot { node_id: id })
        .await?;
    state.cluster().reboot_node(id).await.map_err(ops_error)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(RebootStarted {
            node_id: id,
            status: "rebooting".into(),
        }),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct DrainState {
    pub node_id: u64,
    /// Draining nodes get no new devices; their devices stay.
    pub draining: bool,
}

async fn set_draining(
    state: &ApiState,
    caller: Caller,
    id: u64,
    draining: bool,
) -> Result<Json<DrainState>, ApiError> {
    let command = Command::SetNodeDraining {
        node_id: id,
        draining,
    };
    state.execute(caller.actor(), command).await?;
    Ok(Json(DrainState {
        node_id: id,
        draining,
    }))
}

#[utoipa::path(post, path = "/api/v1/nodes/{id}/drain", tag = "nodes",
    params(("id" = u64, Path, description = "Node id", minimum = 1)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The node gets no new devices", body = DrainState),
        WriteErrors,
        BadNodeId,
        NoSuchNode,
        (status = 409, description = "A member still runs an older build (version_gate)", body = ErrorBody),
    ))]
pub async fn drain(
    State(state): State<ApiState>,
    Admin(caller): Admin,
    Path(id): Path<u64>,
) -> Result<Json<DrainState>, ApiError> {
    set_draining(&state, caller, id, true).await
}

#[utoipa::path(post, path = "/api/v1/nodes/{id}/undrain", tag = "nodes",
    params(("id" = u64, Path, description = "Node id", minimum = 1)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The node takes new devices again", body = DrainState),
        WriteErrors,
        BadNodeId,
        NoSuchNode,
        (status = 409, description = "A member still runs an older build (version_gate)", body = ErrorBody),
    ))]
pub async fn undrain(
    State(state): State<ApiState>,
    Admin(caller): Admin,
    Path(id): Path<u64>,
) -> Result<Json<DrainState>, ApiError> {
    set_draining(&state, caller, id, false).await
}

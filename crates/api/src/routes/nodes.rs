//! `/api/v1/nodes`: the fleet as the replicated state knows it, and each node's Raft status.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use vpnkeeper_domain::Node;

use axum::http::StatusCode;

use crate::auth::{Admin, Caller};
use crate::error::{ApiError, ErrorBody};
use crate::extract::Path;
use crate::responses::{BadNodeId, NoSuchNode, ReadErrors, WriteErrors};
use crate::routes::health::{raft_view, RaftView};
use crate::state::ApiState;
use crate::views::NodeView;

#[derive(Serialize, ToSchema)]
pub struct NodeList {
    pub nodes: Vec<NodeView>,
    /// The Raft membership as the leader sees it (this node's view when the leader cannot
    /// be asked): every member, registered or not yet.
    pub members: Vec<MemberView>,
}

/// One member of the cluster.
#[derive(Serialize, ToSchema)]
pub struct MemberView {
    pub id: u64,
    /// The registered name; `node-<id>` until the node has registered itself.
    pub name: String,
    /// `leader`, `follower` (a voter) or `learner`.
    pub role: String,
    pub online: bool,
    /// Unix ms of the last exchange with it.
    pub last_contact_ms: Option<i64>,
    /// The log format its build applies; commands newer than the lowest format in the
    /// cluster are refused (409 `version_gate`). `null` until it has been heard from.
    pub format: Option<u32>,
    /// Its release, as it advertises it.
    pub release: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/nodes", tag = "nodes",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every registered node", body = NodeList),
        ReadErrors,
    ))]
pub async fn list(
    State(state): State<ApiState>,
    _caller: Caller,
) -> Result<Json<NodeList>, ApiError> {
    let nodes: Vec<NodeView> = state
        .read()
        .nodes()
        .await?
        .into_iter()
        .map(NodeView::from)
        .collect();
    let members = state
        .cluster()
        .members()
        .await
        .into_iter()
        .map(|m| MemberView {
            name: nodes
                .iter()
                .find(|n| n.id == m.id)
                .map(|n| n.name.clone())
                .unwrap_or_else(|| format!("node-{}", m.id)),
            id: m.id,
            role: m.role,
            online: m.online,
            last_contact_ms: m.last_contact_ms,
            format: m.format,
            release: m.release,
        })
        .collect();
    Ok(Json(NodeList { nodes, members }))
}

#[derive(Serialize, ToSchema)]
pub struct RemovedNode {
    pub removed: u64,
}

#[utoipa::path(delete, path = "/api/v1/nodes/{id}", tag = "nodes",
    params(("id" = u64, Path, description = "Node id", minimum = 1)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Removed from the membership: it stops serving and needs a new invite to come back", body = RemovedNode),
        WriteErrors,
        BadNodeId,
        (status = 404, description = "Not a member", body = ErrorBody),
        (status = 409, description = "The last voter cannot be removed", body = ErrorBody),
    ))]
pub async fn remove(
    State(state): State<ApiState>,
    _admin: Admin,
    Path(id): Path<u64>,
) -> Result<Json<RemovedNode>, ApiError> {
    use vpnkeeper_cluster::MembershipError as E;
    match state.cluster().remove_node(id).await {
        Ok(()) => Ok(Json(RemovedNode { removed: id })),
        Err(e @ E::NotMember { .. }) => Err(ApiError::not_found(e.to_string())),
        Err(e @ E::LastVoter { .. }) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "last_voter",
            e.to_string(),
        )),
        Err(E::NoLeader) => Err(ApiError::from(vpnkeeper_cluster::ProposeError::NoLeader)),
        Err(e) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "membership",
            e.to_string(),
        )),
    }
}

async fn fetch(state: &ApiState, id: u64) -> Result<Node, ApiError> {
    state
        .read()
        .node(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("node {id}")))
}

#[utoipa::path(get, path = "/api/v1/nodes/{id}", tag = "nodes",
    params(("id" = u64, Path, description = "Node id", minimum = 1)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The node", body = NodeView),
        ReadErrors,
        BadNodeId,
        NoSuchNode,
    ))]
pub async fn get(
    State(state): State<ApiState>,
    _caller: Caller,
    Path(id): Path<u64>,
) -> Result<Json<NodeView>, ApiError> {
    Ok(Json(fetch(&state, id).await?.into()))
}

/// A node's place in the cluster, as seen by the node answering.
#[derive(Serialize, ToSchema)]
pub struct NodeStatus {
    pub node: NodeView,
    /// Votes in Raft elections.
    pub voter: bool,
    /// The current Raft leader.
    pub leader: bool,
    /// The node answering this request.
    pub local: bool,
    /// Last log index known to be replicated to it (known when the answering node leads).
    pub matched_log_index: Option<u64>,
    /// Raft view of the answering node (only when `local`).
    pub raft: Option<RaftView>,
    /// Active devices served by the node.
    pub devices_active: i64,
}

#[utoipa::path(get, path = "/api/v1/nodes/{id}/status", tag = "nodes",
    params(("id" = u64, Path, description = "Node id", minimum = 1)),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The node's cluster status", body = NodeStatus),
        ReadErrors,
        BadNodeId,
        NoSuchNode,
    ))]
pub async fn status(
    State(state): State<ApiState>,
    _caller: Caller,
    Path(id): Path<u64>,
) -> Result<Json<NodeStatus>, ApiError> {
    let node = fetch(&state, id).await?;
    let m = state.cluster().metrics();
    let voter = m
        .membership_config
        .membership()
        .voter_ids()
        .any(|v| v == id);
    let matched_log_index = m
        .replication
        .as_ref()
        .and_then(|r| r.get(&id).cloned().flatten())
        .map(|l| l.index);
    let local = id == state.cluster().node_id();
    let devices_active = state
        .read()
        .desired_devices(id, &vpnkeeper_domain::Protocol::ALL)
        .await?
        .len() as i64;
    Ok(Json(NodeStatus {
        node: node.into(),
        voter,
        leader: m.current_leader == Some(id),
        local,
        matched_log_index,
        raft: local.then(|| raft_view(&state)),
        devices_active,
    }))
}

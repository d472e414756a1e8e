//! `/health` (no auth: for load balancers and monitors) and `/api/v1/status` (authenticated).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use vpnkeeper_cluster::role_name;
use vpnkeeper_domain::Counts;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::ApiState;

#[derive(Serialize)]
pub struct RaftView {
    pub node_id: u64,
    pub role: &'static str,
    pub leader: Option<u64>,
    pub term: u64,
    pub last_log_index: Option<u64>,
    pub last_applied: Option<u64>,
    pub voters: Vec<u64>,
}

pub fn raft_view(state: &ApiState) -> RaftView {
    let m = state.cluster().metrics();
    RaftView {
        node_id: m.id,
        role: role_name(m.state),
        leader: m.current_leader,
        term: m.current_term,
        last_log_index: m.last_log_index,
        last_applied: m.last_applied.map(|l| l.index),
        voters: m.membership_config.membership().voter_ids().collect(),
    }
}

#[derive(Serialize)]
pub struct StoreView {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Serialize)]
pub struct Health {
    /// `ok`, or `degraded` when a part is down but the node still answers.
    pub status: &'static str,
    pub store: StoreView,
    pub raft: RaftView,
}

pub async fn health(State(state): State<ApiState>) -> (StatusCode, Json<Health>) {
    let store = match state.read().ping().await {
        Ok(()) => StoreView {
            ok: true,
            error: None,
        },
        Err(e) => StoreView {
            ok: false,
            error: Some(e.to_string()),
        },
    };
    let raft = raft_view(&state);
    let healthy = store.ok && raft.leader.is_some();
    let status = if healthy { "ok" } else { "degraded" };
    // Degraded still answers 200: the process is alive and can say what is wrong. A monitor
    // that wants strictness reads `status`.
    (
        StatusCode::OK,
        Json(Health {
            status,
            store,
            raft,
        }),
    )
}

#[derive(Serialize)]
pub struct Status {
    pub node: Option<vpnkeeper_domain::Node>,
    pub raft: RaftView,
    pub counts: Counts,
}

pub async fn status(
    State(state): State<ApiState>,
    _caller: Caller,
) -> Result<Json<Status>, ApiError> {
    let raft = raft_view(&state);
    let node = state
        .read()
        .node(raft.node_id)
        .await?
        .map(crate::routes::nodes::public_node);
    let counts = state.read().counts().await?;
    Ok(Json(Status { node, raft, counts }))
}

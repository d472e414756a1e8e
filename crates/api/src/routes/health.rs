//! `/health` (no auth: for load balancers and monitors) and `/api/v1/status` (authenticated).

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use vpnkeeper_cluster::role_name;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::raft_status::{self, ReplicationView};
use crate::responses::ReadErrors;
use crate::state::ApiState;
use crate::views::NodeView;

/// How long one probe may take before it counts as down.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Serialize, ToSchema)]
pub struct RaftView {
    pub node_id: u64,
    /// `leader`, `follower`, `candidate`, `learner` or `shutdown`.
    pub role: &'static str,
    pub leader: Option<u64>,
    pub term: u64,
    pub last_log_index: Option<u64>,
    pub last_applied: Option<u64>,
    pub voters: Vec<u64>,
    /// The API address of the current leader.
    pub leader_api_addr: Option<String>,
    /// Milliseconds since this node last heard from the cluster: on a follower the leader's
    /// last heartbeat or append, on the leader a quorum's last acknowledgement.
    pub millis_since_heartbeat: Option<u64>,
    /// Leader only: milliseconds since a quorum last acknowledged it.
    pub millis_since_quorum_ack: Option<u64>,
    /// Leader only: how far each follower is behind.
    pub replication: Vec<ReplicationView>,
}

/// The Raft view from the metrics alone (`millis_since_heartbeat` only on the leader; see
/// [`raft_view_live`] for a follower's).
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
        leader_api_addr: raft_status::leader_api_addr(&m),
        millis_since_heartbeat: m.millis_since_quorum_ack,
        millis_since_quorum_ack: m.millis_since_quorum_ack,
        replication: raft_status::replication(&m),
    }
}

/// [`raft_view`] with the time since the last heartbeat on any role.
pub async fn raft_view_live(state: &ApiState) -> RaftView {
    let mut view = raft_view(state);
    view.millis_since_heartbeat = raft_status::heartbeat_age(state.cluster())
        .await
        .map(|d| d.as_millis() as u64);
    view
}

#[derive(Serialize, ToSchema)]
pub struct ComponentView {
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ProbeView {
    /// e.g. `wireguard:awg0`, `xray`.
    pub name: String,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `degraded` when a part is down but the node still answers.
    pub status: &'static str,
    pub store: ComponentView,
    pub raft: RaftView,
    /// Data-plane backends and other probes registered by the node.
    pub backends: Vec<ProbeView>,
    /// Transcription of support voice notes. Informational: it never makes the node
    /// `degraded` (without a model, notes still reach the admins).
    pub voice: VoiceView,
}

#[derive(Serialize, ToSchema)]
pub struct VoiceView {
    /// `disabled`, `model_missing`, `ready` (loads at the next note) or `loaded`.
    pub status: &'static str,
    /// Why transcription is off, and how to turn it on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Voice notes waiting for their transcript (replicated state; null when unreadable).
    pub queue: Option<i64>,
}

/// The voice part of `/health`: the worker's view of its model and the replicated queue.
async fn voice_view(state: &ApiState) -> VoiceView {
    use crate::health::VoiceState;
    let engine = match state.voice_probe() {
        Some(p) => p.state(),
        None => VoiceState::Disabled {
            reason: "this node runs no voice worker".into(),
        },
    };
    let (status, detail) = match engine {
        VoiceState::Disabled { reason } => ("disabled", Some(reason)),
        VoiceState::ModelMissing { reason } => ("model_missing", Some(reason)),
        VoiceState::Ready => ("ready", None),
        VoiceState::Loaded => ("loaded", None),
    };
    VoiceView {
        status,
        detail,
        queue: state.read().voice_queue_len().await.ok(),
    }
}

pub async fn run_probes(state: &ApiState) -> Vec<ProbeView> {
    let checks = state.probes().iter().map(|p| async move {
        let status = tokio::time::timeout(PROBE_TIMEOUT, p.check()).await;
        match status {
            Ok(s) => ProbeView {
                name: p.name().to_string(),
                ok: s.ok,
                detail: s.detail,
            },
            Err(_) => ProbeView {
                name: p.name().to_string(),
                ok: false,
                detail: Some(format!("no answer within {} s", PROBE_TIMEOUT.as_secs())),
            },
        }
    });
    futures::future::join_all(checks).await
}

#[utoipa::path(get, path = "/health", tag = "operations",
    responses(
        (status = 200, description = "The node answers; `status` says ok or degraded and why", body = Health),
    ))]
pub async fn health(State(state): State<ApiState>) -> (StatusCode, Json<Health>) {
    let store = match state.read().ping().await {
        Ok(()) => ComponentView {
            ok: true,
            error: None,
        },
        Err(e) => ComponentView {
            ok: false,
            error: Some(e.to_string()),
        },
    };
    let raft = raft_view_live(&state).await;
    let backends = run_probes(&state).await;
    let voice = voice_view(&state).await;
    let healthy = store.ok && raft.leader.is_some() && backends.iter().all(|b| b.ok);
    let status = if healthy { "ok" } else { "degraded" };
    // Degraded still answers 200: the process is alive and can say what is wrong. A monitor
    // that wants strictness reads `status`.
    (
        StatusCode::OK,
        Json(Health {
            status,
            store,
            raft,
            backends,
            voice,
        }),
    )
}

#[derive(Serialize, ToSchema)]
pub struct CountsView {
    pub users: i64,
    pub users_enabled: i64,
    pub devices_active: i64,
    pub devices_revoked: i64,
    pub nodes: i64,
}

#[derive(Serialize, ToSchema)]
pub struct Status {
    /// This node's registration (null until it is registered).
    pub node: Option<NodeView>,
    pub raft: RaftView,
    pub counts: CountsView,
}

#[utoipa::path(get, path = "/api/v1/status", tag = "operations",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "This node, its Raft view and counts", body = Status),
        ReadErrors,
    ))]
pub async fn status(
    State(state): State<ApiState>,
    _caller: Caller,
) -> Result<Json<Status>, ApiError> {
    let raft = raft_view_live(&state).await;
    let node = state.read().node(raft.node_id).await?.map(NodeView::from);
    let c = state.read().counts().await?;
    Ok(Json(Status {
        node,
        raft,
        counts: CountsView {
            users: c.users,
            users_enabled: c.users_enabled,
            devices_active: c.devices_active,
            devices_revoked: c.devices_revoked,
            nodes: c.nodes,
        },
    }))
}

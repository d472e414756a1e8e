//! The server half of node-to-node RPC: axum routes that hand requests to the local Raft.
//!
//! They are served only on mutually authenticated TLS connections (see [`crate::server`]):
//! the peer's node id comes from its certificate ([`PeerNode`]). A request that speaks as
//! another node than its certificate names, or comes from a node outside the membership,
//! is refused with `403`. Routes answer `200` with a JSON `Result<Response, Error>` so the
//! caller can tell a Raft-level refusal from a transport failure.

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use vpnkeeper_domain::Envelope;
use vpnkeeper_store::TypeConfig;

use crate::network::NOT_A_MEMBER;
use crate::version::{self, VERSION_HEADER};
use crate::Cluster;

/// The node id in the client certificate of the connection a request came on.
#[derive(Debug, Clone, Copy)]
pub struct PeerNode(pub u64);

pub fn router(cluster: Cluster) -> Router {
    Router::new()
        .route("/raft/append", post(append))
        .route("/raft/vote", post(vote))
        .route("/raft/snapshot", post(snapshot))
        .route("/raft/propose", post(propose))
        .route(crate::commit::FORWARD_PATH, post(propose_batch))
        .route("/raft/members", post(members))
        .route("/raft/remove-node", post(remove_node))
        .route(crate::node_metrics::PATH, post(crate::node_metrics::serve))
        .merge(crate::node_ops::routes::router())
        // Append batches and snapshot chunks are bigger than axum's 2 MB default.
        .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
        // Outermost, so every answer advertises this build (see crate::version).
        .layer(axum::middleware::from_fn_with_state(
            cluster.clone(),
            exchange_versions,
        ))
        .with_state(cluster)
}

/// Remembers the version the calling node advertises and advertises ours in the answer.
async fn exchange_versions(
    State(c): State<Cluster>,
    Extension(PeerNode(peer)): Extension<PeerNode>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let header = req.headers().get(VERSION_HEADER);
    c.inner
        .network
        .versions
        .saw(peer, header.map(|v| v.to_str().unwrap_or("?")));
    let mut resp = next.run(req).await;
    if let Ok(value) = HeaderValue::from_str(&version::header_value()) {
        resp.headers_mut().insert(VERSION_HEADER, value);
    }
    resp
}

/// Admits `peer` when it is in the membership (or this node has none yet: a fresh learner
/// hears first from the leader that added it) and, for Raft messages, when the node it
/// speaks as (`claimed`) is the one its certificate names.
pub(crate) fn admit(c: &Cluster, peer: u64, claimed: Option<u64>) -> Result<(), Response> {
    if let Some(claimed) = claimed {
        if claimed != peer {
            return Err((
                StatusCode::FORBIDDEN,
                format!(
                    "the certificate is for node {peer} but the request speaks as node {claimed}"
                ),
            )
                .into_response());
        }
    }
    let m = c.metrics();
    let membership = m.membership_config.membership();
    let mut nodes = membership.nodes().map(|(id, _)| *id).peekable();
    if nodes.peek().is_some() && !membership.nodes().any(|(id, _)| *id == peer) {
        return Err((StatusCode::FORBIDDEN, format!("node {peer} {NOT_A_MEMBER}")).into_response());
    }
    c.inner.network.saw(peer);
    Ok(())
}

async fn append(
    State(c): State<Cluster>,
    Extension(PeerNode(peer)): Extension<PeerNode>,
    Json(req): Json<AppendEntriesRequest<TypeConfig>>,
) -> Response {
    if let Err(r) = admit(&c, peer, req.vote.leader_id().voted_for()) {
        return r;
    }
    Json(c.raft().append_entries(req).await).into_response()
}

async fn vote(
    State(c): State<Cluster>,
    Extension(PeerNode(peer)): Extension<PeerNode>,
    Json(req): Json<VoteRequest<u64>>,
) -> Response {
    if let Err(r) = admit(&c, peer, req.vote.leader_id().voted_for()) {
        return r;
    }
    Json(c.raft().vote(req).await).into_response()
}

async fn snapshot(
    State(c): State<Cluster>,
    Extension(PeerNode(peer)): Extension<PeerNode>,
    Json(req): Json<InstallSnapshotRequest<TypeConfig>>,
) -> Response {
    if let Err(r) = admit(&c, peer, req.vote.leader_id().voted_for()) {
        return r;
    }
    Json(c.raft().install_snapshot(req).await).into_response()
}

/// A follower forwarding a client's proposal to us, the leader.
async fn propose(
    State(c): State<Cluster>,
    Extension(PeerNode(peer)): Extension<PeerNode>,
    Json(env): Json<Envelope>,
) -> Response {
    if let Err(r) = admit(&c, peer, None) {
        return r;
    }
    Json(c.propose_indexed(env).await).into_response()
}

/// A follower forwarding the proposals it gathered (see [`crate::commit`]). They enter our
/// queue together, so they share a log entry; the answer has one outcome per proposal, in
/// order.
async fn propose_batch(
    State(c): State<Cluster>,
    Extension(PeerNode(peer)): Extension<PeerNode>,
    Json(envs): Json<Vec<Envelope>>,
) -> Response {
    if let Err(r) = admit(&c, peer, None) {
        return r;
    }
    if envs.len() > crate::commit::MAX_BATCH {
        let limit = crate::commit::MAX_BATCH;
        let msg = format!("a forwarded batch holds at most {limit} proposals");
        return (StatusCode::PAYLOAD_TOO_LARGE, msg).into_response();
    }
    let decided: Vec<crate::commit::Decided> =
        futures::future::join_all(envs.into_iter().map(|env| c.propose_indexed(env))).await;
    Json(decided).into_response()
}

/// The membership as this node sees it (a follower's `node list` asks the leader).
async fn members(
    State(c): State<Cluster>,
    Extension(PeerNode(peer)): Extension<PeerNode>,
) -> Response {
    if let Err(r) = admit(&c, peer, None) {
        return r;
    }
    Json(c.local_members()).into_response()
}

/// A follower forwarding `node remove` to us, the leader.
async fn remove_node(
    State(c): State<Cluster>,
    Extension(PeerNode(peer)): Extension<PeerNode>,
    Json(id): Json<u64>,
) -> Response {
    if let Err(r) = admit(&c, peer, None) {
        return r;
    }
    Json(c.remove_node(id).await).into_response()
}

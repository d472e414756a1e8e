//! The server half of node-to-node RPC: axum routes that hand requests to the local Raft.
//!
//! Routes answer `200` with a JSON `Result<Response, RaftError>` so the calling side can tell a
//! Raft-level refusal from a transport failure; auth failures are `401`.

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use subtle::ConstantTimeEq;
use vpnkeeper_domain::Envelope;
use vpnkeeper_store::TypeConfig;

use crate::Cluster;

pub fn router(cluster: Cluster) -> Router {
    Router::new()
        .route("/raft/append", post(append))
        .route("/raft/vote", post(vote))
        .route("/raft/snapshot", post(snapshot))
        .route("/raft/propose", post(propose))
        // Append batches and snapshot chunks are bigger than axum's 2 MB default.
        .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
        .with_state(cluster)
}

fn authorized(cluster: &Cluster, headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(token) = value.strip_prefix("Bearer ") else {
        return false;
    };
    let expected = cluster.inner.network.rpc_token();
    token.len() == expected.len() && bool::from(token.as_bytes().ct_eq(expected.as_bytes()))
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        "missing or wrong cluster RPC token",
    )
        .into_response()
}

async fn append(
    State(c): State<Cluster>,
    headers: HeaderMap,
    Json(req): Json<AppendEntriesRequest<TypeConfig>>,
) -> Response {
    if !authorized(&c, &headers) {
        return unauthorized();
    }
    Json(c.raft().append_entries(req).await).into_response()
}

async fn vote(
    State(c): State<Cluster>,
    headers: HeaderMap,
    Json(req): Json<VoteRequest<u64>>,
) -> Response {
    if !authorized(&c, &headers) {
        return unauthorized();
    }
    Json(c.raft().vote(req).await).into_response()
}

async fn snapshot(
    State(c): State<Cluster>,
    headers: HeaderMap,
    Json(req): Json<InstallSnapshotRequest<TypeConfig>>,
) -> Response {
    if !authorized(&c, &headers) {
        return unauthorized();
    }
    Json(c.raft().install_snapshot(req).await).into_response()
}

/// A follower forwarding a client's proposal to us, the leader.
async fn propose(
    State(c): State<Cluster>,
    headers: HeaderMap,
    Json(env): Json<Envelope>,
) -> Response {
    if !authorized(&c, &headers) {
        return unauthorized();
    }
    Json(c.propose(env).await).into_response()
}

//! The `/ops/*` routes every node serves on its Raft listener (mutual TLS; a caller outside
//! the membership is refused like any other RPC, see `crate::rpc::admit`).

use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};

use super::speed::{self, CHUNK, STREAM_FOR, TOKEN_HEADER};
use crate::rpc::{admit, PeerNode};
use crate::Cluster;

pub(crate) fn router() -> Router<Cluster> {
    Router::new()
        .route("/ops/ping", post(ping))
        .route("/ops/boot", post(boot))
        .route("/ops/load", post(load))
        .route("/ops/reboot", post(reboot))
        .route("/ops/speed/begin", post(begin))
        .route("/ops/speed/recv", post(recv))
        .route("/ops/speed/send", post(send))
        .route("/ops/speed/http", post(http))
        .route("/ops/speed/end", post(end))
}

/// A caller in the membership, by its certificate's node id: every `/ops/*` route's guard
/// (refused as any other RPC from outside the membership, see `crate::rpc::admit`).
struct Member(u64);

impl FromRequestParts<Cluster> for Member {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, c: &Cluster) -> Result<Self, Response> {
        let Some(PeerNode(peer)) = parts.extensions.get::<PeerNode>().copied() else {
            // The mutual-TLS acceptor names every connection's peer; without it, refuse.
            return Err((StatusCode::FORBIDDEN, "no client certificate").into_response());
        };
        admit(c, peer, None)?;
        Ok(Member(peer))
    }
}

fn no_test() -> Response {
    (
        StatusCode::CONFLICT,
        "no speed test with this token is running here; begin one first",
    )
        .into_response()
}

async fn ping(_member: Member) -> Response {
    Json(()).into_response()
}

async fn boot(State(c): State<Cluster>, _member: Member) -> Response {
    Json(c.agent().boot_mark()).into_response()
}

async fn load(State(c): State<Cluster>, _member: Member) -> Response {
    Json(c.local_load()).into_response()
}

/// Runs this node's own reboot command; a peer cannot choose what runs.
async fn reboot(State(c): State<Cluster>, Member(peer): Member) -> Response {
    tracing::warn!(asked_by = peer, "reboot asked by a peer");
    let command = c.agent().config().reboot_command;
    Json(super::reboot::run(&command).await).into_response()
}

async fn begin(State(c): State<Cluster>, _member: Member, Json(token): Json<String>) -> Response {
    Json(c.agent().serving.begin(&token)).into_response()
}

/// Down: counts what the measuring node uploads.
async fn recv(
    State(c): State<Cluster>,
    _member: Member,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let token = headers
        .get(TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !c.agent().serving.holds(token) {
        return no_test();
    }
    Json(body.len() as u64).into_response()
}

/// Up: streams zeros to the measuring node for [`STREAM_FOR`].
async fn send(State(c): State<Cluster>, _member: Member, Json(token): Json<String>) -> Response {
    if !c.agent().serving.holds(&token) {
        return no_test();
    }
    let deadline = Instant::now() + STREAM_FOR;
    let chunk = Bytes::from(vec![0u8; CHUNK]);
    let stream = futures::stream::unfold((), move |()| {
        let chunk = chunk.clone();
        async move { (Instant::now() < deadline).then_some((Ok::<_, std::io::Error>(chunk), ())) }
    });
    Body::from_stream(stream).into_response()
}

/// The HTTP download from this node's own `node.speedtest_url`, when it has one.
async fn http(State(c): State<Cluster>, _member: Member, Json(token): Json<String>) -> Response {
    if !c.agent().serving.holds(&token) {
        return no_test();
    }
    let result: Result<Option<speed::HttpSpeed>, String> = match c.agent().config().speedtest_url {
        None => Ok(None),
        Some(url) => speed::http_download(&url).await.map(Some),
    };
    Json(result).into_response()
}

async fn end(State(c): State<Cluster>, _member: Member, Json(token): Json<String>) -> Response {
    c.agent().serving.end(&token);
    Json(()).into_response()
}

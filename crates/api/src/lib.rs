//! vpnkeeper's HTTP API (axum).
//!
//! Every write goes through [`state::ApiState::execute`] → Raft → the state machine; handlers
//! never touch SQLite for writing. Reads come from the node's [`vpnkeeper_store::ReadStore`].

// openraft's error types (StorageError, RPCError, RaftError) are large by design and are
// what its traits return; boxing them at every call site would only add noise.
#![allow(clippy::result_large_err)]

pub mod auth;
pub mod error;
pub mod extract;
pub mod routes;
pub mod state;

use axum::routing::{get, post};
use axum::Router;

pub use error::ApiError;
pub use state::ApiState;

use routes::{devices, health, nodes, users};

/// The whole API, ready to be served.
pub fn router(state: ApiState) -> Router {
    let v1 = Router::new()
        .route("/status", get(health::status))
        .route("/users", get(users::list).post(users::create))
        .route("/users/{user}", get(users::get))
        .route("/users/{user}/enable", post(users::enable))
        .route("/users/{user}/disable", post(users::disable))
        .route("/devices", get(devices::list).post(devices::issue))
        .route(
            "/devices/{device}",
            get(devices::get).delete(devices::revoke),
        )
        .route("/devices/{device}/config", get(devices::config))
        .route("/devices/{device}/qr", get(devices::qr))
        .route("/nodes", get(nodes::list));
    Router::new()
        .route("/health", get(health::health))
        .nest("/api/v1", v1)
        .fallback(not_found)
        .with_state(state)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "not_found",
        format!("no such endpoint: {}", uri.path()),
    )
}

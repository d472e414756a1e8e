//! Prometheus metrics at `/metrics`.
//!
//! Metrics are recorded through the `metrics` facade, so any crate records with
//! `metrics::counter!` / `histogram!` and no handle has to be threaded through; the binary
//! installs one Prometheus recorder at start ([`install`]) and `/metrics` renders it.
//! Gauges of state (devices by state, Raft term/index/leader) are set at scrape time from
//! the store and Raft, so they are never stale.
//!
//! Names the data planes use (keep them in sync with docs/api.md):
//! - `vpnkeeper_reconcile_duration_seconds{backend}` — histogram, one sample per pass;
//! - `vpnkeeper_backend_errors_total{backend}` — counter of failed backend operations.
//!
//! [`record_reconcile`] and [`record_backend_error`] record them; the dataplane and xray
//! crates can also call the macros directly with these names.

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::state::ApiState;

pub(crate) const HTTP_REQUESTS: &str = "vpnkeeper_http_requests_total";
pub(crate) const HTTP_DURATION: &str = "vpnkeeper_http_request_duration_seconds";
pub const RECONCILE_DURATION: &str = "vpnkeeper_reconcile_duration_seconds";
pub const BACKEND_ERRORS: &str = "vpnkeeper_backend_errors_total";

/// Installs the process-wide Prometheus recorder and returns the handle `/metrics` renders.
/// Call once, in the binary.
pub fn install() -> Result<PrometheusHandle, String> {
    // Latency buckets from 0.5 ms (a cached subscription) to 10 s (a reconcile of a large
    // interface).
    const BUCKETS: [f64; 14] = [
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ];
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
        .map_err(|e| e.to_string())?
        .install_recorder()
        .map_err(|e| e.to_string())?;
    metrics::describe_counter!(HTTP_REQUESTS, "API requests by route, method and status");
    metrics::describe_histogram!(HTTP_DURATION, "API request latency by route and method");
    metrics::describe_histogram!(
        RECONCILE_DURATION,
        "Data-plane reconcile pass duration by backend"
    );
    metrics::describe_counter!(
        BACKEND_ERRORS,
        "Failed data-plane backend operations by backend"
    );
    Ok(handle)
}

/// One reconcile pass of `backend` took `took`.
pub fn record_reconcile(backend: &str, took: Duration) {
    metrics::histogram!(RECONCILE_DURATION, "backend" => backend.to_string())
        .record(took.as_secs_f64());
}

/// A backend operation of `backend` failed.
pub fn record_backend_error(backend: &str) {
    metrics::counter!(BACKEND_ERRORS, "backend" => backend.to_string()).increment(1);
}

/// Middleware: counts and times each request by its route template (never the concrete
/// path, which would carry subscription tokens and blow up the label space).
pub(crate) async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().as_str().to_string();
    let start = Instant::now();
    let resp = next.run(req).await;
    let took = start.elapsed().as_secs_f64();
    let status = resp.status().as_u16().to_string();
    metrics::counter!(HTTP_REQUESTS, "route" => route.clone(), "method" => method.clone(), "status" => status)
        .increment(1);
    metrics::histogram!(HTTP_DURATION, "route" => route, "method" => method).record(took);
    resp
}

/// Sets the state gauges from the store and Raft, right before a scrape.
async fn refresh_gauges(state: &ApiState) -> Result<(), ApiError> {
    let m = state.cluster().metrics();
    metrics::gauge!("vpnkeeper_raft_term").set(m.current_term as f64);
    metrics::gauge!("vpnkeeper_raft_last_log_index").set(m.last_log_index.unwrap_or(0) as f64);
    metrics::gauge!("vpnkeeper_raft_last_applied_index")
        .set(m.last_applied.map(|l| l.index).unwrap_or(0) as f64);
    metrics::gauge!("vpnkeeper_raft_leader_id").set(m.current_leader.unwrap_or(0) as f64);
    metrics::gauge!("vpnkeeper_raft_is_leader")
        .set(f64::from(u8::from(m.current_leader == Some(m.id))));
    for c in state.read().device_state_counts().await? {
        let st = if c.active { "active" } else { "revoked" };
        metrics::gauge!("vpnkeeper_devices", "protocol" => c.protocol, "state" => st)
            .set(c.count as f64);
    }
    let counts = state.read().counts().await?;
    metrics::gauge!("vpnkeeper_users", "state" => "enabled").set(counts.users_enabled as f64);
    metrics::gauge!("vpnkeeper_users", "state" => "disabled")
        .set((counts.users - counts.users_enabled) as f64);
    for p in crate::routes::health::run_probes(state).await {
        metrics::gauge!("vpnkeeper_backend_up", "backend" => p.name).set(f64::from(u8::from(p.ok)));
    }
    Ok(())
}

/// `GET /metrics`: Prometheus text format. Needs an API key (any scope) unless
/// `api.metrics_public` is set.
pub(crate) async fn handler(
    State(state): State<ApiState>,
    caller: Result<Caller, ApiError>,
) -> Result<Response, ApiError> {
    if !state.options().metrics_public {
        caller?;
    }
    let Some(handle) = state.metrics_handle() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "metrics are not enabled on this node",
        ));
    };
    refresh_gauges(&state).await?;
    let mut text = handle.render();
    // Cluster gauges are rendered here, not recorded: per-follower series must vanish when
    // the follower leaves or this node stops leading.
    let heartbeat = crate::raft_status::heartbeat_age(state.cluster()).await;
    text.push_str(&crate::raft_status::prometheus(
        &state.cluster().metrics(),
        heartbeat,
    ));
    text.push_str(&crate::routes::node_metrics::prometheus(&state).await);
    Ok((
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        text,
    )
        .into_response())
}

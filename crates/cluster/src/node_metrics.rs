//! Node telemetry over the node RPC (issue #14): any node asks any other for its current
//! values and series (`POST /node/metrics`, mutual TLS like every node RPC).
//!
//! The cluster does not sample anything itself: the binary registers where this node's own
//! telemetry comes from ([`Cluster::set_telemetry`]); telemetry stays out of the Raft log.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use vpnkeeper_domain::telemetry::{NodeMetrics, Range, Sample};

use crate::rpc::PeerNode;
use crate::Cluster;

/// The route of the telemetry RPC.
pub(crate) const PATH: &str = "/node/metrics";

/// Where this node's own telemetry comes from (the binary's sampler and series file).
pub trait TelemetrySource: Send + Sync {
    /// The latest sample and, for `Some(range)`, the series over it. May block (it reads
    /// a file): the cluster calls it off the async threads.
    fn node_metrics(&self, range: Option<Range>) -> Result<NodeMetrics, String>;

    /// The latest sample when it is recent enough to describe the node now (placement's
    /// headroom: `Cluster::local_load`); `None` before the first sample or when the sampler
    /// has fallen behind. Must not block: it is called on the async threads.
    fn fresh_sample(&self) -> Option<Sample>;
}

/// The registered source, set once at start.
pub(crate) type TelemetrySlot = OnceLock<Arc<dyn TelemetrySource>>;

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct MetricsRequest {
    range: Option<Range>,
}

/// Why a node's telemetry could not be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum NodeMetricsError {
    #[error("node {0} is not a member of this cluster")]
    NotMember(u64),
    #[error("node {node} did not answer: {reason}")]
    Unreachable { node: u64, reason: String },
    #[error("node {node} has no metrics: {reason}")]
    Unavailable { node: u64, reason: String },
}

impl Cluster {
    /// Registers where this node's telemetry comes from. Later calls are ignored.
    pub fn set_telemetry(&self, source: Arc<dyn TelemetrySource>) {
        if self.inner.telemetry.set(source).is_err() {
            tracing::warn!("a telemetry source was already registered; keeping the first");
        }
    }

    /// Node `node`'s telemetry: this node's from its source, another's over the node RPC
    /// (waiting at most `timeout`).
    pub async fn node_metrics(
        &self,
        node: u64,
        range: Option<Range>,
        timeout: Duration,
    ) -> Result<NodeMetrics, NodeMetricsError> {
        if node == self.node_id() {
            return self
                .local_metrics(range)
                .await
                .map_err(|reason| NodeMetricsError::Unavailable { node, reason });
        }
        let addr = self
            .metrics()
            .membership_config
            .membership()
            .get_node(&node)
            .cloned()
            .ok_or(NodeMetricsError::NotMember(node))?;
        let answer: Result<NodeMetrics, String> = self
            .inner
            .network
            .post(
                node,
                &addr.raft_addr,
                PATH,
                &MetricsRequest { range },
                timeout,
            )
            .await
            .map_err(|e| NodeMetricsError::Unreachable {
                node,
                reason: e.to_string(),
            })?;
        answer.map_err(|reason| NodeMetricsError::Unavailable { node, reason })
    }

    /// This node's fresh telemetry sample, when a source is registered and has one.
    pub(crate) fn fresh_sample(&self) -> Option<Sample> {
        self.inner.telemetry.get()?.fresh_sample()
    }

    async fn local_metrics(&self, range: Option<Range>) -> Result<NodeMetrics, String> {
        let Some(source) = self.inner.telemetry.get().cloned() else {
            return Err("this node does not sample its metrics".into());
        };
        tokio::task::spawn_blocking(move || source.node_metrics(range))
            .await
            .map_err(|e| format!("reading the metrics failed: {e}"))?
    }
}

/// `POST /node/metrics` from another member.
pub(crate) async fn serve(
    State(c): State<Cluster>,
    Extension(PeerNode(peer)): Extension<PeerNode>,
    Json(req): Json<MetricsRequest>,
) -> Response {
    if let Err(r) = crate::rpc::admit(&c, peer, None) {
        return r;
    }
    Json(c.local_metrics(req.range).await).into_response()
}

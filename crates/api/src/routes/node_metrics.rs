//! `/api/v1/nodes/{id}/metrics` and `/api/v1/nodes/{id}/chart.png` (issue #14): a node's
//! telemetry, asked of that node over the node RPC (this node answers for itself), and the
//! per-node gauges of `/metrics`.

use std::fmt::Write as _;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vpnkeeper_cluster::NodeMetricsError;
use vpnkeeper_domain::telemetry::{ChartMetric, NodeMetrics, Point, Range, Sample, Series};

use crate::auth::Caller;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Path, Query};
use crate::responses::{NoSuchNode, ReadErrors};
use crate::state::ApiState;

/// How long an API request waits for another node's answer.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a `/metrics` scrape waits for each node.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(1);

/// How far back a series goes.
#[derive(Deserialize, ToSchema)]
pub enum MetricsRange {
    #[serde(rename = "1h")]
    Hour,
    #[serde(rename = "6h")]
    SixHours,
    #[serde(rename = "24h")]
    Day,
}

/// What a chart shows.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChartMetricParam {
    Cpu,
    Net,
    Ram,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MetricsParams {
    /// How far back the series go: `1h` (every sample), `6h` or `24h` (one mean per
    /// minute). Default `1h`.
    #[param(value_type = Option<MetricsRange>)]
    pub range: Option<String>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChartParams {
    /// `cpu` (%), `net` (Mbit/s received and sent) or `ram` (GiB used). Default `cpu`.
    #[param(value_type = Option<ChartMetricParam>)]
    pub metric: Option<String>,
    /// `1h`, `6h` or `24h`. Default `1h`.
    #[param(value_type = Option<MetricsRange>)]
    pub range: Option<String>,
}

/// The peers of one data plane on the node.
#[derive(Serialize, ToSchema)]
pub struct PlaneView {
    /// `awg`, `wireguard` or `vless`.
    pub plane: String,
    /// Devices the node serves on this plane.
    pub configured: u32,
    /// Of those, seen (handshake) in the last 3 minutes.
    pub active: u32,
}

/// A node's latest sample.
#[derive(Serialize, ToSchema)]
pub struct SampleView {
    /// When it was taken, unix ms.
    pub at_ms: i64,
    /// Busy share of all CPUs over the sample interval, 0–100.
    pub cpu_pct: f64,
    /// The 1, 5 and 15 minute load averages.
    pub load: Vec<f64>,
    pub mem_used_bytes: u64,
    pub mem_total_bytes: u64,
    /// The filesystem of the node's data directory.
    pub disk_used_bytes: u64,
    pub disk_total_bytes: u64,
    /// Bytes per second over the public and VPN interfaces.
    pub net_rx_bps: f64,
    pub net_tx_bps: f64,
    pub uptime_secs: u64,
    /// Resident memory of the vpnkeeper process.
    pub rss_bytes: u64,
    pub planes: Vec<PlaneView>,
}

/// Series as `[unix_ms, value]` pairs, oldest first.
#[derive(Serialize, ToSchema)]
pub struct SeriesView {
    #[schema(value_type = Vec<Vec<f64>>)]
    pub cpu_pct: Vec<Point>,
    #[schema(value_type = Vec<Vec<f64>>)]
    pub load1: Vec<Point>,
    #[schema(value_type = Vec<Vec<f64>>)]
    pub mem_used_bytes: Vec<Point>,
    #[schema(value_type = Vec<Vec<f64>>)]
    pub disk_used_bytes: Vec<Point>,
    #[schema(value_type = Vec<Vec<f64>>)]
    pub net_rx_bps: Vec<Point>,
    #[schema(value_type = Vec<Vec<f64>>)]
    pub net_tx_bps: Vec<Point>,
    #[schema(value_type = Vec<Vec<f64>>)]
    pub rss_bytes: Vec<Point>,
}

/// A node's current values and its series over the range asked for.
#[derive(Serialize, ToSchema)]
pub struct NodeMetricsView {
    pub node_id: u64,
    /// `1h`, `6h` or `24h`.
    pub range: String,
    /// `null` until the node's first sample.
    pub current: Option<SampleView>,
    pub series: SeriesView,
}

impl From<Sample> for SampleView {
    fn from(s: Sample) -> Self {
        SampleView {
            at_ms: s.at_ms,
            cpu_pct: s.cpu_pct,
            load: s.load.to_vec(),
            mem_used_bytes: s.mem_used_bytes,
            mem_total_bytes: s.mem_total_bytes,
            disk_used_bytes: s.disk_used_bytes,
            disk_total_bytes: s.disk_total_bytes,
            net_rx_bps: s.net_rx_bps,
            net_tx_bps: s.net_tx_bps,
            uptime_secs: s.uptime_secs,
            rss_bytes: s.rss_bytes,
            planes: s
                .planes
                .into_iter()
                .map(|p| PlaneView {
                    plane: p.plane,
                    configured: p.configured,
                    active: p.active,
                })
                .collect(),
        }
    }
}

impl From<Series> for SeriesView {
    fn from(s: Series) -> Self {
        SeriesView {
            cpu_pct: s.cpu_pct,
            load1: s.load1,
            mem_used_bytes: s.mem_used_bytes,
            disk_used_bytes: s.disk_used_bytes,
            net_rx_bps: s.net_rx_bps,
            net_tx_bps: s.net_tx_bps,
            rss_bytes: s.rss_bytes,
        }
    }
}

fn parse_range(value: Option<&str>) -> Result<Range, ApiError> {
    match value {
        None => Ok(Range::Hour),
        Some(v) => Range::parse(v).ok_or_else(|| {
            ApiError::bad_request(
                "range",
                format!("range {v:?} is not one of {}", Range::FORMS),
            )
        }),
    }
}

fn parse_metric(value: Option<&str>) -> Result<ChartMetric, ApiError> {
    match value {
        None => Ok(ChartMetric::Cpu),
        Some(v) => ChartMetric::parse(v).ok_or_else(|| {
            ApiError::bad_request(
                "metric",
                format!("metric {v:?} is not one of {}", ChartMetric::FORMS),
            )
        }),
    }
}

/// The node's name (404 when no such node is registered) and its telemetry.
async fn ask(state: &ApiState, id: u64, range: Range) -> Result<(String, NodeMetrics), ApiError> {
    let node = state
        .node(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("node {id}")))?;
    let m = state
        .cluster()
        .node_metrics(id, Some(range), ASK_TIMEOUT)
        .await
        .map_err(|e| match e {
            NodeMetricsError::NotMember(_) => ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("node {id} is not a member of the cluster: it has no metrics to read"),
            ),
            e => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                e.to_string(),
            ),
        })?;
    Ok((node.name, m))
}

#[utoipa::path(get, path = "/api/v1/nodes/{id}/metrics", tag = "nodes",
    params(("id" = u64, Path, description = "Node id", minimum = 1), MetricsParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Current values and series", body = NodeMetricsView),
        ReadErrors,
        (status = 400, description = "Not a node id, or a bad range", body = ErrorBody),
        NoSuchNode,
        (status = 503, description = "The node did not answer (offline?)", body = ErrorBody),
    ))]
pub async fn metrics(
    State(state): State<ApiState>,
    _caller: Caller,
    Path(id): Path<u64>,
    Query(p): Query<MetricsParams>,
) -> Result<Json<NodeMetricsView>, ApiError> {
    let range = parse_range(p.range.as_deref())?;
    let (_, m) = ask(&state, id, range).await?;
    Ok(Json(NodeMetricsView {
        node_id: m.node_id,
        range: range.as_str().to_string(),
        current: m.current.map(SampleView::from),
        series: m.series.into(),
    }))
}

#[utoipa::path(get, path = "/api/v1/nodes/{id}/chart.png", tag = "nodes",
    params(("id" = u64, Path, description = "Node id", minimum = 1), ChartParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The chart, 1000 px wide", content_type = "image/png", body = Vec<u8>),
        ReadErrors,
        (status = 400, description = "Not a node id, or a bad metric or range", body = ErrorBody),
        NoSuchNode,
        (status = 503, description = "The node did not answer (offline?)", body = ErrorBody),
    ))]
pub async fn chart(
    State(state): State<ApiState>,
    _caller: Caller,
    Path(id): Path<u64>,
    Query(p): Query<ChartParams>,
) -> Result<Response, ApiError> {
    let metric = parse_metric(p.metric.as_deref())?;
    let range = parse_range(p.range.as_deref())?;
    let (name, m) = ask(&state, id, range).await?;
    let now = vpnkeeper_cluster::now_ms();
    let png = tokio::task::spawn_blocking(move || {
        let words = vpnkeeper_telemetry::Words::english();
        let panel = vpnkeeper_telemetry::chart::panel(metric, &m.series, &words, &name);
        vpnkeeper_telemetry::render_png(&[panel], now - range.millis(), now, &words)
    })
    .await
    .map_err(|e| ApiError::internal(format!("chart rendering stopped: {e}")))?
    .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        png,
    )
        .into_response())
}

/// Gauges of every member's latest sample for `/metrics`, rendered at scrape time (a node
/// that leaves or stops answering drops out, and `vpnkeeper_node_metrics_up` says so).
pub(crate) async fn prometheus(state: &ApiState) -> String {
    let ids: Vec<u64> = state
        .cluster()
        .metrics()
        .membership_config
        .membership()
        .nodes()
        .map(|(id, _)| *id)
        .collect();
    let asks = ids.iter().map(|id| async move {
        let m = state
            .cluster()
            .node_metrics(*id, None, SCRAPE_TIMEOUT)
            .await;
        (*id, m.ok().and_then(|m| m.current))
    });
    let samples = futures::future::join_all(asks).await;
    render_gauges(&samples)
}

type Gauge = (&'static str, &'static str, fn(&Sample) -> f64);

const GAUGES: [Gauge; 11] = [
    (
        "vpnkeeper_node_cpu_percent",
        "CPU busy share over the last sample interval",
        |s| s.cpu_pct,
    ),
    ("vpnkeeper_node_load1", "1-minute load average", |s| {
        s.load[0]
    }),
    ("vpnkeeper_node_memory_used_bytes", "Memory in use", |s| {
        s.mem_used_bytes as f64
    }),
    (
        "vpnkeeper_node_memory_total_bytes",
        "Memory installed",
        |s| s.mem_total_bytes as f64,
    ),
    (
        "vpnkeeper_node_disk_used_bytes",
        "Used space of the data directory's filesystem",
        |s| s.disk_used_bytes as f64,
    ),
    (
        "vpnkeeper_node_disk_total_bytes",
        "Size of the data directory's filesystem",
        |s| s.disk_total_bytes as f64,
    ),
    (
        "vpnkeeper_node_network_receive_bytes_per_second",
        "Received over the public and VPN interfaces",
        |s| s.net_rx_bps,
    ),
    (
        "vpnkeeper_node_network_transmit_bytes_per_second",
        "Sent over the public and VPN interfaces",
        |s| s.net_tx_bps,
    ),
    (
        "vpnkeeper_node_uptime_seconds",
        "Time since the machine booted",
        |s| s.uptime_secs as f64,
    ),
    (
        "vpnkeeper_node_process_resident_bytes",
        "Resident memory of the vpnkeeper process",
        |s| s.rss_bytes as f64,
    ),
    (
        "vpnkeeper_node_sample_timestamp_seconds",
        "When the latest sample was taken",
        |s| s.at_ms as f64 / 1000.0,
    ),
];

fn render_gauges(samples: &[(u64, Option<Sample>)]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# HELP vpnkeeper_node_metrics_up Whether the node answered with a sample\n# TYPE vpnkeeper_node_metrics_up gauge");
    for (id, s) in samples {
        let _ = writeln!(
            out,
            "vpnkeeper_node_metrics_up{{node=\"{id}\"}} {}",
            u8::from(s.is_some())
        );
    }
    for (name, help, value) in GAUGES {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (id, s) in samples {
            if let Some(s) = s {
                let _ = writeln!(out, "{name}{{node=\"{id}\"}} {}", value(s));
            }
        }
    }
    let _ = writeln!(out, "# HELP vpnkeeper_node_peers Devices a node serves per data plane, by state\n# TYPE vpnkeeper_node_peers gauge");
    for (id, s) in samples {
        for p in s.iter().flat_map(|s| &s.planes) {
            let plane = &p.plane;
            let _ = writeln!(
                out,
                "vpnkeeper_node_peers{{node=\"{id}\",plane=\"{plane}\",state=\"configured\"}} {}",
                p.configured
            );
            let _ = writeln!(
                out,
                "vpnkeeper_node_peers{{node=\"{id}\",plane=\"{plane}\",state=\"active\"}} {}",
                p.active
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_ranges_and_metrics_are_one_line_400s() {
        assert_eq!(parse_range(None).unwrap(), Range::Hour);
        assert_eq!(parse_range(Some("24h")).unwrap(), Range::Day);
        let e = parse_range(Some("2h")).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.message, "range \"2h\" is not one of 1h, 6h or 24h");
        let e = parse_metric(Some("disk\n")).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(!e.message.contains('\n'), "{}", e.message);
    }

    #[test]
    fn gauges_per_node() {
        let s = Sample {
            at_ms: 1_000,
            cpu_pct: 12.5,
            load: [0.1, 0.2, 0.3],
            mem_used_bytes: 10,
            mem_total_bytes: 20,
            disk_used_bytes: 30,
            disk_total_bytes: 40,
            net_rx_bps: 5.0,
            net_tx_bps: 6.0,
            uptime_secs: 7,
            rss_bytes: 8,
            planes: vec![vpnkeeper_domain::telemetry::PlanePeers {
                plane: "awg".into(),
                configured: 3,
                active: 2,
            }],
        };
        let text = render_gauges(&[(1, Some(s)), (2, None)]);
        for line in [
            "vpnkeeper_node_metrics_up{node=\"1\"} 1",
            "vpnkeeper_node_metrics_up{node=\"2\"} 0",
            "vpnkeeper_node_cpu_percent{node=\"1\"} 12.5",
            "vpnkeeper_node_memory_total_bytes{node=\"1\"} 20",
            "vpnkeeper_node_peers{node=\"1\",plane=\"awg\",state=\"active\"} 2",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
        }
        assert!(!text.contains("cpu_percent{node=\"2\"}"));
    }
}

//! Node telemetry through the API against the real binary (issue #14): the sampler's values
//! in `GET /api/v1/nodes/{id}/metrics`, the series surviving a restart of the node, the
//! chart PNG, the per-node gauges on `/metrics`, and one-line 4xx answers to bad input.

mod common;

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use common::json_api::{Api, NO_LIMITS};
use common::Node;

/// Sample every second so the test sees a series within seconds.
const FAST: (&str, &str) = ("VPNKEEPER_NODE__SAMPLE_INTERVAL_SECS", "1");

fn start(node: &mut Node) {
    let mut env: Vec<(&str, &str)> = NO_LIMITS.to_vec();
    env.push(FAST);
    node.start_env(&env);
}

fn meminfo_total_bytes() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap();
    let line = text.lines().find(|l| l.starts_with("MemTotal:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 1024
}

/// Waits until the node's 1h series has at least `n` points; returns the answer.
async fn wait_points(api: &Api, n: usize) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (s, v) = api.get("/api/v1/nodes/1/metrics?range=1h").await;
        assert_eq!(s, StatusCode::OK, "{v}");
        if v["series"]["cpu_pct"].as_array().unwrap().len() >= n {
            return v;
        }
        assert!(Instant::now() < deadline, "no {n} samples in 30 s: {v}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn assert_one_line_error(v: &Value, field: &str) {
    let message = v["error"]["message"].as_str().unwrap();
    assert!(!message.contains('\n'), "{message}");
    assert_eq!(v["error"]["field"], field, "{v}");
}

/// The sample's per-plane peer counts follow the state: two devices issued, one revoked,
/// a disabled user's device not served (counted in SQLite, not read row by row).
async fn assert_served_peers_counted(api: &Api) {
    for user in ["pia", "quinn"] {
        let (s, v) = api.post("/api/v1/users", json!({ "name": user })).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    let mut ids = Vec::new();
    for (user, name) in [("pia", "a"), ("pia", "b"), ("quinn", "c")] {
        let body = json!({ "user": user, "type": "phone", "name": name, "protocol": "awg" });
        let (s, v) = api.post("/api/v1/devices", body).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        ids.push(v["id"].as_i64().unwrap());
    }
    let (s, v) = api
        .call(Method::DELETE, &format!("/api/v1/devices/{}", ids[0]), None)
        .await;
    assert!(s.is_success(), "{s} {v}");
    let (s, v) = api.post("/api/v1/users/quinn/disable", json!({})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, v) = api.get("/api/v1/nodes/1/metrics").await;
        let planes = v["current"]["planes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let awg = planes.iter().find(|p| p["plane"] == "awg");
        if awg.is_some_and(|p| p["configured"] == 1 && p["active"] == 0) {
            let others = planes.iter().filter(|p| p["plane"] != "awg");
            assert!(others.clone().all(|p| p["configured"] == 0), "{v}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "awg not counted as 1 served peer: {v}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_series_chart_and_gauges_survive_a_restart() {
    let mut node = Node::init();
    start(&mut node);
    let api = Api::new(&node);

    let v = wait_points(&api, 3).await;
    let now = &v["current"];
    let cpu = now["cpu_pct"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&cpu), "{now}");
    assert_eq!(
        now["mem_total_bytes"].as_u64().unwrap(),
        meminfo_total_bytes()
    );
    assert!(now["disk_total_bytes"].as_u64().unwrap() > 0);
    assert!(now["rss_bytes"].as_u64().unwrap() > 1 << 20);
    assert_eq!(v["range"], "1h");
    let points = v["series"]["cpu_pct"].as_array().unwrap();
    for p in points {
        let pair = p.as_array().unwrap();
        assert_eq!(pair.len(), 2, "{p}");
        assert!(pair[0].as_i64().unwrap() > 1_700_000_000_000, "{p}");
    }
    let before: Vec<Value> = points.clone();
    assert_served_peers_counted(&api).await;

    // Restart: the series file is read back; older points are still there.
    node.terminate();
    start(&mut node);
    let v = wait_points(&api, before.len() + 1).await;
    let after = v["series"]["cpu_pct"].as_array().unwrap();
    for p in &before {
        assert!(after.contains(p), "point {p} lost across the restart");
    }
    let (s, day) = api.get("/api/v1/nodes/1/metrics?range=24h").await;
    assert_eq!(s, StatusCode::OK);
    assert!(!day["series"]["cpu_pct"].as_array().unwrap().is_empty());

    // The chart.
    let r = api
        .http
        .get(format!(
            "{}/api/v1/nodes/1/chart.png?metric=net&range=6h",
            api.base
        ))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/png");
    let png = r.bytes().await.unwrap();
    let img = image::load_from_memory_with_format(&png, image::ImageFormat::Png).unwrap();
    assert_eq!((img.width(), img.height()), (1000, 380));

    // Per-node gauges.
    let metrics = common::api_text(&node, "/metrics");
    for name in [
        "vpnkeeper_node_metrics_up{node=\"1\"} 1",
        "vpnkeeper_node_cpu_percent{node=\"1\"}",
        "vpnkeeper_node_memory_total_bytes{node=\"1\"}",
        "vpnkeeper_node_network_receive_bytes_per_second{node=\"1\"}",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }

    // Bad input: one-line 4xx; an unknown node: 404.
    let (s, v) = api.get("/api/v1/nodes/1/metrics?range=2h").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_one_line_error(&v, "range");
    let (s, v) = api.get("/api/v1/nodes/1/chart.png?metric=disk").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_one_line_error(&v, "metric");
    let (s, v) = api.get("/api/v1/nodes/99/metrics").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    let (s, _) = api.get("/api/v1/nodes/99/chart.png").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = api.get("/api/v1/nodes/x/metrics").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Both routes are in the OpenAPI document.
    let (_, doc) = api.get("/api/v1/openapi.json").await;
    for path in ["/api/v1/nodes/{id}/metrics", "/api/v1/nodes/{id}/chart.png"] {
        assert!(
            doc["paths"][path]["get"].is_object(),
            "{path} not documented"
        );
    }
}

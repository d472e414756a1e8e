//! The fleet-facing services of one real node: what `/health`, `/api/v1/status` and
//! `/metrics` say about its place in the cluster.

mod common;

use common::*;

#[test]
fn health_status_and_metrics_report_role_leader_and_heartbeat() {
    let mut node = Node::init();
    node.start();
    let health = serde_json::from_str::<serde_json::Value>(
        http_get(&format!("{}/health", node.base()))
            .unwrap()
            .split("\r\n\r\n")
            .nth(1)
            .unwrap(),
    )
    .unwrap();
    let raft = &health["raft"];
    assert_eq!(raft["role"], "leader", "{health}");
    assert_eq!(raft["leader"], 1, "{health}");
    assert_eq!(
        raft["leader_api_addr"].as_str(),
        Some(format!("127.0.0.1:{}", node.api_port).as_str()),
        "{health}"
    );
    // A sole voter is its own quorum: acknowledged just now.
    let since = raft["millis_since_heartbeat"]
        .as_u64()
        .expect("a heartbeat age");
    assert!(since < 5_000, "{health}");
    assert!(raft["millis_since_quorum_ack"].is_u64(), "{health}");
    // No followers to replicate to.
    assert_eq!(raft["replication"], serde_json::json!([]), "{health}");

    let status = api_get(&node, "/api/v1/status");
    assert_eq!(status["raft"]["role"], "leader", "{status}");
    assert!(
        status["raft"]["millis_since_heartbeat"].is_u64(),
        "{status}"
    );

    let metrics = api_text(&node, "/metrics");
    for line in [
        "vpnkeeper_raft_role{role=\"leader\"} 1",
        "vpnkeeper_raft_role{role=\"follower\"} 0",
        "vpnkeeper_raft_leader_id 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} missing:\n{metrics}"
        );
    }
    for prefix in [
        "vpnkeeper_raft_heartbeat_age_seconds ",
        "vpnkeeper_raft_quorum_ack_age_seconds ",
    ] {
        let value: f64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("{prefix} missing:\n{metrics}"))
            .parse()
            .unwrap();
        assert!((0.0..5.0).contains(&value), "{prefix}{value}");
    }
    assert!(
        !metrics.contains("replication_lag"),
        "no followers: {metrics}"
    );
}

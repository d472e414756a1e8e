//! AmneziaWG/WireGuard end to end through the real binary: a node drives a real userspace
//! WireGuard interface (wireguard-go, then boringtun) in a network namespace over UAPI; a
//! client in a second namespace uses the config that `vpnkeeper device add` printed. The
//! tests cover usage reporting, drift repair (a peer removed by hand, the daemon killed and
//! restarted), `/health` and `/metrics` on the data plane, and revoke cutting the client off.

mod common;
#[path = "../../dataplane/tests/common/mod.rs"]
mod lab;
mod wg_client;

use std::time::{Duration, Instant};

use common::*;
use lab::{Impl, Lab, SERVER_VETH_IP};
use wg_client::{ping, use_config};

fn server_peers(lab: &Lab) -> Vec<String> {
    lab.server_peers()
}

/// The `/health` entry of this node's WireGuard backend.
fn wg_health(node: &Node, iface: &str) -> serde_json::Value {
    let health = api_get(node, "/health");
    let name = format!("wireguard:{iface}");
    health["backends"]
        .as_array()
        .and_then(|b| b.iter().find(|p| p["name"] == name.as_str()).cloned())
        .unwrap_or_else(|| panic!("no {name} backend in /health: {health}"))
}

/// Polls until `check` holds or `within` passes.
fn eventually(within: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A counter's value in Prometheus text (summed over its label sets that contain `labels`).
fn metric_sum(text: &str, name: &str, labels: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn issue_connect_revoke_and_repair_with_wireguard_go() {
    if lab::prerequisites("wg_e2e", &["wireguard-go", "wg", "ping", "curl"]).is_none() {
        return;
    }
    issue_connect_revoke_and_repair(Impl::WireguardGo);
}

#[test]
fn issue_connect_revoke_and_repair_with_boringtun() {
    if lab::prerequisites("wg_e2e", &["boringtun-cli", "wg", "ping", "curl"]).is_none() {
        return;
    }
    issue_connect_revoke_and_repair(Impl::Boringtun);
}

fn issue_connect_revoke_and_repair(imp: Impl) {
    let tag = match imp {
        Impl::WireguardGo => "e2eg",
        Impl::Boringtun => "e2eb",
    };
    let mut lab = Lab::new(tag);
    lab.start_server(imp);

    let mut node = Node::init_with(&["--public-host", SERVER_VETH_IP]);
    node.start_env(&[
        ("VPNKEEPER_WIREGUARD__BACKEND", "uapi"),
        ("VPNKEEPER_WIREGUARD__INTERFACE", &lab.server_if),
        ("VPNKEEPER_WIREGUARD__NETNS", &lab.ns_server),
        // wireguard-go speaks plain WireGuard: no AmneziaWG parameters on this node.
        ("VPNKEEPER_WIREGUARD__AMNEZIAWG", "false"),
        ("VPNKEEPER_WIREGUARD__RECONCILE_INTERVAL_SECS", "1"),
        ("VPNKEEPER_WIREGUARD__USAGE_INTERVAL_SECS", "1"),
    ]);

    let out = node.cli(&["user", "add", "alice"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // An awg device on a plain-WireGuard node is refused with a clear message.
    let out = node.cli(&[
        "device",
        "add",
        "alice",
        "--type",
        "laptop",
        "--protocol",
        "awg",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("plain WireGuard"), "{}", stderr(&out));

    let out = node.cli(&[
        "device",
        "add",
        "alice",
        "--type",
        "laptop",
        "--protocol",
        "wireguard",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let device_id = stderr(&out).trim().to_string();
    let conf = stdout(&out);
    assert!(
        conf.contains(&format!("Endpoint = {SERVER_VETH_IP}:51820")),
        "{conf}"
    );
    assert!(!conf.contains("Jc ="), "plain WireGuard config: {conf}");
    let again = node.cli(&[
        "device",
        "add",
        "alice",
        "--type",
        "laptop",
        "--protocol",
        "wireguard",
    ]);
    assert_eq!(stdout(&again), conf, "asking again returns the same config");

    use_config(&lab, &conf);
    assert!(
        ping(&lab, Duration::from_secs(15)),
        "no handshake through the tunnel; node log:\n{}",
        node.log()
    );
    let device = api_get(&node, &format!("/api/v1/devices/{device_id}"));
    let public = device["wg_public_key"].as_str().unwrap().to_string();
    assert!(server_peers(&lab).contains(&public));

    // Observations reach the replicated state (usage interval 1 s).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let d = api_get(&node, &format!("/api/v1/devices/{device_id}"));
        if d["rx_bytes"].as_i64().unwrap_or(0) > 0 && !d["last_handshake_ms"].is_null() {
            break;
        }
        // Keep traffic flowing so the counters move after the baseline; pace the polling
        // so it stays inside the read rate limit.
        ping(&lab, Duration::from_secs(1));
        std::thread::sleep(Duration::from_millis(300));
        assert!(Instant::now() < deadline, "usage never reported: {d}");
    }

    // Drift: someone removes the peer by hand; the timer puts it back.
    lab.ns(
        &lab.ns_server,
        &["wg", "set", &lab.server_if, "peer", &public, "remove"],
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server_peers(&lab).contains(&public) {
        assert!(Instant::now() < deadline, "drift not repaired");
        std::thread::sleep(Duration::from_millis(100));
    }

    // The data plane is on /health and /metrics.
    eventually(Duration::from_secs(5), "backend healthy in /health", || {
        wg_health(&node, &lab.server_if)["ok"] == true
    });
    let metrics = api_text(&node, "/metrics");
    assert!(
        metric_sum(
            &metrics,
            "vpnkeeper_reconcile_duration_seconds_count",
            "backend=\"uapi\""
        ) > 0.0,
        "no reconcile durations in /metrics:\n{metrics}"
    );

    // The daemon dies: /health says so (degraded, not dead), the failures are counted, and
    // a restarted daemon gets its whole configuration back without anyone's help.
    let errors_before = metric_sum(
        &api_text(&node, "/metrics"),
        "vpnkeeper_backend_errors_total",
        "backend=\"uapi\"",
    );
    lab.kill_server();
    eventually(Duration::from_secs(10), "backend down in /health", || {
        wg_health(&node, &lab.server_if)["ok"] == false
    });
    let health = api_get(&node, "/health");
    assert_eq!(health["status"], "degraded", "{health}");
    assert!(
        metric_sum(
            &api_text(&node, "/metrics"),
            "vpnkeeper_backend_errors_total",
            "backend=\"uapi\""
        ) > errors_before,
        "backend errors not counted"
    );
    lab.start_server(imp);
    eventually(
        Duration::from_secs(10),
        "peer restored on the restarted daemon",
        || server_peers(&lab).contains(&public),
    );
    eventually(Duration::from_secs(5), "backend healthy again", || {
        wg_health(&node, &lab.server_if)["ok"] == true
    });
    // The client drops its old session, as a phone does when it reconnects; otherwise it
    // would keep sending on a session the new daemon never had until its rekey timeout.
    let server_pub = conf
        .lines()
        .find_map(|l| l.strip_prefix("PublicKey = "))
        .expect("server public key in the config")
        .to_string();
    lab.ns(
        &lab.ns_client,
        &["wg", "set", &lab.client_if, "peer", &server_pub, "remove"],
    );
    use_config(&lab, &conf);
    assert!(
        ping(&lab, Duration::from_secs(20)),
        "no tunnel through the restarted daemon; node log:\n{}",
        node.log()
    );

    // Revoke: the peer leaves the interface within a second and the tunnel is dead.
    let out = node.cli(&["device", "revoke", &device_id]);
    let t = Instant::now();
    assert!(out.status.success(), "{}", stderr(&out));
    while server_peers(&lab).contains(&public) {
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "peer still on the interface a second after the revoke"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    eprintln!("revoke → peer gone from the interface in {:?}", t.elapsed());
    assert!(
        !ping(&lab, Duration::from_secs(3)),
        "tunnel still works after revoke"
    );
    let status = node.terminate();
    assert!(status.success());
}

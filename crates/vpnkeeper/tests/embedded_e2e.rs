//! The embedded AmneziaWG data plane through the real binary: `vpnkeeper run` with
//! `backend = "embedded"` creates the interface itself in the server namespace (no daemon);
//! a wireguard-go client in a second namespace uses the config `device add` printed and
//! pings through; usage is reported; a restart of vpnkeeper restores every peer; a revoke
//! cuts the client off in under a second. And a node whose embedded interface cannot be
//! created stays up with /health degraded.

mod common;
#[path = "../../dataplane/tests/common/mod.rs"]
mod lab;
mod wg_client;

use std::time::{Duration, Instant};

use common::*;
use lab::{Lab, SERVER_VETH_IP};
use wg_client::ping;

fn wg_health(node: &Node, iface: &str) -> serde_json::Value {
    let health = api_get(node, "/health");
    let name = format!("wireguard:{iface}");
    health["backends"]
        .as_array()
        .and_then(|b| b.iter().find(|p| p["name"] == name.as_str()).cloned())
        .unwrap_or_else(|| panic!("no {name} backend in /health: {health}"))
}

fn eventually(within: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn env(lab: &Lab) -> Vec<(&'static str, &str)> {
    vec![
        ("VPNKEEPER_WIREGUARD__INTERFACE", &lab.server_if),
        ("VPNKEEPER_WIREGUARD__NETNS", &lab.ns_server),
        // Where `wg` looks, so the lab's `wg show` reads the embedded plane's UAPI socket.
        ("VPNKEEPER_WIREGUARD__SOCKET_DIR", "/var/run/wireguard"),
        // The client is wireguard-go: plain WireGuard on this node.
        ("VPNKEEPER_WIREGUARD__AMNEZIAWG", "false"),
        ("VPNKEEPER_WIREGUARD__RECONCILE_INTERVAL_SECS", "1"),
        ("VPNKEEPER_WIREGUARD__USAGE_INTERVAL_SECS", "1"),
    ]
}

#[test]
fn embedded_node_serves_restarts_and_revokes() {
    if lab::prerequisites("embedded_e2e", &["wireguard-go", "wg", "ping", "curl"]).is_none() {
        return;
    }
    let lab = Lab::new("eme");
    let mut node = Node::init_with(&["--public-host", SERVER_VETH_IP, "--wg-backend", "embedded"]);
    node.start_env(&env(&lab));

    let out = node.cli(&["user", "add", "alice"]);
    assert!(out.status.success(), "{}", stderr(&out));
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
    wg_client::reconnect(&lab, &conf);
    assert!(
        ping(&lab, Duration::from_secs(15)),
        "no tunnel; node log:\n{}",
        node.log()
    );
    let device = api_get(&node, &format!("/api/v1/devices/{device_id}"));
    let public = device["wg_public_key"].as_str().unwrap().to_string();
    assert!(
        lab.server_peers().contains(&public),
        "wg show over the embedded UAPI socket"
    );
    eventually(Duration::from_secs(5), "embedded backend healthy", || {
        wg_health(&node, &lab.server_if)["ok"] == true
    });
    let metrics = api_text(&node, "/metrics");
    assert!(
        metrics.lines().any(
            |l| l.starts_with("vpnkeeper_reconcile_duration_seconds_count")
                && l.contains("backend=\"embedded\"")
        ),
        "no embedded reconcile passes in /metrics:\n{metrics}"
    );
    // Exported after each pass (interval 1 s): the handshake shows up within a few.
    eventually(
        Duration::from_secs(5),
        "data-plane counters in /metrics",
        || {
            api_text(&node, "/metrics").lines().any(|l| {
                l.starts_with("vpnkeeper_dataplane_events_total")
                    && l.contains("what=\"handshakes_completed\"")
                    && !l.ends_with(" 0")
            })
        },
    );

    // Usage from the embedded counters reaches the replicated state.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let d = api_get(&node, &format!("/api/v1/devices/{device_id}"));
        if d["rx_bytes"].as_i64().unwrap_or(0) > 0 && !d["last_handshake_ms"].is_null() {
            break;
        }
        ping(&lab, Duration::from_secs(1));
        assert!(Instant::now() < deadline, "usage never reported: {d}");
    }

    // Restart: the interface goes with the process and comes back with every peer.
    assert!(node.terminate().success());
    assert!(
        !ping(&lab, Duration::from_secs(1)),
        "tunnel up with vpnkeeper stopped"
    );
    node.start_env(&env(&lab));
    eventually(
        Duration::from_secs(10),
        "peer restored after restart",
        || lab.server_peers().contains(&public),
    );
    wg_client::reconnect(&lab, &conf);
    assert!(
        ping(&lab, Duration::from_secs(15)),
        "no tunnel after restart; log:\n{}",
        node.log()
    );

    // Revoke: the peer and its session are gone within a second.
    let out = node.cli(&["device", "revoke", &device_id]);
    let t = Instant::now();
    assert!(out.status.success(), "{}", stderr(&out));
    while lab.server_peers().contains(&public) {
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "peer still there 1 s after revoke"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    eprintln!(
        "revoke → peer gone from the embedded plane in {:?}",
        t.elapsed()
    );
    assert!(
        !ping(&lab, Duration::from_secs(3)),
        "tunnel still works after revoke"
    );
    assert!(node.terminate().success());
}

/// An embedded interface that cannot be created (its namespace does not exist) degrades
/// /health with the reason; the node keeps serving its API.
#[test]
fn embedded_interface_failure_degrades_health_not_the_node() {
    if lab::prerequisites("embedded_e2e_fail", &["curl"]).is_none() {
        return;
    }
    let mut node = Node::init_with(&["--wg-backend", "embedded"]);
    let iface = format!("emf{}", std::process::id() % 100_000);
    node.start_env(&[
        ("VPNKEEPER_WIREGUARD__INTERFACE", &iface),
        ("VPNKEEPER_WIREGUARD__NETNS", "vpnkeeper-no-such-namespace"),
        ("VPNKEEPER_WIREGUARD__RECONCILE_INTERVAL_SECS", "1"),
    ]);
    eventually(Duration::from_secs(10), "backend reported down", || {
        wg_health(&node, &iface)["ok"] == false
    });
    let health = api_get(&node, "/health");
    assert_eq!(health["status"], "degraded", "{health}");
    assert!(
        health.to_string().contains("vpnkeeper-no-such-namespace"),
        "{health}"
    );
    let out = node.cli(&["user", "add", "bob"]);
    assert!(out.status.success(), "API still works: {}", stderr(&out));
    assert!(node.terminate().success());
}

/// `init` without `--wg-backend`: embedded where a TUN can be made (root + /dev/net/tun
/// here), else `none` with one warning line naming what is missing (CAP_NET_ADMIN dropped
/// from the bounding set with util-linux `setpriv`).
#[test]
fn init_picks_the_backend_and_says_so_in_one_line() {
    if lab::prerequisites("init_default", &["setpriv"]).is_none() {
        return;
    }
    let init = |prefix: &[&str]| {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("d");
        let mut cmd = std::process::Command::new(prefix.first().copied().unwrap_or(BIN));
        cmd.args(prefix.iter().skip(1));
        if !prefix.is_empty() {
            cmd.arg(BIN);
        }
        let out = cmd
            .args(["init", "--data-dir", data.to_str().unwrap()])
            .args([
                "--api-listen",
                "127.0.0.1:0",
                "--raft-listen",
                "127.0.0.1:0",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let config = std::fs::read_to_string(data.join("vpnkeeper.toml")).unwrap();
        (stderr(&out), config)
    };
    let (err, config) = init(&[]);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("wireguard backend"))
        .collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].starts_with("wireguard backend: embedded"), "{err}");
    assert!(config.contains("backend = \"embedded\""), "{config}");

    let (err, config) = init(&["setpriv", "--bounding-set", "-net_admin"]);
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("wireguard backend"))
        .collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with("warning: wireguard backend: none, missing CAP_NET_ADMIN"),
        "{err}"
    );
    assert!(config.contains("backend = \"none\""), "{config}");
}

/// The README's first command: `vpnkeeper run` on an empty directory initialises it and,
/// on a machine with /dev/net/tun and CAP_NET_ADMIN, serves AmneziaWG itself (backend
/// `embedded`, said in one log line), with the interface up and healthy.
#[test]
fn first_run_on_an_empty_directory_serves_with_the_embedded_backend() {
    if lab::prerequisites("first_run_embedded", &["ip"]).is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("fresh");
    let iface = format!("vkfr{}", std::process::id() % 100_000);
    let (api, raft, udp) = (free_port(), free_port(), free_port());
    let api_listen = format!("127.0.0.1:{api}");
    let raft_listen = format!("127.0.0.1:{raft}");
    let udp_port = udp.to_string();
    let log = std::fs::File::create(dir.path().join("run.log")).unwrap();
    let mut cmd = std::process::Command::new(BIN);
    cmd.args(["run", "--data-dir", data.to_str().unwrap()]);
    for (k, _) in std::env::vars() {
        if k.starts_with("VPNKEEPER_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd
        .envs([
            ("VPNKEEPER_API__LISTEN", api_listen.as_str()),
            ("VPNKEEPER_RAFT__LISTEN", raft_listen.as_str()),
            ("VPNKEEPER_WIREGUARD__INTERFACE", iface.as_str()),
            ("VPNKEEPER_WIREGUARD__LISTEN_PORT", udp_port.as_str()),
            ("VPNKEEPER_WIREGUARD__ADDRESS_POOL", "10.213.77.0/24"),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let read_log = || std::fs::read_to_string(dir.path().join("run.log")).unwrap_or_default();
    let health = || {
        let out = std::process::Command::new("curl")
            .args(["-sf", &format!("http://{api_listen}/health")])
            .output()
            .unwrap();
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap_or_default()
    };
    let name = format!("wireguard:{iface}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last;
    let served = loop {
        last = health();
        let backend = last["backends"]
            .as_array()
            .and_then(|b| b.iter().find(|p| p["name"] == name.as_str()).cloned());
        if backend.is_some_and(|b| b["ok"] == true) {
            break true;
        }
        if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
            break false;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let link = std::process::Command::new("ip")
        .args(["link", "show", &iface])
        .output()
        .unwrap();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let log = read_log();
    assert!(
        served,
        "the embedded backend never became healthy: {last}\n{log}"
    );
    assert!(link.status.success(), "no interface {iface}: {log}");
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("wireguard backend: embedded"))
        .collect();
    assert_eq!(lines.len(), 1, "one line says which backend: {log}");
    let config = std::fs::read_to_string(data.join("vpnkeeper.toml")).unwrap();
    assert!(config.contains("backend = \"embedded\""), "{config}");
}

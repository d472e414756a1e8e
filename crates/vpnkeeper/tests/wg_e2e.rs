//! AmneziaWG/WireGuard end to end through the real binary: a node drives a real
//! wireguard-go interface in a network namespace over UAPI; a client in a second namespace
//! uses the config that `vpnkeeper device add` printed; revoking cuts it off.

mod common;
#[path = "../../dataplane/tests/common/mod.rs"]
mod lab;

use std::time::{Duration, Instant};

use common::*;
use lab::{Impl, Lab, SERVER_VETH_IP};

const SERVER_TUN: &str = "10.8.0.1";

fn ping(lab: &Lab, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        let ok = lab::run(
            "ip",
            &[
                "netns",
                "exec",
                &lab.ns_client,
                "ping",
                "-n",
                "-q",
                "-c",
                "1",
                "-W",
                "1",
                SERVER_TUN,
            ],
        )
        .status
        .success();
        if ok {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
    }
}

/// Configures the client namespace's interface from a wg-quick config, the way `wg-quick`
/// would: `wg setconf` with the wg-quick-only lines stripped, then address and route.
fn use_config(lab: &Lab, conf: &str) {
    let mut address = String::new();
    let stripped: String = conf
        .lines()
        .filter(|l| {
            let key = l.split('=').next().unwrap_or("").trim();
            if key == "Address" {
                address = l.split_once('=').unwrap().1.trim().to_string();
            }
            !matches!(key, "Address" | "DNS" | "MTU")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let path = lab.tmp.path().join("client.conf");
    std::fs::write(&path, stripped).unwrap();
    lab.ns(
        &lab.ns_client,
        &["wg", "setconf", &lab.client_if, path.to_str().unwrap()],
    );
    lab.ns(
        &lab.ns_client,
        &["ip", "addr", "flush", "dev", &lab.client_if],
    );
    lab.ns(
        &lab.ns_client,
        &["ip", "addr", "add", &address, "dev", &lab.client_if],
    );
    lab.ns(
        &lab.ns_client,
        &[
            "ip",
            "route",
            "replace",
            "10.8.0.0/24",
            "dev",
            &lab.client_if,
        ],
    );
}

fn server_peers(lab: &Lab) -> Vec<String> {
    lab.server_peers()
}

fn api_get(node: &Node, path: &str) -> serde_json::Value {
    let out = std::process::Command::new("curl")
        .args([
            "-sf",
            "-H",
            &format!("Authorization: Bearer {}", node.token),
        ])
        .arg(format!("{}{}", node.base(), path))
        .output()
        .expect("curl");
    serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null)
}

#[test]
fn issue_connect_revoke_and_repair_with_wireguard_go() {
    if lab::prerequisites("wg_e2e", &["wireguard-go", "wg", "ping", "curl"]).is_none() {
        return;
    }
    let mut lab = Lab::new("e2e");
    lab.start_server(Impl::WireguardGo);

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
        // Keep traffic flowing so the counters move after the baseline.
        ping(&lab, Duration::from_secs(1));
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

    // Revoke: the peer leaves the interface at once and the tunnel is dead.
    let t = Instant::now();
    let out = node.cli(&["device", "revoke", &device_id]);
    assert!(out.status.success(), "{}", stderr(&out));
    while server_peers(&lab).contains(&public) {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "peer still on the interface"
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

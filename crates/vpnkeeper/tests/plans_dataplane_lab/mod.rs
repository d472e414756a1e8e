//! Shared by the plans/usage data-plane tests: a node driving wireguard-go in a namespace
//! with 1 s reconcile and usage intervals, one client in another namespace, and the admin
//! API through curl. (`mod plans_dataplane_lab;` next to `mod common; mod lab; mod wg_client;`.)

#![allow(dead_code)]

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{stderr, stdout, Node};
use crate::lab::{Impl, Lab, SERVER_VETH_IP};
pub use crate::wg_client::reconnect;

/// How often the node reports usage in these tests (seconds).
pub const USAGE_INTERVAL_SECS: u64 = 1;

/// The node's environment: the uapi backend on the lab's server interface, short intervals,
/// API rate limits off (the tests poll).
pub fn node_env(lab: &Lab) -> Vec<(String, String)> {
    let mut env = vec![
        ("VPNKEEPER_WIREGUARD__BACKEND", "uapi".to_string()),
        ("VPNKEEPER_WIREGUARD__INTERFACE", lab.server_if.clone()),
        ("VPNKEEPER_WIREGUARD__NETNS", lab.ns_server.clone()),
        ("VPNKEEPER_WIREGUARD__AMNEZIAWG", "false".to_string()),
        (
            "VPNKEEPER_WIREGUARD__RECONCILE_INTERVAL_SECS",
            "1".to_string(),
        ),
        (
            "VPNKEEPER_WIREGUARD__USAGE_INTERVAL_SECS",
            USAGE_INTERVAL_SECS.to_string(),
        ),
    ];
    env.extend(
        crate::common::json_api::NO_LIMITS
            .iter()
            .map(|(k, v)| (*k, v.to_string())),
    );
    env.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Starts (or restarts) the node with [`node_env`].
pub fn start_node(node: &mut Node, lab: &Lab) {
    let env = node_env(lab);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    node.start_env(&env);
}

/// A lab with wireguard-go and a node driving it; `None` (skipped) without the tools.
pub fn setup(test: &str, tag: &str) -> Option<(Lab, Node)> {
    crate::lab::prerequisites(test, &["wireguard-go", "wg", "ping", "curl"])?;
    let mut lab = Lab::new(tag);
    lab.start_server(Impl::WireguardGo);
    let mut node = Node::init_with(&["--public-host", SERVER_VETH_IP]);
    start_node(&mut node, &lab);
    Some((lab, node))
}

/// An admin API call through curl: (HTTP status, JSON body or `Null`).
pub fn api(node: &Node, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut cmd = std::process::Command::new("curl");
    cmd.args(["-s", "-X", method, "-w", "\n%{http_code}", "-H"])
        .arg(format!("Authorization: Bearer {}", node.token));
    if let Some(b) = body {
        cmd.args(["-H", "Content-Type: application/json", "--data-binary"])
            .arg(b.to_string());
    }
    let out = cmd
        .arg(format!("{}{}", node.base(), path))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (
        code.trim().parse().unwrap_or(0),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

/// `api` that must answer 2xx.
pub fn api_ok(node: &Node, method: &str, path: &str, body: Option<Value>) -> Value {
    let (code, v) = api(node, method, path, body);
    assert!((200..300).contains(&code), "{method} {path}: {code} {v}");
    v
}

/// A plan; returns its id. `quota` 0 = unlimited.
pub fn plan(node: &Node, name: &str, quota: i64) -> i64 {
    let p = api_ok(
        node,
        "POST",
        "/api/v1/plans",
        Some(serde_json::json!({"name": name, "duration_days": 30,
            "traffic_limit_bytes": quota, "device_limit": 3})),
    );
    p["id"].as_i64().expect("plan id")
}

/// A WireGuard device for `user`: (device id, wg-quick config).
pub fn device(node: &Node, user: &str) -> (String, String) {
    let out = node.cli(&[
        "device",
        "add",
        user,
        "--type",
        "laptop",
        "--protocol",
        "wireguard",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    (stderr(&out).trim().to_string(), stdout(&out))
}

pub fn user(node: &Node, name: &str) -> Value {
    api_ok(node, "GET", &format!("/api/v1/users/{name}"), None)
}

/// Polls `what` until it holds or `within` passes; panics with `context()` otherwise.
pub fn eventually(
    within: Duration,
    what: &str,
    context: impl Fn() -> String,
    mut check: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for: {what}\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The server's counters for the peer `public` (rx, tx), as `wg show transfer` has them.
pub fn server_transfer(lab: &Lab, public: &str) -> Option<(u64, u64)> {
    let out = crate::lab::run(
        "ip",
        &[
            "netns",
            "exec",
            &lab.ns_server,
            "wg",
            "show",
            &lab.server_if,
            "transfer",
        ],
    );
    String::from_utf8_lossy(&out.stdout).lines().find_map(|l| {
        let mut f = l.split('\t');
        if f.next()? != public {
            return None;
        }
        Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?))
    })
}

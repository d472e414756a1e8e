//! Fleet helpers: nodes that join a cluster by invite, and the cluster-level reads the
//! fleet tests need.

use std::time::{Duration, Instant};

use super::*;

/// Rate limits off: the fleet tests are about replication, not the API's limits.
pub const NO_LIMITS: [(&str, &str); 2] = [
    ("VPNKEEPER_API__RATE_LIMIT_WRITES_PER_MIN", "0"),
    ("VPNKEEPER_API__RATE_LIMIT_READS_PER_MIN", "0"),
];

/// `invite create` on `node`; the link is the last line of stdout.
pub fn invite(node: &Node) -> String {
    let out = node.cli(&["invite", "create", "--ttl", "15m"]);
    assert!(out.status.success(), "invite create: {}", stderr(&out));
    let text = stdout(&out);
    text.lines().last().expect("a link").trim().to_string()
}

/// `vpnkeeper join` into a fresh directory; the output, and the would-be node.
pub fn try_join(link: &str) -> (Output, Node) {
    let dir = tempfile::tempdir().unwrap();
    let api_port = free_port();
    let raft_port = free_port();
    let data = dir.path().join("data");
    let out = vk(&[
        "join",
        "--data-dir",
        data.to_str().unwrap(),
        "--link",
        link,
        "--api-listen",
        &format!("127.0.0.1:{api_port}"),
        "--raft-listen",
        &format!("127.0.0.1:{raft_port}"),
        "--wg-backend",
        "none",
    ]);
    let token = std::fs::read_to_string(data.join("admin.token"))
        .unwrap_or_default()
        .trim()
        .to_string();
    let node = Node {
        dir,
        api_port,
        raft_port,
        token,
        child: None,
    };
    (out, node)
}

pub fn join(link: &str) -> Node {
    let (out, node) = try_join(link);
    assert!(out.status.success(), "join failed: {}", stderr(&out));
    node
}

/// `node list` lines as (id, name, role, online).
pub fn members(node: &Node) -> Vec<(u64, String, String, String)> {
    let out = node.cli(&["node", "list"]);
    if !out.status.success() {
        return Vec::new();
    }
    stdout(&out)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            Some((
                f.first()?.parse().ok()?,
                f.get(1)?.to_string(),
                f.get(2)?.to_string(),
                f.get(3)?.to_string(),
            ))
        })
        .collect()
}

/// Polls `check` every 200 ms until it holds or `timeout` passes.
pub fn eventually(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Waits until `node` lists `voters` voters (one of them the leader) and `learners`
/// learners, all online.
pub fn wait_members(node: &Node, voters: usize, learners: usize) {
    eventually(
        &format!("{voters} voters and {learners} learners online"),
        Duration::from_secs(30),
        || {
            let m = members(node);
            let count = |roles: &[&str]| m.iter().filter(|x| roles.contains(&x.2.as_str())).count();
            count(&["leader", "follower"]) == voters
                && count(&["learner"]) == learners
                && count(&["leader"]) == 1
                && m.iter().all(|x| x.3 == "online")
        },
    );
}

/// Whether a user named `name` exists on `node`.
pub fn has_user(node: &Node, name: &str) -> bool {
    api_text(node, &format!("/api/v1/users/{name}")).contains(&format!("\"name\":\"{name}\""))
}

/// The id of the leader according to `node`'s `/health`.
pub fn leader_of(node: &Node) -> Option<u64> {
    let body = http_get(&format!("{}/health", node.base())).ok()?;
    let json = body.split_once("\r\n\r\n")?.1;
    let v: serde_json::Value = serde_json::from_str(json.trim()).ok()?;
    find_u64(&v, "leader")
}

fn find_u64(v: &serde_json::Value, key: &str) -> Option<u64> {
    match v {
        serde_json::Value::Object(m) => m
            .get(key)
            .and_then(|x| x.as_u64())
            .or_else(|| m.values().find_map(|x| find_u64(x, key))),
        _ => None,
    }
}

/// Node 1 initialised and running, nodes 2 and 3 joined by invite and running, all voters.
pub fn three_nodes() -> (Node, Node, Node) {
    let mut n1 = Node::init();
    n1.start_env(&NO_LIMITS);
    let mut n2 = join(&invite(&n1));
    n2.start_env(&NO_LIMITS);
    let mut n3 = join(&invite(&n1));
    n3.start_env(&NO_LIMITS);
    wait_members(&n1, 3, 0);
    (n1, n2, n3)
}

/// The names of every user `node` has.
pub fn user_names(node: &Node) -> std::collections::BTreeSet<String> {
    let v = api_get(node, "/api/v1/users?limit=1000");
    v["users"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|u| u["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

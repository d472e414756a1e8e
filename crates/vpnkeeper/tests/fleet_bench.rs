//! Fleet benchmarks on real processes (run explicitly; they print figures and assert only
//! correctness, never timings):
//!
//! `cargo test -p vpnkeeper --test fleet_bench --release -- --ignored --nocapture --test-threads 1`
//!
//! - `failover_20_leader_kills`: a three-node cluster whose bot polls the fake Bot API;
//!   20 times, `kill -9` of the leader, an update sent right after, and the time from the
//!   kill to the bot's reply to it (median, max). The killed node is restarted and the
//!   cluster is whole again before the next kill.
//! - `write_throughput_3_nodes_32_clients`: device issues per second on a three-node
//!   cluster with 32 concurrent clients, and the commit latency (p50/p99) each client saw;
//!   once with every client on the leader, once with clients spread over the three nodes
//!   (followers forward).
//! - `idle_rss_per_node_10k_users`: 10,000 users and 20,000 devices written to a
//!   three-node cluster, every node restarted, then each node's RSS after 5 s idle.
//!
//! Sizes can be changed with FLEET_BENCH_KILLS, FLEET_BENCH_WRITES, FLEET_BENCH_USERS and
//! FLEET_BENCH_DEVICES. The figures are those of the binary cargo built for this profile:
//! use `--release` for numbers worth comparing.

#[path = "common/bot.rs"]
mod bot;
mod common;
#[path = "common/fake_telegram.rs"]
mod fake_telegram;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::fleet::*;
use common::*;
use fake_telegram::{FakeTelegram, TgUser};
use serde_json::json;

const CLIENTS: usize = 32;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn profile() -> &'static str {
    if cfg!(debug_assertions) {
        "debug build"
    } else {
        "release build"
    }
}

/// Node 1 initialised and started with `env`, two more joined by invite and started with
/// the same `env`; all three voters and online.
fn cluster(env: &[(&str, &str)]) -> Vec<Node> {
    let mut n1 = Node::init();
    n1.start_env(env);
    let mut nodes = vec![n1];
    for _ in 0..2 {
        let mut n = join(&invite(&nodes[0]));
        n.start_env(env);
        nodes.push(n);
    }
    wait_members(&nodes[0], 3, 0);
    nodes
}

/// The index in `nodes` of the current leader, as the first answering node sees it.
fn leader_index(nodes: &[Node]) -> usize {
    let mut found = None;
    eventually("a leader", Duration::from_secs(30), || {
        found = nodes
            .iter()
            .filter(|n| n.child.is_some())
            .find_map(leader_of)
            .and_then(|id| nodes.iter().position(|n| node_id(n) == id));
        found.is_some()
    });
    found.unwrap()
}

/// A node's id, from its `vpnkeeper.toml` (`[node] id = N`).
fn node_id(node: &Node) -> u64 {
    let toml = std::fs::read_to_string(node.data_dir().join("vpnkeeper.toml")).unwrap();
    let mut in_node = false;
    for line in toml.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_node = line == "[node]";
        } else if in_node {
            if let Some(v) = line.strip_prefix("id = ") {
                return v.trim().parse().unwrap();
            }
        }
    }
    panic!("no [node] id in {}", node.data_dir().display());
}

#[test]
#[ignore = "benchmark: run with --ignored --nocapture"]
fn failover_20_leader_kills() {
    let kills = env_usize("FLEET_BENCH_KILLS", 20);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let fake = rt.block_on(FakeTelegram::start());
    let mut env: Vec<(String, String)> = fake.env();
    env.push(("VPNKEEPER_TELEGRAM__ACCESS".into(), "open".into()));
    env.extend(
        NO_LIMITS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut nodes = cluster(&pairs);

    let user = TgUser::new(90_001, "Bench", Some("failover"), "en");
    // The first message to the chat sent at or after `since`.
    let reply_after = |since: Instant| {
        let is_reply =
            |c: &fake_telegram::Call| c.method == "sendMessage" && c.chat() == Some(user.id);
        let calls = rt.block_on(
            fake.wait("the bot's reply", Duration::from_secs(60), |calls| {
                calls.iter().any(|c| is_reply(c) && c.at >= since)
            }),
        );
        calls
            .into_iter()
            .find(|c| is_reply(c) && c.at >= since)
            .unwrap()
    };
    let start = Instant::now();
    fake.text(&user, "/start");
    reply_after(start);

    let mut took = Vec::new();
    for round in 0..kills {
        let victim = leader_index(&nodes);
        let victim_id = node_id(&nodes[victim]);
        // Every earlier reply has long reached the fake: a send from now on answers
        // the update below.
        std::thread::sleep(Duration::from_millis(500));
        let killed = Instant::now();
        let killed_wall = std::time::SystemTime::now();
        nodes[victim].kill9();
        fake.text(&user, "/help");
        let t = reply_after(killed).at - killed;
        println!(
            "kill {:>2}: node {victim_id} → reply after {:>6.0} ms",
            round + 1,
            ms(t)
        );
        took.push(t);
        if std::env::var_os("FLEET_BENCH_TRACE").is_some() {
            println!(
                "    killed at {} (compare with the node logs)",
                unix_ms(killed_wall)
            );
            trace_calls(&fake.calls(), killed);
            for n in &nodes {
                for l in n
                    .log()
                    .lines()
                    .rev()
                    .take(400)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                {
                    if ["leads", "lease", "vote", "elect", "Telegram", "leader"]
                        .iter()
                        .any(|k| l.contains(k))
                    {
                        println!("    {}", &l[..l.len().min(200)]);
                    }
                }
            }
        }
        nodes[victim].start_env(&pairs);
        wait_members(&nodes[0], 3, 0);
    }
    let sends = fake
        .calls_to(user.id)
        .iter()
        .filter(|c| c.method == "sendMessage")
        .count();
    println!(
        "{} updates, {sends} replies (more replies = re-sent after a kill)",
        kills + 1
    );
    took.sort();
    println!(
        "failover ({}), 3 nodes, {kills} leader kills: kill -9 → bot reply  median {:.0} ms  max {:.0} ms  (fake Bot API conflicts: {})",
        profile(),
        ms(percentile(&took, 0.5)),
        ms(percentile(&took, 1.0)),
        fake.conflicts(),
    );
    assert_eq!(
        fake.conflicts(),
        0,
        "overlapping getUpdates across failovers"
    );
}

fn unix_ms(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap();
    format!("{}.{:03} (unix)", d.as_secs(), d.subsec_millis())
}

/// Where a failover's time goes, as the Bot API saw it: each call after the kill, with the
/// node it came through and its offset (`FLEET_BENCH_TRACE=1`).
fn trace_calls(calls: &[fake_telegram::Call], killed: Instant) {
    for c in calls.iter().filter(|c| c.at >= killed) {
        println!(
            "    +{:>5.0} ms  {:<16} via {:<8} status {}",
            ms(c.at - killed),
            c.method,
            c.via.as_deref().unwrap_or("-"),
            c.status
        );
    }
}

struct Target {
    base: String,
    token: String,
}

fn targets(nodes: &[&Node]) -> Arc<Vec<Target>> {
    Arc::new(
        nodes
            .iter()
            .map(|n| Target {
                base: n.base(),
                token: n.token.clone(),
            })
            .collect(),
    )
}

/// POSTs `make(i)` to `path` for i in `0..total` from [`CLIENTS`] tasks, client c on
/// `targets[c % len]`; every answer must be 201. Per-request latencies (sorted) and wall time.
async fn load(
    targets: Arc<Vec<Target>>,
    path: &'static str,
    total: usize,
    make: fn(usize) -> serde_json::Value,
) -> (Vec<Duration>, Duration) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let (client, next, targets) = (client.clone(), next.clone(), targets.clone());
        tasks.push(tokio::spawn(async move {
            let t = &targets[c % targets.len()];
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return lat;
                }
                let sent = Instant::now();
                let r = client
                    .post(format!("{}{path}", t.base))
                    .bearer_auth(&t.token)
                    .json(&make(i))
                    .send()
                    .await
                    .expect("request");
                let status = r.status().as_u16();
                let body = r.text().await.unwrap_or_default();
                assert_eq!(status, 201, "POST {path} #{i}: {body}");
                lat.push(sent.elapsed());
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let wall = started.elapsed();
    all.sort();
    (all, wall)
}

fn report(label: &str, lat: &[Duration], wall: Duration) {
    println!(
        "{label:<44} {:>6} in {:>6.2} s = {:>6.0}/s   p50 {:>6.2} ms   p99 {:>7.2} ms   max {:>7.2} ms",
        lat.len(),
        wall.as_secs_f64(),
        lat.len() as f64 / wall.as_secs_f64(),
        ms(percentile(lat, 0.50)),
        ms(percentile(lat, 0.99)),
        ms(percentile(lat, 1.0)),
    );
}

/// Rate limits off and a /16 address pool, so 20,000 devices fit and the limits are not
/// what is measured.
const BENCH_ENV: [(&str, &str); 5] = [
    NO_LIMITS[0],
    NO_LIMITS[1],
    ("VPNKEEPER_API__RATE_LIMIT_KEY_CREATE_PER_MIN", "0"),
    ("VPNKEEPER_WIREGUARD__ADDRESS_POOL", "10.64.0.0/16"),
    ("VPNKEEPER_LOG__LEVEL", "warn"),
];

fn user_body(i: usize) -> serde_json::Value {
    json!({ "name": format!("u{i}") })
}

/// Device i of user `u{i % CLIENTS}` (so the first CLIENTS users must exist).
fn device_body(i: usize) -> serde_json::Value {
    json!({ "user": format!("u{}", i % CLIENTS), "type": "phone", "name": format!("d{i}") })
}

/// Device i of user `u{i / 2}`: two devices per user.
fn two_per_user(i: usize) -> serde_json::Value {
    json!({ "user": format!("u{}", i / 2), "type": "laptop", "name": format!("l{i}") })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --ignored --nocapture"]
async fn write_throughput_3_nodes_32_clients() {
    let writes = env_usize("FLEET_BENCH_WRITES", 4_000);
    let nodes = tokio::task::spawn_blocking(|| cluster(&BENCH_ENV))
        .await
        .unwrap();
    let leader = leader_index(&nodes);
    let on_leader = targets(&[&nodes[leader]]);
    load(on_leader.clone(), "/api/v1/users", CLIENTS, user_body).await;
    println!(
        "3-node cluster ({}), fsync on, loopback, {CLIENTS} clients:",
        profile()
    );
    let (lat, wall) = load(on_leader, "/api/v1/devices", writes, device_body).await;
    report("device issues, all clients on the leader", &lat, wall);
    let spread = targets(&nodes.iter().collect::<Vec<_>>());
    let (lat, wall) = load(spread, "/api/v1/devices", writes, |i| {
        json!({ "user": format!("u{}", i % CLIENTS), "type": "laptop", "name": format!("s{i}") })
    })
    .await;
    report("device issues, clients spread over 3 nodes", &lat, wall);
    drop(nodes);
}

/// VmRSS of a running node, in MiB.
fn rss_mib(node: &Node) -> f64 {
    let pid = node.child.as_ref().expect("node running").id();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS");
    kib / 1024.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --ignored --nocapture"]
async fn idle_rss_per_node_10k_users() {
    let users = env_usize("FLEET_BENCH_USERS", 10_000);
    let devices = env_usize("FLEET_BENCH_DEVICES", 20_000).min(users * 2);
    let nodes = tokio::task::spawn_blocking(|| cluster(&BENCH_ENV))
        .await
        .unwrap();
    let leader = targets(&[&nodes[leader_index(&nodes)]]);
    let t = Instant::now();
    load(leader.clone(), "/api/v1/users", users, user_body).await;
    load(leader, "/api/v1/devices", devices, two_per_user).await;
    println!(
        "loaded {users} users and {devices} devices in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let mut nodes = tokio::task::spawn_blocking(move || {
        let mut nodes = nodes;
        // Every node replicated everything before the restart.
        for n in &nodes {
            eventually("the load on every node", Duration::from_secs(120), || {
                let s = api_get(n, "/api/v1/status");
                s["counts"]["users"].as_u64() == Some(users as u64)
            });
        }
        for n in nodes.iter_mut() {
            n.terminate();
        }
        // Together: one node alone has no quorum and would never report a leader.
        std::thread::scope(|s| {
            for n in nodes.iter_mut() {
                s.spawn(move || n.start_env(&BENCH_ENV));
            }
        });
        wait_members(&nodes[0], 3, 0);
        nodes
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await;
    for n in nodes.iter_mut() {
        let s = api_get(n, "/api/v1/status");
        println!(
            "node {} ({}) idle RSS after restart with {} users / {} active devices: {:.1} MB",
            node_id(n),
            s["raft"]["role"].as_str().unwrap_or("?"),
            s["counts"]["users"],
            s["counts"]["devices_active"],
            rss_mib(n),
        );
    }
}

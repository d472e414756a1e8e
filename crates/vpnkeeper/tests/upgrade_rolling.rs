//! A rolling upgrade of a three-node cluster with two real builds: today's binary and the
//! `upgrade-next` build (the next log format, with one no-op command, `POST /api/v1/upgrade-probe`).
//! Nodes are upgraded one at a time while writes keep flowing; the new command is refused
//! (409 `version_gate`, naming the old node) while any node runs the old build, and applied
//! on every node once the last one is upgraded. The old build then refuses to start on an
//! upgraded data dir.
//!
//! The second build is made by `.ci/run` before the tests (a test cannot run cargo: the
//! running `cargo test` holds the build lock):
//!   cargo build -p vpnkeeper --bin vpnkeeper --features upgrade-next --profile upgrade-next
//! `VPNKEEPER_NEXT_BIN` points to it elsewhere.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::fleet::*;
use common::{wait_healthy, Node, BIN};
use serde_json::{json, Value};
use vpnkeeper_domain::version::FORMAT_VERSION;

/// The format today's build (this test's) runs; the `upgrade-next` build runs the next one.
const TODAY: u32 = FORMAT_VERSION;
const NEXT: u32 = FORMAT_VERSION + 1;

fn next_bin() -> PathBuf {
    if let Ok(p) = std::env::var("VPNKEEPER_NEXT_BIN") {
        return PathBuf::from(p);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = std::env::var("CARGO_TARGET_DIR").map_or(root.join("target"), PathBuf::from);
    let bin = target.join("upgrade-next/vpnkeeper");
    assert!(
        bin.exists(),
        "{} is missing: build it first with `cargo build -p vpnkeeper --bin vpnkeeper \
         --features upgrade-next --profile upgrade-next` (.ci/run does)",
        bin.display()
    );
    bin
}

/// Stops `node` (SIGTERM) and starts it again from `bin` on the same data dir.
fn restart_with(node: &mut Node, bin: &PathBuf) {
    let status = node.terminate();
    assert!(status.success(), "node exited with {status}");
    let log = std::fs::File::create(node.dir.path().join("node.log")).unwrap();
    let mut cmd = Command::new(bin);
    cmd.args(["run", "--data-dir", &node.data()]);
    for (k, _) in std::env::vars() {
        if k.starts_with("VPNKEEPER_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(NO_LIMITS.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log));
    node.child = Some(cmd.spawn().expect("spawn the next build"));
    wait_healthy(&node.base(), Duration::from_secs(30), node.dir.path());
}

struct Target {
    base: String,
    token: String,
}

/// Creates users `u-0, u-1, …` until `stop`, each sent to the next node and retried on the
/// others until one acknowledges it (201, or 409: an earlier attempt committed). Returns
/// the acknowledged names; `acked` counts them as they come.
async fn writer(
    targets: Arc<Vec<Target>>,
    acked: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> BTreeSet<String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let names = Arc::new(Mutex::new(BTreeSet::new()));
    let mut i = 0usize;
    while !stop.load(Ordering::SeqCst) {
        let name = format!("u-{i}");
        let mut done = false;
        for attempt in 0..300 {
            let t = &targets[(i + attempt) % targets.len()];
            let resp = client
                .post(format!("{}/api/v1/users", t.base))
                .bearer_auth(&t.token)
                .json(&json!({ "name": name }))
                .send()
                .await;
            match resp.map(|r| r.status().as_u16()) {
                Ok(201) => {
                    names.lock().unwrap().insert(name.clone());
                    acked.fetch_add(1, Ordering::SeqCst);
                    done = true;
                    break;
                }
                Ok(409) => {
                    done = true;
                    break;
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        assert!(done, "no node acknowledged {name} in 300 attempts");
        i += 1;
    }
    Arc::try_unwrap(names).unwrap().into_inner().unwrap()
}

/// POST the probe to `node`: (status, body).
fn probe(node: &Node) -> (u16, Value) {
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", "-X", "POST"])
        .args(["-H", &format!("Authorization: Bearer {}", node.token)])
        .args(["-H", "Content-Type: application/json"])
        .args(["--data", r#"{"note":"rolling"}"#])
        .arg(format!("{}/api/v1/upgrade-probe", node.base()))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').expect("a status line");
    (
        code.trim().parse().unwrap_or(0),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

/// The formats `/api/v1/nodes` reports for members 1, 2, 3 (as the leader sees them).
fn formats(node: &Node) -> Vec<Option<u64>> {
    let v = common::api_get(node, "/api/v1/nodes");
    let members = v["members"].as_array().cloned().unwrap_or_default();
    (1..=3)
        .map(|id| {
            members
                .iter()
                .find(|m| m["id"] == id)
                .and_then(|m| m["format"].as_u64())
        })
        .collect()
}

/// Waits until `acked` grows by `n` from now: the cluster serves writes in this phase.
fn writes_continue(acked: &AtomicUsize, n: usize, phase: &str) {
    let from = acked.load(Ordering::SeqCst);
    eventually(
        &format!("{n} more writes {phase}"),
        Duration::from_secs(30),
        || acked.load(Ordering::SeqCst) >= from + n,
    );
}

fn upgrade_all(nodes: &mut [Node; 3], next: &PathBuf, acked: &AtomicUsize) {
    // Followers first, the leader (node 1) last, as an operator would.
    for (step, idx) in [2usize, 1, 0].into_iter().enumerate() {
        restart_with(&mut nodes[idx], next);
        writes_continue(acked, 20, &format!("after upgrading node {}", idx + 1));
        if step < 2 {
            // The upgraded node proposes the new command: refused, naming an old node.
            let (code, body) = probe(&nodes[idx]);
            assert_eq!(code, 409, "probe on node {}: {body}", idx + 1);
            assert_eq!(body["error"]["code"], "version_gate", "{body}");
            let msg = body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let needs = format!("needs every node at format >= {NEXT}");
            let runs = format!("runs format {TODAY}");
            assert!(msg.contains(&needs) && msg.contains(&runs), "{msg}");
            assert!(!msg.contains('\n'), "one line: {msg}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_upgrade_keeps_serving_and_gates_the_new_command() {
    let next = next_bin();
    let (n1, n2, n3) = tokio::task::spawn_blocking(three_nodes).await.unwrap();
    let mut nodes = [n1, n2, n3];
    // Today's build advertises its format for every member.
    let today = Some(TODAY as u64);
    assert_eq!(formats(&nodes[0]), vec![today, today, today]);

    let targets: Arc<Vec<Target>> = Arc::new(
        nodes
            .iter()
            .map(|n| Target {
                base: n.base(),
                token: n.token.clone(),
            })
            .collect(),
    );
    let acked = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writes = tokio::spawn(writer(targets, acked.clone(), stop.clone()));

    let (nodes, acked, code, body) = tokio::task::spawn_blocking(move || {
        writes_continue(&acked, 20, "before the upgrade");
        upgrade_all(&mut nodes, &next, &acked);
        // Every member now advertises the next format (the leader's view, once it heard
        // them all).
        let next = Some(NEXT as u64);
        eventually(
            "all members at the next format",
            Duration::from_secs(20),
            || formats(&nodes[0]) == vec![next, next, next],
        );
        let (code, body) = probe(&nodes[1]);
        (nodes, acked, code, body)
    })
    .await
    .unwrap();
    assert_eq!(code, 200, "probe once every node is upgraded: {body}");
    stop.store(true, Ordering::SeqCst);
    let acked_names = writes.await.unwrap();
    assert!(acked.load(Ordering::SeqCst) >= 80);

    tokio::task::spawn_blocking(move || {
        let mut nodes = nodes;
        for node in &nodes {
            eventually(
                "the probe applied on every node",
                Duration::from_secs(20),
                || {
                    common::api_text(node, "/api/v1/audit?action=cluster.upgrade_probe")
                        .contains("cluster.upgrade_probe")
                },
            );
            eventually(
                "every acknowledged write on every node",
                Duration::from_secs(30),
                || user_names_all(node).is_superset(&acked_names),
            );
        }
        // A downgrade is refused before any migration touches the data dir.
        nodes[2].terminate();
        let err = old_build_refuses(&nodes[2]);
        assert!(err.contains("was last run by release"), "{err}");
        assert!(err.contains("+upgrade-next"), "{err}");
    })
    .await
    .unwrap();
}

/// Every user name on `node`, through as many pages as it takes.
fn user_names_all(node: &Node) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut offset = 0;
    loop {
        let v = common::api_get(node, &format!("/api/v1/users?limit=1000&offset={offset}"));
        let page = v["users"].as_array().cloned().unwrap_or_default();
        names.extend(
            page.iter()
                .filter_map(|u| u["name"].as_str().map(str::to_string)),
        );
        if page.len() < 1000 {
            return names;
        }
        offset += 1000;
    }
}

/// Runs today's build on `node`'s data dir, which must exit at once with an error; its
/// stderr. Killed (and the test failed) if it is still running after 20 s.
fn old_build_refuses(node: &Node) -> String {
    let err_path = node.dir.path().join("downgrade.err");
    let mut child = Command::new(BIN)
        .args(["run", "--data-dir", &node.data()])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("the old build is running on an upgraded data dir");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        !status.success(),
        "the old build exited 0 on an upgraded data dir"
    );
    std::fs::read_to_string(err_path).unwrap()
}

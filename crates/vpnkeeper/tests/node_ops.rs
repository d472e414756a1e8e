//! Node operations (issue #14) on two real nodes on loopback: the speed test over the node
//! RPC (both ways, one at a time, plus the optional HTTP download), and a reboot from the bot
//! that runs the *target* node's `node.reboot_command` (a script writing a file) only after
//! the admin's confirmation, never on cancel or on a forged, replayed or hand-made one.

#[path = "common/bot.rs"]
mod bot;
mod common;
#[path = "common/fake_telegram.rs"]
mod fake_telegram;

use std::path::{Path, PathBuf};
use std::time::Duration;

use bot::{BotNode, WAIT};
use common::fleet::{eventually, invite, join, wait_members, NO_LIMITS};
use common::Node;
use fake_telegram::{Call, TgUser};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ADMIN: i64 = 1001;

/// Starts node 2 joined to `first` with `env`, and waits until both are voters and node 2
/// registered itself.
fn join_second(first: &Node, env: &[(&str, &str)]) -> Node {
    let mut n2 = join(&invite(first));
    let mut all: Vec<(&str, &str)> = NO_LIMITS.to_vec();
    all.extend_from_slice(env);
    n2.start_env(&all);
    wait_members(first, 2, 0);
    eventually("node 2 registered", Duration::from_secs(30), || {
        common::api_text(first, "/api/v1/nodes/2").contains("\"id\":2")
    });
    n2
}

async fn post(node: &Node, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{}{path}", node.base()))
        .bearer_auth(&node.token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// An HTTP server on loopback that answers every GET with `size` bytes: the operator's
/// `node.speedtest_url` in the test.
async fn serve_download(size: usize) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let _ = s.read(&mut buf).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
                );
                let _ = s.write_all(head.as_bytes()).await;
                let chunk = vec![7u8; 64 * 1024];
                let mut left = size;
                while left > 0 {
                    let n = left.min(chunk.len());
                    if s.write_all(&chunk[..n]).await.is_err() {
                        return;
                    }
                    left -= n;
                }
            });
        }
    });
    format!("http://{addr}/big.bin")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_speed_test_between_two_nodes_measures_both_ways_one_at_a_time() {
    let url = serve_download(64 * 1024 * 1024).await;
    let (n1, n2) = tokio::task::spawn_blocking(move || {
        let mut n1 = Node::init();
        n1.start_env(&NO_LIMITS);
        let n2 = join_second(&n1, &[("VPNKEEPER_NODE__SPEEDTEST_URL", &url)]);
        (n1, n2)
    })
    .await
    .unwrap();

    let (status, _) = reqwest::Client::new()
        .get(format!("{}/api/v1/nodes/2/speedtest", n1.base()))
        .bearer_auth(&n1.token)
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(status, 404, "no test has run yet");

    let (base, token) = (n1.base(), n1.token.clone());
    let first = tokio::spawn(async move {
        let r = reqwest::Client::new()
            .post(format!("{base}/api/v1/nodes/2/speedtest"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    });
    // While it runs, a second test of the same node is refused, from either node.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (status, body) = post(&n1, "/api/v1/nodes/2/speedtest", None).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "speedtest_running", "{body}");
    let (status, body) = post(&n2, "/api/v1/nodes/2/speedtest", None).await;
    assert_eq!(status, 400, "a node does not test itself: {body}");

    let (status, result) = first.await.unwrap();
    assert_eq!(status, 200, "{result}");
    for key in ["down_mbps", "up_mbps", "rtt_ms"] {
        let v = result[key].as_f64().unwrap_or(0.0);
        assert!(v > 0.0, "{key} = {v}: {result}");
    }
    assert_eq!(result["node_id"], 2);
    assert_eq!(result["from_node_id"], 1);
    // Node 2's own speedtest_url was downloaded from.
    assert!(
        result["http"]["bytes"].as_u64().unwrap_or(0) > 0,
        "{result}"
    );
    assert!(
        result["http"]["mbps"].as_f64().unwrap_or(0.0) > 0.0,
        "{result}"
    );

    // The result is kept, and the lease is free again: node 2 can test node 1 now.
    let last = common::api_get(&n1, "/api/v1/nodes/2/speedtest");
    assert_eq!(last["at_ms"], result["at_ms"]);
    let (status, back) = post(&n2, "/api/v1/nodes/1/speedtest", None).await;
    assert_eq!(status, 200, "{back}");
    assert!(back["down_mbps"].as_f64().unwrap() > 0.0, "{back}");
    assert!(back["up_mbps"].as_f64().unwrap() > 0.0, "{back}");
    // Node 1 has no speedtest_url: nothing else was contacted.
    assert!(back["http"].is_null(), "{back}");
    drain_steers_new_devices(&n1).await;
    drop((n1, n2));
}

/// `node drain` (CLI): new devices avoid the draining node; with every node draining the
/// API says so (409); `node undrain` takes new devices again. Both are audited.
async fn drain_steers_new_devices(n1: &Node) {
    let cli = |args: &[&str]| {
        let out = tokio::task::block_in_place(|| n1.cli(args));
        assert!(out.status.success(), "{args:?}: {}", common::stderr(&out));
    };
    let (status, body) = post(
        n1,
        "/api/v1/users",
        Some(serde_json::json!({"name": "drainer"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let issue = |name: &str| {
        let body = serde_json::json!({"user": "drainer", "type": "phone", "name": name});
        post(n1, "/api/v1/devices", Some(body))
    };
    cli(&["node", "drain", "1"]);
    for name in ["p1", "p2", "p3"] {
        let (status, body) = issue(name).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["node_id"], 2, "node 1 is draining: {body}");
    }
    cli(&["node", "drain", "2"]);
    let (status, body) = issue("p4").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "no_capacity", "{body}");
    cli(&["node", "undrain", "1"]);
    let (status, body) = issue("p4").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["node_id"], 1, "{body}");
    let audit = common::api_get(n1, "/api/v1/audit?limit=1000").to_string();
    for action in ["node.drain", "node.undrain"] {
        assert!(audit.contains(action), "{action} not audited: {audit}");
    }
}

/// The "reboot": a script that appends a line to the file it is given.
fn reboot_command(dir: &Path, marker: &str) -> (String, PathBuf) {
    let script = dir.join("reboot.sh");
    std::fs::write(&script, "#!/bin/sh\necho rebooted >> \"$1\"\n").unwrap();
    let marker = dir.join(marker);
    let command = format!("sh {} {}", script.display(), marker.display());
    (command, marker)
}

fn lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

fn yes_button(c: &Call, node: u64) -> String {
    let prefix = format!("rby:{node}:");
    c.buttons()
        .into_iter()
        .find(|d| d.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no confirm button with a nonce: {:?}", c.buttons()))
}

/// The alert text a button press got.
async fn alert_text(b: &BotNode, admin: &TgUser, on: &Call, data: &str) -> String {
    let update = b.press(admin, on, data).await;
    let answer = b.answer_of(update).expect("answered");
    answer.params["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// The alert of a refused reboot confirmation. The refusal shows the node card again after
/// the alert: this waits for it, so the next press does not take it for its own screen.
async fn refusal_text(b: &BotNode, admin: &TgUser, on: &Call, data: &str) -> String {
    let before = b.fake.calls_to(admin.id).len();
    let text = alert_text(b, admin, on, data).await;
    b.fake
        .wait("the node card after the refusal", WAIT, |calls| {
            calls
                .iter()
                .filter(|c| c.chat() == Some(admin.id))
                .skip(before)
                .any(|c| {
                    c.method == "editMessageText"
                        && c.buttons().iter().any(|d| d.starts_with("rb:"))
                })
        })
        .await;
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reboot_runs_only_on_the_target_after_confirmation_and_the_bot_says_when_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let (cmd1, marker1) = reboot_command(dir.path(), "node1-rebooted");
    let (cmd2, marker2) = reboot_command(dir.path(), "node2-rebooted");
    let mut env = vec![
        ("VPNKEEPER_TELEGRAM__ACCESS", "allowlist"),
        ("VPNKEEPER_TELEGRAM__ADMIN_IDS", "1001"),
        ("VPNKEEPER_NODE__REBOOT_COMMAND", cmd1.as_str()),
    ];
    env.extend(NO_LIMITS);
    let b = BotNode::start_with_real_ops(&env).await;
    let n2_env = [("VPNKEEPER_NODE__REBOOT_COMMAND", cmd2.as_str())];
    let mut n2 = tokio::task::block_in_place(|| join_second(&b.node, &n2_env));
    let admin = TgUser::new(ADMIN, "Root", Some("root"), "en");

    let panel = b.say(&admin, "/admin").await;
    b.press_screen(&admin, &panel, "ao").await;
    let card = b.press_screen(&admin, &panel, "ok:2").await;
    assert!(
        card.buttons().contains(&"rb:2".to_string()),
        "{:?}",
        card.buttons()
    );
    assert!(
        card.buttons().contains(&"st:2".to_string()),
        "{:?}",
        card.buttons()
    );

    // Cancel does nothing, and spends the confirmation it was shown with.
    let confirm = b.press_screen(&admin, &panel, "rb:2").await;
    let cancelled_yes = yes_button(&confirm, 2);
    b.press_screen(&admin, &panel, "rbn:2").await;
    let text = refusal_text(&b, &admin, &panel, &cancelled_yes).await;
    assert!(text.contains("expired or was already used"), "{text}");
    // Hand-made or guessed confirmations do nothing and say so.
    // A malformed one is "not valid"; a well-formed nonce never issued is indistinguishable
    // from one that expired and was forgotten: either way nothing runs and the admin is told.
    let text = refusal_text(&b, &admin, &panel, "rby:2").await;
    assert!(text.contains("not valid"), "rby:2: {text}");
    let text = refusal_text(&b, &admin, &panel, "rby:2:AAAAAAAAAAAAAAAAAAAAAA").await;
    assert!(
        text.contains("not valid") || text.contains("nothing was done"),
        "guessed nonce: {text}"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!((lines(&marker1), lines(&marker2)), (0, 0), "nothing ran");

    // Confirmed: node 2 runs its own command, node 1 nothing; audited as the admin's.
    let confirm = b.press_screen(&admin, &panel, "rb:2").await;
    let yes = yes_button(&confirm, 2);
    let requested = b.press_screen(&admin, &panel, &yes).await;
    assert!(
        requested.text().contains("requested"),
        "{}",
        requested.text()
    );
    b.fake
        .wait("reboot result", WAIT, |calls| {
            calls
                .iter()
                .any(|c| c.chat() == Some(ADMIN) && c.text().contains("is rebooting"))
        })
        .await;
    assert_eq!(lines(&marker2), 1, "the target ran its reboot command once");
    assert_eq!(lines(&marker1), 0, "the leader did not run its own");
    let audit = b.audit().await;
    assert!(
        audit.iter().any(|e| e["action"] == "node.reboot"
            && e["actor"] == format!("tg:{ADMIN}")
            && e.to_string().contains("node:2")),
        "{audit:?}"
    );
    // The same confirmation again: spent.
    let text = refusal_text(&b, &admin, &panel, &yes).await;
    assert!(text.contains("expired or was already used"), "{text}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(lines(&marker2), 1, "a replay ran nothing");

    // The machine going down and up: the node process restarts, and the admin is told.
    tokio::task::block_in_place(|| {
        n2.kill9();
        let mut all: Vec<(&str, &str)> = NO_LIMITS.to_vec();
        all.extend_from_slice(&n2_env);
        n2.start_env(&all);
    });
    b.fake
        .wait("back online", Duration::from_secs(60), |calls| {
            calls
                .iter()
                .any(|c| c.chat() == Some(ADMIN) && c.text().contains("is back online"))
        })
        .await;

    // The speed test button: the result comes as a message and stays on the card.
    let text = alert_text(&b, &admin, &panel, "st:2").await;
    assert!(text.contains("Speed test started"), "{text}");
    b.fake
        .wait("speed test result", Duration::from_secs(60), |calls| {
            calls.iter().any(|c| {
                c.chat() == Some(ADMIN)
                    && c.text().contains("Speed test of")
                    && c.text().contains("Mbit/s")
            })
        })
        .await;
    let card = b.press_screen(&admin, &panel, "ok:2").await;
    assert!(card.text().contains("Mbit/s"), "{}", card.text());
    assert_eq!(lines(&marker1), 0);
    drop(n2);
}

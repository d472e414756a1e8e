//! Telemetry across a real three-node fleet (issue #14): the leader reads another node's
//! values over the authenticated node RPC (API and bot), and once that node is killed the
//! API answers 503 and the bot shows when it was last seen instead of a chart.

mod common;
#[path = "common/fake_telegram.rs"]
mod fake_telegram;
#[path = "common/fleet_bot.rs"]
mod fleet_bot;

use std::time::{Duration, Instant};

use fake_telegram::{Call, TgUser};
use fleet_bot::{BotFleet, ADMIN};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

async fn get(f: &BotFleet, node: u64, path: &str) -> (u16, Value) {
    let n = f.node(node);
    let r = reqwest::Client::new()
        .get(format!("{}{path}", n.base()))
        .bearer_auth(&n.token)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The `n`-th message of `methods` the leader (node 1) sent to the admin after `skip` calls.
async fn next_to_admin(f: &BotFleet, methods: &[&str], skip: usize) -> Call {
    let pick = |calls: &[Call]| -> Option<Call> {
        calls
            .iter()
            .filter(|c| c.chat() == Some(ADMIN))
            .skip(skip)
            .find(|c| methods.contains(&c.method.as_str()))
            .cloned()
    };
    let calls = f
        .fake
        .wait(&format!("{methods:?} to the admin"), WAIT, |c| {
            pick(c).is_some()
        })
        .await;
    pick(&calls).unwrap()
}

fn admin_calls(f: &BotFleet) -> usize {
    f.fake.calls_to(ADMIN).len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn another_nodes_metrics_over_the_rpc_and_last_seen_once_it_is_gone() {
    let mut f = BotFleet::start().await;
    let admin = TgUser::new(ADMIN, "Root", Some("root"), "en");

    // Node 1 (the leader) reads node 3's current values: node 3 answers over the node RPC.
    let deadline = Instant::now() + WAIT;
    loop {
        let (s, v) = get(&f, 1, "/api/v1/nodes/3/metrics?range=1h").await;
        if s == 200 && v["current"].is_object() {
            assert_eq!(v["node_id"], 3);
            assert!(v["current"]["mem_total_bytes"].as_u64().unwrap() > 0);
            break;
        }
        assert!(Instant::now() < deadline, "no metrics of node 3: {s} {v}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // The bot, on the leader: node 3's card and its chart photo.
    let skip = admin_calls(&f);
    f.fake.text(&admin, "/admin");
    let panel = next_to_admin(&f, &["sendMessage"], skip).await;
    let skip = admin_calls(&f);
    f.fake.press(&admin, panel.message_id.unwrap(), "ok:3");
    let photo = next_to_admin(&f, &["sendPhoto"], skip).await;
    assert_eq!(photo.via.as_deref(), Some("n1"), "the leader's bot sent it");
    assert!(photo.file("photo").is_some());
    assert!(photo.buttons().contains(&"nc:3:24".to_string()));

    // Node 3 dies: the API says it does not answer; the bot shows last seen, no chart.
    f.kill9(3);
    let (s, v) = get(&f, 1, "/api/v1/nodes/3/metrics").await;
    assert_eq!(s, 503, "{v}");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("node 3"),
        "{v}"
    );
    let skip = admin_calls(&f);
    f.fake.press(&admin, panel.message_id.unwrap(), "ok:3");
    let card = next_to_admin(&f, &["editMessageText", "sendMessage"], skip).await;
    assert!(card.text().contains("Last seen"), "{}", card.text());
    let offline = f
        .fake
        .wait("the offline notice", WAIT, |calls| {
            calls.iter().skip(skip).any(|c| {
                c.chat() == Some(ADMIN)
                    && c.method == "sendMessage"
                    && c.text().contains("does not answer")
            })
        })
        .await;
    let text = offline
        .iter()
        .skip(skip)
        .find(|c| c.text().contains("does not answer"))
        .unwrap()
        .text();
    assert!(text.contains("Last seen") && text.contains("UTC"), "{text}");
    let photos_after = f
        .fake
        .calls_to(ADMIN)
        .iter()
        .skip(skip)
        .filter(|c| c.method == "sendPhoto")
        .count();
    assert_eq!(photos_after, 0, "no chart for an offline node");
}

//! The bot under crashes and a misbehaving Bot API: `kill -9` with updates in flight,
//! forged redelivery, 5xx and dropped connections, flood control, SIGTERM, no token.

#[path = "common/bot.rs"]
mod bot;
mod common;
#[path = "common/fake_telegram.rs"]
mod fake_telegram;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bot::{BotNode, WAIT};
use fake_telegram::{Failure, TgUser, TOKEN};

fn user(i: i64) -> TgUser {
    TgUser::new(
        50_000 + i,
        &format!("User{i}"),
        Some(&format!("user{i}")),
        "en",
    )
}

async fn open_node() -> BotNode {
    BotNode::start(&[("VPNKEEPER_TELEGRAM__ACCESS", "open")]).await
}

/// Counts of each method per chat.
fn per_chat(b: &BotNode, method: &str) -> BTreeMap<i64, usize> {
    let mut m = BTreeMap::new();
    for c in b.fake.calls() {
        if c.method == method {
            if let Some(chat) = c.chat() {
                *m.entry(chat).or_insert(0) += 1;
            }
        }
    }
    m
}

/// `device.issue` audit rows per Telegram actor.
async fn issues_by_actor(b: &BotNode) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for e in b.audit().await {
        if e["action"] == "device.issue" {
            *m.entry(e["actor"].as_str().unwrap().to_string())
                .or_insert(0) += 1;
        }
    }
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill9_between_receiving_and_replying_then_restart_replies_exactly_once() {
    let mut b = open_node().await;
    // Replies vanish on the way (never reach "Telegram") while the updates are handled.
    b.fake.hold_sends(true);
    let starters: Vec<TgUser> = (0..10).map(user).collect();
    let phones: Vec<TgUser> = (10..20).map(user).collect();
    let mut ids = Vec::new();
    for u in &starters {
        ids.push(b.fake.text(u, "/start"));
    }
    for u in &phones {
        ids.push(b.fake.press(u, 1, "d:phone"));
    }
    // Every update delivered, and the bot asked for the next batch: all are committed.
    let deadline = Instant::now() + WAIT;
    let last = *ids.last().unwrap();
    while b.fake.confirmed_offset() <= last {
        assert!(Instant::now() < deadline, "updates never confirmed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    b.kill9();
    assert!(b.fake.calls().is_empty(), "nothing got through while held");
    b.fake.hold_sends(false);
    b.restart().await;

    b.fake
        .wait("every update answered", Duration::from_secs(30), |_| {
            let msgs = per_chat(&b, "sendMessage");
            let docs = per_chat(&b, "sendDocument");
            starters.iter().all(|u| msgs.get(&u.id) == Some(&1))
                && phones.iter().all(|u| docs.get(&u.id) == Some(&1))
        })
        .await;
    // Nothing more trickles in later, and each phone was issued once.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let msgs = per_chat(&b, "sendMessage");
    let docs = per_chat(&b, "sendDocument");
    let photos = per_chat(&b, "sendPhoto");
    for u in &starters {
        assert_eq!(msgs.get(&u.id), Some(&1), "menu to {}", u.id);
    }
    for u in &phones {
        assert_eq!(docs.get(&u.id), Some(&1), "config to {}", u.id);
        assert_eq!(photos.get(&u.id), Some(&1), "QR to {}", u.id);
    }
    let answers = b
        .fake
        .calls()
        .iter()
        .filter(|c| c.method == "answerCallbackQuery")
        .count();
    assert_eq!(answers, phones.len());
    let issued = issues_by_actor(&b).await;
    for u in &phones {
        assert_eq!(issued.get(&format!("tg:{}", u.id)), Some(&1), "{issued:?}");
    }

    // Telegram (or a forger) delivers every update again: nothing is applied or sent twice.
    let calls_before = b.fake.calls().len();
    b.fake.redeliver(&ids);
    let deadline = Instant::now() + WAIT;
    while b
        .fake
        .polls()
        .iter()
        .filter(|p| p.2.contains(&ids[0]))
        .count()
        < 2
    {
        assert!(Instant::now() < deadline, "redelivery never polled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        b.fake.calls().len(),
        calls_before,
        "a redelivered update was answered"
    );
    assert_eq!(issues_by_actor(&b).await, issued);
    b.assert_one_poller();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill9_during_a_burst_loses_no_update() {
    // Kill at an arbitrary moment of a burst, with replies held so that no reply can be in
    // the unavoidable window between Telegram accepting it and the node recording that.
    let mut b = open_node().await;
    b.fake.hold_sends(true);
    let users: Vec<TgUser> = (100..160).map(user).collect();
    for u in &users {
        b.fake.text(u, "/help");
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    b.kill9();
    b.fake.hold_sends(false);
    b.restart().await;
    b.fake
        .wait("every /help answered", Duration::from_secs(30), |_| {
            let msgs = per_chat(&b, "sendMessage");
            users.iter().all(|u| msgs.contains_key(&u.id))
        })
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let msgs = per_chat(&b, "sendMessage");
    for u in &users {
        assert_eq!(msgs.get(&u.id), Some(&1), "user {}", u.id);
    }
    b.assert_one_poller();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn outage_of_5xx_and_dropped_connections_backs_off_then_recovers() {
    let b = open_node().await;
    let first = user(1);
    b.menu(&first).await;
    let start = Instant::now();
    b.fake
        .fail_for(Failure::ServerError, Duration::from_secs(15));
    let mut during = Vec::new();
    for i in 2..5 {
        let u = user(i);
        b.fake.text(&u, "/start");
        during.push(u);
    }
    tokio::time::sleep(Duration::from_secs(15)).await;
    // 30 s of outage in all: 15 s of 5xx, then 15 s of connections dropped mid-request.
    b.fake.fail_for(Failure::Drop, Duration::from_secs(15));
    for i in 5..8 {
        let u = user(i);
        b.fake.text(&u, "/start");
        during.push(u);
    }
    b.fake
        .wait("answers after the outage", Duration::from_secs(120), |_| {
            let msgs = per_chat(&b, "sendMessage");
            during.iter().all(|u| msgs.contains_key(&u.id))
        })
        .await;
    let recovered = start.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let msgs = per_chat(&b, "sendMessage");
    for u in &during {
        assert_eq!(msgs.get(&u.id), Some(&1), "user {}", u.id);
    }
    // No busy loop: a handful of attempts over 30 s, spaced further and further apart.
    let rejected: Vec<Instant> = b
        .fake
        .rejected()
        .into_iter()
        .filter(|r| r.0 == "getUpdates")
        .map(|r| r.2)
        .collect();
    assert!(
        (2..=20).contains(&rejected.len()),
        "{} getUpdates attempts during the outage",
        rejected.len()
    );
    let gaps: Vec<Duration> = rejected.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.iter().any(|g| *g >= Duration::from_secs(3)),
        "backoff grows: {gaps:?}"
    );
    assert!(
        recovered < Duration::from_secs(30 + 75),
        "recovered after {recovered:?}"
    );
    // The token is in every request URL; it must be in no log line.
    let log = b.node.log();
    let secret = TOKEN.split(':').nth(1).unwrap();
    assert!(
        log.contains("getUpdates failed"),
        "the outage is logged:\n{log}"
    );
    assert!(!log.contains(secret), "token leaked into the log:\n{log}");
    b.assert_one_poller();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flood_control_retry_after_is_honoured() {
    let b = open_node().await;
    b.fake.flood(1, 2);
    let u = user(1);
    let menu = b.menu(&u).await;
    let rejected = b.fake.rejected();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].1, 429);
    let waited = menu.at - rejected[0].2;
    assert!(waited >= Duration::from_secs(2), "retried after {waited:?}");
    assert_eq!(per_chat(&b, "sendMessage").get(&u.id), Some(&1));
    b.assert_one_poller();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_stops_the_bot_cleanly_and_restart_resumes() {
    let mut b = open_node().await;
    let u = user(1);
    b.menu(&u).await;
    let status = b.node.terminate();
    assert!(status.success(), "exit status {status:?}");
    let log = b.node.log();
    assert!(log.contains("Telegram bot stopped"), "{log}");
    // Updates sent while the node is down are answered after it comes back.
    b.fake.text(&u, "/help");
    b.restart().await;
    let help = b.fake.nth_to(u.id, &["sendMessage"], 2, WAIT).await;
    assert!(help.text().contains("How it works"), "{}", help.text());
    b.assert_one_poller();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_a_token_the_node_runs_without_the_bot_and_says_so_once() {
    let mut node = tokio::task::spawn_blocking(common::Node::init)
        .await
        .unwrap();
    let node = tokio::task::spawn_blocking(move || {
        node.start();
        node
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = node.log();
    assert_eq!(
        log.matches("running without the Telegram bot").count(),
        1,
        "{log}"
    );
}

#[test]
fn a_bad_token_is_refused_at_start_with_one_line() {
    let node = common::Node::init();
    let data = node.data();
    let run = |env: &[(&str, &str)]| common::vk_env(&["run", "--data-dir", &data], env);
    let out = run(&[("VPNKEEPER_TELEGRAM__TOKEN", "not-a-token")]);
    assert!(!out.status.success());
    let err = common::stderr(&out);
    assert!(err.contains("telegram.token"), "{err}");
    assert!(
        !err.contains("not-a-token"),
        "the value is not echoed: {err}"
    );
    // Allowlist mode with nobody on the list would lock everyone out.
    let out = run(&[("VPNKEEPER_TELEGRAM__TOKEN", TOKEN)]);
    assert!(!out.status.success());
    let err = common::stderr(&out);
    assert!(err.contains("telegram.allowed_ids"), "{err}");
    assert!(!err.contains(TOKEN.split(':').nth(1).unwrap()), "{err}");
    let out = run(&[
        ("VPNKEEPER_TELEGRAM__TOKEN", TOKEN),
        ("VPNKEEPER_TELEGRAM__ACCESS", "sometimes"),
    ]);
    let err = common::stderr(&out);
    assert!(
        err.contains("telegram.access") && err.contains("approval"),
        "{err}"
    );
}

/// Many chats at once, several updates each, no pauses: every update gets exactly one reply.
/// (The outbox sender once raced its own workers under this load and replied twice.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_from_many_chats_gets_exactly_one_reply_per_update() {
    let b = open_node().await;
    let users: Vec<TgUser> = (300..360).map(user).collect();
    for u in &users {
        b.fake.text(u, "/start");
    }
    b.fake
        .wait("every /start answered", Duration::from_secs(60), |_| {
            let msgs = per_chat(&b, "sendMessage");
            users.iter().all(|u| msgs.contains_key(&u.id))
        })
        .await;
    const ROUNDS: usize = 5;
    for _ in 0..ROUNDS {
        for u in &users {
            b.fake.text(u, "/help");
        }
    }
    b.fake
        .wait("every /help answered", Duration::from_secs(120), |_| {
            let msgs = per_chat(&b, "sendMessage");
            users
                .iter()
                .all(|u| msgs.get(&u.id).copied().unwrap_or(0) > ROUNDS)
        })
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let msgs = per_chat(&b, "sendMessage");
    for u in &users {
        assert_eq!(
            msgs.get(&u.id),
            Some(&(ROUNDS + 1)),
            "user {}: one reply per update",
            u.id
        );
    }
    b.assert_one_poller();
}

/// The fake Bot API behaves as Telegram does with two pollers: a getUpdates arriving while
/// another is held terminates the older one with 409 Conflict, and the fake counts it (the
/// count every bot test asserts to be 0). A poll whose client went away is no conflict.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_fake_answers_overlapping_get_updates_with_409_and_counts_them() {
    let fake = fake_telegram::FakeTelegram::start().await;
    let url = format!("{}/bot{TOKEN}/getUpdates", fake.url);
    let poll = |timeout: u64| {
        let url = url.clone();
        async move {
            reqwest::Client::new()
                .post(url)
                .json(&serde_json::json!({ "offset": 0, "timeout": timeout }))
                .send()
                .await
                .unwrap()
        }
    };
    // A poll that is given up client-side (dropped) ends its hold: no conflict after it.
    let abandoned = tokio::spawn(poll(30));
    tokio::time::sleep(Duration::from_millis(200)).await;
    abandoned.abort();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let first = tokio::spawn(poll(30));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(fake.conflicts(), 0, "sequential polls are no conflict");
    let started = Instant::now();
    let second = tokio::spawn(poll(1));
    let older = first.await.unwrap();
    assert_eq!(older.status().as_u16(), 409);
    let body: serde_json::Value = older.json().await.unwrap();
    assert!(
        body["description"]
            .as_str()
            .unwrap()
            .contains("terminated by other getUpdates"),
        "{body}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the older poll ended at once"
    );
    assert_eq!(second.await.unwrap().status().as_u16(), 200);
    assert_eq!(fake.conflicts(), 1);
}

/// Every reply's send → record window is measured (`/metrics`), the figure the bench reports.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_send_to_record_window_of_replies_is_measured() {
    let b = open_node().await;
    for i in 400..410 {
        b.menu(&user(i)).await;
    }
    let metrics = b.api_text("/metrics").await;
    let (count, p50, p99) =
        bot::histogram_quantiles(&metrics, "vpnkeeper_bot_reply_record_seconds");
    assert!(count >= 10, "one sample per recorded reply:\n{metrics}");
    assert!(p50 <= p99 && p99.is_finite(), "p50 {p50} p99 {p99}");
    b.assert_one_poller();
}

//! Benchmark (run explicitly; it prints figures and asserts only correctness):
//! `cargo test -p vpnkeeper --test bot_bench --release -- --ignored --nocapture`
//!
//! A burst of 1,000 updates from 200 users, fed at 200 updates/s through the fake Bot API.
//! Reports updates handled per second and the latency from the getUpdates response that
//! delivered an update to the bot's reply request for it (p50/p99/max), and the window from
//! a reply reaching Telegram to its record committing (p50/p99, from `/metrics`).

#[path = "common/bot.rs"]
mod bot;
mod common;
#[path = "common/fake_telegram.rs"]
mod fake_telegram;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bot::BotNode;
use fake_telegram::TgUser;

const USERS: i64 = 200;
const UPDATES: usize = 1000;
const RATE_PER_SEC: u64 = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "benchmark: run with --ignored --nocapture"]
async fn burst_of_1000_updates_from_200_users() {
    let b = BotNode::start(&[("VPNKEEPER_TELEGRAM__ACCESS", "open")]).await;
    let users: Vec<TgUser> = (0..USERS)
        .map(|i| {
            TgUser::new(
                80_000 + i,
                &format!("U{i}"),
                Some(&format!("bench{i}")),
                "en",
            )
        })
        .collect();
    // Warm-up: every user exists, so the burst measures steady-state handling.
    for u in &users {
        b.fake.text(u, "/start");
    }
    b.fake
        .wait("warm-up", Duration::from_secs(60), |calls| {
            calls.iter().filter(|c| c.method == "sendMessage").count() >= USERS as usize
        })
        .await;
    let warm_calls = b.fake.calls().len();

    let mut sent: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    let started = Instant::now();
    let gap = Duration::from_micros(1_000_000 / RATE_PER_SEC);
    for n in 0..UPDATES {
        let u = &users[n % users.len()];
        let id = b.fake.text(u, "/help");
        sent.entry(u.id).or_default().push(id);
        let due = started + gap * (n as u32 + 1);
        tokio::time::sleep_until(due.into()).await;
    }
    let feed = started.elapsed();
    b.fake
        .wait(
            "every burst update answered",
            Duration::from_secs(120),
            // Only replies count: a command also produces other calls (deleting the
            // previous main message), which would end the wait early.
            |calls| {
                calls[warm_calls..]
                    .iter()
                    .filter(|c| c.method == "sendMessage")
                    .count()
                    >= UPDATES
            },
        )
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let calls: Vec<_> = b.fake.calls().into_iter().skip(warm_calls).collect();
    let delivered = b.fake.delivered_at();
    let mut replies: BTreeMap<i64, Vec<Instant>> = BTreeMap::new();
    for c in &calls {
        if c.method == "sendMessage" {
            replies.entry(c.chat().unwrap()).or_default().push(c.at);
        }
    }
    let mut latencies = Vec::new();
    let mut last_reply = started;
    for (chat, ids) in &sent {
        let times = replies.get(chat).cloned().unwrap_or_default();
        assert_eq!(
            times.len(),
            ids.len(),
            "chat {chat}: one reply per update; got {:?}",
            calls
                .iter()
                .filter(|c| c.method == "sendMessage" && c.chat() == Some(*chat))
                .map(|c| c.text())
                .collect::<Vec<_>>()
        );
        for (id, at) in ids.iter().zip(times) {
            latencies.push(at - delivered[id]);
            last_reply = last_reply.max(at);
        }
    }
    latencies.sort();
    let pct =
        |p: f64| latencies[((latencies.len() as f64 * p).ceil() as usize).min(latencies.len()) - 1];
    let total = last_reply - started;
    println!(
        "bot bench: {UPDATES} updates from {USERS} users fed in {:.2} s ({RATE_PER_SEC}/s target)",
        feed.as_secs_f64()
    );
    println!(
        "bot bench: handled {:.0} updates/s (last reply {:.2} s after the first update)",
        UPDATES as f64 / total.as_secs_f64(),
        total.as_secs_f64()
    );
    println!(
        "bot bench: delivery → reply request p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3
    );
    // The send → record window: a kill -9 inside it repeats the reply.
    let metrics = b.api_text("/metrics").await;
    let (count, p50, p99) =
        bot::histogram_quantiles(&metrics, "vpnkeeper_bot_reply_record_seconds");
    println!(
        "bot bench: reply send → record ({count} replies): p50 ≤ {:.1} ms, p99 ≤ {:.1} ms (histogram bucket bounds)",
        p50 * 1e3,
        p99 * 1e3
    );
    b.assert_one_poller();
}

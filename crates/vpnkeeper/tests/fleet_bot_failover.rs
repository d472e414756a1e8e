//! The bot across a leader's `kill -9`, on three real nodes against the fake Bot API:
//! 200 updates in flight from 50 chats; every update is answered, none is lost, duplicates
//! are at most the replies that were in flight at the kill, and never two pollers at once.
//!
//! Each update is a `/start` whose sender's first name is a tag unique to the update; the
//! menu the bot answers with greets that name, so every reply names the update it answers.
//! Every node calls the fake through its own path prefix, so each call names its node.

#[path = "common/bot.rs"]
mod bot;
mod common;
#[path = "common/fake_telegram.rs"]
mod fake_telegram;
#[path = "common/fleet_bot.rs"]
mod fleet_bot;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use fake_telegram::{Call, TgUser};
use fleet_bot::BotFleet;

const CHATS: i64 = 50;
const PER_CHAT: i64 = 4;
/// The leader is killed once this many of the burst's replies reached Telegram.
const KILL_AFTER_REPLIES: usize = 40;
const REPLY_METRIC: &str = "vpnkeeper_bot_reply_record_seconds";

fn tag(chat: i64, k: i64) -> String {
    format!("T{chat:02}x{k}Q")
}

/// The update tag a menu reply greets (`T<2 digits>x<digit>Q`), if it is one of the burst's.
fn tag_of(call: &Call) -> Option<String> {
    let text = call.text();
    let b = text.as_bytes();
    (0..b.len().saturating_sub(5))
        .find(|&i| {
            b[i] == b'T'
                && b[i + 1].is_ascii_digit()
                && b[i + 2].is_ascii_digit()
                && b[i + 3] == b'x'
                && b[i + 4].is_ascii_digit()
                && b[i + 5] == b'Q'
        })
        .map(|i| text[i..i + 6].to_string())
}

/// The burst's replies: sendMessages whose text greets a tag.
fn replies(calls: &[Call]) -> Vec<(String, Call)> {
    calls
        .iter()
        .filter(|c| c.method == "sendMessage")
        .filter_map(|c| tag_of(c).map(|t| (t, c.clone())))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_leader_loses_no_update_and_repeats_only_replies_in_flight() {
    let mut fleet = BotFleet::start().await;
    assert_eq!(fleet.leader_seen_by(1), Some(1));
    // The bot runs on node 1: a first update is answered through its prefix.
    let probe = TgUser::new(9_999, "Probe", None, "en");
    fleet.fake.text(&probe, "/start");
    let first = fleet
        .fake
        .nth_to(probe.id, &["sendMessage"], 1, Duration::from_secs(30))
        .await;
    assert_eq!(first.via.as_deref(), Some("n1"));

    // 200 updates in flight: round k of every chat is queued before round k + 1.
    for k in 0..PER_CHAT {
        for chat in 0..CHATS {
            let user = TgUser::new(60_000 + chat, &tag(chat, k), None, "en");
            fleet.fake.text(&user, "/start");
        }
    }
    let kill_metrics = loop {
        let sent = replies(&fleet.fake.calls()).len();
        if sent >= KILL_AFTER_REPLIES {
            // The record windows the leader measured until now (read just before the kill).
            break fleet.api_text(1, "/metrics").await;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    fleet.kill9(1);
    let killed_at = Instant::now();
    let at_kill = replies(&fleet.fake.calls()).len();
    assert!(
        at_kill < (CHATS * PER_CHAT) as usize,
        "the burst was over before the kill"
    );

    // Every update is answered, by the survivors for those the old leader did not finish.
    let everything: BTreeSet<String> = (0..PER_CHAT)
        .flat_map(|k| (0..CHATS).map(move |c| tag(c, k)))
        .collect();
    fleet
        .fake
        .wait(
            "a reply to every update",
            Duration::from_secs(60),
            |calls| {
                let answered: BTreeSet<String> =
                    replies(calls).into_iter().map(|(t, _)| t).collect();
                answered.is_superset(&everything)
            },
        )
        .await;
    let new_leader = fleet.leader_seen_by(2).expect("a new leader");
    assert!(matches!(new_leader, 2 | 3), "leader {new_leader}");
    // Late duplicates would come from the outbox the new leader took over: let it settle.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let all = replies(&fleet.fake.calls());

    let mut copies: BTreeMap<String, Vec<Call>> = BTreeMap::new();
    for (t, c) in all {
        copies.entry(t).or_default().push(c);
    }
    assert_eq!(
        copies.keys().cloned().collect::<BTreeSet<_>>(),
        everything,
        "replies to updates that were never sent"
    );
    let duplicates: Vec<&String> = copies
        .iter()
        .filter(|(_, c)| c.len() > 1)
        .map(|(t, _)| t)
        .collect();
    for t in &duplicates {
        let c = &copies[*t];
        assert_eq!(c.len(), 2, "{t} answered {} times", c.len());
        // A repeat is a reply the old leader sent whose record the kill cut off, sent again
        // by the new leader: never two sends by one node.
        assert_eq!(
            c[0].via.as_deref(),
            Some("n1"),
            "{t}: first copy not by node 1"
        );
        assert_ne!(c[1].via.as_deref(), Some("n1"), "{t}: repeated by node 1");
    }

    // In flight at the kill: replies node 1 had sent whose record had not committed. A
    // chat's next reply waits for the previous one's record, so only the last reply node 1
    // sent in a chat can have been in flight: at most one per chat. Each repeat must be
    // exactly that reply.
    let mut last_by_node1: BTreeMap<i64, &Call> = BTreeMap::new();
    for c in copies.values().flatten() {
        if c.via.as_deref() == Some("n1") {
            let chat = c.chat().unwrap();
            if last_by_node1.get(&chat).is_none_or(|l| l.at < c.at) {
                last_by_node1.insert(chat, c);
            }
        }
    }
    for t in &duplicates {
        let first = &copies[*t][0];
        let last = last_by_node1[&first.chat().unwrap()];
        assert_eq!(
            first.message_id, last.message_id,
            "{t} repeated, but node 1 had sent a later reply in its chat (so {t}'s record had committed)"
        );
    }
    let in_flight = last_by_node1.len();
    let last_100ms = last_by_node1
        .values()
        .filter(|c| c.at + Duration::from_millis(100) >= killed_at)
        .count();
    let (count, p50, p99) = bot::histogram_quantiles(&kill_metrics, REPLY_METRIC);
    eprintln!(
        "replies before the kill: {at_kill}; duplicates: {}; in flight at the kill: at most {in_flight} \
         ({last_100ms} sent in the last 100 ms); node 1's send→record window until the kill: \
         {count} samples, p50 ≤ {p50} s, p99 ≤ {p99} s; new leader: node {new_leader}",
        duplicates.len(),
    );
    assert!(duplicates.len() <= in_flight);
    let survivor_metrics = fleet.api_text(new_leader, "/metrics").await;
    let (count, p50, p99) = bot::histogram_quantiles(&survivor_metrics, REPLY_METRIC);
    eprintln!(
        "node {new_leader}'s send→record window over the rest of the burst: {count} samples, \
         p50 ≤ {p50} s, p99 ≤ {p99} s"
    );
    // Never two pollers at once.
    assert_eq!(fleet.fake.conflicts(), 0, "overlapping getUpdates");
    // No update was applied twice: one user per chat.
    let users: serde_json::Value =
        serde_json::from_str(&fleet.api_text(new_leader, "/api/v1/users?limit=1000").await)
            .unwrap();
    let tg_users = users["users"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["telegram_id"].as_i64().is_some())
        .count();
    assert_eq!(tg_users as i64, CHATS + 1, "users created by the bot");
}

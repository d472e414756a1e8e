//! `SIGSTOP` of the bot's leader for 10 s, as a partition, on three real nodes against the
//! fake Bot API: a new leader takes the bot over (a fresh update is answered), and after
//! `SIGCONT` the old leader steps down without having polled Telegram while it was cut off.
//!
//! Every node calls the fake through its own path prefix, so each getUpdates names its node.

#[path = "common/bot.rs"]
mod bot;
mod common;
#[path = "common/fake_telegram.rs"]
mod fake_telegram;
#[path = "common/fleet_bot.rs"]
mod fleet_bot;

use std::time::{Duration, Instant};

use fake_telegram::TgUser;
use fleet_bot::{via, BotFleet};

const STOPPED_FOR: Duration = Duration::from_secs(10);
/// A request node 1 wrote just before it froze may reach the fake's handler a little later.
const IN_FLIGHT_GRACE: Duration = Duration::from_millis(500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_leader_stops_polling_and_a_new_leader_takes_the_bot_over() {
    let fleet = BotFleet::start().await;
    assert_eq!(fleet.leader_seen_by(1), Some(1));
    let fake = &fleet.fake;
    let before = TgUser::new(70_001, "Before", None, "en");
    fake.text(&before, "/start");
    let reply = fake
        .nth_to(before.id, &["sendMessage"], 1, Duration::from_secs(30))
        .await;
    assert_eq!(reply.via.as_deref(), Some("n1"), "node 1 runs the bot");

    fleet.signal(1, "-STOP");
    let stopped_at = Instant::now();
    // A fresh update is answered by the new leader while node 1 is frozen.
    let during = TgUser::new(70_002, "During", None, "en");
    fake.text(&during, "/start");
    let reply = fake
        .nth_to(during.id, &["sendMessage"], 1, STOPPED_FOR)
        .await;
    let new_leader = reply.via.clone().expect("a prefix");
    assert_ne!(new_leader, via(1), "answered by the frozen node");
    let takeover = reply.at - stopped_at;
    eprintln!("bot taken over by {new_leader} {takeover:?} after the SIGSTOP");

    tokio::time::sleep(STOPPED_FOR.saturating_sub(stopped_at.elapsed())).await;
    fleet.signal(1, "-CONT");
    let resumed_at = Instant::now();
    // Node 1 steps down: it names the new leader.
    let stepped_down = loop {
        match fleet.leader_seen_by(1) {
            Some(l) if l != 1 => break resumed_at.elapsed(),
            _ => {}
        }
        assert!(
            resumed_at.elapsed() < Duration::from_secs(15),
            "node 1 did not step down after SIGCONT"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // And the bot keeps working on the new leader.
    let after = TgUser::new(70_003, "After", None, "en");
    fake.text(&after, "/start");
    let reply = fake
        .nth_to(after.id, &["sendMessage"], 1, Duration::from_secs(20))
        .await;
    assert_eq!(reply.via.as_deref(), Some(new_leader.as_str()));
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Node 1 made no Bot API call from its freeze on: no getUpdates while cut off, none
    // after SIGCONT before (or after) it stepped down, and no reply.
    let cutoff = stopped_at + IN_FLIGHT_GRACE;
    let late_polls: Vec<Duration> = fake
        .poll_arrivals()
        .into_iter()
        .filter(|(at, v)| *at > cutoff && v.as_deref() == Some("n1"))
        .map(|(at, _)| at - stopped_at)
        .collect();
    assert!(
        late_polls.is_empty(),
        "node 1 polled while cut off, at {late_polls:?} after its SIGSTOP"
    );
    let late_calls: Vec<String> = fake
        .calls()
        .into_iter()
        .filter(|c| c.at > cutoff && c.via.as_deref() == Some("n1"))
        .map(|c| c.method)
        .collect();
    assert!(late_calls.is_empty(), "node 1 called {late_calls:?}");
    // The new leader did poll, and never two pollers at once.
    assert!(fake
        .poll_arrivals()
        .iter()
        .any(|(at, v)| *at > stopped_at && v.as_deref() == Some(new_leader.as_str())));
    assert_eq!(fake.conflicts(), 0, "overlapping getUpdates");
    eprintln!("node 1 stepped down {stepped_down:?} after SIGCONT");
}

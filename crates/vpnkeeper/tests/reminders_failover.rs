//! Reminders to end users (issue #15 item 7) on the real binary against the fake Bot API,
//! across kills of the leader: each reminder — expiry in 3 days, in 1 day, expired — reaches
//! its chat exactly once, in the chat's language, with the renewal button.
//!
//! Phase 1 kills the node while the reminders are recorded in the replicated state but not
//! yet delivered (the Bot API answers 502): after the restart they go out once, and the
//! restarted scheduler does not propose them again. Phase 2 re-arms one reminder with a new
//! expiry date, lets it go out, kills the node again and checks nothing is repeated.

#[path = "common/bot.rs"]
mod bot;
mod common;
#[path = "common/fake_telegram.rs"]
mod fake_telegram;

use std::time::{Duration, Instant};

use bot::{BotNode, WAIT};
use fake_telegram::{Call, Failure, TgUser};
use serde_json::{json, Value};

const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;
const IN_3D: i64 = 3101;
const IN_1D: i64 = 3102;
const EXPIRED: i64 = 3103;
const RUSSIAN: i64 = 3104;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn send(b: &BotNode, method: reqwest::Method, path: &str, body: Value) -> Value {
    let r = reqwest::Client::new()
        .request(method.clone(), format!("{}{path}", b.node.base()))
        .bearer_auth(&b.node.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{method} {path}: {}", r.status());
    r.json().await.unwrap()
}

async fn set_expiry(b: &BotNode, user_id: i64, expires_at_ms: i64) {
    let path = format!("/api/v1/users/{user_id}");
    send(
        b,
        reqwest::Method::PATCH,
        &path,
        json!({ "expires_at_ms": expires_at_ms }),
    )
    .await;
}

/// The reminder messages a chat received (messages carrying the renewal button).
fn reminders(b: &BotNode, chat: i64) -> Vec<Call> {
    b.sends_to(chat)
        .into_iter()
        .filter(|c| c.method == "sendMessage" && c.buttons().iter().any(|d| d == "rn"))
        .collect()
}

/// Rows of the replicated state, read from the node's own state.db (read-only).
fn state_count(b: &BotNode, sql: &str) -> i64 {
    let db = b.node.data_dir().join("state.db");
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    conn.busy_timeout(Duration::from_secs(5)).unwrap();
    conn.query_row(sql, [], |r| r.get(0)).unwrap()
}

async fn eventually(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every chat has exactly the reminders expected, and keeps having them for a few scheduler
/// ticks (a repeat would show up within them).
async fn exactly(b: &BotNode, expected: &[(i64, usize)]) {
    let got = || {
        expected
            .iter()
            .map(|(c, _)| reminders(b, *c).len())
            .collect::<Vec<_>>()
    };
    let want: Vec<usize> = expected.iter().map(|(_, n)| *n).collect();
    eventually("the reminders", WAIT, || got() == want).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(got(), want, "reminders per chat {expected:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_reminder_is_sent_once_across_leader_restarts() {
    let mut b = BotNode::start(&[("VPNKEEPER_TELEGRAM__ACCESS", "open")]).await;

    // The Russian speaker comes through the bot and picks Russian: the chat's language.
    let ivan = TgUser::new(RUSSIAN, "Ivan", Some("ivan"), "ru");
    let menu = b.menu(&ivan).await;
    b.press(&ivan, &menu, "lg:ru").await;
    let ivan_id = b.user_of(RUSSIAN).await.unwrap()["id"].as_i64().unwrap();
    let mut ids = vec![];
    for (tg, name) in [(IN_3D, "in3d"), (IN_1D, "in1d"), (EXPIRED, "gone")] {
        let far = now_ms() + 60 * DAY;
        let body = json!({ "name": name, "telegram_id": tg, "expires_at_ms": far });
        let u = send(&b, reqwest::Method::POST, "/api/v1/users", body).await;
        ids.push(u["id"].as_i64().unwrap());
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(state_count(&b, "SELECT COUNT(*) FROM user_reminders"), 0);

    // Phase 1: Telegram is down; the expiries move so that every reminder is due.
    b.fake
        .fail_for(Failure::ServerError, Duration::from_secs(3600));
    let now = now_ms();
    set_expiry(&b, ids[0], now + 2 * DAY + HOUR).await;
    set_expiry(&b, ids[1], now + 12 * HOUR).await;
    set_expiry(&b, ids[2], now - 60_000).await;
    set_expiry(&b, ivan_id, now + 2 * DAY).await;
    eventually("4 reminders recorded", WAIT, || {
        state_count(&b, "SELECT COUNT(*) FROM user_reminders") == 4
    })
    .await;
    eventually("a delivery attempt refused by the Bot API", WAIT, || {
        b.fake.rejected().iter().any(|(m, _, _)| m == "sendMessage")
    })
    .await;
    let chats = [IN_3D, IN_1D, EXPIRED, RUSSIAN];
    assert!(chats.iter().all(|c| reminders(&b, *c).is_empty()));
    b.kill9();
    b.fake.fail_for(Failure::ServerError, Duration::ZERO);
    b.restart().await;
    exactly(&b, &[(IN_3D, 1), (IN_1D, 1), (EXPIRED, 1), (RUSSIAN, 1)]).await;
    assert_eq!(state_count(&b, "SELECT COUNT(*) FROM tg_outbox"), 0);

    let text = |chat| reminders(&b, chat)[0].text();
    assert!(text(IN_3D).contains("ends in 3 days"), "{}", text(IN_3D));
    assert!(text(IN_1D).contains("ends tomorrow"), "{}", text(IN_1D));
    assert!(text(EXPIRED).contains("ended on"), "{}", text(EXPIRED));
    assert!(text(RUSSIAN).contains("через 3 дня"), "{}", text(RUSSIAN));
    let user = b.api(&format!("/api/v1/users/{}", ids[2])).await;
    assert_eq!(user["status"], "expired", "{user}");

    // The renewal button opens the plans on sale (issue #16; none are priced here).
    let in3d = TgUser::new(IN_3D, "Three", None, "en");
    let reminder = reminders(&b, IN_3D).remove(0);
    let screen = b.press_screen(&in3d, &reminder, "rn").await;
    assert!(
        screen.text().contains("No plans are on sale"),
        "{}",
        screen.text()
    );

    // Phase 2: a new expiry date re-arms the reminder; it goes out once, and after another
    // kill the new leader's scheduler finds it recorded.
    set_expiry(&b, ids[0], now_ms() + 10 * HOUR).await;
    exactly(&b, &[(IN_3D, 2), (IN_1D, 1), (EXPIRED, 1), (RUSSIAN, 1)]).await;
    assert!(text(IN_3D).contains("ends in 3 days"));
    assert!(
        reminders(&b, IN_3D)[1].text().contains("ends tomorrow"),
        "{}",
        reminders(&b, IN_3D)[1].text()
    );
    eventually("the outbox drained", WAIT, || {
        state_count(&b, "SELECT COUNT(*) FROM tg_outbox") == 0
    })
    .await;
    b.kill9();
    b.restart().await;
    exactly(&b, &[(IN_3D, 2), (IN_1D, 1), (EXPIRED, 1), (RUSSIAN, 1)]).await;
    assert_eq!(state_count(&b, "SELECT COUNT(*) FROM user_reminders"), 5);
}

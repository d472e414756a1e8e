//! Support tickets end to end (issue #17): the real `vpnkeeper` binary long-polling the fake
//! Bot API. A user's text reaches the admin with the user's devices; the admin's reply (bot
//! or API) reaches the user once; the user answers in the same ticket; close; strangers'
//! and users' forged Reply/Close presses change nothing; texts never reach the log.

#[path = "common/bot.rs"]
mod bot;
mod common;
#[path = "common/fake_telegram.rs"]
mod fake_telegram;

use std::time::Duration;

use bot::{BotNode, WAIT};
use fake_telegram::{Call, TgUser};
use serde_json::{json, Value};

const ADMIN: i64 = 1001;
const ALICE: i64 = 2002;
const MALLORY: i64 = 6006;

fn alice() -> TgUser {
    TgUser::new(ALICE, "Alice", Some("alice"), "en")
}
fn admin() -> TgUser {
    TgUser::new(ADMIN, "Root", Some("root_admin"), "en")
}
/// Not on the allowlist.
fn mallory() -> TgUser {
    TgUser::new(MALLORY, "Mallory", Some("mallory"), "en")
}

fn messages(b: &BotNode, chat: i64) -> Vec<Call> {
    b.fake
        .calls_to(chat)
        .into_iter()
        .filter(|c| c.method == "sendMessage")
        .collect()
}

/// Waits for the `n`-th (1-based) message to `chat`.
async fn nth_message(b: &BotNode, chat: i64, n: usize) -> Call {
    b.fake.nth_to(chat, &["sendMessage"], n, WAIT).await
}

async fn api_send(b: &BotNode, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method.parse().unwrap(), format!("{}{path}", b.node.base()))
        .bearer_auth(&b.node.token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The ticket's status through the API.
async fn status_of(b: &BotNode, id: i64) -> String {
    b.api(&format!("/api/v1/tickets/{id}")).await["ticket"]["status"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ticket_flow_user_admin_reply_answer_back_close() {
    let b = BotNode::start(&[
        ("VPNKEEPER_TELEGRAM__ACCESS", "allowlist"),
        ("VPNKEEPER_TELEGRAM__ALLOWED_IDS", "2002"),
        ("VPNKEEPER_TELEGRAM__ADMIN_IDS", "1001"),
    ])
    .await;
    let (alice, admin, mallory) = (alice(), admin(), mallory());

    // Alice has a device, so the admins see it next to her message.
    let menu = b.menu(&alice).await;
    assert!(
        menu.buttons().iter().any(|d| d == "sp"),
        "✉️ Support in the menu: {:?}",
        menu.buttons()
    );
    b.press_screen(&alice, &menu, "d:phone").await;
    let devices = b.api("/api/v1/devices?user=alice").await;
    let device_name = devices["devices"][0]["name"].as_str().unwrap().to_string();

    // The Support button explains; then plain text opens ticket 1.
    let how = b.press_screen(&alice, &menu, "sp").await;
    assert!(how.text().contains("admins"), "{}", how.text());
    let ack = b.say(&alice, "nothing connects on my phone").await;
    assert!(ack.text().contains("ticket #1"), "{}", ack.text());

    let to_admin = nth_message(&b, ADMIN, 1).await;
    let text = to_admin.text();
    for want in [
        "Ticket #1",
        "Alice @alice",
        "2002",
        "nothing connects on my phone",
        device_name.as_str(),
        "never connected",
    ] {
        assert!(
            text.contains(want),
            "{want:?} missing in the admin's copy: {text}"
        );
    }
    assert_eq!(to_admin.buttons(), ["tr:1", "tx:1"]);

    // Forged presses on the admin's message: a stranger and a user change nothing.
    let alice_msgs = messages(&b, ALICE).len();
    for (who, data) in [
        (&mallory, "tr:1"),
        (&mallory, "tx:1"),
        (&alice, "tx:1"),
        (&alice, "tr:1"),
    ] {
        b.press(who, &to_admin, data).await;
    }
    assert_eq!(status_of(&b, 1).await, "open");
    let admin_text_before = messages(&b, ADMIN).len();
    b.fake.text(&alice, "are you there?");
    let second = nth_message(&b, ADMIN, admin_text_before + 1).await;
    assert!(
        second.text().contains("Ticket #1"),
        "same ticket: {}",
        second.text()
    );
    assert!(
        messages(&b, ALICE)
            .iter()
            .skip(alice_msgs)
            .all(|m| !m.text().contains("Support:")),
        "no answer was forged to Alice"
    );

    // The admin answers with Reply: the next text goes to Alice, once.
    // The button's answer comes first, the prompt right after it: wait for the prompt.
    let before = messages(&b, ADMIN).len();
    b.press(&admin, &to_admin, "tr:1").await;
    let ask = nth_message(&b, ADMIN, before + 1).await;
    assert!(ask.text().contains("answer to ticket #1"), "{}", ask.text());
    let sent = b.say(&admin, "Please update the app and retry").await;
    assert!(sent.text().contains("Answer sent"), "{}", sent.text());
    b.fake
        .wait("the answer to Alice", WAIT, |_| {
            messages(&b, ALICE)
                .iter()
                .any(|m| m.text().contains("Please update the app and retry"))
        })
        .await;

    // Alice answers back in the same thread.
    let n = messages(&b, ADMIN).len();
    b.fake.text(&alice, "updated, works now");
    let back = nth_message(&b, ADMIN, n + 1).await;
    assert!(
        back.text().contains("Ticket #1") && back.text().contains("updated, works now"),
        "{}",
        back.text()
    );

    // The API sees the thread and answers too.
    let list = b.api("/api/v1/tickets?status=open").await;
    assert_eq!(list["tickets"].as_array().unwrap().len(), 1);
    let thread = b.api("/api/v1/tickets/1").await;
    let authors: Vec<&str> = thread["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["author"].as_str().unwrap())
        .collect();
    assert_eq!(authors, ["user", "user", "tg:1001", "user"]);
    let (code, _) = api_send(
        &b,
        "POST",
        "/api/v1/tickets/1/reply",
        Some(json!({ "text": "Glad it works (from the API)" })),
    )
    .await;
    assert_eq!(code, 200);

    // Close: Alice is told once; answering a closed ticket is a 409, an unknown one 404.
    b.press(&admin, &to_admin, "tx:1").await;
    b.fake
        .wait("closed notice to Alice", WAIT, |_| {
            messages(&b, ALICE)
                .iter()
                .any(|m| m.text().contains("was closed"))
        })
        .await;
    b.press(&admin, &to_admin, "tx:1").await;
    assert_eq!(status_of(&b, 1).await, "closed");
    let (code, body) = api_send(
        &b,
        "POST",
        "/api/v1/tickets/1/reply",
        Some(json!({ "text": "late" })),
    )
    .await;
    assert_eq!(code, 409, "{body}");
    let (code, _) = api_send(&b, "GET", "/api/v1/tickets/99", None).await;
    assert_eq!(code, 404);
    let (code, _) = api_send(&b, "GET", "/api/v1/tickets?status=maybe", None).await;
    assert_eq!(code, 400);

    // Settle, then count: each answer and the close reached Alice exactly once.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let alice_all = messages(&b, ALICE);
    for (needle, want) in [
        ("Please update the app and retry", 1),
        ("Glad it works (from the API)", 1),
        ("was closed", 1),
        ("late", 0),
    ] {
        let got = alice_all
            .iter()
            .filter(|m| m.text().contains(needle))
            .count();
        assert_eq!(got, want, "{needle:?} reached Alice {got} times");
    }
    // The OpenAPI document lists the routes.
    let doc = b.api("/api/v1/openapi.json").await;
    for p in [
        "/api/v1/tickets",
        "/api/v1/tickets/{id}/reply",
        "/api/v1/tickets/{id}/close",
    ] {
        assert!(
            doc["paths"][p].is_object(),
            "{p} missing from the OpenAPI doc"
        );
    }
    // Ticket texts never reach the log.
    let log = b.node.log();
    for secret in [
        "nothing connects",
        "Please update the app",
        "updated, works now",
    ] {
        assert!(!log.contains(secret), "{secret:?} in the node log");
    }
}

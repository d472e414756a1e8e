//! Payments in Telegram Stars (issue #16) on the real binary against the fake Bot API, which
//! speaks sendInvoice, answerPreCheckoutQuery and refundStarPayment and delivers
//! `pre_checkout_query` and `message.successful_payment` updates in Telegram's JSON shape.

#[path = "common/bot.rs"]
mod bot;
mod common;
#[path = "common/fake_telegram.rs"]
mod fake_telegram;

use std::time::{Duration, Instant};

use bot::{BotNode, WAIT};
use fake_telegram::{Call, TgUser};
use serde_json::{json, Value};

const ADMIN: i64 = 1001;
const ALICE: i64 = 2002;
const DAY_MS: i64 = 86_400_000;

async fn start() -> BotNode {
    BotNode::start(&[
        ("VPNKEEPER_TELEGRAM__ACCESS", "allowlist"),
        ("VPNKEEPER_TELEGRAM__ALLOWED_IDS", "2002"),
        ("VPNKEEPER_TELEGRAM__ADMIN_IDS", "1001"),
        // The tests poll the payments list while they wait.
        ("VPNKEEPER_API__RATE_LIMIT_READS_PER_MIN", "100000"),
    ])
    .await
}

fn alice() -> TgUser {
    TgUser::new(ALICE, "Alice", Some("alice"), "en")
}

async fn post(b: &BotNode, path: &str, body: Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{}{path}", b.node.base()))
        .bearer_auth(&b.node.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn create_plan(b: &BotNode, name: &str, days: i64, price: i64) -> i64 {
    let body = json!({"name": name, "duration_days": days, "price_stars": price});
    let (status, v) = post(b, "/api/v1/plans", body).await;
    assert_eq!(status, 201, "{v}");
    v["id"].as_i64().unwrap()
}

fn calls_of(b: &BotNode, method: &str) -> Vec<Call> {
    b.fake
        .calls()
        .into_iter()
        .filter(|c| c.method == method)
        .collect()
}

/// Menu → Buy → the plan: the invoice the bot sent.
async fn buy(b: &BotNode, user: &TgUser, plan: i64) -> Call {
    let menu = b.menu(user).await;
    assert!(
        menu.buttons().iter().any(|d| d == "by"),
        "{:?}",
        menu.buttons()
    );
    let list = b.press_screen(user, &menu, "by").await;
    let choice = format!("bp:{plan}");
    assert!(list.buttons().contains(&choice), "{:?}", list.buttons());
    let before = calls_of(b, "sendInvoice").len();
    b.press(user, &list, &choice).await;
    let calls = b
        .fake
        .wait("an invoice", WAIT, |_| {
            calls_of(b, "sendInvoice").len() > before
        })
        .await;
    calls
        .into_iter()
        .filter(|c| c.method == "sendInvoice")
        .nth(before)
        .unwrap()
}

fn payload(invoice: &Call) -> String {
    invoice.params["payload"].as_str().unwrap().to_string()
}

/// Sends a pre-checkout query; returns the bot's answer.
async fn pre_checkout(b: &BotNode, user: &TgUser, amount: i64, payload: &str) -> Call {
    let id = b.fake.pre_checkout(user, "XTR", amount, payload);
    let query = format!("pcq-{id}");
    let calls = b
        .fake
        .wait("a pre-checkout answer", WAIT, |calls| {
            calls.iter().any(|c| {
                c.method == "answerPreCheckoutQuery" && c.params["pre_checkout_query_id"] == query
            })
        })
        .await;
    calls
        .into_iter()
        .find(|c| {
            c.method == "answerPreCheckoutQuery" && c.params["pre_checkout_query_id"] == query
        })
        .unwrap()
}

fn confirmations(b: &BotNode, chat: i64, marker: &str) -> usize {
    b.fake
        .calls_to(chat)
        .iter()
        .filter(|c| c.method == "sendMessage" && c.text().contains(marker))
        .count()
}

async fn wait_confirmations(b: &BotNode, chat: i64, marker: &str, n: usize) {
    b.fake
        .wait(&format!("{n} × {marker:?}"), WAIT, |_| {
            confirmations(b, chat, marker) >= n
        })
        .await;
}

async fn expiry(b: &BotNode, tg: i64) -> Option<i64> {
    b.user_of(tg).await.unwrap()["expires_at_ms"].as_i64()
}

async fn payments(b: &BotNode, query: &str) -> Vec<Value> {
    b.api(&format!("/api/v1/payments{query}")).await["payments"]
        .as_array()
        .unwrap()
        .clone()
}

/// Waits until the bot has polled past update `id` (it is committed).
async fn committed(b: &BotNode, id: i64) {
    let deadline = Instant::now() + WAIT;
    while b.fake.confirmed_offset() <= id {
        assert!(Instant::now() < deadline, "update {id} never confirmed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_status(b: &BotNode, id: i64, status: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let all = payments(b, "").await;
        if let Some(p) = all.iter().find(|p| p["id"] == id && p["status"] == status) {
            return p.clone();
        }
        if Instant::now() > deadline {
            let log = b.node.log();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            panic!(
                "payment {id} never {status}: {all:?}\nrejected: {:?}\nlog: {tail:#?}",
                b.fake.rejected()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A full purchase: invoice, pre-checkout ok, successful payment with `charge`, credited.
async fn purchase(b: &BotNode, user: &TgUser, plan: i64, price: i64, charge: &str) -> String {
    let invoice = buy(b, user, plan).await;
    let payload = payload(&invoice);
    let answer = pre_checkout(b, user, price, &payload).await;
    assert_eq!(answer.params["ok"], true, "{:?}", answer.params);
    let n = confirmations(b, user.id, "Payment of");
    b.fake.successful_payment(user, price, &payload, charge);
    wait_confirmations(b, user.id, "Payment of", n + 1).await;
    payload
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn buy_invoice_pre_checkout_and_payment_extend_the_plan_exactly_once() {
    let b = start().await;
    let alice = alice();
    let plan = create_plan(&b, "month", 30, 50).await;
    let invoice = buy(&b, &alice, plan).await;
    let uid = b.user_of(ALICE).await.unwrap()["id"].as_i64().unwrap();

    // sendInvoice in Stars: XTR, no provider token, one price, payload user + plan + order.
    assert_eq!(invoice.params["currency"], "XTR");
    assert!(invoice
        .params
        .get("provider_token")
        .is_none_or(|t| t.is_null() || t == ""));
    assert_eq!(invoice.params["title"], "month");
    let payload = payload(&invoice);
    assert!(
        payload.starts_with(&format!("u{uid}:p{plan}:o")) && payload.len() > 12,
        "{payload}"
    );
    let prices = match &invoice.params["prices"] {
        Value::String(s) => serde_json::from_str(s).unwrap(),
        v => v.clone(),
    };
    assert_eq!(prices[0]["amount"], 50, "{prices}");

    let answer = pre_checkout(&b, &alice, 50, &payload).await;
    assert_eq!(answer.params["ok"], true, "{:?}", answer.params);

    let before = Instant::now();
    let update = b.fake.successful_payment(&alice, 50, &payload, "charge-1");
    wait_confirmations(&b, ALICE, "Payment of 50", 1).await;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let first = expiry(&b, ALICE).await.expect("an expiry");
    let elapsed = before.elapsed().as_millis() as i64;
    assert!(
        (now_ms - elapsed - 1_000 + 30 * DAY_MS..=now_ms + 30 * DAY_MS).contains(&first),
        "expiry {first} is not 30 days from the payment ({now_ms})"
    );

    // The same update again, and another update with the same charge id: nothing more.
    b.fake.redeliver(&[update]);
    let again = b.fake.successful_payment(&alice, 50, &payload, "charge-1");
    committed(&b, again).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(expiry(&b, ALICE).await, Some(first));
    assert_eq!(confirmations(&b, ALICE, "Payment of"), 1);
    let all = payments(&b, "").await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["provider_payment_id"], "charge-1");
    assert_eq!(all[0]["status"], "paid");
    assert_eq!(all[0]["amount"], 50);
    assert_eq!(all[0]["days"], 30);

    // A second purchase extends from the current expiry.
    purchase(&b, &alice, plan, 50, "charge-2").await;
    assert_eq!(expiry(&b, ALICE).await, Some(first + 30 * DAY_MS));

    // Audited with the payer as actor; revenue in the stats; listed by status.
    let audit = b.audit().await;
    let credits: Vec<&Value> = audit
        .iter()
        .filter(|e| e["action"] == "payment.credit")
        .collect();
    assert_eq!(
        credits.len(),
        3,
        "two credits and one refused duplicate: {credits:?}"
    );
    assert!(
        credits.iter().all(|e| e["actor"] == format!("tg:{ALICE}")),
        "{credits:?}"
    );
    assert_eq!(
        credits.iter().filter(|e| e["detail"].is_null()).count(),
        2,
        "{credits:?}"
    );
    let stats = b.api("/api/v1/stats").await;
    assert_eq!(stats["revenue"]["stars_today"], 100, "{stats}");
    assert_eq!(stats["revenue"]["stars_7d"], 100);
    assert_eq!(stats["revenue"]["stars_30d"], 100);
    assert_eq!(payments(&b, "?status=paid").await.len(), 2);
    assert_eq!(payments(&b, "?status=refunded").await.len(), 0);
    b.assert_one_poller();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pre_checkout_refuses_a_wrong_amount_an_archived_plan_and_a_foreign_payload() {
    let b = start().await;
    let alice = alice();
    let plan = create_plan(&b, "week", 7, 20).await;
    let payload = payload(&buy(&b, &alice, plan).await);

    let wrong = pre_checkout(&b, &alice, 19, &payload).await;
    assert_eq!(wrong.params["ok"], false);
    let msg = wrong.params["error_message"].as_str().unwrap_or("");
    assert!(msg.contains("amount differs"), "{msg}");

    let foreign = pre_checkout(&b, &alice, 20, "not-ours").await;
    assert_eq!(foreign.params["ok"], false);
    assert!(foreign.params["error_message"]
        .as_str()
        .unwrap_or("")
        .contains("unknown"));

    let (status, _) = post(&b, &format!("/api/v1/plans/{plan}/archive"), json!({})).await;
    assert_eq!(status, 200);
    let archived = pre_checkout(&b, &alice, 20, &payload).await;
    assert_eq!(archived.params["ok"], false);
    let msg = archived.params["error_message"].as_str().unwrap_or("");
    assert!(msg.contains("no longer sold"), "{msg}");
    // The Buy screen no longer offers it.
    let menu = b.menu(&alice).await;
    let list = b.press_screen(&alice, &menu, "by").await;
    assert!(!list.buttons().contains(&format!("bp:{plan}")));
    assert!(payments(&b, "").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_plan_archived_after_the_pre_checkout_is_still_delivered_to_the_payer() {
    let b = start().await;
    let alice = alice();
    let plan = create_plan(&b, "week", 7, 20).await;
    let payload = payload(&buy(&b, &alice, plan).await);
    let answer = pre_checkout(&b, &alice, 20, &payload).await;
    assert_eq!(answer.params["ok"], true, "{:?}", answer.params);

    // The admin archives the plan while Telegram is taking the money: the user has paid,
    // so the order's plan is delivered at the order's price.
    let (status, _) = post(&b, &format!("/api/v1/plans/{plan}/archive"), json!({})).await;
    assert_eq!(status, 200);
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    b.fake
        .successful_payment(&alice, 20, &payload, "charge-late");
    wait_confirmations(&b, ALICE, "Payment of 20", 1).await;
    let all = payments(&b, "").await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["status"], "paid");
    assert_eq!(all[0]["plan_id"], plan);
    assert_eq!(all[0]["amount"], 20);
    assert_eq!(all[0]["days"], 7);
    let paid_at = all[0]["paid_at_ms"].as_i64().unwrap();
    assert!(paid_at >= before - 1_000, "{paid_at} {before}");
    assert_eq!(expiry(&b, ALICE).await, Some(paid_at + 7 * DAY_MS));
    let user = b.user_of(ALICE).await.unwrap();
    assert_eq!(user["status"], "active", "{user}");
    // Archived all the same: not offered again.
    let menu = b.menu(&alice).await;
    let list = b.press_screen(&alice, &menu, "by").await;
    assert!(!list.buttons().contains(&format!("bp:{plan}")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill9_between_the_payment_and_its_reply_credits_once_and_answers_once() {
    let mut b = start().await;
    let alice = alice();
    let plan = create_plan(&b, "month", 30, 50).await;
    let payload = payload(&buy(&b, &alice, plan).await);
    let answer = pre_checkout(&b, &alice, 50, &payload).await;
    assert_eq!(answer.params["ok"], true);

    // The payment is committed, its confirmation never reaches Telegram: kill -9.
    b.fake.hold_sends(true);
    let update = b.fake.successful_payment(&alice, 50, &payload, "charge-k");
    committed(&b, update).await;
    b.kill9();
    b.fake.hold_sends(false);
    assert_eq!(confirmations(&b, ALICE, "Payment of"), 0);
    b.restart().await;
    // Telegram delivers the update again after the restart, too.
    b.fake.redeliver(&[update]);
    wait_confirmations(&b, ALICE, "Payment of 50", 1).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(confirmations(&b, ALICE, "Payment of"), 1);
    let all = payments(&b, "").await;
    assert_eq!(all.len(), 1, "{all:?}");
    let e = expiry(&b, ALICE).await.unwrap();
    let now = all[0]["paid_at_ms"].as_i64().unwrap();
    assert_eq!(
        e,
        now + 30 * DAY_MS,
        "credited once from the payment's time"
    );
    b.assert_one_poller();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refund_reaches_telegram_and_takes_the_days_back_or_stays_failed() {
    let b = start().await;
    let alice = alice();
    let admin = TgUser::new(ADMIN, "Root", Some("root_admin"), "en");
    let plan = create_plan(&b, "month", 30, 50).await;
    purchase(&b, &alice, plan, 50, "charge-a").await;
    purchase(&b, &alice, plan, 50, "charge-b").await;
    let two = expiry(&b, ALICE).await.unwrap();
    let all = payments(&b, "").await;
    let id_of = |charge: &str| {
        all.iter()
            .find(|p| p["provider_payment_id"] == charge)
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let (a, bb) = (id_of("charge-a"), id_of("charge-b"));

    // From the API, with two transport failures first: retried, then Telegram's yes.
    b.fake.fail_next("refundStarPayment", 2);
    let (status, v) = post(&b, &format!("/api/v1/payments/{a}/refund"), json!({})).await;
    assert_eq!(status, 202, "{v}");
    assert_eq!(v["status"], "refund_pending");
    let refunded = wait_status(&b, a, "refunded").await;
    let calls = calls_of(&b, "refundStarPayment");
    assert_eq!(calls.len(), 1, "one successful call: {calls:?}");
    assert_eq!(calls[0].params["telegram_payment_charge_id"], "charge-a");
    assert_eq!(calls[0].params["user_id"], ALICE);
    assert_eq!(
        b.fake
            .rejected()
            .iter()
            .filter(|r| r.0 == "refundStarPayment")
            .count(),
        2
    );
    assert_eq!(expiry(&b, ALICE).await, Some(two - 30 * DAY_MS));
    let by = refunded["refund_requested_by"].as_str().unwrap_or("");
    assert!(by.starts_with("key:"), "the API key that asked: {by}");
    wait_confirmations(&b, ALICE, "refunded", 1).await;
    // Refunding it again is refused.
    let (status, _) = post(&b, &format!("/api/v1/payments/{a}/refund"), json!({})).await;
    assert_eq!(status, 409);

    // From the bot, and Telegram refuses: "refund failed", the days stay.
    b.fake
        .refuse("refundStarPayment", 400, "Bad Request: CHARGE_NOT_FOUND");
    let panel = b.say(&admin, "/admin").await;
    let list = b.press_screen(&admin, &panel, "py:0").await;
    assert!(
        list.buttons().contains(&format!("rf:{bb}")),
        "{:?}",
        list.buttons()
    );
    assert!(
        !list.buttons().contains(&format!("rf:{a}")),
        "refunded: no button"
    );
    let confirm = b.press_screen(&admin, &panel, &format!("rf:{bb}")).await;
    assert!(confirm.buttons().contains(&format!("rfy:{bb}")));
    b.press_screen(&admin, &panel, &format!("rfy:{bb}")).await;
    let failed = wait_status(&b, bb, "refund_failed").await;
    assert!(
        failed["refund_error"]
            .as_str()
            .unwrap_or("")
            .contains("CHARGE_NOT_FOUND"),
        "{failed}"
    );
    assert_eq!(failed["refund_requested_by"], format!("tg:{ADMIN}"));
    assert_eq!(expiry(&b, ALICE).await, Some(two - 30 * DAY_MS));
    assert_eq!(payments(&b, "?status=failed").await.len(), 1);
    assert_eq!(payments(&b, "?status=refunded").await.len(), 1);
    // Only the payment still counted is revenue.
    assert_eq!(b.api("/api/v1/stats").await["revenue"]["stars_today"], 50);
    // Every money movement is audited with its actor.
    let audit = b.audit().await;
    let actor_of = |action: &str| -> Vec<String> {
        audit
            .iter()
            .filter(|e| e["action"] == action && e["detail"].is_null())
            .map(|e| e["actor"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(actor_of("payment.refund_request").len(), 2);
    assert!(actor_of("payment.refund_request").contains(&format!("tg:{ADMIN}")));
    assert_eq!(actor_of("payment.refunded").len(), 1);
    assert_eq!(actor_of("payment.refund_failed").len(), 1);
    b.assert_one_poller();
}

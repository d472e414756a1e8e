//! Referrals, promo codes and the trial in the bot (issue #16 items 4–6) on the real binary
//! against the fake Bot API: each user sees their own referral link; `/start ref_<code>`
//! binds a new user to the referrer; the own link and an existing user are refused with a
//! message and bind nothing; `/promo CODE` once per user; the trial once per Telegram
//! account, also after the user is deleted and comes back.

#[path = "common/bot.rs"]
mod bot;
mod common;
#[path = "common/fake_telegram.rs"]
mod fake_telegram;

use bot::{BotNode, WAIT};
use fake_telegram::{Call, TgUser};
use serde_json::{json, Value};

const ADMIN: i64 = 1001;
const BOB: i64 = 2002;
const CAROL: i64 = 3003;
const DAVE: i64 = 4004;

/// Sends `text` and returns the `k`-th message (1-based) the bot sends after it.
async fn say_nth(b: &BotNode, user: &TgUser, text: &str, k: usize) -> Call {
    let n = b
        .sends_to(user.id)
        .iter()
        .filter(|c| c.method == "sendMessage")
        .count();
    b.fake.text(user, text);
    b.fake.nth_to(user.id, &["sendMessage"], n + k, WAIT).await
}

async fn call(b: &BotNode, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{path}", b.node.base()))
        .bearer_auth(&b.node.token);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let r = req.send().await.unwrap();
    assert!(r.status().is_success(), "{path}: {}", r.status());
    r.json().await.unwrap_or(Value::Null)
}

async fn user_id(b: &BotNode, tg: i64) -> i64 {
    b.user_of(tg).await.expect("a user")["id"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn referral_links_bind_new_users_only() {
    let b = BotNode::start(&[
        ("VPNKEEPER_TELEGRAM__ACCESS", "open"),
        ("VPNKEEPER_TELEGRAM__ADMIN_IDS", "1001"),
        ("VPNKEEPER_PAYMENTS__REFERRAL_REWARD", "percent"),
        ("VPNKEEPER_PAYMENTS__REFERRAL_PERCENT", "10"),
    ])
    .await;
    let bob = TgUser::new(BOB, "Bob", Some("bob"), "en");
    let carol = TgUser::new(CAROL, "Carol", Some("carol"), "en");
    let dave = TgUser::new(DAVE, "Dave", Some("dave"), "en");

    // Bob's own link on his account screen.
    let menu = b.menu(&bob).await;
    let bob_id = user_id(&b, BOB).await;
    let payload = format!(
        "ref_{}",
        call(
            &b,
            reqwest::Method::GET,
            &format!("/api/v1/users/{bob_id}/referral"),
            None
        )
        .await["start_payload"]
            .as_str()
            .unwrap()
            .trim_start_matches("ref_")
    );
    let account = b.press_screen(&bob, &menu, "acct").await;
    assert!(
        account
            .text()
            .contains(&format!("https://t.me/vpnkeeper_test_bot?start={payload}")),
        "{}",
        account.text()
    );
    assert!(account.text().contains("0 ⭐"), "{}", account.text());

    // Carol is new: bound to Bob.
    b.say(&carol, &format!("/start {payload}")).await;
    let carol_id = user_id(&b, CAROL).await;
    let r = call(
        &b,
        reqwest::Method::GET,
        &format!("/api/v1/users/{carol_id}/referral"),
        None,
    )
    .await;
    assert_eq!(r["referrer_id"], bob_id, "{r}");
    assert_eq!(r["status"], "pending", "{r}");

    // Bob's own link, and Carol (no longer new) again: a clear message, nothing bound.
    let own = say_nth(&b, &bob, &format!("/start {payload}"), 2).await;
    assert!(
        own.text().contains("your own invite link"),
        "{}",
        own.text()
    );
    let r = call(
        &b,
        reqwest::Method::GET,
        &format!("/api/v1/users/{bob_id}/referral"),
        None,
    )
    .await;
    assert_eq!(r["referrer_id"], Value::Null, "{r}");
    assert_eq!(r["referred"], 1, "{r}");
    let carol_ref = call(
        &b,
        reqwest::Method::GET,
        &format!("/api/v1/users/{carol_id}/referral"),
        None,
    )
    .await;
    let again = say_nth(
        &b,
        &bob,
        &format!("/start {}", carol_ref["start_payload"].as_str().unwrap()),
        2,
    )
    .await;
    assert!(
        again.text().contains("only for new users"),
        "{}",
        again.text()
    );
    let r = call(
        &b,
        reqwest::Method::GET,
        &format!("/api/v1/users/{bob_id}/referral"),
        None,
    )
    .await;
    assert_eq!(
        r["referrer_id"],
        Value::Null,
        "a loop Bob → Carol → Bob was not made: {r}"
    );

    // A link naming no user: Dave is still created, bound to no one.
    b.say(&dave, "/start ref_zzzzzz").await;
    let dave_id = user_id(&b, DAVE).await;
    let r = call(
        &b,
        reqwest::Method::GET,
        &format!("/api/v1/users/{dave_id}/referral"),
        None,
    )
    .await;
    assert_eq!(r["referrer_id"], Value::Null, "{r}");
    let binds = b
        .audit()
        .await
        .into_iter()
        .filter(|e| e["action"] == "referral.bind")
        .count();
    assert_eq!(binds, 1, "only Carol's binding was proposed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn promo_once_per_user_and_trial_once_per_account() {
    let b = BotNode::start(&[
        ("VPNKEEPER_TELEGRAM__ACCESS", "open"),
        ("VPNKEEPER_TELEGRAM__ADMIN_IDS", "1001"),
        ("VPNKEEPER_PAYMENTS__TRIAL_PLAN", "1"),
        ("VPNKEEPER_PAYMENTS__TRIAL_DAYS", "5"),
    ])
    .await;
    call(
        &b,
        reqwest::Method::POST,
        "/api/v1/plans",
        Some(json!({"name": "trial", "duration_days": 30})),
    )
    .await;
    let admin = TgUser::new(ADMIN, "Root", Some("root"), "en");
    let carol = TgUser::new(CAROL, "Carol", Some("carol"), "en");

    // The admin creates a code in the bot; Carol uses it once.
    let made = b.say(&admin, "/promo_new gift discount 20 2").await;
    assert!(made.text().contains("Done"), "{}", made.text());
    let list = b.say(&admin, "/promos").await;
    assert!(
        list.text().contains("GIFT") && list.text().contains("0/2"),
        "{}",
        list.text()
    );
    let menu = b.menu(&carol).await;
    let ok = b.say(&carol, "/promo gift").await;
    assert!(
        ok.text().contains("20% off your next purchase"),
        "{}",
        ok.text()
    );
    let twice = b.say(&carol, "/promo GIFT").await;
    assert!(
        twice.text().contains("already used promo code GIFT"),
        "{}",
        twice.text()
    );

    // The trial: offered from /start, once; not again after deletion and a new /start.
    assert!(
        menu.buttons().iter().any(|d| d == "trial"),
        "{:?}",
        menu.buttons()
    );
    b.press(&carol, &menu, "trial").await;
    let started = b.last_message(CAROL);
    assert!(
        started.text().contains("free trial has started: 5 days"),
        "{}",
        started.text()
    );
    let u = b.user_of(CAROL).await.unwrap();
    assert_eq!(u["status"], "active", "{u}");
    assert!(u["expires_at_ms"].as_i64().is_some(), "{u}");
    let id = u["id"].as_i64().unwrap();
    call(
        &b,
        reqwest::Method::DELETE,
        &format!("/api/v1/users/{id}"),
        None,
    )
    .await;
    let menu = b.menu(&carol).await;
    assert!(
        b.user_of(CAROL).await.is_some(),
        "Carol is back as a new user"
    );
    assert!(
        !menu.buttons().iter().any(|d| d == "trial"),
        "{:?}",
        menu.buttons()
    );
    let update = b.press(&carol, &menu, "trial").await;
    let answer = b.answer_of(update).unwrap();
    assert!(
        answer.params["text"]
            .as_str()
            .unwrap_or("")
            .contains("already been used"),
        "{:?}",
        answer.params
    );
}

//! Stars payments (issue #16, `pay`) joined with referrals and promo codes (`promo`) through
//! the store's `payment_hooks`, end to end on the real binary against the fake Bot API:
//! a referee's first real purchase rewards the referrer once (days or balance), a second
//! purchase does not, and a refund of the first payment (Telegram's yes) takes the reward
//! back; a redeemed discount code prices the next invoice, is used up by paying it, and the
//! invoice after that is at full price.

#[path = "common/bot.rs"]
mod bot;
mod common;
#[path = "common/fake_telegram.rs"]
mod fake_telegram;

use std::time::{Duration, Instant};

use bot::{BotNode, WAIT};
use fake_telegram::{Call, TgUser};
use serde_json::{json, Value};

const ANN: i64 = 2002;
const BEN: i64 = 3003;
const DAY_MS: i64 = 86_400_000;
const PRICE: i64 = 100;

async fn start(extra: &[(&str, &str)]) -> BotNode {
    let mut env = vec![
        ("VPNKEEPER_TELEGRAM__ACCESS", "open"),
        ("VPNKEEPER_TELEGRAM__ADMIN_IDS", "1001"),
        // The tests poll the payments list while they wait.
        ("VPNKEEPER_API__RATE_LIMIT_READS_PER_MIN", "100000"),
    ];
    env.extend_from_slice(extra);
    BotNode::start(&env).await
}

fn ann() -> TgUser {
    TgUser::new(ANN, "Ann", Some("ann"), "en")
}

fn ben() -> TgUser {
    TgUser::new(BEN, "Ben", Some("ben"), "en")
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

async fn create_plan(b: &BotNode, days: i64, price: i64) -> i64 {
    let body = json!({"name": "month", "duration_days": days, "price_stars": price});
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
    let list = b.press_screen(user, &menu, "by").await;
    let choice = format!("bp:{plan}");
    assert!(list.buttons().contains(&choice), "{:?}", list.buttons());
    let before = calls_of(b, "sendInvoice").len();
    b.press(user, &list, &choice).await;
    b.fake
        .wait("an invoice", WAIT, |_| {
            calls_of(b, "sendInvoice").len() > before
        })
        .await;
    calls_of(b, "sendInvoice").swap_remove(before)
}

/// The amount the invoice asks (its one price).
fn invoice_amount(invoice: &Call) -> i64 {
    let prices: Value = match &invoice.params["prices"] {
        Value::String(s) => serde_json::from_str(s).unwrap(),
        v => v.clone(),
    };
    assert_eq!(prices.as_array().map(Vec::len), Some(1), "{prices}");
    prices[0]["amount"].as_i64().unwrap()
}

fn payload(invoice: &Call) -> String {
    invoice.params["payload"].as_str().unwrap().to_string()
}

/// Sends a pre-checkout query; returns the bot's answer.
async fn pre_checkout(b: &BotNode, user: &TgUser, amount: i64, payload: &str) -> Call {
    let query = format!("pcq-{}", b.fake.pre_checkout(user, "XTR", amount, payload));
    let is_answer = |c: &Call| {
        c.method == "answerPreCheckoutQuery" && c.params["pre_checkout_query_id"] == query
    };
    b.fake
        .wait("a pre-checkout answer", WAIT, |calls| {
            calls.iter().any(is_answer)
        })
        .await
        .into_iter()
        .find(is_answer)
        .unwrap()
}

fn confirmations(b: &BotNode, chat: i64) -> usize {
    b.fake
        .calls_to(chat)
        .iter()
        .filter(|c| c.method == "sendMessage" && c.text().contains("Payment of"))
        .count()
}

/// Pays `invoice` (pre-checkout ok, successful payment with `charge`) and waits for the
/// confirmation. Returns the payment's id.
async fn pay(b: &BotNode, user: &TgUser, invoice: &Call, charge: &str) -> i64 {
    let (payload, amount) = (payload(invoice), invoice_amount(invoice));
    let answer = pre_checkout(b, user, amount, &payload).await;
    assert_eq!(answer.params["ok"], true, "{:?}", answer.params);
    let n = confirmations(b, user.id);
    b.fake.successful_payment(user, amount, &payload, charge);
    b.fake
        .wait("the payment's confirmation", WAIT, |_| {
            confirmations(b, user.id) > n
        })
        .await;
    let paid = payments(b).await;
    let p = paid
        .iter()
        .find(|p| p["provider_payment_id"] == charge)
        .unwrap_or_else(|| panic!("no payment {charge}: {paid:?}"));
    assert_eq!(p["status"], "paid", "{p}");
    assert_eq!(p["amount"], amount, "{p}");
    p["id"].as_i64().unwrap()
}

async fn payments(b: &BotNode) -> Vec<Value> {
    b.api("/api/v1/payments").await["payments"]
        .as_array()
        .unwrap()
        .clone()
}

async fn wait_status(b: &BotNode, id: i64, status: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let all = payments(b).await;
        if all.iter().any(|p| p["id"] == id && p["status"] == status) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "payment {id} never {status}: {all:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn user_id(b: &BotNode, tg: i64) -> i64 {
    b.user_of(tg).await.expect("a user")["id"].as_i64().unwrap()
}

async fn expiry(b: &BotNode, tg: i64) -> i64 {
    b.user_of(tg).await.unwrap()["expires_at_ms"]
        .as_i64()
        .expect("an expiry")
}

async fn balance(b: &BotNode, id: i64) -> Value {
    b.api(&format!("/api/v1/users/{id}/balance")).await
}

async fn referral(b: &BotNode, id: i64) -> Value {
    b.api(&format!("/api/v1/users/{id}/referral")).await
}

/// What the referrer stands to gain and lose: (expiry, balance).
async fn referrer_state(b: &BotNode, id: i64) -> (i64, i64) {
    let stars = balance(b, id).await["stars"].as_i64().unwrap();
    (expiry(b, ANN).await, stars)
}

/// Ann (who bought a plan herself, so she has an expiry) invites Ben; Ben buys twice;
/// the first payment is refunded by an admin through the API. `reward` is what Ann's
/// (expiry, balance) gains from Ben's first payment.
async fn referral_reward_once_and_taken_back(b: &BotNode, reward: (i64, i64)) {
    let (ann, ben) = (ann(), ben());
    let plan = create_plan(b, 30, PRICE).await;
    pay(b, &ann, &buy(b, &ann, plan).await, "ann-1").await;
    let ann_id = user_id(b, ANN).await;
    let link = referral(b, ann_id).await["start_payload"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(link.starts_with("ref_"), "{link}");

    // Ben is new: /start ref_<Ann's code> binds him to Ann.
    b.say(&ben, &format!("/start {link}")).await;
    let ben_id = user_id(b, BEN).await;
    let r = referral(b, ben_id).await;
    assert_eq!(r["referrer_id"], ann_id, "{r}");
    assert_eq!(r["status"], "pending", "{r}");
    let before = referrer_state(b, ann_id).await;

    // Ben's first purchase: Ann gets the reward.
    let first = pay(b, &ben, &buy(b, &ben, plan).await, "ben-1").await;
    let rewarded = (before.0 + reward.0, before.1 + reward.1);
    assert_eq!(referrer_state(b, ann_id).await, rewarded);
    assert_eq!(referral(b, ben_id).await["status"], "rewarded");
    assert_eq!(referral(b, ann_id).await["rewarded"], 1);

    // His second purchase: no second reward.
    pay(b, &ben, &buy(b, &ben, plan).await, "ben-2").await;
    let ben_two = expiry(b, BEN).await;
    assert_eq!(referrer_state(b, ann_id).await, rewarded);

    // An admin refunds the first payment; Telegram says yes: the reward is taken back.
    let (status, v) = post(b, &format!("/api/v1/payments/{first}/refund"), json!({})).await;
    assert_eq!(status, 202, "{v}");
    wait_status(b, first, "refunded").await;
    let refunds = calls_of(b, "refundStarPayment");
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0].params["telegram_payment_charge_id"], "ben-1");
    assert_eq!(refunds[0].params["user_id"], BEN);
    assert_eq!(expiry(b, BEN).await, ben_two - 30 * DAY_MS);
    assert_eq!(referrer_state(b, ann_id).await, before);
    assert_eq!(referral(b, ben_id).await["status"], "reversed");

    // The ledger shows the reward and its reversal, by the referral flow.
    if reward.1 > 0 {
        let ledger = balance(b, ann_id).await["ledger"].clone();
        let moves: Vec<(i64, &str)> = ledger
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["delta"].as_i64().unwrap(), e["actor"].as_str().unwrap()))
            .collect();
        assert_eq!(
            moves,
            [
                (-reward.1, "system:referral"),
                (reward.1, "system:referral")
            ],
            "newest first: {ledger}"
        );
    }
    b.assert_one_poller();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn referral_reward_of_days_is_given_once_and_taken_back_on_refund() {
    let b = start(&[
        ("VPNKEEPER_PAYMENTS__REFERRAL_REWARD", "days"),
        ("VPNKEEPER_PAYMENTS__REFERRAL_DAYS", "7"),
    ])
    .await;
    referral_reward_once_and_taken_back(&b, (7 * DAY_MS, 0)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn referral_reward_of_balance_is_given_once_and_taken_back_on_refund() {
    let b = start(&[
        ("VPNKEEPER_PAYMENTS__REFERRAL_REWARD", "percent"),
        ("VPNKEEPER_PAYMENTS__REFERRAL_PERCENT", "10"),
    ])
    .await;
    // 10 % of Ben's first payment (100 Stars).
    referral_reward_once_and_taken_back(&b, (0, 10)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_discount_code_prices_the_next_invoice_and_is_used_up_by_paying_it() {
    let b = start(&[]).await;
    let ben = ben();
    let plan = create_plan(&b, 30, PRICE).await;
    for (code, percent) in [("save20", 20), ("more10", 10)] {
        let body = json!({"code": code, "kind": "discount", "amount": percent, "max_uses": 5});
        let (status, v) = post(&b, "/api/v1/promo-codes", body).await;
        assert_eq!(status, 201, "{v}");
    }
    b.menu(&ben).await;
    let ben_id = user_id(&b, BEN).await;
    let redeem = |code: &'static str| {
        let b = &b;
        async move {
            let path = format!("/api/v1/users/{ben_id}/promo");
            post(b, &path, json!({ "code": code })).await
        }
    };

    // Ben redeems the 20 % code in the bot; a second discount waits until it is used.
    let ok = b.say(&ben, "/promo save20").await;
    assert!(ok.text().contains("20% off"), "{}", ok.text());
    let (status, v) = redeem("more10").await;
    assert_eq!(status, 409, "{v}");
    assert!(v.to_string().contains("discount waiting"), "{v}");

    // The next invoice asks 80 % of the price; the full price is refused at pre-checkout.
    let invoice = buy(&b, &ben, plan).await;
    assert_eq!(invoice_amount(&invoice), PRICE * 80 / 100);
    let full = pre_checkout(&b, &ben, PRICE, &payload(&invoice)).await;
    assert_eq!(full.params["ok"], false, "{:?}", full.params);
    // A second invoice opened meanwhile carries the same waiting discount...
    let spare = buy(&b, &ben, plan).await;
    assert_eq!(invoice_amount(&spare), PRICE * 80 / 100);
    pay(&b, &ben, &invoice, "ben-discounted").await;
    // ...but once one invoice has used it, the other is refused: one code, one discount.
    let twice = pre_checkout(&b, &ben, PRICE * 80 / 100, &payload(&spare)).await;
    assert_eq!(twice.params["ok"], false, "{:?}", twice.params);
    let msg = twice.params["error_message"].as_str().unwrap_or("");
    assert!(msg.contains("Open Buy again"), "{msg}");
    assert_eq!(
        confirmations(&b, BEN),
        1,
        "one confirmation for one payment"
    );
    let codes = b.api("/api/v1/promo-codes").await;
    let save20 = codes["promo_codes"]
        .as_array()
        .and_then(|l| l.iter().find(|c| c["code"] == "SAVE20"))
        .unwrap_or_else(|| panic!("{codes}"));
    assert_eq!(save20["uses"], 1, "{save20}");

    // Paying used the discount up: the invoice after that is at full price, and another
    // discount code is now accepted (none is waiting any more).
    let invoice = buy(&b, &ben, plan).await;
    assert_eq!(invoice_amount(&invoice), PRICE);
    let (status, v) = redeem("more10").await;
    assert_eq!(status, 200, "{v}");
    // An invoice made before that redemption keeps its price; the next one takes 10 % off.
    pay(&b, &ben, &invoice, "ben-full").await;
    let invoice = buy(&b, &ben, plan).await;
    assert_eq!(invoice_amount(&invoice), PRICE * 90 / 100);
}

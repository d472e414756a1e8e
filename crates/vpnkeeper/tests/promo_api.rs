//! Promo codes and balances (issue #16 items 3 and 5) against the real binary: 20 concurrent
//! redemptions of a code with `max_uses` 5 → exactly 5 succeed and 15 get a clear refusal;
//! a second use by the same user is refused; a disabled or expired code is refused; a debit
//! below zero is refused and every movement is in the ledger with its actor.

mod common;

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{json, Value};

use common::json_api::{start, Api};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn message(e: &Value) -> String {
    e["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn max_uses_hold_under_twenty_concurrent_redemptions() {
    let node = start();
    let api = Arc::new(Api::new(&node));
    for i in 0..20 {
        let (s, u) = api
            .post("/api/v1/users", json!({"name": format!("u{i}")}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{u}");
    }
    let code = json!({"code": "five", "kind": "discount", "amount": 10, "max_uses": 5});
    let (s, c) = api.post("/api/v1/promo-codes", code).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    assert_eq!(c["code"], "FIVE");
    assert_eq!(c["uses"], 0);

    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let api = api.clone();
            tokio::spawn(async move {
                api.post(
                    &format!("/api/v1/users/u{i}/promo"),
                    json!({"code": "Five"}),
                )
                .await
            })
        })
        .collect();
    let mut winners = Vec::new();
    let mut refusals = 0;
    for (i, t) in tasks.into_iter().enumerate() {
        let (s, body) = t.await.unwrap();
        match s {
            StatusCode::OK => {
                assert_eq!(body["kind"], "discount", "{body}");
                assert_eq!(body["pending"], true, "{body}");
                winners.push(i);
            }
            StatusCode::CONFLICT => {
                assert!(message(&body).contains("used up (5 of 5 uses)"), "{body}");
                refusals += 1;
            }
            other => panic!("redemption {i}: {other} {body}"),
        }
    }
    assert_eq!(winners.len(), 5, "winners: {winners:?}");
    assert_eq!(refusals, 15);
    let (_, list) = api.get("/api/v1/promo-codes").await;
    assert_eq!(list["promo_codes"][0]["uses"], 5, "{list}");

    // A second use by the same user: refused as such (not as "used up").
    let w = winners[0];
    let (s, e) = api
        .post(
            &format!("/api/v1/users/u{w}/promo"),
            json!({"code": "FIVE"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert!(message(&e).contains("already used promo code FIVE"), "{e}");

    // Another code: one use by a user, then disabled; an expired code; an unknown code.
    let two = json!({"code": "TWO", "kind": "discount", "amount": 5, "max_uses": 2});
    assert_eq!(
        api.post("/api/v1/promo-codes", two.clone()).await.0,
        StatusCode::CREATED
    );
    let (s, e) = api.post("/api/v1/promo-codes", two).await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    let (s, d) = api.post("/api/v1/promo-codes/two/disable", json!({})).await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(d["disabled"], true);
    let loser = (0..20).find(|i| !winners.contains(i)).unwrap();
    let (s, e) = api
        .post(
            &format!("/api/v1/users/u{loser}/promo"),
            json!({"code": "TWO"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert!(message(&e).contains("no longer valid"), "{e}");
    let old = json!({"code": "OLD", "kind": "discount", "amount": 5, "max_uses": 9,
        "expires_at_ms": now_ms() - 1000});
    assert_eq!(
        api.post("/api/v1/promo-codes", old).await.0,
        StatusCode::CREATED
    );
    let (s, e) = api
        .post(
            &format!("/api/v1/users/u{loser}/promo"),
            json!({"code": "OLD"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert!(message(&e).contains("expired"), "{e}");
    let (s, e) = api
        .post(
            &format!("/api/v1/users/u{loser}/promo"),
            json!({"code": "NOPE"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{e}");

    // Bad input: one 400 naming the field.
    for (body, field) in [
        (
            json!({"code": "X1X", "kind": "gift", "amount": 5, "max_uses": 1}),
            "kind",
        ),
        (
            json!({"code": "X1X", "kind": "discount", "amount": 150, "max_uses": 1}),
            "percent",
        ),
        (
            json!({"code": "a b", "kind": "days", "amount": 5, "max_uses": 1}),
            "code",
        ),
        (
            json!({"code": "X1X", "kind": "days", "amount": 5, "max_uses": 0}),
            "max_uses",
        ),
    ] {
        let (s, e) = api.post("/api/v1/promo-codes", body).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
        assert_eq!(e["error"]["field"], field, "{e}");
    }
}

#[tokio::test]
async fn balance_credit_debit_and_the_ledger() {
    let node = start();
    let api = Api::new(&node);
    api.post("/api/v1/users", json!({"name": "ann"})).await;
    let (s, b) = api
        .post(
            "/api/v1/users/ann/balance",
            json!({"amount": 100, "reason": "goodwill"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["stars"], 100);
    let (s, e) = api
        .post("/api/v1/users/ann/balance", json!({"amount": -150}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert!(
        message(&e).contains("is 100 Stars: a debit of 150 would take it below zero"),
        "{e}"
    );
    let (s, b) = api
        .post(
            "/api/v1/users/ann/balance",
            json!({"amount": -40, "reason": "correction"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["stars"], 60);
    let ledger = b["ledger"].as_array().unwrap();
    assert_eq!(ledger.len(), 2, "{b}");
    assert_eq!(ledger[0]["delta"], -40);
    assert_eq!(ledger[0]["reason"], "correction");
    assert!(
        ledger[0]["actor"].as_str().unwrap().starts_with("key:"),
        "{b}"
    );
    let (s, e) = api
        .post("/api/v1/users/ann/balance", json!({"amount": 0}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["error"]["field"], "amount");
    let (s, _) = api
        .post("/api/v1/users/nobody/balance", json!({"amount": 5}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Audited with the actor, the refusals too (below zero, no such user).
    let (_, audit) = api.get("/api/v1/audit").await;
    let text = audit.to_string();
    assert_eq!(text.matches("balance.adjust").count(), 4, "{audit}");
    let (s, r) = api.get("/api/v1/users/ann/referral").await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["start_payload"], "ref_1");
}

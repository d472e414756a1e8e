//! Plans and the user lifecycle (issue #15) against the real binary: plan CRUD, bad input as
//! one 4xx naming the field, assign/extend, the leader's scheduler expiring a user, the
//! device limit at issue time, reset-usage.

mod common;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use common::json_api::{start, Api};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn user_status(api: &Api, name: &str) -> Value {
    let (s, u) = api.get(&format!("/api/v1/users/{name}")).await;
    assert_eq!(s, StatusCode::OK, "{u}");
    u
}

#[tokio::test]
async fn plans_lifecycle_scheduler_and_bad_input() {
    let node = start();
    let api = Api::new(&node);
    let plan = json!({"name": "monthly", "duration_days": 30, "traffic_limit_bytes": 2048,
        "device_limit": 1, "reset_strategy": "day_of_month", "reset_day": 31, "price_stars": 100});
    let (s, p) = api.post("/api/v1/plans", plan.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let plan_id = p["id"].as_i64().unwrap();
    assert_eq!(p["reset_day"], 31);

    // Bad input: one 4xx naming the field, nothing created.
    let bad = [
        (
            json!({"name": "x", "duration_days": 30, "reset_strategy": "day_of_month", "reset_day": 32}),
            "reset_day",
        ),
        (
            json!({"name": "x", "duration_days": 30, "reset_strategy": "day_of_month", "reset_day": 0}),
            "reset_day",
        ),
        (
            json!({"name": "x", "duration_days": 30, "traffic_limit_bytes": -1}),
            "traffic_limit_bytes",
        ),
        (
            json!({"name": "x", "duration_days": 1_000_000}),
            "duration_days",
        ),
        (
            json!({"name": "x", "duration_days": 30, "reset_strategy": "fortnight"}),
            "reset_strategy",
        ),
    ];
    for (body, field) in bad {
        let (s, e) = api.post("/api/v1/plans", body).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
        assert_eq!(e["error"]["field"], field, "{e}");
    }
    let (_, list) = api.get("/api/v1/plans").await;
    assert_eq!(list["plans"].as_array().unwrap().len(), 1, "{list}");

    // Assign: active, expiry about 30 days ahead, quota and period usage shown.
    api.post("/api/v1/users", json!({"name": "alice"})).await;
    let before = now_ms();
    let (s, u) = api
        .post("/api/v1/users/alice/plan", json!({"plan": plan_id}))
        .await;
    assert_eq!(s, StatusCode::OK, "{u}");
    assert_eq!(u["status"], "active");
    assert_eq!(u["plan_id"], plan_id);
    assert_eq!(u["traffic_limit_bytes"], 2048);
    let exp = u["expires_at_ms"].as_i64().unwrap();
    assert!(
        exp >= before + 30 * 86_400_000 && exp <= now_ms() + 30 * 86_400_000,
        "{u}"
    );
    // Extending while active adds to the current expiry.
    let (_, u) = api
        .post("/api/v1/users/alice/plan", json!({"plan": plan_id}))
        .await;
    assert_eq!(u["expires_at_ms"].as_i64().unwrap(), exp + 30 * 86_400_000);

    // Device limit 1: the second new device is refused, naming the limit.
    let (s, d) = api
        .post("/api/v1/devices", json!({"user": "alice", "type": "phone"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{d}");
    let (s, e) = api
        .post(
            "/api/v1/devices",
            json!({"user": "alice", "type": "laptop"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    assert_eq!(e["error"]["field"], "device_limit", "{e}");

    // The scheduler expires a user whose expiry passes.
    let (s, u) = api
        .call(
            Method::PATCH,
            "/api/v1/users/alice",
            Some(json!({"expires_at_ms": now_ms() + 1500})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{u}");
    let mut status = Value::Null;
    for _ in 0..50 {
        status = user_status(&api, "alice").await["status"].clone();
        if status == "expired" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(status, "expired");
    // Renewing after expiry counts from now.
    let before = now_ms();
    let (_, u) = api
        .post("/api/v1/users/alice/plan", json!({"plan": plan_id}))
        .await;
    assert_eq!(u["status"], "active", "{u}");
    assert!(u["expires_at_ms"].as_i64().unwrap() >= before + 30 * 86_400_000);

    // Archived or unknown plans, unknown users: refused, nothing changes.
    let (s, _) = api
        .post(&format!("/api/v1/plans/{plan_id}/archive"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, e) = api
        .post("/api/v1/users/alice/plan", json!({"plan": plan_id}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["error"]["field"], "plan", "{e}");
    let (s, _) = api
        .post("/api/v1/users/alice/plan", json!({"plan": 999}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = api
        .post("/api/v1/users/nobody/plan", json!({"plan": plan_id}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, u) = api.post("/api/v1/users/alice/reset-usage", json!({})).await;
    assert_eq!(s, StatusCode::OK, "{u}");
    assert_eq!(u["used_bytes"], 0);
}

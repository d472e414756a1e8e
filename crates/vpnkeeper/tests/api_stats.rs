//! `GET /api/v1/stats` (issue #15 item 8) on the real binary with known data:
//! - users in every status, devices issued, revoked and deleted with their user: exact
//!   counts per status, new users, active devices per node; admin scope only; in the
//!   OpenAPI doc with its typed schema;
//! - a real data plane (wireguard-go in namespaces): traffic makes a user `limited` and
//!   active in the last 24 h, and the traffic today / this month (total and per node) is
//!   exactly what was recorded for the device and the user.

mod common;
#[path = "../../dataplane/tests/common/mod.rs"]
mod lab;
#[allow(unused_imports)]
mod plans_dataplane_lab;
mod wg_client;

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use common::json_api::{start, Api};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn ok(api: &Api, method: Method, path: &str, body: Option<Value>) -> Value {
    let (s, v) = api.call(method, path, body).await;
    assert!(s.is_success(), "{path}: {s} {v}");
    v
}

async fn issue_device(api: &Api, user: &str, device_type: &str) -> Value {
    ok(
        api,
        Method::POST,
        "/api/v1/devices",
        Some(json!({"user": user, "type": device_type})),
    )
    .await
}

#[tokio::test]
async fn stats_count_users_by_status_new_users_and_devices_per_node() {
    let node = start();
    let api = Api::new(&node);
    let plan = ok(
        &api,
        Method::POST,
        "/api/v1/plans",
        Some(json!({"name": "monthly", "duration_days": 30})),
    )
    .await;
    for name in ["a1", "a2", "a3", "d1", "h1", "gone"] {
        ok(
            &api,
            Method::POST,
            "/api/v1/users",
            Some(json!({"name": name})),
        )
        .await;
    }
    ok(
        &api,
        Method::POST,
        "/api/v1/users",
        Some(json!({"name": "e1", "expires_at_ms": now_ms() + 1500})),
    )
    .await;
    // Devices: a1 ×2, a2 (revoked below), d1, gone (deleted with its user) → 3 active.
    issue_device(&api, "a1", "phone").await;
    issue_device(&api, "a1", "laptop").await;
    let revoked = issue_device(&api, "a2", "phone").await;
    issue_device(&api, "d1", "phone").await;
    issue_device(&api, "gone", "phone").await;
    let uuid = revoked["uuid"].as_str().unwrap();
    ok(
        &api,
        Method::DELETE,
        &format!("/api/v1/devices/{uuid}"),
        None,
    )
    .await;
    ok(&api, Method::DELETE, "/api/v1/users/gone", None).await;
    ok(
        &api,
        Method::POST,
        "/api/v1/users/d1/disable",
        Some(json!({})),
    )
    .await;
    ok(
        &api,
        Method::POST,
        "/api/v1/users/h1/plan",
        Some(json!({"plan": plan["id"], "on_hold": true})),
    )
    .await;
    // e1's expiry passes; the leader's scheduler marks it.
    let mut status = Value::Null;
    for _ in 0..50 {
        status = ok(&api, Method::GET, "/api/v1/users/e1", None).await["status"].clone();
        if status == "expired" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(status, "expired");

    let before = now_ms();
    let (s, stats) = api.get("/api/v1/stats").await;
    assert_eq!(s, StatusCode::OK, "{stats}");
    let at = stats["at_ms"].as_i64().unwrap();
    assert!(at >= before && at <= now_ms(), "{stats}");
    let (_, nodes) = api.get("/api/v1/nodes").await;
    let zero = json!({"rx_bytes": 0, "tx_bytes": 0, "total_bytes": 0});
    let zeros = json!({"today": zero, "this_month": zero});
    assert_eq!(
        stats["users"],
        json!({
            "total": 6,
            "by_status": {"active": 3, "on_hold": 1, "limited": 0, "expired": 1, "disabled": 1},
            "new_24h": 6, "new_7d": 6, "active_24h": 0,
        }),
        "{stats}"
    );
    assert_eq!(stats["traffic"], zeros, "{stats}");
    assert_eq!(
        stats["nodes"],
        json!([{"id": 1, "name": nodes["nodes"][0]["name"], "online": true, "devices": 3,
            "traffic": zeros}]),
        "{stats}"
    );
    assert_eq!(
        stats["revenue"],
        json!({"currency": "XTR", "stars_today": 0, "stars_this_month": 0,
            "payments_this_month": 0, "stars_7d": 0, "stars_30d": 0}),
        "{stats}"
    );

    // Admin scope only.
    let (_, key) = api
        .post(
            "/api/v1/keys",
            json!({"name": "grafana", "scope": "read_only"}),
        )
        .await;
    let read_only = key["token"].as_str().unwrap();
    let (s, e) = api
        .call_as(Some(read_only), Method::GET, "/api/v1/stats", None)
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{e}");
    let (s, _) = api.call_as(None, Method::GET, "/api/v1/stats", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // In the OpenAPI doc, with a typed answer.
    let (_, doc) = api.get("/api/v1/openapi.json").await;
    let op = &doc["paths"]["/api/v1/stats"]["get"];
    assert_eq!(
        op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/StatsView",
        "{op}"
    );
    let schema = &doc["components"]["schemas"]["StatsView"];
    for field in ["at_ms", "users", "traffic", "nodes", "revenue"] {
        assert!(
            schema["required"]
                .as_array()
                .unwrap()
                .contains(&json!(field)),
            "{field}: {schema}"
        );
    }
}

/// Traffic through a real wireguard-go: the user passes a 2 KB quota. Skipped without the
/// tools (wireguard-go, wg, ping, curl) or root.
#[test]
fn stats_count_real_traffic_limited_and_active_users() {
    use plans_dataplane_lab::*;
    let Some((lab, node)) = setup("api_stats", "pst") else {
        return;
    };
    let tiny = plan(&node, "tiny", 2048);
    api_ok(
        &node,
        "POST",
        "/api/v1/users",
        Some(json!({"name": "alice"})),
    );
    api_ok(&node, "POST", "/api/v1/users", Some(json!({"name": "bob"})));
    api_ok(
        &node,
        "POST",
        "/api/v1/users/alice/plan",
        Some(json!({"plan": tiny})),
    );
    let (id, conf) = device(&node, "alice");
    wg_client::use_config(&lab, &conf);
    assert!(
        wg_client::ping(&lab, Duration::from_secs(15)),
        "no tunnel\n{}",
        node.log()
    );
    // Big pings until alice passes her quota and is cut.
    eventually(
        Duration::from_secs(20),
        "alice limited",
        || node.log(),
        || {
            lab::run(
                "ip",
                &[
                    "netns",
                    "exec",
                    &lab.ns_client,
                    "ping",
                    "-n",
                    "-q",
                    "-c",
                    "2",
                    "-i",
                    "0.2",
                    "-W",
                    "1",
                    "-s",
                    "1000",
                    wg_client::SERVER_TUN,
                ],
            );
            user(&node, "alice")["status"] == "limited"
        },
    );

    // Once the last report is in, every figure agrees: the device's recorded bytes, the
    // user's period usage, the node's traffic today and this month, and the totals.
    let settled = || {
        let d = api_ok(&node, "GET", &format!("/api/v1/devices/{id}"), None);
        let recorded = d["rx_bytes"].as_i64().unwrap() + d["tx_bytes"].as_i64().unwrap();
        let used = user(&node, "alice")["used_bytes"].as_i64().unwrap();
        let stats = api_ok(&node, "GET", "/api/v1/stats", None);
        let t = &stats["traffic"];
        let n = &stats["nodes"][0]["traffic"];
        let totals = [&t["today"], &t["this_month"], &n["today"], &n["this_month"]];
        let equal = recorded > 2048
            && used == recorded
            && totals.iter().all(|x| {
                x["total_bytes"] == recorded
                    && x["rx_bytes"] == d["rx_bytes"]
                    && x["tx_bytes"] == d["tx_bytes"]
            });
        (
            equal,
            format!("device {d}\nused {used}\nstats {stats}"),
            stats,
        )
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let last = loop {
        let (equal, context, stats) = settled();
        if equal {
            break stats;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "stats traffic never equal to the recorded device traffic:\n{context}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    eprintln!("settled stats: {last}");
    assert_eq!(
        last["users"]["by_status"],
        json!({"active": 1, "on_hold": 0, "limited": 1, "expired": 0, "disabled": 0}),
        "{last}"
    );
    assert_eq!(last["users"]["active_24h"], 1, "{last}");
    assert_eq!(last["users"]["total"], 2, "{last}");
    assert_eq!(last["nodes"][0]["devices"], 1, "{last}");
}

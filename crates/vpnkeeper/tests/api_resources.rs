//! The REST API against the real binary: every resource, errors as JSON 4xx naming the
//! problem, and auth (no key, wrong key, revoked key, read-only key writing).

mod common;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use common::json_api::{start, Api};

#[tokio::test]
async fn users_crud_search_pagination_and_validation() {
    let node = start();
    let api = Api::new(&node);

    let (s, alice) = api
        .post(
            "/api/v1/users",
            json!({"name": "alice", "telegram_id": 1001}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{alice}");
    let alice_id = alice["id"].as_i64().unwrap();
    assert_eq!(alice["enabled"], true);
    assert_eq!(alice["active"], true);
    let sub = alice["subscription_url"].as_str().unwrap();
    assert!(
        sub.starts_with(&format!("{}/sub/", node.base())),
        "subscription_url {sub}"
    );
    // With limits at creation.
    let (s, bob) = api
        .post(
            "/api/v1/users",
            json!({"name": "bob", "expires_at_ms": 4_102_444_800_000i64, "traffic_limit_bytes": 1_000_000}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{bob}");
    assert_eq!(bob["expires_at_ms"], 4_102_444_800_000i64);
    assert_eq!(bob["traffic_limit_bytes"], 1_000_000);
    for i in 0..5 {
        let (s, _) = api
            .post("/api/v1/users", json!({"name": format!("bulk-{i}")}))
            .await;
        assert_eq!(s, StatusCode::CREATED);
    }

    // Get by id, name and Telegram id.
    for path in [
        format!("/api/v1/users/{alice_id}"),
        "/api/v1/users/alice".to_string(),
        "/api/v1/users/tg:1001".to_string(),
    ] {
        let (s, u) = api.get(&path).await;
        assert_eq!(s, StatusCode::OK, "{path}");
        assert_eq!(u["id"], alice_id);
    }

    // Validation names the field; conflicts too.
    let cases = [
        (json!({"name": ""}), StatusCode::BAD_REQUEST, "name"),
        (
            json!({"name": "x".repeat(65)}),
            StatusCode::BAD_REQUEST,
            "name",
        ),
        (json!({"name": "42"}), StatusCode::BAD_REQUEST, "name"),
        (
            json!({"name": "ok", "telegram_id": -1}),
            StatusCode::BAD_REQUEST,
            "telegram_id",
        ),
        (
            json!({"name": "ok", "expires_at_ms": 0}),
            StatusCode::BAD_REQUEST,
            "expires_at_ms",
        ),
        (
            json!({"name": "ok", "traffic_limit_bytes": -5}),
            StatusCode::BAD_REQUEST,
            "traffic_limit_bytes",
        ),
        (json!({"name": "alice"}), StatusCode::CONFLICT, "name"),
        (
            json!({"name": "other", "telegram_id": 1001}),
            StatusCode::CONFLICT,
            "telegram_id",
        ),
    ];
    for (body, status, field) in cases {
        let (s, e) = api.post("/api/v1/users", body.clone()).await;
        assert_eq!(s, status, "{body} -> {e}");
        assert_eq!(e["error"]["field"], field, "{body} -> {e}");
    }
    let (s, e) = api
        .post("/api/v1/users", json!({"name": "a", "bogus": 1}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        e["error"]["message"].as_str().unwrap().contains("bogus"),
        "{e}"
    );
    // Not JSON at all.
    let resp = api
        .http
        .post(format!("{}/api/v1/users", api.base))
        .bearer_auth(&api.token)
        .body("name=alice")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    // Search and pagination with totals.
    let (s, page) = api.get("/api/v1/users?search=bulk&limit=2&offset=1").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(page["total"], 5);
    let names: Vec<&str> = page["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["bulk-1", "bulk-2"]);
    let (_, by_tg) = api.get("/api/v1/users?search=1001").await;
    assert_eq!(by_tg["total"], 1);
    assert_eq!(by_tg["users"][0]["name"], "alice");
    let (s, e) = api.get("/api/v1/users?limit=0").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["field"], "limit");
    let (s, _) = api.get("/api/v1/users?limit=abc").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // Update: rename, clear telegram id, set and clear expiry.
    let (s, u) = api
        .call(
            Method::PATCH,
            "/api/v1/users/alice",
            Some(json!({"name": "alice2", "telegram_id": null, "expires_at_ms": 1})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{u}");
    assert_eq!(u["name"], "alice2");
    assert!(u["telegram_id"].is_null());
    assert_eq!(u["active"], false, "expired in 1970");
    let (_, u) = api
        .call(
            Method::PATCH,
            &format!("/api/v1/users/{alice_id}"),
            Some(json!({"expires_at_ms": null})),
        )
        .await;
    assert_eq!(u["active"], true);
    assert_eq!(u["name"], "alice2", "absent fields are kept");
    let (s, e) = api
        .call(
            Method::PATCH,
            "/api/v1/users/alice2",
            Some(json!({"name": "bob"})),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(e["error"]["field"], "name");

    // Disable and enable.
    let (_, u) = api.post("/api/v1/users/alice2/disable", json!({})).await;
    assert_eq!(u["enabled"], false);
    let (_, page) = api.get("/api/v1/users?enabled=false").await;
    assert_eq!(page["total"], 1);
    let (_, u) = api.post("/api/v1/users/alice2/enable", json!({})).await;
    assert_eq!(u["enabled"], true);

    // Rotating the subscription token changes the URL.
    let (s, rotated) = api
        .post("/api/v1/users/alice2/subscription/rotate", json!({}))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_ne!(rotated["subscription_url"], alice["subscription_url"]);

    // Delete: the user and their devices are gone, the audit log remembers.
    let (s, _) = api
        .post("/api/v1/devices", json!({"user": "bob", "type": "phone"}))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = api.call(Method::DELETE, "/api/v1/users/bob", None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, e) = api.get("/api/v1/users/bob").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not found"));
    let (s, _) = api.call(Method::DELETE, "/api/v1/users/bob", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, devices) = api.get("/api/v1/devices?include_revoked=true").await;
    assert_eq!(devices["devices"].as_array().unwrap().len(), 0);
    // The delete and the refused second delete are both audited.
    let target = format!("user:{}", bob["id"]);
    let (_, audit) = api
        .get(&format!("/api/v1/audit?action=user.delete&target={target}"))
        .await;
    let entries = audit["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{audit}");
    assert!(entries[0]["detail"].is_null(), "{audit}");
    let (_, audit) = api.get("/api/v1/audit?action=user.delete").await;
    assert_eq!(audit["entries"].as_array().unwrap().len(), 2, "{audit}");
}

#[tokio::test]
async fn devices_by_id_or_uuid_config_qr_revoke() {
    let node = start();
    let api = Api::new(&node);
    let (_, carol) = api.post("/api/v1/users", json!({"name": "carol"})).await;
    let (s, d) = api
        .post("/api/v1/devices", json!({"user": "carol", "type": "phone"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{d}");
    assert_eq!(d["created"], true);
    assert_eq!(d["protocol"], "awg");
    let id = d["id"].as_i64().unwrap();
    let uuid = d["uuid"].as_str().unwrap().to_string();
    // Asking again: the same device, 200.
    let (s, again) = api
        .post(
            "/api/v1/devices",
            json!({"user": carol["id"], "type": "phone"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(again["id"], id);
    assert_eq!(again["created"], false);

    for r in [id.to_string(), uuid.clone()] {
        let (s, got) = api.get(&format!("/api/v1/devices/{r}")).await;
        assert_eq!(s, StatusCode::OK, "{r}");
        assert_eq!(got["id"], id);
        assert!(got.get("wg_private_key").is_none(), "no keys in views");
        let resp = api
            .http
            .get(format!("{}/api/v1/devices/{r}/config", api.base))
            .bearer_auth(&api.token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let conf = resp.text().await.unwrap();
        assert!(
            conf.contains("[Interface]") && conf.contains("PrivateKey"),
            "{conf}"
        );
        let resp = api
            .http
            .get(format!("{}/api/v1/devices/{r}/qr", api.base))
            .bearer_auth(&api.token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["content-type"], "image/png");
        assert!(resp.bytes().await.unwrap().starts_with(b"\x89PNG"));
    }

    let (s, e) = api.get("/api/v1/devices/not-a-device").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["field"], "device");
    let (s, _) = api.get("/api/v1/devices/999999").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = api
        .get("/api/v1/devices/00000000-0000-4000-8000-000000000000")
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, e) = api
        .post(
            "/api/v1/devices",
            json!({"user": "carol", "type": "toaster"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["field"], "type");
    let (s, _) = api
        .post(
            "/api/v1/devices",
            json!({"user": "nobody", "type": "phone"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (s, revoked) = api
        .call(Method::DELETE, &format!("/api/v1/devices/{uuid}"), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(revoked["active"], false);
    let (_, list) = api.get("/api/v1/devices?user=carol").await;
    assert_eq!(list["devices"].as_array().unwrap().len(), 0);
    let (_, list) = api
        .get("/api/v1/devices?user=carol&include_revoked=true")
        .await;
    assert_eq!(list["devices"].as_array().unwrap().len(), 1);
    let (s, _) = api.get(&format!("/api/v1/devices/{id}/config")).await;
    assert_eq!(s, StatusCode::CONFLICT, "a revoked device has no config");
}

#[tokio::test]
async fn nodes_audit_status_health_metrics_docs() {
    let node = start();
    let api = Api::new(&node);
    let (s, nodes) = api.get("/api/v1/nodes").await;
    assert_eq!(s, StatusCode::OK);
    let n = &nodes["nodes"][0];
    assert_eq!(n["id"], 1);
    assert!(n["wireguard"]["public_key"].is_string());
    assert!(
        !nodes.to_string().contains("v1:"),
        "no sealed value in node views"
    );
    let (s, one) = api.get("/api/v1/nodes/1").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(one["name"], n["name"]);
    let (s, st) = api.get("/api/v1/nodes/1/status").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(st["leader"], true);
    assert_eq!(st["voter"], true);
    assert_eq!(st["local"], true);
    assert_eq!(st["raft"]["role"], "leader");
    let (s, _) = api.get("/api/v1/nodes/77").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = api.get("/api/v1/nodes/x").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    api.post("/api/v1/users", json!({"name": "dave"})).await;
    api.post("/api/v1/users", json!({"name": "dave"})).await; // refused, audited
    let (s, audit) = api.get("/api/v1/audit?limit=10").await;
    assert_eq!(s, StatusCode::OK);
    let entries = audit["entries"].as_array().unwrap();
    assert!(entries.len() >= 3, "{audit}"); // node.upsert, api_key.create, user.create…
    assert!(
        entries[0]["id"].as_i64() > entries[1]["id"].as_i64(),
        "newest first"
    );
    let refused = entries
        .iter()
        .find(|e| e["action"] == "user.create" && e["detail"].is_string())
        .expect("the refused create is audited");
    assert!(refused["detail"]
        .as_str()
        .unwrap()
        .contains("already taken"));
    assert!(refused["actor"].as_str().unwrap().starts_with("key:"));

    let (s, status) = api.get("/api/v1/status").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(status["counts"]["users"], 1);

    let health: Value = reqwest::get(format!("{}/health", api.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok", "{health}");
    assert_eq!(health["store"]["ok"], true);
    assert!(health["backends"].is_array());

    // /metrics needs a key by default.
    let resp = reqwest::get(format!("{}/metrics", api.base)).await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let text = api
        .http
        .get(format!("{}/metrics", api.base))
        .bearer_auth(&api.token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "vpnkeeper_http_requests_total{",
        "route=\"/api/v1/users\"",
        "vpnkeeper_http_request_duration_seconds_bucket{",
        "vpnkeeper_raft_term ",
        "vpnkeeper_raft_last_log_index ",
        "vpnkeeper_raft_is_leader 1",
        "vpnkeeper_users{state=\"enabled\"} 1",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    assert!(
        !text.contains("/sub/"),
        "route templates only, never tokens"
    );

    let spec: Value = reqwest::get(format!("{}/api/v1/openapi.json", api.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(spec["openapi"].as_str().unwrap().starts_with("3.1"));
    assert!(spec["paths"]["/api/v1/users/{user}"]["patch"].is_object());
    assert!(spec["paths"]["/sub/{token}"]["get"].is_object());
    let docs = reqwest::get(format!("{}/docs", api.base)).await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await.unwrap().contains("swagger-ui-bundle.js"));
    let js = reqwest::get(format!("{}/docs/swagger-ui-bundle.js", api.base))
        .await
        .unwrap();
    assert_eq!(js.status(), StatusCode::OK);
    assert!(js.bytes().await.unwrap().len() > 100_000);

    // Request ids: accepted and echoed.
    let resp = api
        .http
        .get(format!("{}/health", api.base))
        .header("x-request-id", "req-42")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-request-id"], "req-42");
    let (s, e) = api.get("/api/v1/nope").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("/api/v1/nope"));
}

#[tokio::test]
async fn api_keys_and_auth() {
    let node = start();
    let api = Api::new(&node);

    // No key, malformed header, wrong key: 401 with one message for every bad key.
    let (s, e) = api.call_as(None, Method::GET, "/api/v1/users", None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Authorization"));
    let resp = api
        .http
        .get(format!("{}/api/v1/users", api.base))
        .header("authorization", "Basic Zm9vOmJhcg==")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let wrong = format!("{}x", node.token);
    let (s, e1) = api
        .call_as(Some(&wrong), Method::GET, "/api/v1/users", None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (_, e2) = api
        .call_as(
            Some("vk_000000000000_nope"),
            Method::GET,
            "/api/v1/users",
            None,
        )
        .await;
    assert_eq!(e1, e2, "no hint which key ids exist");

    // Create a read-only key: the token is shown once.
    let (s, ro) = api
        .post(
            "/api/v1/keys",
            json!({"name": "grafana", "scope": "read_only"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{ro}");
    let ro_token = ro["token"].as_str().unwrap().to_string();
    assert!(ro_token.starts_with(&format!("vk_{}_", ro["id"].as_str().unwrap())));
    assert_eq!(ro["scope"], "read_only");
    let (_, keys) = api.get("/api/v1/keys").await;
    let listed = keys["keys"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "admin + grafana");
    assert!(!keys.to_string().contains(&ro_token), "secret never listed");
    assert!(!keys.to_string().contains("secret_hash"));

    let (s, e) = api
        .post("/api/v1/keys", json!({"name": "x", "scope": "root"}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["field"], "scope");

    // The read-only key reads, but cannot write, see configs or manage keys.
    let (s, users) = api
        .call_as(Some(&ro_token), Method::GET, "/api/v1/users", None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(users["total"], 0);
    api.post("/api/v1/users", json!({"name": "erin"})).await;
    let (_, erin) = api
        .call_as(Some(&ro_token), Method::GET, "/api/v1/users/erin", None)
        .await;
    assert!(
        erin["subscription_url"].is_null(),
        "read-only keys do not see subscription URLs"
    );
    for (method, path, body) in [
        (
            Method::POST,
            "/api/v1/users",
            Some(json!({"name": "mallory"})),
        ),
        (Method::POST, "/api/v1/users/erin/disable", None),
        (Method::DELETE, "/api/v1/users/erin", None),
        (
            Method::POST,
            "/api/v1/devices",
            Some(json!({"user": "erin", "type": "phone"})),
        ),
        (
            Method::POST,
            "/api/v1/keys",
            Some(json!({"name": "esc", "scope": "admin"})),
        ),
        (Method::GET, "/api/v1/keys", None),
    ] {
        let (s, e) = api
            .call_as(Some(&ro_token), method.clone(), path, body)
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{method} {path}: {e}");
        assert!(e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("read-only"));
    }
    let (_, users) = api.get("/api/v1/users").await;
    assert_eq!(
        users["total"], 1,
        "nothing was written by the read-only key"
    );

    // Revoke: it stops working at once.
    let id = ro["id"].as_str().unwrap();
    let (s, k) = api
        .call(Method::DELETE, &format!("/api/v1/keys/{id}"), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(k["active"], false);
    let (s, _) = api
        .call_as(Some(&ro_token), Method::GET, "/api/v1/users", None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = api
        .call(Method::DELETE, &format!("/api/v1/keys/{id}"), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "revoking twice");

    // A new admin key works for writes.
    let (_, adm) = api
        .post("/api/v1/keys", json!({"name": "ops", "scope": "admin"}))
        .await;
    let (s, _) = api
        .call_as(
            adm["token"].as_str(),
            Method::POST,
            "/api/v1/users",
            Some(json!({"name": "frank"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, audit) = api.get("/api/v1/audit?action=user.create&limit=1").await;
    assert_eq!(
        audit["entries"][0]["actor"],
        format!("key:{}", adm["id"].as_str().unwrap())
    );
}

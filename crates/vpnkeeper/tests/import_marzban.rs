//! `vpnkeeper import marzban` against the real binary and a Marzban SQLite database made
//! here with Marzban's schema (Gozargah/Marzban `app/db/models.py`): users keep names,
//! expiry, data limit, used traffic, status and VLESS UUIDs; old subscription URLs
//! (Marzban-signed tokens) answer the same links as the user's vpnkeeper subscription;
//! `--dry-run` changes nothing and a second import changes nothing more.

mod common;

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use common::*;
use serde_json::Value;

const SECRET: &str = "3f1c9a6be0d24f7c8a5e6b7d9c0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b";
const ALICE_UUID: &str = "6f0d1c2b-3a49-4e58-8b6a-1c2d3e4f5a6b";
const BOB_UUID: &str = "0b9c8d7e-6f5a-4b3c-9d2e-1f0a9b8c7d6e";
const NUMERIC_UUID: &str = "11111111-2222-4333-8444-555555555555";
/// 2030-01-01T00:00:00Z
const ALICE_EXPIRE: i64 = 1_893_456_000;

fn env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("VPNKEEPER_XRAY__ENABLED", "true"),
        // No Xray runs in this test: the subscription renders links from the state.
        ("VPNKEEPER_XRAY__API_ADDR", "127.0.0.1:9"),
        ("VPNKEEPER_API__RATE_LIMIT_READS_PER_MIN", "0"),
        ("VPNKEEPER_API__RATE_LIMIT_ANONYMOUS_PER_IP_PER_MIN", "0"),
    ]
}

/// The tables and columns the importer reads, as Marzban's SQLAlchemy models create them.
fn marzban_db(path: &std::path::Path) {
    let c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch(
        "CREATE TABLE admins (id INTEGER PRIMARY KEY, username VARCHAR(34), hashed_password VARCHAR(128));
         CREATE TABLE users (
             id INTEGER PRIMARY KEY, username VARCHAR(34) COLLATE NOCASE UNIQUE,
             status VARCHAR(8) NOT NULL, used_traffic BIGINT, data_limit BIGINT,
             data_limit_reset_strategy VARCHAR(7) NOT NULL DEFAULT 'no_reset', expire INTEGER,
             admin_id INTEGER REFERENCES admins(id), sub_revoked_at DATETIME, sub_updated_at DATETIME,
             sub_last_user_agent VARCHAR(512), created_at DATETIME, note VARCHAR(500),
             online_at DATETIME, on_hold_expire_duration BIGINT, on_hold_timeout DATETIME,
             edit_at DATETIME, last_status_change DATETIME);
         CREATE TABLE proxies (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id),
             type VARCHAR(11) NOT NULL, settings JSON NOT NULL);
         CREATE TABLE jwt (id INTEGER PRIMARY KEY, secret_key VARCHAR(64) NOT NULL);",
    )
    .unwrap();
    c.execute("INSERT INTO jwt(secret_key) VALUES(?)", [SECRET])
        .unwrap();
    // (username, status, used_traffic, data_limit, expire, sub_revoked_at)
    type Row<'a> = (
        &'a str,
        &'a str,
        i64,
        Option<i64>,
        Option<i64>,
        Option<&'a str>,
    );
    let users: [Row; 3] = [
        (
            "alice",
            "active",
            123_456_789,
            Some(10 << 30),
            Some(ALICE_EXPIRE),
            None,
        ),
        // Revoked her URLs on 2023-11-14 22:13:20 UTC (1_700_000_000), then disabled.
        (
            "bob",
            "disabled",
            0,
            None,
            Some(0),
            Some("2023-11-14 22:13:20.000000"),
        ),
        ("12345", "limited", 5, Some(4), None, None),
    ];
    for (i, (name, status, used, limit, expire, revoked)) in users.iter().enumerate() {
        c.execute(
            "INSERT INTO users(id, username, status, used_traffic, data_limit, expire, sub_revoked_at, created_at)
             VALUES(?, ?, ?, ?, ?, ?, ?, '2023-01-01 00:00:00')",
            rusqlite::params![i as i64 + 1, name, status, used, limit, expire, revoked],
        )
        .unwrap();
    }
    for (user, ty, settings) in [
        (
            1,
            "VLESS",
            format!(r#"{{"id": "{ALICE_UUID}", "flow": ""}}"#),
        ),
        (
            1,
            "VMess",
            r#"{"id": "99999999-2222-4333-8444-555555555555"}"#.to_string(),
        ),
        (
            2,
            "VLESS",
            format!(r#"{{"id": "{BOB_UUID}", "flow": "xtls-rprx-vision"}}"#),
        ),
        (
            3,
            "VLESS",
            format!(r#"{{"id": "{NUMERIC_UUID}", "flow": ""}}"#),
        ),
    ] {
        c.execute(
            "INSERT INTO proxies(user_id, type, settings) VALUES(?, ?, ?)",
            rusqlite::params![user, ty, settings],
        )
        .unwrap();
    }
}

/// A subscription token as Marzban signs one: base64url("name,seconds") + 10 signature chars.
fn marzban_token(username: &str, secs: i64, secret: &str) -> String {
    use sha2::{Digest, Sha256};
    let body = URL_SAFE_NO_PAD.encode(format!("{username},{secs}"));
    let sig = URL_SAFE.encode(Sha256::digest(format!("{body}{secret}").as_bytes()));
    format!("{body}{}", &sig[..10])
}

fn user(node: &Node, name: &str) -> Value {
    api_get(node, &format!("/api/v1/users/{name}"))
}

fn devices(node: &Node) -> Value {
    api_get(node, "/api/v1/devices?limit=1000")
}

fn sub(node: &Node, token: &str) -> (u16, String) {
    let out = std::process::Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}"])
        .arg(format!("{}/sub/{token}?format=plain", node.base()))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.trim().parse().unwrap(), body.to_string())
}

#[test]
fn marzban_users_keep_uuids_limits_expiry_and_old_subscription_urls() {
    let mut node = Node::init();
    node.start_env(&env());
    let db = node.dir.path().join("marzban.sqlite3");
    marzban_db(&db);
    let db = db.to_str().unwrap();

    // Dry run: the plan is printed, nothing changes.
    let out = node.cli(&["import", "marzban", "--db", db, "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("would create user alice"), "{text}");
    assert!(text.contains("dry run: nothing changed"), "{text}");
    assert_eq!(api_get(&node, "/api/v1/users")["total"], 0);
    assert_eq!(
        sub(&node, &marzban_token("alice", 1_700_000_100, SECRET)).0,
        404
    );

    let out = node.cli(&["import", "marzban", "--db", db]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("3 user(s) created"),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("imported as `marzban-12345`"),
        "{}",
        stderr(&out)
    );

    let alice = user(&node, "alice");
    assert_eq!(alice["enabled"], true);
    assert_eq!(alice["expires_at_ms"], ALICE_EXPIRE * 1000);
    assert_eq!(alice["traffic_limit_bytes"], 10i64 << 30);
    let bob = user(&node, "bob");
    assert_eq!(bob["enabled"], false, "{bob}");
    assert!(
        bob["expires_at_ms"].is_null(),
        "expire 0 means never: {bob}"
    );
    assert!(bob["traffic_limit_bytes"].is_null());
    assert_eq!(user(&node, "marzban-12345")["traffic_limit_bytes"], 4);

    let all = devices(&node);
    let by_uuid = |u: &str| {
        all["devices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["uuid"] == u)
            .cloned()
            .unwrap_or_else(|| panic!("no device {u} in {all}"))
    };
    let a = by_uuid(ALICE_UUID);
    assert_eq!(a["protocol"], "vless");
    assert_eq!(a["user_id"], alice["id"]);
    assert_eq!(a["rx_bytes"], 123_456_789, "used traffic carried: {a}");
    assert_eq!(by_uuid(BOB_UUID)["user_id"], bob["id"]);
    by_uuid(NUMERIC_UUID);
    assert_eq!(
        all["devices"].as_array().unwrap().len(),
        3,
        "VMess is not carried"
    );

    // The old URL answers exactly what the user's vpnkeeper URL answers.
    let own_url = alice["subscription_url"].as_str().unwrap();
    let own_token = own_url.rsplit('/').next().unwrap();
    let (code, own) = sub(&node, own_token);
    assert_eq!(code, 200);
    assert!(own.contains(&format!("vless://{ALICE_UUID}@")), "{own}");
    let legacy = marzban_token("alice", 1_700_000_100, SECRET);
    assert_eq!(sub(&node, &legacy), (200, own.clone()));
    // Marzban compares usernames case-insensitively.
    assert_eq!(
        sub(&node, &marzban_token("ALICE", 1_700_000_100, SECRET)).0,
        200
    );
    // Forged, tampered, or revoked in Marzban before the import: refused.
    assert_eq!(
        sub(&node, &marzban_token("alice", 1_700_000_100, "guess")).0,
        404
    );
    assert_eq!(sub(&node, &legacy[..legacy.len() - 1]).0, 404);
    assert_eq!(
        sub(&node, &marzban_token("bob", 1_699_999_000, SECRET)).0,
        404
    );
    assert_eq!(
        sub(&node, &marzban_token("bob", 1_700_000_500, SECRET)).0,
        200
    );
    assert_eq!(
        sub(&node, &marzban_token("nobody", 1_700_000_500, SECRET)).0,
        404
    );

    // Idempotent: a second run changes nothing.
    let users_before = api_get(&node, "/api/v1/users?limit=1000");
    let devices_before = devices(&node);
    let out = node.cli(&["import", "marzban", "--db", db]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("0 user(s) created, 3 brought in line, 0 device(s) added"),
        "{}",
        stdout(&out)
    );
    assert_eq!(api_get(&node, "/api/v1/users?limit=1000"), users_before);
    assert_eq!(devices(&node), devices_before);

    // Rotating the user's token cuts the old Marzban URL off too.
    let r = std::process::Command::new("curl")
        .args([
            "-sf",
            "-X",
            "POST",
            "-H",
            &format!("Authorization: Bearer {}", node.token),
        ])
        .arg(format!(
            "{}/api/v1/users/alice/subscription/rotate",
            node.base()
        ))
        .output()
        .unwrap();
    assert!(r.status.success());
    assert_eq!(sub(&node, &legacy).0, 404);

    // A file that is not Marzban's: one line, nothing imported.
    let bogus = node.dir.path().join("bogus.sqlite3");
    rusqlite::Connection::open(&bogus)
        .unwrap()
        .execute_batch("CREATE TABLE t(x)")
        .unwrap();
    let out = node.cli(&["import", "marzban", "--db", bogus.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("does not look like a Marzban database"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

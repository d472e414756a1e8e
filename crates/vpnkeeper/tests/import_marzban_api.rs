//! `vpnkeeper import marzban --url` against the real binary and a fake Marzban panel
//! speaking Marzban's REST API (`tests/common/fake_marzban.rs`): the token from
//! `/api/admin/token`, every page of `/api/users`, users mapped as the database importer
//! maps them (names, expiry, data limit, used traffic, status, VLESS UUIDs), old
//! subscription URLs accepted with `--secret`, a second run changes nothing, and bad
//! credentials, an unreachable panel and something that is not Marzban are one line each.

mod common;
#[path = "common/fake_marzban.rs"]
mod fake_marzban;

use std::os::unix::fs::PermissionsExt;

use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use common::*;
use fake_marzban::{FakeMarzban, MzUser, ADMIN, PASSWORD};

const SECRET: &str = "3f1c9a6be0d24f7c8a5e6b7d9c0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b";
const ALICE_UUID: &str = "6f0d1c2b-3a49-4e58-8b6a-1c2d3e4f5a6b";
/// 2030-01-01T00:00:00Z
const ALICE_EXPIRE: i64 = 1_893_456_000;
/// More than one page (the importer asks for 200 at a time).
const FILLER: usize = 230;

fn env() -> Vec<(&'static str, &'static str)> {
    vec![
        ("VPNKEEPER_XRAY__ENABLED", "true"),
        ("VPNKEEPER_XRAY__API_ADDR", "127.0.0.1:9"),
        ("VPNKEEPER_API__RATE_LIMIT_READS_PER_MIN", "0"),
        ("VPNKEEPER_API__RATE_LIMIT_WRITES_PER_MIN", "0"),
        ("VPNKEEPER_API__RATE_LIMIT_ANONYMOUS_PER_IP_PER_MIN", "0"),
    ]
}

fn panel_users() -> Vec<MzUser> {
    let mut users = vec![
        MzUser {
            username: "alice".into(),
            status: "active",
            used_traffic: 123_456_789,
            data_limit: Some(10 << 30),
            expire: Some(ALICE_EXPIRE),
            vless_id: Some(ALICE_UUID.into()),
        },
        MzUser {
            username: "bob".into(),
            status: "disabled",
            used_traffic: 0,
            data_limit: Some(0),
            expire: Some(0),
            vless_id: Some("0b9c8d7e-6f5a-4b3c-9d2e-1f0a9b8c7d6e".into()),
        },
        MzUser {
            username: "12345".into(),
            status: "limited",
            used_traffic: 9,
            data_limit: Some(4),
            expire: None,
            vless_id: Some("11111111-2222-4333-8444-555555555555".into()),
        },
    ];
    for n in 0..FILLER {
        users.push(MzUser {
            username: format!("user_{n:04}"),
            status: "active",
            used_traffic: n as i64,
            data_limit: None,
            expire: None,
            vless_id: Some(format!("00000000-0000-4000-8000-{n:012}")),
        });
    }
    users
}

fn marzban_token(username: &str, secs: i64, secret: &str) -> String {
    use sha2::{Digest, Sha256};
    let body = URL_SAFE_NO_PAD.encode(format!("{username},{secs}"));
    let sig = URL_SAFE.encode(Sha256::digest(format!("{body}{secret}").as_bytes()));
    format!("{body}{}", &sig[..10])
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

fn password_file(node: &Node, name: &str, text: &str) -> String {
    let p = node.dir.path().join(name);
    std::fs::write(&p, format!("{text}\n")).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p.display().to_string()
}

fn import(node: &Node, url: &str, pass: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "import",
        "marzban",
        "--url",
        url,
        "--username",
        ADMIN,
        "--password-file",
        pass,
    ];
    args.extend_from_slice(extra);
    node.cli(&args)
}

fn one_line_failure(out: &std::process::Output, says: &str) {
    assert!(!out.status.success(), "should fail: {}", stdout(out));
    let err = stderr(out);
    assert!(err.contains(says), "expected `{says}` in: {err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn marzban_over_its_rest_api_keeps_users_uuids_and_old_urls() {
    let panel = FakeMarzban::start(panel_users()).await;
    let url = panel.url.clone();
    let node = tokio::task::spawn_blocking(move || {
        let mut node = Node::init();
        node.start_env(&env());
        let pass = password_file(&node, "marzban.pass", PASSWORD);

        let out = import(&node, &url, &pass, &["--secret", SECRET]);
        assert!(out.status.success(), "{}", stderr(&out));
        let total = FILLER + 3;
        assert!(
            stdout(&out).contains(&format!("{total} user(s) created")),
            "{}",
            stdout(&out)
        );
        assert!(
            stderr(&out).contains("imported as `marzban-12345`"),
            "{}",
            stderr(&out)
        );

        let alice = api_get(&node, "/api/v1/users/alice");
        assert_eq!(alice["enabled"], true);
        assert_eq!(alice["expires_at_ms"], ALICE_EXPIRE * 1000);
        assert_eq!(alice["traffic_limit_bytes"], 10i64 << 30);
        let bob = api_get(&node, "/api/v1/users/bob");
        assert_eq!(bob["enabled"], false, "{bob}");
        assert!(
            bob["expires_at_ms"].is_null() && bob["traffic_limit_bytes"].is_null(),
            "{bob}"
        );
        assert_eq!(
            api_get(&node, "/api/v1/users/marzban-12345")["traffic_limit_bytes"],
            4
        );
        let users_before = api_get(&node, "/api/v1/users?limit=1000");
        assert_eq!(users_before["total"], total as i64);

        let devices = api_get(&node, "/api/v1/devices?limit=1000");
        let list = devices["devices"].as_array().unwrap().clone();
        assert_eq!(list.len(), total);
        let a = list
            .iter()
            .find(|d| d["uuid"] == ALICE_UUID)
            .expect("alice's uuid kept");
        assert_eq!(a["user_id"], alice["id"]);
        assert_eq!(a["rx_bytes"], 123_456_789, "used traffic carried: {a}");
        let last = format!("00000000-0000-4000-8000-{:012}", FILLER - 1);
        assert!(
            list.iter().any(|d| d["uuid"] == last.as_str()),
            "the last page came too"
        );

        // The old Marzban URL answers what the user's own vpnkeeper URL answers.
        let own_url = alice["subscription_url"].as_str().unwrap().to_string();
        let own = sub(&node, own_url.rsplit('/').next().unwrap());
        assert_eq!(own.0, 200);
        assert!(
            own.1.contains(&format!("vless://{ALICE_UUID}@")),
            "{}",
            own.1
        );
        assert_eq!(
            sub(&node, &marzban_token("alice", 1_700_000_100, SECRET)),
            own
        );

        // Again: nothing changes.
        let out = import(&node, &url, &pass, &["--secret", SECRET]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(
            stdout(&out).contains(&format!(
                "0 user(s) created, {total} brought in line, 0 device(s) added"
            )),
            "{}",
            stdout(&out)
        );
        assert_eq!(api_get(&node, "/api/v1/users?limit=1000"), users_before);
        assert_eq!(api_get(&node, "/api/v1/devices?limit=1000"), devices);

        // Failures: one line each, nothing imported.
        let wrong = password_file(&node, "wrong.pass", "not it");
        one_line_failure(
            &import(&node, &url, &wrong, &[]),
            "refused the username or password",
        );
        let closed = format!("http://127.0.0.1:{}", free_port());
        one_line_failure(
            &import(&node, &closed, &pass, &[]),
            "cannot reach Marzban at",
        );
        // vpnkeeper's own API is not Marzban.
        one_line_failure(
            &import(&node, &node.base(), &pass, &[]),
            "does not look like a Marzban panel",
        );
        let out = node.cli(&["import", "marzban", "--url", &url]);
        assert!(
            !out.status.success(),
            "--url needs --username and --password-file"
        );
        assert_eq!(
            api_get(&node, "/api/v1/users?limit=1000")["total"],
            total as i64
        );
        node
    })
    .await
    .unwrap();
    // Every page was asked for with the importer's page size.
    let pages = panel.pages();
    assert!(
        pages.contains(&(0, 200)) && pages.contains(&(200, 200)),
        "{pages:?}"
    );
    drop(node);
}

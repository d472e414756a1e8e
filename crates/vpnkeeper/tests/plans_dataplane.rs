//! Plans enforced on a real data plane (issue #15): the real binary drives wireguard-go in
//! a network namespace; a client in another namespace pings through the tunnel.
//! - a 2 KB quota: traffic makes the user `limited` within a usage interval and the ping
//!   stops; `reset-usage` restores it;
//! - an expiry 5 s ahead cuts the tunnel after it passes; extending the plan restores it;
//! - an on-hold user becomes active at the first handshake, with expiry = handshake + term.

mod common;
#[path = "../../dataplane/tests/common/mod.rs"]
mod lab;
mod plans_dataplane_lab;
mod wg_client;

use std::time::{Duration, Instant};

use plans_dataplane_lab::*;
use serde_json::json;
use wg_client::{ping, use_config};

const DAY_MS: i64 = 86_400_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Big pings from the client (each ~1 KB each way): enough to pass a 2 KB quota.
fn send_traffic(lab: &lab::Lab) {
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
            "3",
            "-i",
            "0.2",
            "-W",
            "1",
            "-s",
            "1000",
            wg_client::SERVER_TUN,
        ],
    );
}

#[test]
fn quota_expiry_extend_and_reset_cut_and_restore_the_tunnel() {
    let Some((lab, node)) = setup("plans_dataplane", "pdq") else {
        return;
    };
    let log = || node.log();
    let tiny = plan(&node, "tiny", 2048);
    let big = plan(&node, "big", 0);
    api_ok(
        &node,
        "POST",
        "/api/v1/users",
        Some(json!({"name": "alice"})),
    );
    let u = api_ok(
        &node,
        "POST",
        "/api/v1/users/alice/plan",
        Some(json!({"plan": tiny})),
    );
    assert_eq!(u["status"], "active", "{u}");
    let (_, conf) = device(&node, "alice");
    use_config(&lab, &conf);
    assert!(
        ping(&lab, Duration::from_secs(15)),
        "no tunnel at first\n{}",
        log()
    );

    // Quota: past 2 KB the user is limited within a usage interval, and the tunnel is cut.
    send_traffic(&lab);
    let sent = Instant::now();
    eventually(
        Duration::from_secs(10),
        "alice limited after passing 2 KB",
        || format!("{}\n{}", user(&node, "alice"), log()),
        || user(&node, "alice")["status"] == "limited",
    );
    eprintln!("quota passed → limited in {:?}", sent.elapsed());
    let u = user(&node, "alice");
    assert!(u["used_bytes"].as_i64().unwrap() >= 2048, "{u}");
    assert!(
        !ping(&lab, Duration::from_secs(3)),
        "tunnel still works while limited"
    );

    // reset-usage: active again with nothing used, and the tunnel works.
    let u = api_ok(
        &node,
        "POST",
        "/api/v1/users/alice/reset-usage",
        Some(json!({})),
    );
    assert_eq!(u["status"], "active", "{u}");
    assert_eq!(u["used_bytes"], 0, "{u}");
    reconnect(&lab, &conf);
    assert!(
        ping(&lab, Duration::from_secs(15)),
        "no tunnel after reset-usage\n{}",
        log()
    );

    // An unlimited plan, then an expiry 5 s ahead: the tunnel works until then, not after.
    api_ok(
        &node,
        "POST",
        "/api/v1/users/alice/plan",
        Some(json!({"plan": big})),
    );
    let expires = now_ms() + 5000;
    let u = api_ok(
        &node,
        "PATCH",
        "/api/v1/users/alice",
        Some(json!({"expires_at_ms": expires})),
    );
    assert_eq!(u["status"], "active", "{u}");
    assert!(
        ping(&lab, Duration::from_secs(3)),
        "tunnel cut before the expiry"
    );
    eventually(
        Duration::from_secs(15),
        "alice expired",
        || format!("{}\n{}", user(&node, "alice"), log()),
        || user(&node, "alice")["status"] == "expired",
    );
    assert!(now_ms() >= expires, "expired early");
    // The status flips first; the data plane's pass that drops the peer follows (under a
    // loaded CI machine a few seconds later).
    eventually(
        Duration::from_secs(15),
        "the tunnel cut after the expiry",
        || format!("{}\n{}", user(&node, "alice"), log()),
        || !ping(&lab, Duration::from_secs(2)),
    );

    // Extending after expiry counts from now, and the tunnel comes back.
    let before = now_ms();
    let u = api_ok(
        &node,
        "POST",
        "/api/v1/users/alice/plan",
        Some(json!({"plan": big})),
    );
    assert_eq!(u["status"], "active", "{u}");
    assert!(
        u["expires_at_ms"].as_i64().unwrap() >= before + 30 * DAY_MS,
        "{u}"
    );
    reconnect(&lab, &conf);
    assert!(
        ping(&lab, Duration::from_secs(15)),
        "no tunnel after extending\n{}",
        log()
    );
}

#[test]
fn on_hold_user_becomes_active_at_the_first_handshake() {
    let Some((lab, node)) = setup("plans_dataplane", "pdh") else {
        return;
    };
    let monthly = plan(&node, "monthly", 0);
    api_ok(&node, "POST", "/api/v1/users", Some(json!({"name": "bob"})));
    let u = api_ok(
        &node,
        "POST",
        "/api/v1/users/bob/plan",
        Some(json!({"plan": monthly, "on_hold": true})),
    );
    assert_eq!(u["status"], "on_hold", "{u}");
    assert!(u["expires_at_ms"].is_null(), "no expiry while on hold: {u}");
    let (_, conf) = device(&node, "bob");
    // Nobody connected yet: still on hold after a few usage intervals.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(user(&node, "bob")["status"], "on_hold");

    use_config(&lab, &conf);
    let before = now_ms();
    assert!(
        ping(&lab, Duration::from_secs(15)),
        "on-hold user not served\n{}",
        node.log()
    );
    let after = now_ms();
    eventually(
        Duration::from_secs(10),
        "bob active after the first handshake",
        || format!("{}\n{}", user(&node, "bob"), node.log()),
        || user(&node, "bob")["status"] == "active",
    );
    let u = user(&node, "bob");
    let exp = u["expires_at_ms"].as_i64().expect("an expiry once active");
    // WireGuard reports handshakes in whole seconds.
    assert!(
        exp >= before - 1000 + 30 * DAY_MS && exp <= after + 30 * DAY_MS,
        "expiry {exp} not 30 days after the handshake ({before}..{after}): {u}"
    );
    assert!(
        ping(&lab, Duration::from_secs(5)),
        "tunnel lost on activation"
    );
}

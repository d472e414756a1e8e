//! Exact usage accounting (issue #15) on the real binary and wireguard-go: during one
//! continuous transfer the node is killed with SIGKILL and restarted, and later the
//! wireguard-go daemon is restarted (its counters start again at zero). The total the
//! replicated state recorded must equal what the interface counted over both daemon
//! lifetimes: nothing added twice, and nothing lost beyond one report period (the bytes
//! counted after the last report before the daemon died, which nobody can see).

mod common;
#[path = "../../dataplane/tests/common/mod.rs"]
mod lab;
mod plans_dataplane_lab;
mod wg_client;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use plans_dataplane_lab::*;
use serde_json::json;
use wg_client::{ping, use_config};

/// Pings of 1 KB every 100 ms from the client until killed: a steady transfer.
fn start_transfer(lab: &lab::Lab) -> Child {
    Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.ns_client,
            "ping",
            "-n",
            "-q",
            "-i",
            "0.1",
            "-s",
            "1000",
        ])
        .arg(wg_client::SERVER_TUN)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ping")
}

fn recorded(node: &common::Node, device_id: &str) -> i64 {
    let d = api_ok(node, "GET", &format!("/api/v1/devices/{device_id}"), None);
    d["rx_bytes"].as_i64().unwrap() + d["tx_bytes"].as_i64().unwrap()
}

#[test]
fn usage_is_exact_across_a_node_kill_and_a_daemon_restart() {
    let Some((mut lab, mut node)) = setup("usage_exact", "uxa") else {
        return;
    };
    api_ok(
        &node,
        "POST",
        "/api/v1/users",
        Some(json!({"name": "carol"})),
    );
    let (device_id, conf) = device(&node, "carol");
    let public = api_ok(&node, "GET", &format!("/api/v1/devices/{device_id}"), None)
        ["wg_public_key"]
        .as_str()
        .unwrap()
        .to_string();
    use_config(&lab, &conf);
    assert!(
        ping(&lab, Duration::from_secs(15)),
        "no tunnel\n{}",
        node.log()
    );

    let started = Instant::now();
    let mut transfer = start_transfer(&lab);
    std::thread::sleep(Duration::from_secs(3));

    // kill -9 the node mid-transfer; the daemon keeps counting while it is down.
    node.kill9();
    std::thread::sleep(Duration::from_secs(4));
    start_node(&mut node, &lab);
    std::thread::sleep(Duration::from_secs(3));

    // Restart the daemon mid-transfer: its counters start again at zero.
    let first_life = server_transfer(&lab, &public).expect("peer on the first daemon");
    lab.kill_server();
    let first_life_secs = started.elapsed().as_secs_f64();
    lab.start_server(lab::Impl::WireguardGo);
    eventually(
        Duration::from_secs(10),
        "peer restored on the restarted daemon",
        || node.log(),
        || server_transfer(&lab, &public).is_some(),
    );
    reconnect(&lab, &conf);
    eventually(
        Duration::from_secs(20),
        "traffic through the restarted daemon",
        || node.log(),
        || server_transfer(&lab, &public).is_some_and(|(rx, _)| rx > 20_000),
    );
    std::thread::sleep(Duration::from_secs(2));
    transfer.kill().unwrap();
    transfer.wait().unwrap();

    // The last figures are reported within a few intervals, then nothing moves.
    let second_life = server_transfer(&lab, &public).unwrap();
    let real = (first_life.0 + first_life.1 + second_life.0 + second_life.1) as i64;
    let mut last = -1;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        std::thread::sleep(Duration::from_secs(2 * USAGE_INTERVAL_SECS));
        let now = recorded(&node, &device_id);
        if now == last || Instant::now() > deadline {
            break;
        }
        last = now;
    }
    let total = recorded(&node, &device_id);
    // One report period: the usage throttle plus one reconcile pass (1 s each here), at the
    // rate the first daemon counted.
    let rate = (first_life.0 + first_life.1) as f64 / first_life_secs;
    let period = (rate * 2.0 * USAGE_INTERVAL_SECS as f64) as i64;
    eprintln!(
        "interface counted {real} B (first daemon {first_life:?}, second {second_life:?}); \
         recorded {total} B; one report period ≈ {period} B"
    );
    // Packets between reading the first daemon's counters and killing it: a few KB at most.
    assert!(
        total <= real + 4_500,
        "traffic counted twice: {total} > {real}"
    );
    assert!(
        total >= real - period,
        "traffic lost: recorded {total}, counted {real}, allowed loss {period}\n{}",
        node.log()
    );
}

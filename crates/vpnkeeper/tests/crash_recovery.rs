//! `kill -9` during a burst of writes: after a restart the node has exactly the committed
//! state — every acknowledged write, nothing that was never asked for, nothing twice.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const WRITERS: usize = 16;

/// The burst is far beyond the API's default per-key write limit; this test is about
/// durability, so the limits are off.
const NO_LIMITS: [(&str, &str); 2] = [
    ("VPNKEEPER_API__RATE_LIMIT_WRITES_PER_MIN", "0"),
    ("VPNKEEPER_API__RATE_LIMIT_READS_PER_MIN", "0"),
];

/// Creates users `w{writer}-{n}` as fast as possible until the node dies; returns the names
/// whose creation was acknowledged with 201.
async fn burst(base: String, token: String, round: usize) -> (BTreeSet<String>, BTreeSet<String>) {
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let attempted = Arc::new(Mutex::new(BTreeSet::new()));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        let (acked, attempted) = (acked.clone(), attempted.clone());
        tasks.push(tokio::spawn(async move {
            for n in 0.. {
                let name = format!("r{round}-w{w}-{n}");
                attempted.lock().unwrap().insert(name.clone());
                let resp = client
                    .post(format!("{base}/api/v1/users"))
                    .bearer_auth(&token)
                    .json(&json!({ "name": name }))
                    .send()
                    .await;
                match resp {
                    Ok(r) if r.status().as_u16() == 201 => {
                        acked.lock().unwrap().insert(name.clone());
                    }
                    Ok(r) => panic!("unexpected answer {} for {name}", r.status()),
                    Err(_) => return, // the node is gone
                }
                // Mix in a device per user so entries touch several tables.
                let _ = client
                    .post(format!("{base}/api/v1/devices"))
                    .bearer_auth(&token)
                    .json(&json!({ "user": name, "type": "phone" }))
                    .send()
                    .await;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let a = acked.lock().unwrap().clone();
    let t = attempted.lock().unwrap().clone();
    (a, t)
}

async fn all_users(base: &str, token: &str) -> Vec<String> {
    let client = reqwest::Client::new();
    let mut names = Vec::new();
    let mut offset = 0;
    loop {
        let page: Value = client
            .get(format!("{base}/api/v1/users?limit=1000&offset={offset}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let users = page["users"].as_array().unwrap();
        if users.is_empty() {
            return names;
        }
        names.extend(
            users
                .iter()
                .map(|u| u["name"].as_str().unwrap().to_string()),
        );
        offset += users.len();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill9_during_write_burst_recovers_committed_state() {
    let mut node = Node::init();
    let mut all_acked = BTreeSet::new();
    let mut all_attempted = BTreeSet::new();
    for round in 0..3 {
        node.start_env(&NO_LIMITS);
        let writer = tokio::spawn(burst(node.base(), node.token.clone(), round));
        // Kill at a different moment each round.
        tokio::time::sleep(Duration::from_millis(700 + 450 * round as u64)).await;
        node.kill9();
        let (acked, attempted) = writer.await.unwrap();
        assert!(
            !acked.is_empty(),
            "round {round}: no write was acknowledged before the kill"
        );
        all_acked.extend(acked);
        all_attempted.extend(attempted);

        node.start_env(&NO_LIMITS);
        let names = all_users(&node.base(), &node.token).await;
        let recovered: BTreeSet<String> = names.iter().cloned().collect();
        assert_eq!(
            recovered.len(),
            names.len(),
            "a user appears twice after recovery"
        );
        let lost: Vec<_> = all_acked.difference(&recovered).collect();
        assert!(
            lost.is_empty(),
            "round {round}: acknowledged writes lost: {lost:?}"
        );
        let invented: Vec<_> = recovered.difference(&all_attempted).collect();
        assert!(
            invented.is_empty(),
            "round {round}: users nobody created: {invented:?}"
        );

        // Devices: each recovered user has at most one phone, with a unique address.
        let devices: Value = reqwest::Client::new()
            .get(format!("{}/api/v1/devices?limit=1000", node.base()))
            .bearer_auth(&node.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let devices = devices["devices"].as_array().unwrap();
        let addrs: BTreeSet<&str> = devices
            .iter()
            .map(|d| d["address_v4"].as_str().unwrap())
            .collect();
        assert_eq!(
            addrs.len(),
            devices.len(),
            "two devices share an address after recovery"
        );
        let owners: BTreeSet<i64> = devices
            .iter()
            .map(|d| d["user_id"].as_i64().unwrap())
            .collect();
        assert_eq!(owners.len(), devices.len(), "a user got two phones");
        eprintln!(
            "round {round}: {} acknowledged so far, {} users recovered, {} devices",
            all_acked.len(),
            recovered.len(),
            devices.len()
        );
        node.kill9();
    }
}

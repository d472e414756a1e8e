//! `kill -9` of the leader of a three-node cluster during a burst of 300 writes sent
//! round-robin to all three nodes: every acknowledged write is on the survivors once a new
//! leader is elected, and the killed node catches up after a restart.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::fleet::*;
use serde_json::json;

const WRITES: usize = 300;
const WRITERS: usize = 8;
/// The leader dies once this many writes were acknowledged.
const KILL_AFTER: usize = 100;

struct Target {
    base: String,
    token: String,
}

/// Sends writes `0..WRITES` (user `f-<i>` to node `i % 3`) from `WRITERS` tasks; returns
/// the names acknowledged with 201. `acked` counts them as they come.
async fn burst(targets: Arc<Vec<Target>>, acked: Arc<AtomicUsize>) -> BTreeSet<String> {
    let next = Arc::new(AtomicUsize::new(0));
    let names = Arc::new(Mutex::new(BTreeSet::new()));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..WRITERS {
        let (client, targets, next) = (client.clone(), targets.clone(), next.clone());
        let (names, acked) = (names.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= WRITES {
                    return;
                }
                let name = format!("f-{i}");
                // A write that fails (the dead node, no leader during the election) is
                // retried on the next node until one acknowledges it. A retry answered 409
                // means an earlier attempt did commit: present, but never acknowledged.
                for attempt in 0..200 {
                    let t = &targets[(i + attempt) % targets.len()];
                    let resp = client
                        .post(format!("{}/api/v1/users", t.base))
                        .bearer_auth(&t.token)
                        .json(&json!({ "name": name }))
                        .send()
                        .await;
                    match resp {
                        Ok(r) if r.status().as_u16() == 201 => {
                            names.lock().unwrap().insert(name);
                            acked.fetch_add(1, Ordering::SeqCst);
                            break;
                        }
                        Ok(r) if r.status().as_u16() == 409 => break,
                        Ok(r) => assert!(
                            r.status().is_server_error(),
                            "unexpected answer {} for {name}",
                            r.status()
                        ),
                        Err(_) => {}
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    Arc::try_unwrap(names).unwrap().into_inner().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_leader_during_a_burst_loses_no_acknowledged_write() {
    let (mut n1, n2, n3) = tokio::task::spawn_blocking(three_nodes).await.unwrap();
    assert_eq!(leader_of(&n1), Some(1));
    let targets: Arc<Vec<Target>> = Arc::new(
        [&n1, &n2, &n3]
            .iter()
            .map(|n| Target {
                base: n.base(),
                token: n.token.clone(),
            })
            .collect(),
    );
    let acked_count = Arc::new(AtomicUsize::new(0));
    let writes = tokio::spawn(burst(targets, acked_count.clone()));
    while acked_count.load(Ordering::SeqCst) < KILL_AFTER {
        assert!(!writes.is_finished(), "the burst ended before the kill");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    n1.kill9();
    let acked = writes.await.unwrap();
    assert!(acked.len() >= KILL_AFTER, "{} acknowledged", acked.len());
    eprintln!(
        "{} of {WRITES} writes acknowledged across the kill",
        acked.len()
    );

    let (n2, n3) = tokio::task::spawn_blocking(move || {
        eventually(
            "a new leader among the survivors",
            Duration::from_secs(20),
            || matches!(leader_of(&n2), Some(2 | 3)) && leader_of(&n2) == leader_of(&n3),
        );
        for node in [&n2, &n3] {
            eventually(
                "every acknowledged write on a survivor",
                Duration::from_secs(20),
                || user_names(node).is_superset(&acked),
            );
        }
        // The old leader restarts as a follower and catches up, writes made after its
        // death included.
        n1.start_env(&NO_LIMITS);
        eventually("node 1 caught up", Duration::from_secs(30), || {
            let on_n1 = user_names(&n1);
            on_n1.is_superset(&acked) && on_n1 == user_names(&n2)
        });
        (n2, n3)
    })
    .await
    .unwrap();
    drop((n2, n3));
}

//! Scheduled backups sent to the bot's admins (issue #18), with the real binary and the
//! fake Bot API: every admin gets the sealed file as a document with a caption (size,
//! counts, time), once per schedule slot even across a restart, and the file they got
//! restores onto a fresh node with the same users and devices. When Telegram refuses the
//! document, each admin gets an alert instead and the node logs it, without secrets.

mod common;
#[path = "common/fake_telegram.rs"]
mod fake_telegram;

use std::time::Duration;

use common::*;
use fake_telegram::{Call, FakeTelegram, TOKEN};
use serde_json::Value;

const ADMINS: [i64; 2] = [1001, 1003];
const WAIT: Duration = Duration::from_secs(30);

/// The node's env: the bot on `fake`, two admins, an hourly schedule (the first slot is
/// due as soon as the bot runs; the next one is an hour away), the local copies in `dir`.
fn env(fake: &FakeTelegram, dir: &str) -> Vec<(String, String)> {
    let mut env = fake.env();
    for (k, v) in [
        ("VPNKEEPER_TELEGRAM__ADMIN_IDS", "1001,1003"),
        ("VPNKEEPER_TELEGRAM__ALLOWED_IDS", "2002"),
        ("VPNKEEPER_BACKUP__INTERVAL_SECS", "3600"),
        ("VPNKEEPER_BACKUP__DIR", dir),
    ] {
        env.push((k.into(), v.into()));
    }
    env
}

async fn start(node: Node, env: Vec<(String, String)>) -> Node {
    tokio::task::spawn_blocking(move || {
        let mut node = node;
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        node.start_env(&pairs);
        node
    })
    .await
    .unwrap()
}

async fn stop(node: Node) -> Node {
    tokio::task::spawn_blocking(move || {
        let mut node = node;
        node.terminate();
        node
    })
    .await
    .unwrap()
}

fn documents(fake: &FakeTelegram, chat: i64) -> Vec<Call> {
    fake.calls_to(chat)
        .into_iter()
        .filter(|c| c.method == "sendDocument")
        .collect()
}

fn list(node: &Node, what: &str) -> Vec<Value> {
    api_get(node, &format!("/api/v1/{what}?limit=1000"))[what]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_backup_reaches_each_admin_once_and_restores_on_a_fresh_node() {
    // State first, without the bot, so the backup's content is known.
    let node = tokio::task::spawn_blocking(|| {
        let mut node = Node::init();
        node.start();
        for name in ["alice", "bob", "carol"] {
            assert!(node.cli(&["user", "add", name]).status.success());
        }
        let out = node.cli(&[
            "device",
            "add",
            "alice",
            "--type",
            "laptop",
            "--protocol",
            "awg",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        node.terminate();
        node
    })
    .await
    .unwrap();
    let fake = FakeTelegram::start().await;
    let local = node.dir.path().join("backups").display().to_string();
    let node = start(node, env(&fake, &local)).await;

    let mut files = Vec::new();
    for admin in ADMINS {
        let doc = fake.nth_to(admin, &["sendDocument"], 1, WAIT).await;
        let caption = doc.params["caption"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        for part in ["users 3", "devices 1", "nodes 1", "UTC", " kB"] {
            assert!(caption.contains(part), "`{part}` in the caption: {caption}");
        }
        let (name, bytes) = doc.file("document").expect("the backup file");
        assert!(name.ends_with(".vkbackup"), "{name}");
        assert!(bytes.starts_with(b"VKBACKUP1\n"), "a sealed backup");
        files.push(bytes);
    }
    // One slot, one file for every admin.
    assert_eq!(files[0], files[1]);

    // Once per slot: nothing more now, nor after a restart (the slot is recorded in the
    // replicated state, not in the process).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let node = stop(node).await;
    let node = start(node, env(&fake, &local)).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    for admin in ADMINS {
        assert_eq!(
            documents(&fake, admin).len(),
            1,
            "admin {admin} got one backup"
        );
    }
    let log = node.log();
    assert!(
        !log.contains(TOKEN.split(':').nth(1).unwrap()),
        "no bot token in the log"
    );

    // The document restores onto a fresh node (cluster-sealed: with the cluster key).
    let before_users = list(&node, "users");
    let before_devices = list(&node, "devices");
    assert_eq!(before_users.len(), 3);
    let scratch = tempfile::tempdir().unwrap();
    let file = scratch.path().join("from-telegram.vkbackup");
    std::fs::write(&file, &files[0]).unwrap();
    let key = node.data_dir().join("cluster.key");
    let (api_port, raft_port) = (free_port(), free_port());
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("data");
    let out = vk(&[
        "restore",
        "--data-dir",
        target.to_str().unwrap(),
        "--from",
        file.to_str().unwrap(),
        "--cluster-key",
        key.to_str().unwrap(),
        "--name",
        "restored-1",
        "--api-listen",
        &format!("127.0.0.1:{api_port}"),
        "--raft-listen",
        &format!("127.0.0.1:{raft_port}"),
        "--public-host",
        "127.0.0.1",
        "--wg-backend",
        "none",
    ]);
    assert!(out.status.success(), "restore: {}", stderr(&out));
    let mut restored = Node {
        dir,
        api_port,
        raft_port,
        token: stdout(&out).trim().to_string(),
        child: None,
    };
    let restored = tokio::task::spawn_blocking(move || {
        restored.start();
        restored
    })
    .await
    .unwrap();
    let names = |users: &[Value]| -> Vec<(Value, Value)> {
        users
            .iter()
            .map(|u| (u["id"].clone(), u["name"].clone()))
            .collect()
    };
    assert_eq!(names(&list(&restored, "users")), names(&before_users));
    assert_eq!(list(&restored, "devices"), before_devices);
    drop(node);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_backup_document_alerts_each_admin_and_is_logged() {
    let fake = FakeTelegram::start().await;
    // As Telegram answers a file above its limit.
    fake.refuse("sendDocument", 413, "Request Entity Too Large");
    let node = tokio::task::spawn_blocking(Node::init).await.unwrap();
    let local = node.dir.path().join("backups").display().to_string();
    let node = start(node, env(&fake, &local)).await;
    for admin in ADMINS {
        let alert = fake
            .wait(&format!("an alert to {admin}"), WAIT, |calls| {
                calls.iter().any(|c| {
                    c.chat() == Some(admin)
                        && c.method == "sendMessage"
                        && c.text().contains("Scheduled backup FAILED")
                })
            })
            .await
            .into_iter()
            .find(|c| c.chat() == Some(admin) && c.text().contains("FAILED"))
            .unwrap();
        assert!(
            alert.text().contains("Request Entity Too Large"),
            "the alert says why: {}",
            alert.text()
        );
        assert!(documents(&fake, admin).is_empty());
    }
    assert!(
        fake.rejected()
            .iter()
            .any(|(m, s, _)| m == "sendDocument" && *s == 413),
        "the document was tried"
    );
    let log = node.log();
    assert!(
        log.contains("scheduled backup NOT delivered"),
        "logged: {log}"
    );
    let secret = std::fs::read_to_string(node.data_dir().join("cluster.key")).unwrap();
    assert!(!log.contains(secret.trim()), "no cluster secret in the log");
    assert!(
        !log.contains(TOKEN.split(':').nth(1).unwrap()),
        "no bot token in the log"
    );
}

//! `vpnkeeper backup create` while writes run, then `vpnkeeper restore` onto a new data
//! directory with another name and other ports: users, devices and keys are the same, and a
//! wireguard-go client holding a config issued before the backup connects to the restored
//! node's data plane. Corrupt, truncated, wrong-passphrase and foreign-cluster files are
//! refused with one line and nothing written.

mod common;
#[path = "../../dataplane/tests/common/mod.rs"]
mod lab;
mod wg_client;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use lab::{Impl, Lab, SERVER_VETH_IP};
use serde_json::Value;
use wg_client::{ping, use_config};

const NO_LIMITS: [(&str, &str); 3] = [
    ("VPNKEEPER_API__RATE_LIMIT_READS_PER_MIN", "0"),
    ("VPNKEEPER_API__RATE_LIMIT_WRITES_PER_MIN", "0"),
    ("VPNKEEPER_WIREGUARD__AMNEZIAWG", "false"),
];

fn post_user(node_base: &str, token: &str, name: &str) -> bool {
    std::process::Command::new("curl")
        .args([
            "-sf",
            "-X",
            "POST",
            "-H",
            &format!("Authorization: Bearer {token}"),
        ])
        .args(["-H", "Content-Type: application/json", "-d"])
        .arg(format!(r#"{{"name": "{name}"}}"#))
        .arg(format!("{node_base}/api/v1/users"))
        .output()
        .unwrap()
        .status
        .success()
}

fn list(node: &Node, what: &str) -> Vec<Value> {
    api_get(node, &format!("/api/v1/{what}?limit=1000"))[what]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// `vpnkeeper restore` into `dir` (expected to fail when `ok` is false).
fn restore(dir: &Path, from: &Path, extra: &[&str], ports: (u16, u16)) -> std::process::Output {
    let api = format!("127.0.0.1:{}", ports.0);
    let raft = format!("127.0.0.1:{}", ports.1);
    let mut args = vec![
        "restore",
        "--data-dir",
        dir.to_str().unwrap(),
        "--from",
        from.to_str().unwrap(),
        "--name",
        "restored-1",
        "--api-listen",
        &api,
        "--raft-listen",
        &raft,
        "--public-host",
        SERVER_VETH_IP,
        "--wg-backend",
        "none",
    ];
    args.extend_from_slice(extra);
    vk(&args)
}

fn refused(out: &std::process::Output, dir: &Path, says: &str) {
    assert!(!out.status.success(), "should be refused: {}", stdout(out));
    let err = stderr(out);
    assert!(err.contains(says), "expected `{says}` in: {err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(!dir.exists(), "nothing written for a refused restore");
}

#[test]
fn backup_while_writing_then_restore_elsewhere_keeps_users_devices_keys_and_configs() {
    let have_lab =
        lab::prerequisites("backup_restore", &["wireguard-go", "wg", "ping", "curl"]).is_some();
    let mut node = Node::init_with(&["--public-host", SERVER_VETH_IP]);
    node.start_env(&NO_LIMITS);
    for name in ["alice", "bob"] {
        let out = node.cli(&["user", "add", name]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let out = node.cli(&[
        "device",
        "add",
        "alice",
        "--type",
        "laptop",
        "--protocol",
        "wireguard",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let alice_conf = stdout(&out);

    // Writes keep coming while the backup is taken.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, base, token) = (stop.clone(), node.base(), node.token.clone());
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                assert!(post_user(&base, &token, &format!("load-{n}")));
                n += 1;
            }
            n
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let pass = node.dir.path().join("pass");
    std::fs::write(&pass, "correct horse battery\n").unwrap();
    std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let file = node.dir.path().join("b.vkbackup");
    let out = node.cli(&[
        "backup",
        "create",
        "--out",
        file.to_str().unwrap(),
        "--passphrase-file",
        pass.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    assert!(written > 0);
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let bytes = std::fs::read(&file).unwrap();
    let manifest: Value =
        serde_json::from_slice(bytes[10..].split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert!(
        manifest["counts"]["users"].as_i64().unwrap() >= 2,
        "{manifest}"
    );
    assert_eq!(manifest["sealing"]["kind"], "passphrase");

    // A cluster-sealed one (no passphrase), through the API too.
    let cluster_file = node.dir.path().join("c.vkbackup");
    let out = node.cli(&["backup", "create", "--out", cluster_file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));

    // Refusals: one line, nothing written.
    let scratch = tempfile::tempdir().unwrap();
    let target = scratch.path().join("new");
    let ports = (free_port(), free_port());
    let wrong = scratch.path().join("wrong");
    std::fs::write(&wrong, "not the passphrase\n").unwrap();
    std::fs::set_permissions(&wrong, std::fs::Permissions::from_mode(0o600)).unwrap();
    let pass_arg = ["--passphrase-file", pass.to_str().unwrap()];
    refused(
        &restore(
            &target,
            &file,
            &["--passphrase-file", wrong.to_str().unwrap()],
            ports,
        ),
        &target,
        "wrong passphrase",
    );
    let truncated = scratch.path().join("t.vkbackup");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    refused(
        &restore(&target, &truncated, &pass_arg, ports),
        &target,
        "corrupt or truncated",
    );
    let corrupt = scratch.path().join("x.vkbackup");
    let mut flipped = bytes.clone();
    let mid = flipped.len() - 100;
    flipped[mid] ^= 0x40;
    std::fs::write(&corrupt, &flipped).unwrap();
    refused(
        &restore(&target, &corrupt, &pass_arg, ports),
        &target,
        "corrupt",
    );
    let other = Node::init();
    let other_key = other.data_dir().join("cluster.key");
    refused(
        &restore(
            &target,
            &cluster_file,
            &["--cluster-key", other_key.to_str().unwrap()],
            ports,
        ),
        &target,
        "belongs to cluster",
    );
    refused(
        &restore(&target, &cluster_file, &[], ports),
        &target,
        "--cluster-key",
    );

    // The real restore, other name and ports.
    let out = restore(&target, &file, &pass_arg, ports);
    assert!(out.status.success(), "{}", stderr(&out));
    let before_users = list(&node, "users");
    let before_devices = list(&node, "devices");
    let before_node = api_get(&node, "/api/v1/nodes/1");
    node.terminate();

    let token = stdout(&out).trim().to_string();
    let dir = tempfile::tempdir().unwrap();
    std::fs::remove_dir(dir.path()).unwrap();
    std::fs::rename(&target, dir.path().join("data")).unwrap_or_else(|_| {
        std::fs::create_dir_all(dir.path()).unwrap();
        std::fs::rename(&target, dir.path().join("data")).unwrap();
    });
    let mut restored = Node {
        dir,
        api_port: ports.0,
        raft_port: ports.1,
        token,
        child: None,
    };

    let lab = have_lab.then(|| {
        let mut lab = Lab::new("bkrs");
        lab.start_server(Impl::WireguardGo);
        lab
    });
    let mut env = NO_LIMITS.to_vec();
    if let Some(lab) = &lab {
        env.push(("VPNKEEPER_WIREGUARD__BACKEND", "uapi"));
        env.push(("VPNKEEPER_WIREGUARD__INTERFACE", lab.server_if.as_str()));
        env.push(("VPNKEEPER_WIREGUARD__NETNS", lab.ns_server.as_str()));
        env.push(("VPNKEEPER_WIREGUARD__RECONCILE_INTERVAL_SECS", "1"));
    }
    restored.start_env(&env);
    let node_after = api_get(&restored, "/api/v1/nodes/1");
    assert_eq!(node_after["name"], "restored-1");
    assert_eq!(
        node_after["wireguard"]["public_key"],
        before_node["wireguard"]["public_key"]
    );

    // Every user and device restored is exactly the original (a prefix of what the writer
    // made), and everything made before the backup started is there.
    let after_users = list(&restored, "users");
    assert!(after_users.len() >= 2 && after_users.len() <= before_users.len());
    for u in &after_users {
        let orig = before_users.iter().find(|b| b["id"] == u["id"]).unwrap();
        let strip = |v: &Value| {
            let mut v = v.clone();
            // The subscription URL names the node's public address: same token, same host.
            v.as_object_mut().unwrap().remove("subscription_url");
            v
        };
        assert_eq!(strip(u), strip(orig));
        assert_eq!(
            u["subscription_url"].as_str().unwrap().rsplit('/').next(),
            orig["subscription_url"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
        );
    }
    assert_eq!(list(&restored, "devices"), before_devices);
    let out = restored.cli(&[
        "device",
        "add",
        "alice",
        "--type",
        "laptop",
        "--protocol",
        "wireguard",
    ]);
    assert_eq!(
        stdout(&out),
        alice_conf,
        "the same config comes back, same keys"
    );

    if let Some(lab) = &lab {
        use_config(lab, &alice_conf);
        let ok = ping(lab, Duration::from_secs(20));
        assert!(
            ok,
            "a config issued before the backup does not connect; log:\n{}",
            restored.log()
        );
    }
}

#[test]
fn scheduled_backups_land_in_the_backup_dir_and_only_the_newest_are_kept() {
    let mut node = Node::init();
    let dir = node.dir.path().join("backups");
    let dir_s = dir.to_str().unwrap().to_string();
    node.start_env(&[
        ("VPNKEEPER_BACKUP__INTERVAL_SECS", "1"),
        ("VPNKEEPER_BACKUP__KEEP", "2"),
        ("VPNKEEPER_BACKUP__DIR", &dir_s),
    ]);
    assert!(node.cli(&["user", "add", "alice"]).status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let written = || {
        let m = api_text(&node, "/metrics");
        m.lines()
            .find(|l| l.starts_with("vpnkeeper_backups_total"))
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    while written() < 4.0 {
        assert!(
            Instant::now() < deadline,
            "no scheduled backups; log:\n{}",
            node.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    let backups: Vec<_> = files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "vkbackup"))
        .collect();
    assert!(backups.len() <= 2 && !backups.is_empty(), "{files:?}");
    for b in &backups {
        assert_eq!(
            std::fs::metadata(b).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // A scheduled backup restores like any other (cluster-sealed: with the cluster key).
    let target = node.dir.path().join("restored");
    let key = node.data_dir().join("cluster.key");
    let out = restore(
        &target,
        backups[0],
        &["--cluster-key", key.to_str().unwrap()],
        (free_port(), free_port()),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !node.log().contains("scheduled backup FAILED"),
        "{}",
        node.log()
    );
}

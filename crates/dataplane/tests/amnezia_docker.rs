//! The Amnezia container backend against a `docker` stand-in.
//!
//! No Docker engine runs here, so `docker` is a shell script that implements `docker exec
//! [-i] CONTAINER CMD…` by running CMD in the "container": a network namespace with a real
//! wireguard-go interface, configured from a real `wg0.conf` in a temp directory (the
//! container's /opt/amnezia/awg). Only the exec transport is fake; the interface, the
//! `wg` tool, the config file, clientsTable and the handshakes are real.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use vpnkeeper_dataplane::amnezia_docker::{AmneziaDockerBackend, AmneziaDockerConfig};
use vpnkeeper_dataplane::{
    build_backend, BackendConfig, BackendKind, InterfaceSpec, PeerSpec, SecretString, WgBackend,
};

const CONTAINER: &str = "amnezia-awg";

/// Write the stand-in. Like the real client it refuses unknown containers with the
/// daemon's message and only passes stdin through with `-i`.
fn fake_docker(dir: &Path, container: &str, netns: Option<&str>) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let path = bin.join("docker");
    let run = match netns {
        Some(ns) => format!("ip netns exec {ns}"),
        None => String::new(),
    };
    let script = format!(
        r#"#!/bin/sh
# docker stand-in for tests: `docker exec [-i] CONTAINER CMD ARGS...` runs CMD locally.
set -u
if [ "${{1:-}}" != exec ]; then echo "docker stand-in: only 'exec' is implemented" >&2; exit 125; fi
shift
interactive=0
while [ $# -gt 0 ]; do
  case "$1" in
    -i|--interactive) interactive=1; shift ;;
    -*) echo "docker stand-in: unsupported flag $1" >&2; exit 125 ;;
    *) break ;;
  esac
done
if [ "${{1:-}}" != "{container}" ]; then
  echo "Error response from daemon: No such container: ${{1:-}}" >&2; exit 1
fi
shift
echo "exec {container} $1" >> "{log}"
if [ $interactive = 1 ]; then exec {run} "$@"; else exec {run} "$@" </dev/null; fi
"#,
        log = dir.join("docker-calls.log").display(),
    );
    std::fs::write(&path, script).unwrap();
    let mut perm = std::fs::metadata(&path).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
    std::fs::set_permissions(&path, perm).unwrap();
    path
}

fn docker_calls(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("docker-calls.log"))
        .unwrap_or_default()
        .lines()
        .count()
}

/// What the Amnezia installer leaves: a wg0.conf with the server key, AWG-less here
/// (wireguard-go is plain WireGuard), and the admin's own client in the file and in
/// clientsTable.
fn amnezia_files(lab: &Lab, dir: &Path, admin: &str) {
    let conf = format!(
        "[Interface]\nPrivateKey = {}\nAddress = {SERVER_TUN_IP}/24\nListenPort = {SERVER_PORT}\n\n[Peer]\nPublicKey = {admin}\nAllowedIPs = 10.66.0.200/32\n\n",
        lab.server_key.to_base64()
    );
    std::fs::write(dir.join("wg0.conf"), conf).unwrap();
    std::fs::write(
        dir.join("clientsTable"),
        format!(
            r#"[
    {{
        "clientId": "{admin}",
        "userData": {{
            "clientName": "Admin [Linux]",
            "creationDate": "Mon Nov 10 07:41:13 2025"
        }}
    }}
]
"#
        ),
    )
    .unwrap();
}

/// What the container's start script does: `awg-quick up` = setconf of the stripped
/// file, address, link up.
fn start_container_interface(lab: &Lab, dir: &Path) {
    let text = std::fs::read_to_string(dir.join("wg0.conf")).unwrap();
    let stripped = vpnkeeper_dataplane::conf::strip_wg_quick(&text);
    let p = lab.tmp.path().join("stripped.conf");
    std::fs::write(&p, stripped.as_str()).unwrap();
    lab.ns(
        &lab.ns_server,
        &["wg", "setconf", &lab.server_if, p.to_str().unwrap()],
    );
    let cidr = format!("{SERVER_TUN_IP}/24");
    lab.ns(
        &lab.ns_server,
        &["ip", "addr", "replace", &cidr, "dev", &lab.server_if],
    );
    lab.ns(&lab.ns_server, &["ip", "link", "set", &lab.server_if, "up"]);
}

fn conf_text(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("wg0.conf")).unwrap()
}

fn table_keys(dir: &Path) -> Vec<String> {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("clientsTable")).unwrap())
            .expect("clientsTable is JSON");
    v.as_array()
        .expect("clientsTable is an array")
        .iter()
        .map(|r| r["clientId"].as_str().unwrap().to_string())
        .collect()
}

/// Remove a client the way the Amnezia app does: from the file, from clientsTable, and
/// from the live interface.
fn delete_in_app(lab: &Lab, dir: &Path, key: &str) {
    let mut c = vpnkeeper_dataplane::conf::WgConf::parse(&conf_text(dir));
    c.remove_peer(key);
    std::fs::write(dir.join("wg0.conf"), c.render().as_str()).unwrap();
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("clientsTable")).unwrap()).unwrap();
    v.as_array_mut().unwrap().retain(|r| r["clientId"] != key);
    std::fs::write(
        dir.join("clientsTable"),
        serde_json::to_string_pretty(&v).unwrap(),
    )
    .unwrap();
    lab.ns(
        &lab.ns_server,
        &["wg", "set", &lab.server_if, "peer", key, "remove"],
    );
}

fn client_peer(lab: &Lab) -> PeerSpec {
    let mut p = PeerSpec::new(
        lab.client_pub(),
        vec![format!("{CLIENT_TUN_IP}/32").parse().unwrap()],
    );
    p.preshared_key = Some(SecretString::new(lab.psk.to_base64()));
    p.label = Some("alice_phone".into());
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amnezia_container_smart_sync() {
    if prerequisites("amnezia_container_smart_sync", &["wg", "wireguard-go"]).is_none() {
        return;
    }
    let mut lab = Lab::new("amz");
    lab.start_server(Impl::WireguardGo);
    let dir = lab.tmp.path().join("opt-amnezia-awg");
    std::fs::create_dir_all(&dir).unwrap();
    let admin = random_key().public_from_private().to_base64();
    amnezia_files(&lab, &dir, &admin);
    start_container_interface(&lab, &dir);
    let docker = fake_docker(lab.tmp.path(), CONTAINER, Some(&lab.ns_server));

    // Built the way the binary builds it.
    let mut cfg = BackendConfig::new(BackendKind::AmneziaDocker, lab.server_if.clone());
    cfg.docker = docker.to_str().unwrap().into();
    cfg.tool = Some("wg".into());
    cfg.config_dir = Some(dir.to_str().unwrap().into());
    let b = build_backend(&cfg).unwrap().unwrap();
    assert_eq!(b.name(), "amnezia-docker");

    // The node's key must be the container's; a different one is refused clearly.
    let spec = InterfaceSpec {
        name: lab.server_if.clone(),
        private_key: SecretString::new(lab.server_key.to_base64()),
        listen_port: SERVER_PORT,
        address: format!("{SERVER_TUN_IP}/24").parse().unwrap(),
        awg: None,
        mtu: None,
    };
    b.ensure_interface(&spec)
        .await
        .expect("ensure_interface with the container's key");
    let wrong = InterfaceSpec {
        private_key: SecretString::new(random_key().to_base64()),
        ..spec.clone()
    };
    let e = b.ensure_interface(&wrong).await.unwrap_err().to_string();
    assert!(e.contains("owns its key"), "{e}");

    // 1. A new device: into the file, clientsTable and the live interface, in one write
    //    (one exec to read, one to write); the client really connects.
    let alice = client_peer(&lab);
    let calls = docker_calls(lab.tmp.path());
    let r = b
        .reconcile(std::slice::from_ref(&alice))
        .await
        .expect("reconcile");
    assert_eq!(
        docker_calls(lab.tmp.path()) - calls,
        2,
        "one read + one write"
    );
    assert_eq!(r.added, 1);
    assert_eq!(r.foreign, vec![admin.clone()]);
    assert!(conf_text(&dir).contains(&alice.public_key));
    assert!(
        conf_text(&dir).starts_with("[Interface]\nPrivateKey"),
        "{}",
        conf_text(&dir)
    );
    assert_eq!(
        table_keys(&dir),
        vec![admin.clone(), alice.public_key.clone()]
    );
    let table = std::fs::read_to_string(dir.join("clientsTable")).unwrap();
    assert!(table.contains("\"clientName\": \"alice_phone\""), "{table}");
    assert!(table.contains("\"creationDate\""), "{table}");
    let peers = lab.server_peers();
    assert!(peers.contains(&alice.public_key) && peers.contains(&admin));
    assert!(
        lab.ping_works(Duration::from_secs(10)),
        "no ping through the container's interface"
    );

    // In sync: a pass reads once and writes nothing.
    let calls = docker_calls(lab.tmp.path());
    let r = b.reconcile(std::slice::from_ref(&alice)).await.unwrap();
    assert_eq!(
        (r.added, r.updated, r.removed, r.restored.len()),
        (0, 0, 0, 0)
    );
    assert_eq!(docker_calls(lab.tmp.path()) - calls, 1);

    // 2. Drift: the app rewrote wg0.conf without alice and synced the interface, but she is
    //    still in clientsTable → restored everywhere.
    let mut c = vpnkeeper_dataplane::conf::WgConf::parse(&conf_text(&dir));
    c.remove_peer(&alice.public_key);
    std::fs::write(dir.join("wg0.conf"), c.render().as_str()).unwrap();
    lab.ns(
        &lab.ns_server,
        &[
            "wg",
            "set",
            &lab.server_if,
            "peer",
            &alice.public_key,
            "remove",
        ],
    );
    let r = b.reconcile(std::slice::from_ref(&alice)).await.unwrap();
    assert_eq!(r.restored, vec![alice.public_key.clone()]);
    assert!(r.deleted_in_app.is_empty());
    assert!(conf_text(&dir).contains(&alice.public_key));
    assert!(lab.server_peers().contains(&alice.public_key));
    lab.reset_client_session();
    assert!(
        lab.ping_works(Duration::from_secs(10)),
        "no ping after drift repair"
    );

    // Drift on the live interface only (someone ran `wg set … remove`): restored.
    lab.ns(
        &lab.ns_server,
        &[
            "wg",
            "set",
            &lab.server_if,
            "peer",
            &alice.public_key,
            "remove",
        ],
    );
    let r = b.reconcile(std::slice::from_ref(&alice)).await.unwrap();
    assert_eq!(r.restored, vec![alice.public_key.clone()]);
    assert!(lab.server_peers().contains(&alice.public_key));

    // 3. Deleted on purpose in the app (gone from the server AND clientsTable): reported,
    //    not restored.
    delete_in_app(&lab, &dir, &alice.public_key);
    let r = b.reconcile(std::slice::from_ref(&alice)).await.unwrap();
    assert_eq!(r.deleted_in_app, vec![alice.public_key.clone()]);
    assert!(r.restored.is_empty() && r.added == 0);
    assert!(!conf_text(&dir).contains(&alice.public_key));
    assert!(!lab.server_peers().contains(&alice.public_key));
    assert!(!table_keys(&dir).contains(&alice.public_key));
    lab.reset_client_session();
    assert!(
        !lab.ping_once(2),
        "a client deleted in the app still connects"
    );
    // The caller revokes it; the ledger forgets it, nothing else changes.
    let r = b.reconcile(&[]).await.unwrap();
    assert!(r.deleted_in_app.is_empty() && r.removed == 0);
    let ledger = std::fs::read_to_string(dir.join("vpnkeeper-peers")).unwrap();
    assert!(!ledger.contains(&alice.public_key));

    // 4. apply() of an explicit diff, then a revoke through reconcile: our peer leaves the
    //    file, clientsTable and the interface; the admin's peer stays.
    let mut bob = PeerSpec::new(
        random_key().public_from_private().to_base64(),
        vec!["10.66.0.3/32".parse().unwrap()],
    );
    bob.label = Some("bob_laptop".into());
    b.apply(&vpnkeeper_dataplane::PeerDiff {
        add: vec![bob.clone()],
        ..Default::default()
    })
    .await
    .expect("apply");
    assert!(lab.server_peers().contains(&bob.public_key));
    assert!(table_keys(&dir).contains(&bob.public_key));
    let r = b.reconcile(&[]).await.unwrap();
    assert_eq!(r.removed, 1);
    assert_eq!(r.foreign, vec![admin.clone()]);
    assert_eq!(lab.server_peers(), vec![admin.clone()]);
    assert_eq!(table_keys(&dir), vec![admin.clone()]);
    assert!(!conf_text(&dir).contains(&bob.public_key));

    // No temp files left behind in the container's directory; files are 0600.
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".vpnkeeper"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(dir.join("wg0.conf"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o077, 0, "wg0.conf is readable by others: {mode:o}");
}

/// A rejected config (here: an AllowedIPs the tool refuses) changes neither the interface
/// nor the files: the live sync runs before the files are renamed into place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amnezia_rejected_write_changes_nothing() {
    if prerequisites("amnezia_rejected_write", &["wg", "wireguard-go"]).is_none() {
        return;
    }
    let mut lab = Lab::new("amr");
    lab.start_server(Impl::WireguardGo);
    let dir = lab.tmp.path().join("awg");
    std::fs::create_dir_all(&dir).unwrap();
    let admin = random_key().public_from_private().to_base64();
    amnezia_files(&lab, &dir, &admin);
    // An AWG key in [Interface]: plain `wg` (our stand-in for `awg`) refuses the file.
    let text = conf_text(&dir).replace("ListenPort", "Jc = 4\nListenPort");
    std::fs::write(dir.join("wg0.conf"), &text).unwrap();
    let docker = fake_docker(lab.tmp.path(), CONTAINER, Some(&lab.ns_server));
    let mut cfg = AmneziaDockerConfig::new(CONTAINER);
    cfg.docker = docker.to_str().unwrap().into();
    cfg.tool = "wg".into();
    cfg.interface = lab.server_if.clone();
    cfg.config_dir = dir.to_str().unwrap().into();
    let b = AmneziaDockerBackend::new(cfg).unwrap();
    let e = b
        .reconcile(&[client_peer(&lab)])
        .await
        .expect_err("wg accepted Jc?")
        .to_string();
    assert!(e.contains("exec amnezia-awg"), "{e}");
    assert!(!e.contains('\n'), "{e}");
    assert_eq!(conf_text(&dir), text);
    assert_eq!(table_keys(&dir), vec![admin]);
    assert!(!dir.join("vpnkeeper-peers").exists());
    assert!(lab.server_peers().is_empty());
}

/// Errors a person can cause say what to do, in one line. No root or namespace needed.
#[tokio::test]
async fn amnezia_wrong_container_and_missing_docker() {
    let tmp = tempfile::tempdir().unwrap();
    let docker = fake_docker(tmp.path(), CONTAINER, None);
    let mut cfg = AmneziaDockerConfig::new("amnezia-wg-typo");
    cfg.docker = docker.to_str().unwrap().into();
    let b = AmneziaDockerBackend::new(cfg.clone()).unwrap();
    let e = b.state().await.unwrap_err().to_string();
    assert!(e.contains("No such container: amnezia-wg-typo"), "{e}");
    assert!(!e.contains('\n'), "{e}");

    // The container exists but has no server config where we look.
    cfg.container = CONTAINER.into();
    cfg.config_dir = tmp.path().join("nowhere").to_str().unwrap().into();
    let e = AmneziaDockerBackend::new(cfg.clone())
        .unwrap()
        .state()
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("no server config in"), "{e}");

    cfg.docker = tmp.path().join("no-such-docker").to_str().unwrap().into();
    let e = AmneziaDockerBackend::new(cfg)
        .unwrap()
        .state()
        .await
        .unwrap_err();
    assert!(e.is_unavailable(), "{e}");
    assert!(e.to_string().contains("install the docker client"), "{e}");
}

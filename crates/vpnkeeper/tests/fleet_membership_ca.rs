//! Replacing the cluster CA on real processes: with the three nodes stopped, `cert new-ca`
//! on one, its new CA files copied to the others, and every node started again: each
//! re-issues its certificate from the new CA, the cluster is whole and replicates, and a
//! certificate of the old CA no longer opens the Raft port.

mod common;

use std::process::Command;
use std::time::Duration;

use common::fleet::*;
use common::*;

/// curl to `node`'s Raft port with the client certificate and key at `cert`/`key`: the
/// HTTP status, or None when TLS refused the connection.
fn raft_members(node: &Node, cert: &std::path::Path, key: &std::path::Path) -> Option<String> {
    let name = "node-1.vpnkeeper";
    let port = node.raft_port;
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
        .args(["-H", "Content-Type: application/json", "-d", "null"])
        .args(["--resolve", &format!("{name}:{port}:127.0.0.1")])
        .arg("--cacert")
        .arg(node.data_dir().join("cluster-ca.crt"))
        .arg("--cert")
        .arg(cert)
        .arg("--key")
        .arg(key)
        .arg(format!("https://{name}:{port}/raft/members"))
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn a_new_cluster_ca_replaces_the_old_one_across_a_stopped_cluster() {
    let (mut n1, mut n2, mut n3) = three_nodes();
    assert!(n1.cli(&["user", "add", "before"]).status.success());
    // Node 2's certificate of the old CA, to try after the change.
    let old = tempfile::tempdir().unwrap();
    for f in ["node.crt", "node.key"] {
        std::fs::copy(n2.data_dir().join(f), old.path().join(f)).unwrap();
    }
    let old_ca = std::fs::read(n1.data_dir().join("cluster-ca.crt")).unwrap();
    for n in [&mut n1, &mut n2, &mut n3] {
        assert!(n.terminate().success());
    }

    let out = n1.cli(&["cert", "new-ca"]);
    assert!(out.status.success(), "cert new-ca: {}", stderr(&out));
    assert!(
        stderr(&out).contains("new cluster CA sha256:"),
        "{}",
        stderr(&out)
    );
    let new_ca = std::fs::read(n1.data_dir().join("cluster-ca.crt")).unwrap();
    assert_ne!(new_ca, old_ca);
    for n in [&n2, &n3] {
        for f in ["cluster-ca.crt", "cluster-ca.key"] {
            std::fs::copy(n1.data_dir().join(f), n.data_dir().join(f)).unwrap();
        }
    }
    // Together: one node alone has no quorum and would never report a leader.
    std::thread::scope(|s| {
        for n in [&mut n1, &mut n2, &mut n3] {
            s.spawn(move || n.start_env(&NO_LIMITS));
        }
    });
    wait_members(&n1, 3, 0);
    assert_ne!(
        std::fs::read(n2.data_dir().join("node.crt")).unwrap(),
        std::fs::read(old.path().join("node.crt")).unwrap(),
        "node 2 re-issued its certificate from the new CA at start"
    );

    // The cluster replicates on the new certificates.
    let out = n2.cli(&["user", "add", "after"]);
    assert!(out.status.success(), "{}", stderr(&out));
    for n in [&n1, &n2, &n3] {
        eventually("both users everywhere", Duration::from_secs(15), || {
            has_user(n, "before") && has_user(n, "after")
        });
    }
    // A new certificate opens the Raft port; one of the old CA does not.
    let ok = raft_members(
        &n1,
        &n2.data_dir().join("node.crt"),
        &n2.data_dir().join("node.key"),
    );
    assert_eq!(ok.as_deref(), Some("200"));
    let refused = raft_members(
        &n1,
        &old.path().join("node.crt"),
        &old.path().join("node.key"),
    );
    assert_eq!(refused, None, "a certificate of the old CA was accepted");
}

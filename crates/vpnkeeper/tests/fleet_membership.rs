//! The fleet on real processes: `init`, `invite create` + `join`, writes through a follower,
//! one-time invites, mutual TLS on the Raft port, and `node remove`.

mod common;

use std::process::Command;
use std::time::Duration;

use common::fleet::*;
use common::*;

/// POST /api/v1/users; the status line last, after the body.
fn post_user(node: &Node, name: &str) -> String {
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", "-X", "POST"])
        .args(["-H", &format!("Authorization: Bearer {}", node.token)])
        .args(["-H", "Content-Type: application/json"])
        .args(["-d", &format!("{{\"name\":\"{name}\"}}")])
        .arg(format!("{}/api/v1/users", node.base()))
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn three_nodes_join_by_invite_and_replicate_writes_made_on_a_follower() {
    let mut n1 = Node::init();
    n1.start_env(&NO_LIMITS);
    let link = invite(&n1);
    let mut n2 = join(&link);
    assert_eq!(
        std::fs::metadata(n2.data_dir().join("admin.token"))
            .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
            .unwrap(),
        0o600
    );

    // The same link a second time: refused, and nothing left behind.
    let (out, reused) = try_join(&link);
    assert!(!out.status.success(), "a reused invite must be refused");
    let err = stderr(&out);
    assert!(err.contains("already used"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(!reused.data_dir().exists(), "no half-initialised directory");

    n2.start_env(&NO_LIMITS);
    let mut n3 = join(&invite(&n1));
    n3.start_env(&NO_LIMITS);
    wait_members(&n1, 3, 0);
    let listed = members(&n2);
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert!(
        listed.iter().any(|m| m.0 == 1 && m.2 == "leader"),
        "{listed:?}"
    );

    // A write through a follower (forwarded to the leader) shows up on every node, and
    // the joined node's admin token works with its own CLI.
    let follower = if leader_of(&n2) == Some(1) { &n2 } else { &n3 };
    let answer = post_user(follower, "via-follower");
    assert!(answer.ends_with("201"), "{answer}");
    let out = n3.cli(&["user", "add", "via-cli-on-n3"]);
    assert!(out.status.success(), "{}", stderr(&out));
    for node in [&n1, &n2, &n3] {
        for name in ["via-follower", "via-cli-on-n3"] {
            eventually(
                &format!("{name} on {}", node.base()),
                Duration::from_secs(10),
                || has_user(node, name),
            );
        }
    }
}

#[test]
fn bad_links_are_refused_with_one_line() {
    let mut n1 = Node::init();
    n1.start_env(&NO_LIMITS);
    let link = invite(&n1);
    let forged = link.replace("token=", "token=00");
    // A link of another cluster's CA pointed at this cluster's leader.
    let mut other = Node::init();
    other.start_env(&NO_LIMITS);
    let other_ca = invite(&other)
        .split("ca=sha256:")
        .nth(1)
        .unwrap()
        .to_string();
    let ca = link.split("ca=sha256:").nth(1).unwrap().to_string();
    let wrong_ca = link.replace(&ca, &other_ca);
    for (bad, says) in [
        (forged.as_str(), "not one this cluster issued"),
        (wrong_ca.as_str(), "fingerprint"),
        ("vpnkeeper://join?leader=1", "malformed join link"),
    ] {
        let (out, node) = try_join(bad);
        let err = stderr(&out);
        assert!(!out.status.success(), "{bad} was accepted");
        assert!(err.contains(says), "{bad}: expected `{says}` in: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(!node.data_dir().exists(), "no half-initialised directory");
    }
    // The real link still works after all that.
    let out = try_join(&link).0;
    assert!(out.status.success(), "{}", stderr(&out));
}

/// curl to the Raft port of `node` with an optional client certificate (from `certs`'s data
/// directory); the HTTP status, or None when TLS refused the connection.
fn raft_call(node: &Node, certs: Option<&Node>, path: &str, body: &str) -> Option<String> {
    let port = node.raft_port;
    let name = "node-1.vpnkeeper";
    let mut cmd = Command::new("curl");
    cmd.args([
        "-s",
        "-o",
        "-",
        "-w",
        "\n%{http_code}",
        "-X",
        "POST",
        "-d",
        body,
    ])
    .args(["-H", "Content-Type: application/json"])
    .args(["--resolve", &format!("{name}:{port}:127.0.0.1")])
    .arg("--cacert")
    .arg(node.data_dir().join("cluster-ca.crt"));
    if let Some(c) = certs {
        cmd.arg("--cert")
            .arg(c.data_dir().join("node.crt"))
            .arg("--key")
            .arg(c.data_dir().join("node.key"));
    }
    let out = cmd
        .arg(format!("https://{name}:{port}{path}"))
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn the_raft_port_refuses_connections_without_a_cluster_certificate() {
    let (n1, n2, _n3) = three_nodes();
    // Control: with a member's certificate the same call goes through.
    let ok = raft_call(&n1, Some(&n2), "/raft/members", "null").expect("member cert accepted");
    assert!(ok.ends_with("200"), "{ok}");
    // No client certificate: refused in the TLS handshake.
    assert_eq!(raft_call(&n1, None, "/raft/members", "null"), None);
    // A certificate from another cluster's CA: refused in the TLS handshake.
    let stranger = Node::init();
    assert_eq!(
        raft_call(&n1, Some(&stranger), "/raft/members", "null"),
        None
    );
    // Node 2's certificate cannot speak as node 3.
    let vote =
        r#"{"vote":{"leader_id":{"term":99,"node_id":3},"committed":false},"last_log_id":null}"#;
    let answer = raft_call(&n1, Some(&n2), "/raft/vote", vote).expect("TLS ok");
    assert!(answer.ends_with("403"), "{answer}");
    assert!(answer.contains("certificate is for node 2"), "{answer}");
}

#[test]
fn node_remove_stops_a_follower_and_refuses_the_last_voter() {
    let (n1, mut n2, mut n3) = three_nodes();
    let leader = leader_of(&n1).unwrap();
    assert_eq!(
        leader, 1,
        "node 1 leads a cluster it founded and never lost"
    );
    let out = n1.cli(&["node", "remove", "3"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The removed node stops serving: its process exits.
    let child = n3.child.as_mut().unwrap();
    eventually("node 3 exits", Duration::from_secs(20), || {
        child.try_wait().unwrap().is_some()
    });
    n3.child = None;
    assert!(
        n3.log().contains("removed from the cluster"),
        "{}",
        n3.log()
    );
    // It cannot come back on its own.
    let out = n3.cli(&["run"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("new invite"), "{}", stderr(&out));
    wait_members(&n1, 2, 0);

    let out = n2.cli(&["node", "remove", "2"]);
    assert!(
        out.status.success(),
        "remove through a follower: {}",
        stderr(&out)
    );
    let child = n2.child.as_mut().unwrap();
    eventually("node 2 exits", Duration::from_secs(20), || {
        child.try_wait().unwrap().is_some()
    });
    n2.child = None;
    let out = n1.cli(&["node", "remove", "1"]);
    assert!(!out.status.success(), "the last voter was removed");
    assert!(stderr(&out).contains("last voter"), "{}", stderr(&out));
    wait_members(&n1, 1, 0);
}

//! Learners beyond five voters, on real processes: with six nodes, five are voters and the
//! sixth stays a learner that still serves its own data plane (a device placed on it is on
//! its embedded WireGuard interface); after `node remove` of a voter, the learner is
//! promoted to voter without anyone asking.

mod common;

use std::process::Command;
use std::time::Duration;

use common::fleet::*;
use common::*;

/// A network namespace of this test process for the learner's embedded interface (so its
/// UDP port and interface name meet nobody else's); deleted on drop.
struct Netns(String);

impl Netns {
    fn new() -> Netns {
        let name = format!("vkl{}", std::process::id() % 100_000);
        // A namespace left by an earlier, killed run of this pid.
        let _ = Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(std::process::Stdio::null())
            .status();
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("run ip");
        assert!(ok.success(), "ip netns add {name}");
        Netns(name)
    }

    /// `wg show IFACE peers` inside the namespace (the embedded plane's UAPI socket).
    fn peers(&self, iface: &str) -> Vec<String> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.0, "wg", "show", iface, "peers"])
            .output()
            .expect("run ip netns exec wg");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// Whether root and the tools are here; a one-line skip (or a panic naming what is
/// missing) as the other namespace tests do.
fn prerequisites() -> bool {
    let uid = Command::new("id").arg("-u").output().ok();
    let root = uid.is_some_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let wg = Command::new("wg").arg("--version").output().is_ok();
    if root && wg && std::path::Path::new("/dev/net/tun").exists() {
        return true;
    }
    let why = "fleet_learners needs root, /dev/net/tun and `wg` (apt-get install wireguard-tools)";
    if std::env::var("VPNKEEPER_SKIP_NETNS_TESTS").is_ok_and(|v| v == "1") {
        eprintln!("SKIP {why}");
        return false;
    }
    panic!("{why} (or set VPNKEEPER_SKIP_NETNS_TESTS=1 to skip the network-namespace tests)");
}

/// The role `node list` on `asked` gives node `id`.
fn role_of(asked: &Node, id: u64) -> Option<String> {
    members(asked).into_iter().find(|m| m.0 == id).map(|m| m.2)
}

/// A device of a new user `user`, placed on node `node_id`; its WireGuard public key.
fn device_on(api: &Node, user: &str, node_id: u64) -> String {
    let out = api.cli(&["user", "add", user]);
    assert!(out.status.success(), "user add: {}", stderr(&out));
    let body = format!(r#"{{"user":"{user}","type":"phone","node_id":{node_id}}}"#);
    let post = || {
        let out = Command::new("curl")
            .args(["-s", "-w", "\n%{http_code}", "-X", "POST"])
            .args(["-H", &format!("Authorization: Bearer {}", api.token)])
            .args(["-H", "Content-Type: application/json", "-d", &body])
            .arg(format!("{}/api/v1/devices", api.base()))
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // A node registers its row once it runs: until that is applied here, 404 "node not found".
    let mut text = String::new();
    eventually(
        &format!("a device placed on node {node_id}"),
        Duration::from_secs(20),
        || {
            text = post();
            !text.ends_with("404")
        },
    );
    assert!(
        text.ends_with("201"),
        "device add on node {node_id}: {text}"
    );
    let json = text.rsplit_once('\n').unwrap().0;
    let v: serde_json::Value = serde_json::from_str(json).expect("device JSON");
    assert_eq!(v["node_id"], node_id, "{v}");
    v["wg_public_key"]
        .as_str()
        .unwrap_or_else(|| panic!("no wg_public_key in the device: {v}"))
        .to_string()
}

#[test]
fn a_sixth_node_stays_a_learner_serves_its_data_plane_and_is_promoted_when_a_voter_leaves() {
    if !prerequisites() {
        return;
    }
    let mut n1 = Node::init();
    n1.start_env(&NO_LIMITS);
    // Voters one at a time, so the sixth node is the one left a learner.
    let mut nodes = Vec::new();
    for voters in 2..=5 {
        let mut n = join(&invite(&n1));
        n.start_env(&NO_LIMITS);
        wait_members(&n1, voters, 0);
        nodes.push(n);
    }

    // Node 6 runs the embedded WireGuard data plane in a namespace of its own.
    let ns = Netns::new();
    let iface = format!("vkl{}", std::process::id() % 100_000);
    let mut n6 = join(&invite(&n1));
    let mut env: Vec<(&str, &str)> = NO_LIMITS.to_vec();
    env.extend([
        ("VPNKEEPER_WIREGUARD__BACKEND", "embedded"),
        ("VPNKEEPER_WIREGUARD__INTERFACE", iface.as_str()),
        ("VPNKEEPER_WIREGUARD__NETNS", ns.0.as_str()),
        ("VPNKEEPER_WIREGUARD__SOCKET_DIR", "/var/run/wireguard"),
        ("VPNKEEPER_WIREGUARD__AMNEZIAWG", "false"),
        ("VPNKEEPER_WIREGUARD__RECONCILE_INTERVAL_SECS", "1"),
    ]);
    n6.start_env(&env);
    wait_members(&n1, 5, 1);
    // Stays a learner: give the promoter several of its 500 ms rounds to misbehave.
    std::thread::sleep(Duration::from_secs(3));
    wait_members(&n1, 5, 1);
    assert_eq!(role_of(&n1, 6).as_deref(), Some("learner"));
    assert_eq!(role_of(&n6, 6).as_deref(), Some("learner"), "its own view");

    // A device placed on the learner (written through a voter) reaches its interface.
    let key = device_on(&nodes[0], "on-learner", 6);
    eventually(
        "the device on the learner's interface",
        Duration::from_secs(20),
        || ns.peers(&iface).contains(&key),
    );
    // And the learner answers reads from its own replicated state.
    eventually("the user on the learner", Duration::from_secs(10), || {
        has_user(&n6, "on-learner")
    });

    // A voter leaves: the learner takes its seat.
    let n2 = &mut nodes[0];
    let out = n1.cli(&["node", "remove", "2"]);
    assert!(out.status.success(), "node remove 2: {}", stderr(&out));
    let child = n2.child.as_mut().unwrap();
    eventually("node 2 exits", Duration::from_secs(20), || {
        child.try_wait().unwrap().is_some()
    });
    n2.child = None;
    wait_members(&n1, 5, 0);
    assert_eq!(role_of(&n1, 6).as_deref(), Some("follower"));
    assert!(
        n1.log().contains("learner caught up: promoted to voter"),
        "the leader says why"
    );
    // The promoted node keeps serving its peers.
    assert!(ns.peers(&iface).contains(&key));
    drop(nodes);
}

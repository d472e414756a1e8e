//! The WireGuard client side of the end-to-end tests: a client namespace set up from a
//! wg-quick config, and a ping through the tunnel to the node. Shared by every test that
//! connects a real client (`mod wg_client;` next to `mod lab;`).

use std::time::{Duration, Instant};

use crate::lab::{self, Lab};

/// The node's address inside the tunnel (the first of the default pool).
pub const SERVER_TUN: &str = "10.8.0.1";

/// Pings the node through the tunnel from the client namespace until it answers or
/// `within` has passed.
pub fn ping(lab: &Lab, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        let ok = lab::run(
            "ip",
            &[
                "netns",
                "exec",
                &lab.ns_client,
                "ping",
                "-n",
                "-q",
                "-c",
                "1",
                "-W",
                "1",
                SERVER_TUN,
            ],
        )
        .status
        .success();
        if ok {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
    }
}

/// Configures the client namespace's interface from a wg-quick config, the way `wg-quick`
/// would: `wg setconf` with the wg-quick-only lines stripped, then address and route.
pub fn use_config(lab: &Lab, conf: &str) {
    let mut address = String::new();
    let stripped: String = conf
        .lines()
        .filter(|l| {
            let key = l.split('=').next().unwrap_or("").trim();
            if key == "Address" {
                address = l.split_once('=').unwrap().1.trim().to_string();
            }
            !matches!(key, "Address" | "DNS" | "MTU")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let path = lab.tmp.path().join("client.conf");
    std::fs::write(&path, stripped).unwrap();
    lab.ns(
        &lab.ns_client,
        &["wg", "setconf", &lab.client_if, path.to_str().unwrap()],
    );
    lab.ns(
        &lab.ns_client,
        &["ip", "addr", "flush", "dev", &lab.client_if],
    );
    lab.ns(
        &lab.ns_client,
        &["ip", "addr", "add", &address, "dev", &lab.client_if],
    );
    lab.ns(
        &lab.ns_client,
        &[
            "ip",
            "route",
            "replace",
            "10.8.0.0/24",
            "dev",
            &lab.client_if,
        ],
    );
}

/// The client forgets its session with the node and takes the config again, as a phone does
/// when it reconnects; otherwise it keeps sending on a session the node dropped until its
/// rekey timeout. Not every test reconnects, hence the allow.
#[allow(dead_code)]
pub fn reconnect(lab: &Lab, conf: &str) {
    let server_pub = conf
        .lines()
        .find_map(|l| l.strip_prefix("PublicKey = "))
        .expect("server public key in the config");
    let _ = lab::run(
        "ip",
        &[
            "netns",
            "exec",
            &lab.ns_client,
            "wg",
            "set",
            &lab.client_if,
            "peer",
            server_pub,
            "remove",
        ],
    );
    use_config(lab, conf);
}

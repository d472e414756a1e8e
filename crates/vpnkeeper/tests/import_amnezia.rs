//! `vpnkeeper import amnezia` end to end: an Amnezia self-hosted server's wg0.conf and
//! clientsTable (made here, with zero AmneziaWG parameters so wireguard-go can stand in for
//! the data plane) are imported into a node driving a real wireguard-go interface in a
//! network namespace; a client in a second namespace, configured with the config the OLD
//! server had issued (not one vpnkeeper rendered), pings through the new node.

mod common;
#[path = "../../dataplane/tests/common/mod.rs"]
mod lab;
mod wg_client;

use std::time::Duration;

use common::*;
use lab::{Impl, Lab, SERVER_VETH_IP};
use rand::rngs::OsRng;
use vpnkeeper_domain::keys::wg_keypair;
use wg_client::{ping, use_config};

const CLIENT_ADDR: &str = "10.8.0.7";

#[test]
fn an_old_amnezia_client_config_pings_through_the_new_node() {
    if lab::prerequisites("import_amnezia", &["wireguard-go", "wg", "ping", "curl"]).is_none() {
        return;
    }
    let mut lab = Lab::new("amzi");
    lab.start_server(Impl::WireguardGo);
    let mut node = Node::init_with(&["--public-host", SERVER_VETH_IP]);
    let env = [
        ("VPNKEEPER_WIREGUARD__BACKEND", "uapi"),
        ("VPNKEEPER_WIREGUARD__INTERFACE", lab.server_if.as_str()),
        ("VPNKEEPER_WIREGUARD__NETNS", lab.ns_server.as_str()),
        ("VPNKEEPER_WIREGUARD__AMNEZIAWG", "false"),
        ("VPNKEEPER_WIREGUARD__RECONCILE_INTERVAL_SECS", "1"),
    ];
    node.start_env(&env);

    // The old server and the config it had handed its client.
    let (server_private, server_public) = wg_keypair(&mut OsRng);
    let (client_private, client_public) = wg_keypair(&mut OsRng);
    let (psk, _) = wg_keypair(&mut OsRng);
    let wg0 = format!(
        "[Interface]\nPrivateKey = {server_private}\nAddress = 10.8.0.1/24\nListenPort = 51820\n\
         Jc = 0\nJmin = 0\nJmax = 0\nS1 = 0\nS2 = 0\nH1 = 1\nH2 = 2\nH3 = 3\nH4 = 4\n\n\
         [Peer]\nPublicKey = {client_public}\nPresharedKey = {psk}\nAllowedIPs = {CLIENT_ADDR}/32\n"
    );
    let old_client = format!(
        "[Interface]\nPrivateKey = {client_private}\nAddress = {CLIENT_ADDR}/32\nDNS = 1.1.1.1\n\n\
         [Peer]\nPublicKey = {server_public}\nPresharedKey = {psk}\nAllowedIPs = 10.8.0.0/24\n\
         Endpoint = {SERVER_VETH_IP}:51820\nPersistentKeepalive = 25\n"
    );
    let table = format!(
        r#"[{{"clientId": "{client_public}", "userData": {{"clientName": "Old Phone", "creationDate": "Mon Jan 1 2024"}}}}]"#
    );
    let dir = node.dir.path().to_path_buf();
    std::fs::write(dir.join("wg0.conf"), &wg0).unwrap();
    std::fs::write(dir.join("clientsTable"), &table).unwrap();
    let args = |extra: &[&'static str]| -> Vec<String> {
        let mut a: Vec<String> = ["import", "amnezia", "--wg-conf"]
            .map(String::from)
            .to_vec();
        a.push(dir.join("wg0.conf").display().to_string());
        a.push("--clients-table".into());
        a.push(dir.join("clientsTable").display().to_string());
        a.extend(extra.iter().map(|s| s.to_string()));
        a.push("--data-dir".into());
        a.push(node.data());
        a
    };
    // The CLI reads the node's config (as the node does, with the same overrides) to check
    // that the node will keep the imported parameters across restarts.
    let run = |extra: &[&'static str]| {
        let a = args(extra);
        vk_env(&a.iter().map(String::as_str).collect::<Vec<_>>(), &env)
    };

    let out = run(&["--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("would create user Old Phone"),
        "{}",
        stdout(&out)
    );
    assert_eq!(api_get(&node, "/api/v1/users")["total"], 0);
    let node_key = api_get(&node, "/api/v1/nodes/1")["wireguard"]["public_key"].clone();
    assert_ne!(
        node_key,
        server_public.as_str(),
        "dry run left the node's key alone"
    );

    // A node configured for AmneziaWG would drop the imported plain-WireGuard settings on
    // its next start: refused with the fix, before anything is sent.
    let mut awg_env = env.to_vec();
    awg_env[3] = ("VPNKEEPER_WIREGUARD__AMNEZIAWG", "true");
    let a = args(&[]);
    let out = vk_env(&a.iter().map(String::as_str).collect::<Vec<_>>(), &awg_env);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("set [wireguard] amneziawg = false"),
        "{}",
        stderr(&out)
    );
    assert_eq!(api_get(&node, "/api/v1/users")["total"], 0);

    let out = run(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("1 user(s) created"),
        "{}",
        stdout(&out)
    );
    let devices = api_get(&node, "/api/v1/devices");
    let d = &devices["devices"][0];
    assert_eq!(d["wg_public_key"], client_public.as_str(), "{devices}");
    assert_eq!(d["address_v4"], format!("{CLIENT_ADDR}/32"));
    assert_eq!(d["protocol"], "wireguard");
    assert_eq!(
        api_get(&node, "/api/v1/nodes/1")["wireguard"]["public_key"],
        server_public.as_str()
    );

    use_config(&lab, &old_client);
    assert!(
        ping(&lab, Duration::from_secs(20)),
        "the old client config does not reach the new node; node log:\n{}",
        node.log()
    );

    // Idempotent.
    let out = run(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("0 user(s) created, 1 brought in line, 0 device(s) added"),
        "{}",
        stdout(&out)
    );

    // A client config is not a server config: one line, nothing imported.
    std::fs::write(dir.join("client.conf"), "[Peer]\nPublicKey = x\n").unwrap();
    let out = vk_env(
        &[
            "import",
            "amnezia",
            "--wg-conf",
            dir.join("client.conf").to_str().unwrap(),
            "--data-dir",
            &node.data(),
        ],
        &env,
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no PrivateKey in [Interface]"),
        "{}",
        stderr(&out)
    );
}

//! `wireguard.manage_nat`: a full-tunnel client reaches a third namespace ("internet")
//! that knows only the node, through the embedded plane, masqueraded to the node's
//! address by the node's own nftables table; other tables are left alone.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use vpnkeeper_dataplane::{
    build_backend, BackendConfig, BackendKind, InterfaceSpec, PeerSpec, SecretString,
};

const NODE_INET_IP: &str = "10.55.0.1";
const INET_IP: &str = "10.55.0.2";

/// The "internet": a namespace joined to the node only, with no route to the pool.
struct Internet {
    ns: String,
    veth: String,
}

impl Internet {
    fn new(lab: &Lab) -> Internet {
        let id = unique("nati");
        let inet = Internet {
            ns: format!("vpk-{id}"),
            veth: format!("{id}i"),
        };
        let node_end = format!("{id}n");
        must("ip", &["netns", "add", &inet.ns]);
        must(
            "ip",
            &[
                "link", "add", &node_end, "type", "veth", "peer", "name", &inet.veth,
            ],
        );
        must("ip", &["link", "set", &node_end, "netns", &lab.ns_server]);
        must("ip", &["link", "set", &inet.veth, "netns", &inet.ns]);
        for (ns, dev, ip) in [
            (&lab.ns_server, &node_end, NODE_INET_IP),
            (&inet.ns, &inet.veth, INET_IP),
        ] {
            let cidr = format!("{ip}/24");
            must("ip", &["-n", ns, "addr", "add", &cidr, "dev", dev]);
            must("ip", &["-n", ns, "link", "set", dev, "up"]);
        }
        inet
    }
}

impl Drop for Internet {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

fn nft(lab: &Lab, args: &[&str]) -> String {
    let mut full = vec!["nft"];
    full.extend_from_slice(args);
    lab.ns(&lab.ns_server, &full)
}

fn ping_inet(lab: &Lab, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        let ok = run(
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
                INET_IP,
            ],
        )
        .status
        .success();
        if ok {
            return true;
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manage_nat_masquerades_full_tunnel_clients() {
    if prerequisites(
        "manage_nat",
        &["wg", "wireguard-go", "nft", "tcpdump", "sysctl"],
    )
    .is_none()
    {
        return;
    }
    let lab = Lab::new("nat");
    let inet = Internet::new(&lab);
    // Someone else's table on the node: must survive.
    nft(&lab, &["add", "table", "inet", "other"]);

    let mut cfg = BackendConfig::new(BackendKind::Embedded, lab.server_if.clone());
    cfg.socket_dir = Some("/var/run/wireguard".into());
    cfg.netns = Some(lab.ns_server.clone());
    cfg.manage_nat = true;
    let backend = build_backend(&cfg).unwrap().unwrap();
    let spec = InterfaceSpec {
        name: lab.server_if.clone(),
        private_key: SecretString::new(lab.server_key.to_base64()),
        listen_port: SERVER_PORT,
        address: format!("{SERVER_TUN_IP}/24").parse().unwrap(),
        awg: None,
        mtu: Some(1420),
    };
    backend
        .ensure_interface(&spec)
        .await
        .expect("ensure_interface");
    let mut client = PeerSpec::new(
        lab.client_pub(),
        vec![format!("{CLIENT_TUN_IP}/32").parse().unwrap()],
    );
    client.preshared_key = Some(SecretString::new(lab.psk.to_base64()));
    backend.reconcile(&[client]).await.expect("reconcile");

    // The client sends the "internet" through the tunnel (full tunnel for that prefix).
    let server_pub = lab.server_key.public_from_private().to_base64();
    let ips = format!("{SERVER_TUN_IP}/32,10.55.0.0/24");
    lab.ns(
        &lab.ns_client,
        &[
            "wg",
            "set",
            &lab.client_if,
            "peer",
            &server_pub,
            "allowed-ips",
            &ips,
        ],
    );
    lab.ns(
        &lab.ns_client,
        &["ip", "route", "add", "10.55.0.0/24", "dev", &lab.client_if],
    );

    let mut tcpdump = Command::new("ip")
        .args([
            "netns", "exec", &inet.ns, "tcpdump", "-l", "-n", "-c", "1", "-i", &inet.veth,
        ])
        .args(["icmp[icmptype] == icmp-echo"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tcpdump");
    // tcpdump says "listening on …" once it captures.
    let mut err = std::io::BufReader::new(tcpdump.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("listening") {
        line.clear();
        let n = std::io::BufRead::read_line(&mut err, &mut line).unwrap();
        assert!(n > 0, "tcpdump exited before capturing");
    }
    let reached = ping_inet(&lab, Duration::from_secs(15));
    // `-c 1`: it exits after the first echo request.
    let deadline = Instant::now() + Duration::from_secs(5);
    while tcpdump.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = tcpdump.kill();
    let mut seen = String::new();
    tcpdump
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut seen)
        .unwrap();
    let _ = tcpdump.wait();

    let table = nft(&lab, &["list", "table", "inet", "vpnkeeper"]);
    assert!(
        reached,
        "client cannot reach {INET_IP} through the tunnel:\n{table}"
    );
    assert!(
        seen.contains(&format!("{NODE_INET_IP} > {INET_IP}: ICMP echo request")),
        "source not masqueraded to the node's address: {seen:?}"
    );
    assert_eq!(table.matches("masquerade").count(), 1, "{table}");
    assert!(
        table.contains("ip saddr 10.66.0.0/24") && !table.contains("packets 0 bytes 0 masquerade"),
        "masquerade rule unused:\n{table}"
    );
    // Idempotent: applying again (a restart, another pass) leaves one table, one rule set.
    vpnkeeper_dataplane::nat::apply(Some(&lab.ns_server), &spec.name, spec.address)
        .await
        .expect("second apply");
    let table = nft(&lab, &["list", "table", "inet", "vpnkeeper"]);
    assert_eq!(table.matches("masquerade").count(), 1, "{table}");
    let tables = nft(&lab, &["list", "tables"]);
    assert_eq!(
        tables.matches("table inet vpnkeeper").count(),
        1,
        "{tables}"
    );
    assert!(
        tables.contains("table inet other"),
        "a foreign table was removed: {tables}"
    );
    let fwd = lab.ns(&lab.ns_server, &["sysctl", "-n", "net.ipv4.ip_forward"]);
    assert_eq!(fwd.trim(), "1");
}

//! Side by side in one run, in network namespaces on this machine:
//! - TCP throughput through the tunnel (iperf3, 5 s): embedded ↔ embedded (plain, and with
//!   AmneziaWG 2.0 parameters), wireguard-go ↔ wireguard-go, boringtun ↔ boringtun;
//! - handshakes per second the embedded plane answers (2,000 distinct peers initiating,
//!   rate limiter off, then with the default limit to show the cookie regime).
//!
//! `cargo bench -p vpnkeeper-awg --bench throughput` (root, iperf3, wireguard-go, wg;
//! boringtun-cli when installed). Prints figures; never fails on timing.

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use boringtun::noise::{Tunn, TunnResult};
use common::*;
use vpnkeeper_awg::{AwgParams, Device, DeviceConfig, PeerConfig};

const SECS: &str = "5";

/// iperf3 from b to a's tunnel address; Gbit/s received.
fn iperf(lab: &Lab) -> f64 {
    let mut server = Command::new("ip")
        .args([
            "netns", "exec", &lab.ns_a, "iperf3", "-s", "-1", "-B", A_TUN,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("iperf3 -s");
    std::thread::sleep(Duration::from_millis(300));
    let out = run(
        "ip",
        &[
            "netns", "exec", &lab.ns_b, "iperf3", "-c", A_TUN, "-t", SECS, "-J",
        ],
    );
    let _ = server.kill();
    let _ = server.wait();
    let text = String::from_utf8_lossy(&out.stdout);
    // "sum_received": { ... "bits_per_second": N ... }
    text.split("\"sum_received\"")
        .nth(1)
        .and_then(|t| t.split("\"bits_per_second\":").nth(1))
        .and_then(|t| t.split([',', '\n', '}']).next())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|bps| bps / 1e9)
        .unwrap_or(0.0)
}

fn embedded_pair(params: &str) -> f64 {
    let p = AwgParams::from_uapi(params).unwrap();
    let lab = Lab::new("tp");
    let (ka, kb) = (random_key(), random_key());
    let a = lab.embedded(&lab.ns_a.clone(), &lab.iface("a"), ka, A_TUN, &p);
    let b = lab.embedded(&lab.ns_b.clone(), &lab.iface("b"), kb, B_TUN, &p);
    a.upsert_peers([peer(&kb, B_TUN, None)]);
    b.upsert_peers([peer(&ka, A_TUN, Some(&format!("{A_VETH}:{PORT}")))]);
    assert!(lab.ping(&lab.ns_b, A_TUN, Duration::from_secs(10)));
    iperf(&lab)
}

fn daemon_pair(program: &str) -> f64 {
    let mut lab = Lab::new("td");
    let (ka, kb) = (random_key(), random_key());
    let (na, nb, ia, ib) = (
        lab.ns_a.clone(),
        lab.ns_b.clone(),
        lab.iface("a"),
        lab.iface("b"),
    );
    lab.daemon(program, &na, &ia, &ka, A_TUN, &public(&kb), B_TUN, None);
    let ep = format!("{A_VETH}:{PORT}");
    lab.daemon(
        program,
        &nb,
        &ib,
        &kb,
        B_TUN,
        &public(&ka),
        A_TUN,
        Some(&ep),
    );
    assert!(lab.ping(&lab.ns_b, A_TUN, Duration::from_secs(10)));
    iperf(&lab)
}

/// `n` peers initiate at once from namespace b; returns (responses, seconds, metrics).
fn handshakes(n: usize, limit: u64) -> (usize, f64, vpnkeeper_awg::MetricsSnapshot) {
    let lab = Lab::new("hs");
    let ka = random_key();
    let mut cfg = DeviceConfig::new(lab.iface("a"), ka, PORT);
    cfg.address = Some(format!("{A_TUN}/24").parse().unwrap());
    cfg.handshake_limit = limit;
    let a = in_ns(&lab.ns_a.clone(), move || Device::create(cfg).unwrap());
    let clients: Vec<[u8; 32]> = (0..n).map(|_| random_key()).collect();
    a.upsert_peers(clients.iter().enumerate().map(|(i, k)| PeerConfig {
        public_key: public(k),
        preshared_key: None,
        allowed_ips: vec![format!("10.{}.{}.{}/32", 100 + i / 65536, (i / 256) % 256, i % 256)
            .parse()
            .unwrap()],
        endpoint: None,
        persistent_keepalive: None,
    }));
    // Every initiation built up front: the clients' DH is not part of the figure.
    let server_pub = x25519_dalek::PublicKey::from(public(&ka));
    let mut buf = vec![0u8; 256];
    let inits: Vec<Vec<u8>> = clients
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let mut t = Tunn::new((*k).into(), server_pub, None, None, i as u32, None);
            match t.format_handshake_initiation(&mut buf, false) {
                TunnResult::WriteToNetwork(m) => m.to_vec(),
                other => panic!("{other:?}"),
            }
        })
        .collect();
    let sock = in_ns(&lab.ns_b.clone(), || {
        std::net::UdpSocket::bind("0.0.0.0:0").unwrap()
    });
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let rx = sock.try_clone().unwrap();
    let counter = std::thread::spawn(move || {
        let mut got = 0;
        let mut last = Instant::now();
        let mut b = [0u8; 256];
        while let Ok(len) = rx.recv(&mut b) {
            if len == 92 {
                got += 1;
                last = Instant::now();
            }
        }
        (got, last)
    });
    let target = format!("{A_VETH}:{PORT}");
    let t = Instant::now();
    for (i, m) in inits.iter().enumerate() {
        sock.send_to(m, &target).unwrap();
        if i % 256 == 255 {
            std::thread::sleep(Duration::from_micros(200)); // don't overrun the veth queue
        }
    }
    let (got, last) = counter.join().unwrap();
    (got, last.duration_since(t).as_secs_f64(), a.metrics())
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn peer_configs(n: usize) -> Vec<PeerConfig> {
    (0..n)
        .map(|i| PeerConfig {
            public_key: public(&random_key()),
            preshared_key: Some(random_key()),
            allowed_ips: vec![
                format!("10.{}.{}.{}/32", 100 + i / 65536, (i / 256) % 256, i % 256)
                    .parse()
                    .unwrap(),
            ],
            endpoint: None,
            persistent_keepalive: None,
        })
        .collect()
}

/// The device's own share of a converge: 10,000 peers into the table under one lock, one
/// more peer, one revoke; RSS before and after.
fn converge(n: usize) {
    let lab = Lab::new("cv");
    let mut cfg = DeviceConfig::new(lab.iface("a"), random_key(), PORT);
    cfg.address = Some(format!("{A_TUN}/24").parse().unwrap());
    let a = in_ns(&lab.ns_a.clone(), move || Device::create(cfg).unwrap());
    let peers = peer_configs(n);
    let extra = peer_configs(1);
    let before = rss_kib();
    let t = Instant::now();
    a.upsert_peers(peers);
    let all = t.elapsed();
    let after = rss_kib();
    let t = Instant::now();
    a.upsert_peers(extra.clone());
    let one = t.elapsed();
    let t = Instant::now();
    a.remove_peers(&[extra[0].public_key]);
    let rm = t.elapsed();
    println!(
        "device table: {n} peers in {:.1} ms, one more in {:.1} µs, one revoke in {:.1} µs; RSS {} → {} MiB (+{:.2} KiB/peer, peers idle: Noise state is built on first use)",
        all.as_secs_f64() * 1e3,
        one.as_secs_f64() * 1e6,
        rm.as_secs_f64() * 1e6,
        before / 1024,
        after / 1024,
        after.saturating_sub(before) as f64 / n as f64
    );
}

fn main() {
    let root = run("id", &["-u"]).stdout == b"0\n";
    let missing: Vec<&str> = ["ip", "iperf3", "wireguard-go", "wg"]
        .into_iter()
        .filter(|t| find_program(t).is_none())
        .collect();
    if !root || !missing.is_empty() {
        println!("throughput bench skipped: needs root and {missing:?} (apt-get install -y --no-install-recommends iperf3 wireguard-go wireguard-tools)");
        return;
    }
    converge(10_000);
    println!("TCP through the tunnel, iperf3 {SECS} s, b → a (Gbit/s):");
    let plain = embedded_pair("");
    println!("  embedded ↔ embedded (plain WireGuard) {plain:>6.2}");
    let awg = embedded_pair(
        "jc=4\njmin=40\njmax=70\ns1=37\ns2=51\ns3=17\ns4=16\nh1=100000-100999\nh2=200000-200999\nh3=300000-300999\nh4=400000-400999\ni1=<b 0xc0ffee><r 16><t>",
    );
    println!("  embedded ↔ embedded (AWG 2.0, S4=16)  {awg:>6.2}");
    let go = daemon_pair("wireguard-go");
    println!("  wireguard-go ↔ wireguard-go           {go:>6.2}");
    if find_program("boringtun-cli").is_some() {
        let bt = daemon_pair("boringtun-cli");
        println!("  boringtun ↔ boringtun                 {bt:>6.2}");
        if bt > 0.0 {
            println!("  ratio embedded/boringtun: {:.2}", plain / bt);
        }
    }
    if go > 0.0 {
        println!("  ratio embedded/wireguard-go: {:.2}", plain / go);
    }
    let n = 2000;
    let (got, secs, m) = handshakes(n, u64::MAX / 4);
    println!(
        "handshakes: {got}/{n} initiations from distinct peers answered in {secs:.3} s = {:.0}/s (rate limiter off; {m:?})",
        got as f64 / secs
    );
    let (got, secs, m) = handshakes(n, vpnkeeper_awg::device::DEFAULT_HANDSHAKE_LIMIT);
    println!(
        "handshakes with the default limit: {got}/{n} answered in {secs:.3} s, {} cookie replies (load regime)",
        m.cookies_sent
    );
}

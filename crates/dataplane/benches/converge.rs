//! Converging 10,000 peers into an empty interface: the embedded data plane (in-process,
//! one write lock), the UAPI backend (one `set` transaction) and `wg setconf` of the same
//! peers, side by side in the same run; the embedded plane's RSS with the peers.
//! Also: one incremental change (issue/revoke one device) on top of the 10k.
//!
//! `cargo bench -p vpnkeeper-dataplane --bench converge` (root, wireguard-go and wg needed;
//! boringtun-cli is measured too when installed). Prints figures; never fails on timing.
//! `VPNKEEPER_BENCH_PEERS=N` changes the peer count.

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{find_program, random_key, unique, SERVER_PORT};
use vpnkeeper_dataplane::embedded::EmbeddedBackend;
use vpnkeeper_dataplane::uapi::{Flavor, UapiBackend};
use vpnkeeper_dataplane::{
    Desired, DesiredSource, InterfaceSpec, Key, PassOutcome, PeerDiff, PeerSpec, Reconciler,
    SecretString, WgBackend,
};

/// One namespace with one userspace interface, torn down on drop.
struct Box1 {
    ns: String,
    iface: String,
    daemon: std::process::Child,
}

impl Box1 {
    fn new(program: &str, args: &[&str]) -> Box1 {
        let id = unique("bn");
        let ns = format!("vpk-{id}");
        let iface = format!("{id}w");
        common::must("ip", &["netns", "add", &ns]);
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &ns, program]);
        for a in args {
            cmd.arg(if *a == "IFACE" { iface.as_str() } else { a });
        }
        let daemon = cmd
            .env("WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start daemon");
        let sock = common::socket_path(&iface);
        let t = Instant::now();
        while !sock.exists() {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "{program} did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(100));
        Box1 { ns, iface, daemon }
    }

    fn backend(&self) -> Arc<dyn WgBackend> {
        Arc::new(
            UapiBackend::new(
                self.iface.clone(),
                None,
                Some(self.ns.clone()),
                Duration::from_secs(120),
            )
            .unwrap(),
        )
    }

    fn spec(&self, key: &Key) -> InterfaceSpec {
        InterfaceSpec {
            name: self.iface.clone(),
            private_key: SecretString::new(key.to_base64()),
            listen_port: SERVER_PORT,
            address: "10.0.0.1/16".parse().unwrap(),
            awg: None,
            mtu: None,
        }
    }
}

impl Drop for Box1 {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
        let _ = std::fs::remove_file(common::socket_path(&self.iface));
    }
}

/// Peers as the control plane issues them: a key, a PSK, one /32 each.
fn peers(n: usize) -> Vec<PeerSpec> {
    (0..n)
        .map(|i| {
            let mut p = PeerSpec::new(
                random_key().public_from_private().to_base64(),
                vec![
                    format!("10.{}.{}.{}/32", 100 + i / 65536, (i / 256) % 256, i % 256)
                        .parse()
                        .unwrap(),
                ],
            );
            p.preshared_key = Some(SecretString::new(random_key().to_base64()));
            p
        })
        .collect()
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

async fn uapi_run(label: &str, program: &str, args: &[&str], desired: &[PeerSpec]) {
    let b1 = Box1::new(program, args);
    let backend = b1.backend();
    backend
        .ensure_interface(&b1.spec(&random_key()))
        .await
        .expect("configure interface");
    measure(label, backend, desired).await;
}

/// This process's resident set size, from /proc.
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

/// The embedded data plane (crates/awg) in a namespace of its own, same measurements.
async fn embedded_run(desired: &[PeerSpec]) {
    let id = unique("be");
    let ns = format!("vpk-{id}");
    common::must("ip", &["netns", "add", &ns]);
    let sockets = tempfile::tempdir().unwrap();
    let iface = format!("{id}e");
    let backend: Arc<dyn WgBackend> = Arc::new(EmbeddedBackend::new(
        iface.clone(),
        Some(sockets.path().to_path_buf()),
        Some(ns.clone()),
    ));
    let spec = InterfaceSpec {
        name: iface,
        private_key: SecretString::new(random_key().to_base64()),
        listen_port: SERVER_PORT,
        address: "10.66.0.1/24".parse().unwrap(),
        awg: Some(
            "jc=4\njmin=40\njmax=70\ns1=37\ns2=51\nh1=1234567\nh2=2345678\nh3=3456789\nh4=4567890"
                .into(),
        ),
        mtu: Some(1420),
    };
    backend
        .ensure_interface(&spec)
        .await
        .expect("embedded interface");
    let before = rss_kib();
    measure("embedded (in-process)", backend.clone(), desired).await;
    let after = rss_kib();
    println!(
        "{:<26} RSS of this process: {} MiB before the peers, {} MiB with {} peers (+{:.1} KiB per peer)",
        "embedded (in-process)",
        before / 1024,
        after / 1024,
        desired.len(),
        after.saturating_sub(before) as f64 / desired.len() as f64
    );
    drop(backend);
    let _ = Command::new("ip").args(["netns", "del", &ns]).status();
}

async fn measure(label: &str, backend: Arc<dyn WgBackend>, desired: &[PeerSpec]) {
    // Our own share of the work: diff + encoding the UAPI request, no IO.
    let t = Instant::now();
    let d = vpnkeeper_dataplane::diff(desired, &Default::default());
    let body = vpnkeeper_dataplane::uapi::encode_peer_ops(&d, Flavor::WireguardGo).unwrap();
    let local = t.elapsed();
    let request_bytes = body.len();
    drop(body);

    let t = Instant::now();
    let r = backend.reconcile(desired).await.expect("reconcile");
    let full = t.elapsed();
    assert_eq!(r.added, desired.len());
    let t = Instant::now();
    let st = backend.state().await.expect("state");
    let read = t.elapsed();
    assert_eq!(st.peers.len(), desired.len(), "not every peer arrived");

    // One device issued, then revoked: apply() of a one-peer diff (what the reconciler
    // sends on an applied change), and the full reconcile pass that includes reading 10k.
    let extra = peers(1);
    let t = Instant::now();
    backend
        .apply(&PeerDiff {
            add: extra.clone(),
            ..Default::default()
        })
        .await
        .expect("apply one");
    let one_add = t.elapsed();
    let t = Instant::now();
    backend
        .apply(&PeerDiff {
            remove: vec![extra[0].public_key.clone()],
            ..Default::default()
        })
        .await
        .expect("remove one");
    let one_remove = t.elapsed();
    let mut plus = desired.to_vec();
    plus.push(extra[0].clone());
    let t = Instant::now();
    let r = backend.reconcile(&plus).await.expect("reconcile +1");
    let pass_one = t.elapsed();
    assert_eq!(r.added, 1);
    let t = Instant::now();
    let r = backend.reconcile(desired).await.expect("reconcile noop");
    let pass_noop = t.elapsed();
    assert_eq!(r.removed, 1);

    // The same single change through the reconciler, as an applied Command reaches it: the
    // fast path sends the difference to its last pass, without reading 10k peers back.
    let source = Arc::new(FixedSource(std::sync::Mutex::new(desired.to_vec())));
    let mut reconciler = Reconciler::new(backend.clone());
    match reconciler.pass(source.as_ref()).await {
        PassOutcome::Synced { .. } => {}
        PassOutcome::Failed { error, .. } => panic!("full pass: {error}"),
    }
    source.0.lock().unwrap().push(extra[0].clone());
    let t = Instant::now();
    let r = reconciler.change_pass(source.as_ref()).await;
    let change_add = t.elapsed();
    assert!(matches!(r, PassOutcome::Synced { ref report, .. } if report.added == 1));
    source.0.lock().unwrap().pop();
    let t = Instant::now();
    let r = reconciler.change_pass(source.as_ref()).await;
    let change_remove = t.elapsed();
    assert!(matches!(r, PassOutcome::Synced { ref report, .. } if report.removed == 1));
    assert!(!backend
        .state()
        .await
        .unwrap()
        .peers
        .iter()
        .any(|p| p.public_key == extra[0].public_key));

    println!(
        "{label:<26} converge {} peers: {:>10}   (of which diff+encode {}, {} KiB request; read back: {})",
        desired.len(),
        ms(full),
        ms(local),
        request_bytes / 1024,
        ms(read)
    );
    println!(
        "{label:<26} one peer: apply add {}, apply remove {}, full reconcile pass +1 {}, -1 {}",
        ms(one_add),
        ms(one_remove),
        ms(pass_one),
        ms(pass_noop)
    );
    println!(
        "{label:<26} one applied change through the reconciler (fast path, {} peers on the interface): issue {}, revoke {}",
        desired.len(),
        ms(change_add),
        ms(change_remove)
    );
}

/// A desired state the bench changes by hand.
struct FixedSource(std::sync::Mutex<Vec<PeerSpec>>);

#[async_trait::async_trait]
impl DesiredSource for FixedSource {
    async fn desired(&self) -> Result<Desired, String> {
        Ok(Desired {
            interface: None,
            peers: self.0.lock().unwrap().clone(),
        })
    }
}

fn setconf_run(desired: &[PeerSpec], wg_go: &str) {
    let b1 = Box1::new(wg_go, &["-f", "IFACE"]);
    let dir = tempfile::tempdir().unwrap();
    let mut conf = format!(
        "[Interface]\nPrivateKey = {}\nListenPort = {SERVER_PORT}\n",
        random_key().to_base64()
    );
    for p in desired {
        conf.push_str(&format!(
            "\n[Peer]\nPublicKey = {}\nPresharedKey = {}\nAllowedIPs = {}\n",
            p.public_key,
            p.preshared_key.as_ref().unwrap().expose_secret(),
            p.allowed_ips[0]
        ));
    }
    let path = dir.path().join("wg.conf");
    std::fs::write(&path, conf).unwrap();
    // The same starting point as the UAPI run: link up with its address, no peers
    // (wireguard-go starts a peer's routines only on an up device, which costs time).
    common::must(
        "ip",
        &["-n", &b1.ns, "addr", "add", "10.0.0.1/16", "dev", &b1.iface],
    );
    common::must("ip", &["-n", &b1.ns, "link", "set", &b1.iface, "up"]);
    let t = Instant::now();
    common::must(
        "ip",
        &[
            "netns",
            "exec",
            &b1.ns,
            "wg",
            "setconf",
            &b1.iface,
            path.to_str().unwrap(),
        ],
    );
    let took = t.elapsed();
    let n = common::must(
        "ip",
        &["netns", "exec", &b1.ns, "wg", "show", &b1.iface, "peers"],
    )
    .lines()
    .count();
    assert_eq!(n, desired.len());
    println!(
        "{:<26} converge {} peers: {:>10}",
        "wg setconf (wireguard-go)",
        desired.len(),
        ms(took)
    );
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing special. Either
    // way this is a figure-printing program, not a test.
    let missing: Vec<&str> = ["ip", "wg", "wireguard-go"]
        .into_iter()
        .filter(|t| find_program(t).is_none())
        .collect();
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !missing.is_empty() || !root {
        println!(
            "converge bench skipped: needs root and {} (apt-get install -y --no-install-recommends wireguard-tools wireguard-go iproute2)",
            if missing.is_empty() { "nothing else".to_string() } else { missing.join(", ") }
        );
        return;
    }
    let n: usize = std::env::var("VPNKEEPER_BENCH_PEERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let wg_go = find_program("wireguard-go").unwrap();
    let wg_go = wg_go.to_str().unwrap().to_string();
    let desired = peers(n);
    println!("converging {n} peers (each with a PSK and one /32) into an empty interface");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(embedded_run(&desired));
    rt.block_on(uapi_run(
        "UAPI backend (wireguard-go)",
        &wg_go,
        &["-f", "IFACE"],
        &desired,
    ));
    setconf_run(&desired, &wg_go);
    match find_program("boringtun-cli") {
        Some(bt) => rt.block_on(uapi_run(
            "UAPI backend (boringtun)",
            bt.to_str().unwrap(),
            &["IFACE", "--foreground", "--disable-drop-privileges"],
            &desired,
        )),
        None => println!(
            "boringtun-cli not installed: skipping its figures (cargo install boringtun-cli)"
        ),
    }
}

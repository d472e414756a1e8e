//! Xray API figures against a real Xray-core (PyPI build via
//! scripts/xray-run.py): `cargo bench -p vpnkeeper-xray --bench xray_api`.
//!
//! - adding 10,000 users through the API from empty (one reconcile),
//! - one incremental add and one revoke through the node's queue,
//! - one reconcile with a single change while 10,000 users are present
//!   (dominated by reading them back with GetInboundUsers),
//! - one QueryStats call with reset over the user counters,
//! - the service's fast path: one change through `UserSync::change_pass` (diff against
//!   what the last pass left, no read-back) against a full reconcile, in wall time and in
//!   CPU of both processes,
//! - rendering and writing the config file with 10,000 users, and skipping an unchanged one,
//! - Xray's RSS with the users added through the API, and after reading them back 20 times.
//!
//! Set XRAY_BENCH_USERS to change the 10,000. Exits 0 with a message when
//! Xray-core is not installed.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use rand::rngs::OsRng;
use vpnkeeper_xray::settings::CutMode;
use vpnkeeper_xray::{
    generate_reality_keypair, render_server_config, write_validated_config, AccessLog, ConfigFile,
    Supervisor, SupervisorConfig, UserSync, XrayApi, XrayNode, XraySettings, XrayUser,
};

fn main() {
    let ok = std::process::Command::new("python3")
        .arg(common::wrapper())
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        println!(
            "xray_api bench: Xray-core is not installed, nothing measured \
             (pip install --no-deps --target /opt/vpnkeeper/xray-py Xray-core)"
        );
        return;
    }
    let n: usize = std::env::var("XRAY_BENCH_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(bench(n));
}

async fn bench(n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let kp = generate_reality_keypair(&mut OsRng);
    let s = XraySettings {
        listen: "127.0.0.1".into(),
        port: common::free_port(),
        reality_private_key: kp.private_key,
        reality_public_key: kp.public_key,
        short_ids: vec!["a1b2".into()],
        server_names: vec!["localhost".into()],
        // Never dialled: no client connects during the bench.
        dest: "127.0.0.1:9".into(),
        fingerprint: "chrome".into(),
        api_addr: format!("127.0.0.1:{}", common::free_port())
            .parse()
            .unwrap(),
        inbound_tag: "vless-reality".into(),
        allow_private_targets: vec![],
        conn_idle_secs: 300,
        command: Some(common::xray_command()),
        config_dir: dir.path().join("xray"),
        cut_mode: CutMode::Off,
    };
    let path = write_validated_config(&s, &[], AccessLog::Off)
        .await
        .expect("config accepted");
    let sup = Supervisor::spawn(SupervisorConfig::new(
        s.command.clone().unwrap(),
        path,
        s.api_addr,
    ))
    .unwrap();
    let mut starts = sup.starts();
    tokio::time::timeout(
        Duration::from_secs(30),
        starts.wait_for(|s| s.generation >= 1),
    )
    .await
    .expect("xray starts within 30 s")
    .unwrap();
    let node = XrayNode::spawn(XrayApi::new(s.api_addr), &s.inbound_tag, None);
    node.health().await.expect("xray API answers");

    let users: Vec<XrayUser> = (0..n)
        .map(|i| XrayUser::vision(format!("dev-{i}"), uuid::Uuid::new_v4()))
        .collect();

    let t = Instant::now();
    let r = node.reconcile(users.clone()).await.unwrap();
    let full = t.elapsed();
    assert_eq!(r.added, n);
    println!(
        "add {n} users from empty (one reconcile, 32 RPCs in flight): {:.2?} ({:.0} users/s)",
        full,
        n as f64 / full.as_secs_f64()
    );

    let t = Instant::now();
    let got = node.users().await.unwrap();
    println!(
        "GetInboundUsers with {} users: {:.2?}",
        got.len(),
        t.elapsed()
    );

    const REPS: u32 = 50;
    let mut add = Duration::ZERO;
    let mut del = Duration::ZERO;
    for i in 0..REPS {
        let u = XrayUser::vision(format!("extra-{i}"), uuid::Uuid::new_v4());
        let t = Instant::now();
        node.add_user(u.clone()).await.unwrap();
        add += t.elapsed();
        let t = Instant::now();
        node.revoke(u.email.clone()).await.unwrap();
        del += t.elapsed();
    }
    println!(
        "one incremental add with {n} present: {:.2?} avg; one revoke: {:.2?} avg (over {REPS})",
        add / REPS,
        del / REPS
    );

    let mut desired = users.clone();
    desired.push(XrayUser::vision("one-more", uuid::Uuid::new_v4()));
    let t = Instant::now();
    let r = node.reconcile(desired).await.unwrap();
    assert_eq!((r.added, r.removed), (1, 0));
    println!(
        "reconcile with one change over {n} users (read + diff + 1 add): {:.2?}",
        t.elapsed()
    );

    let xray_pid = starts.borrow().pid.unwrap_or(0);
    fast_path_figures(&node, &users, n, xray_pid).await;
    file_figures(&s, &users, n);
    rss_figures(&node, xray_pid).await;

    let t = Instant::now();
    let stats = node.collect_traffic().await.unwrap();
    println!(
        "QueryStats(reset) over user counters: {:.2?} ({} users had traffic; \
         Xray creates a user's counters on first traffic, so this is a lower bound)",
        t.elapsed(),
        stats.len()
    );

    let t = Instant::now();
    let r = node.reconcile(Vec::new()).await.unwrap();
    println!(
        "remove all {} users (one reconcile): {:.2?}",
        r.removed,
        t.elapsed()
    );
    sup.shutdown().await;
}

/// CPU seconds a process has used (user + system), from /proc/PID/stat.
fn cpu_secs(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    ticks as f64 / 100.0
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Wall time and CPU (this process, Xray) from `start` to `report`.
struct Meter {
    xray: String,
    me0: f64,
    x0: f64,
    t: Instant,
}

impl Meter {
    fn start(xray_pid: u32) -> Meter {
        let xray = xray_pid.to_string();
        Meter {
            me0: cpu_secs("self"),
            x0: cpu_secs(&xray),
            xray,
            t: Instant::now(),
        }
    }

    fn report(&self, label: &str, reps: u32) {
        let wall = self.t.elapsed() / reps;
        let me = (cpu_secs("self") - self.me0) * 1000.0 / reps as f64;
        let x = (cpu_secs(&self.xray) - self.x0) * 1000.0 / reps as f64;
        println!(
            "{label}: {wall:.2?} wall, CPU {me:.1} ms here + {x:.1} ms in Xray per op \
             (over {reps}; CPU read in 10 ms ticks)"
        );
    }
}

/// The Xray service's two passes, one change each, with `n` users present.
async fn fast_path_figures(node: &XrayNode, users: &[XrayUser], n: usize, xray_pid: u32) {
    const REPS: u32 = 20;
    let mut desired = users.to_vec();
    let m = Meter::start(xray_pid);
    for i in 0..REPS {
        desired.push(XrayUser::vision(format!("full-{i}"), uuid::Uuid::new_v4()));
        let r = node.reconcile(desired.clone()).await.unwrap();
        assert_eq!(r.added, 1);
    }
    m.report(
        &format!("full pass, one change over {n} users (GetInboundUsers + diff + 1 RPC)"),
        REPS,
    );
    let mut sync = UserSync::new(node.clone());
    sync.full_pass(desired.clone()).await.unwrap();
    let m = Meter::start(xray_pid);
    for i in 0..REPS {
        desired.push(XrayUser::vision(format!("fast-{i}"), uuid::Uuid::new_v4()));
        let r = sync.change_pass(desired.clone()).await.unwrap();
        assert_eq!((r.added, r.removed), (1, 0));
    }
    m.report(
        &format!("change pass, one change over {n} users (in-memory diff + 1 RPC)"),
        REPS,
    );
    // Leave Xray with exactly `users` again for the figures that follow.
    node.reconcile(users.to_vec()).await.unwrap();
}

fn file_figures(s: &XraySettings, users: &[XrayUser], n: usize) {
    let dir = tempfile::tempdir().unwrap();
    let mut file = ConfigFile::new(dir.path());
    let t = Instant::now();
    let c = render_server_config(s, users, AccessLog::Stdout).unwrap();
    let render = t.elapsed();
    let t = Instant::now();
    assert!(file.write_if_changed(&c).unwrap());
    let write = t.elapsed();
    let t = Instant::now();
    assert!(!file.write_if_changed(&c).unwrap());
    println!(
        "config file with {n} users: render {render:.2?}, serialize + write + fsync {write:.2?}, \
         unchanged content skipped in {:.2?}",
        t.elapsed()
    );
}

async fn rss_figures(node: &XrayNode, xray_pid: u32) {
    let before = rss_mib(xray_pid);
    for _ in 0..20 {
        node.users().await.unwrap();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!(
        "xray RSS: {before:.1} MiB with the users added through the API; \
         {:.1} MiB after 20 GetInboundUsers read-backs",
        rss_mib(xray_pid)
    );
}

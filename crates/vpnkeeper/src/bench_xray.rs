//! `vpnkeeper bench-xray`: what VLESS device churn costs a node that supervises a real Xray.
//!
//! On a throw-away node (this binary as `vpnkeeper run`, Xray started through `--xray-command`)
//! it measures:
//! - the load: `users` users with one VLESS device each, issued by `clients` concurrent API
//!   clients; then the time until the node and Xray are idle again (< 5 % of a core over
//!   one second) and the CPU seconds each burned from the end of the burst until then;
//! - the same for a `seconds`-long burst of further VLESS devices on top of that load;
//! - a single change with the load present: CPU milliseconds (node + Xray) per isolated
//!   user-and-device add, averaged over `singles` adds and net of the idle CPU of windows as
//!   long (compare `--users 100` with `--users 10000`: O(change) means about the same figure);
//! - Xray's RSS with the load, as the node built it (users added through the API), and after
//!   a restart (users loaded from the config file the node wrote).
//!
//! Rate limits are off on the bench node. Linux only (reads /proc).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::json;

use crate::secret_files::ADMIN_TOKEN_FILE;

pub struct XrayBenchArgs {
    pub users: usize,
    pub clients: usize,
    pub seconds: u64,
    pub singles: usize,
    /// How the node runs Xray (`{config}` is replaced by the config path).
    pub xray_command: String,
    /// The node's binary (default: this one), e.g. an older build to compare with.
    pub node_exe: Option<std::path::PathBuf>,
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A node with Xray enabled, killed on drop.
struct Node {
    _dir: tempfile::TempDir,
    child: Child,
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Drop for Node {
    fn drop(&mut self) {
        // SIGTERM: the node stops its Xray child on the way out.
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

impl Node {
    async fn start(xray_command: &str, exe: &Path) -> Result<Node> {
        // Not /tmp: a tmpfs fsync is free and would flatter the node.
        let dir = tempfile::Builder::new()
            .prefix("vpnkeeper-bench-xray-")
            .tempdir_in(".")?;
        let data = dir.path().join("data");
        let (api, raft) = (
            format!("127.0.0.1:{}", free_port()?),
            format!("127.0.0.1:{}", free_port()?),
        );
        let out = Command::new(exe)
            .args(["init", "--data-dir"])
            .arg(&data)
            .args(["--api-listen", &api, "--raft-listen", &raft])
            .output()?;
        if !out.status.success() {
            bail!("init failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let token = std::fs::read_to_string(data.join(ADMIN_TOKEN_FILE))?
            .trim()
            .to_string();
        let mut cmd = Command::new(exe);
        cmd.args(["run", "--data-dir"]).arg(&data);
        for (k, v) in [
            ("LOG__LEVEL", "warn".to_string()),
            ("XRAY__ENABLED", "true".into()),
            ("XRAY__LISTEN", "127.0.0.1".into()),
            ("XRAY__PORT", free_port()?.to_string()),
            ("XRAY__API_ADDR", format!("127.0.0.1:{}", free_port()?)),
            ("XRAY__COMMAND", xray_command.into()),
            ("API__RATE_LIMIT_READS_PER_MIN", "0".into()),
            ("API__RATE_LIMIT_WRITES_PER_MIN", "0".into()),
            ("API__RATE_LIMIT_KEY_CREATE_PER_MIN", "0".into()),
            ("API__RATE_LIMIT_ANONYMOUS_PER_IP_PER_MIN", "0".into()),
        ] {
            cmd.env(format!("VPNKEEPER_{k}"), v);
        }
        let child = cmd.stdout(Stdio::null()).stderr(Stdio::inherit()).spawn()?;
        let node = Node {
            _dir: dir,
            child,
            base: format!("http://{api}"),
            token,
            http: reqwest::Client::new(),
        };
        node.wait_for_xray().await?;
        Ok(node)
    }

    /// Until `/health` says ok and the supervised Xray is running.
    async fn wait_for_xray(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ok = match self.http.get(format!("{}/health", self.base)).send().await {
                Ok(r) => r
                    .text()
                    .await
                    .unwrap_or_default()
                    .contains("\"status\":\"ok\""),
                Err(_) => false,
            };
            if ok && self.xray_pid().is_some() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the bench node or its Xray did not come up within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The Xray child: the process whose parent is the node.
    fn xray_pid(&self) -> Option<u32> {
        let me = self.pid().to_string();
        std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(e.path().join("stat")).ok()?;
            let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
            (fields.get(1) == Some(&me.as_str())).then_some(pid)
        })
    }

    async fn post(&self, path: &str, body: serde_json::Value) -> Result<serde_json::Value> {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await?;
        let status = r.status();
        let v: serde_json::Value = r.json().await.context("answer is not JSON")?;
        if !status.is_success() {
            bail!("POST {path}: {status}: {v}");
        }
        Ok(v)
    }

    /// A user with one VLESS device; `tag` keeps names unique across phases.
    async fn user_with_device(&self, tag: &str, i: usize) -> Result<()> {
        let user = self
            .post("/api/v1/users", json!({"name": format!("{tag}-{i}")}))
            .await?;
        self.post(
            "/api/v1/devices",
            json!({"user": user["id"], "type": "phone", "protocol": "vless"}),
        )
        .await?;
        Ok(())
    }
}

/// CPU seconds a process has used (user + system), from /proc/PID/stat.
fn cpu_secs(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat(5); `rest` starts at field 3.
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    ticks as f64 / hz
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

/// Runs `count` jobs on `clients` concurrent workers; returns the wall time.
async fn burst(node: &Arc<Node>, tag: &str, clients: usize, until: Until) -> Result<(usize, f64)> {
    let next = Arc::new(AtomicUsize::new(0));
    let t = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..clients.max(1) {
        let (node, next, tag) = (node.clone(), next.clone(), tag.to_string());
        set.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let more = match until {
                    Until::Count(n) => i < n,
                    Until::Deadline(d) => Instant::now() < d,
                };
                if !more {
                    return Ok::<_, anyhow::Error>(());
                }
                node.user_with_device(&tag, i).await?;
            }
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    let done = next.load(Ordering::Relaxed).saturating_sub(clients.max(1));
    Ok((done, t.elapsed().as_secs_f64()))
}

#[derive(Clone, Copy)]
enum Until {
    Count(usize),
    Deadline(Instant),
}

/// What `vpnkeeper bench` reports against the goals.
#[derive(Debug, Clone, Default)]
pub struct XrayFigures {
    /// Seconds from the end of the burst until node and Xray were idle (`None`: not within
    /// the 600 s limit).
    pub idle_after_burst_s: Option<f64>,
    /// CPU milliseconds (node + Xray) per isolated user + device add with the load present.
    pub single_change_cpu_ms: f64,
    /// Xray's RSS with the load added through the API, and after a restart from the file.
    pub xray_rss_api_mib: f64,
    pub xray_rss_file_mib: f64,
    /// Users Xray held at each measurement.
    pub users_api: usize,
    pub users_file: usize,
}

/// Samples both processes every 250 ms from the end of a burst until each used < 5 % of a
/// core over the last second; prints time-to-idle and the CPU seconds burned meanwhile.
/// Returns the time to idle (`None`: not idle within the limit).
async fn time_to_idle(node: &Node, label: &str) -> Option<f64> {
    let xray = node.xray_pid().unwrap_or(0);
    let pids = [("node", node.pid()), ("xray", xray)];
    let start = Instant::now();
    let base: Vec<f64> = pids.iter().map(|(_, p)| cpu_secs(*p)).collect();
    let mut window: Vec<Vec<f64>> = vec![base.clone()];
    let limit = Duration::from_secs(600);
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now: Vec<f64> = pids.iter().map(|(_, p)| cpu_secs(*p)).collect();
        window.push(now.clone());
        if window.len() > 5 {
            window.remove(0);
        }
        let idle = window.len() == 5 && (0..pids.len()).all(|i| now[i] - window[0][i] < 0.05);
        if idle || start.elapsed() > limit {
            // The idle second itself is not part of the time to idle.
            let secs = (start.elapsed().as_secs_f64() - 1.0).max(0.0);
            let burned: Vec<String> = pids
                .iter()
                .enumerate()
                .map(|(i, (name, _))| format!("{name} {:.2} CPU-s", now[i] - base[i]))
                .collect();
            let verdict = if idle { "idle after" } else { "NOT idle after" };
            println!(
                "{label}: {verdict} {secs:.1} s; since the burst: {}",
                burned.join(", ")
            );
            return idle.then_some(secs);
        }
    }
}

/// How long each measured window of [`single_change_cost`] lasts: the add, then room for the
/// change pass and any file write it schedules.
const CHANGE_WINDOW: Duration = Duration::from_millis(600);

/// CPU milliseconds (node + Xray) per isolated device add with the load present, net of what
/// the two burn idle (timers, the sampler, Xray itself) over a window of the same length.
/// Idle and change windows alternate, so a drift in the background load hits both alike.
async fn single_change_cost(node: &Arc<Node>, singles: usize) -> Result<f64> {
    let xray = node.xray_pid().unwrap_or(0);
    let cpu = || cpu_secs(node.pid()) + cpu_secs(xray);
    let (mut changes, mut idle) = (0.0, 0.0);
    let mut latency = Vec::with_capacity(singles);
    for i in 0..singles {
        let before = cpu();
        tokio::time::sleep(CHANGE_WINDOW).await;
        idle += cpu() - before;

        let (before, t) = (cpu(), Instant::now());
        node.user_with_device("single", i).await?;
        latency.push(t.elapsed());
        tokio::time::sleep(CHANGE_WINDOW.saturating_sub(t.elapsed())).await;
        changes += cpu() - before;
    }
    latency.sort();
    let per = |total: f64| total * 1000.0 / singles.max(1) as f64;
    let per_change_ms = per(changes - idle).max(0.0);
    println!(
        "single change with the load present: {per_change_ms:.1} ms CPU (node + xray) per \
         user+device add over {singles} adds, net of {:.1} ms idle CPU per {} ms window; \
         API p50 {:.1} ms",
        per(idle),
        CHANGE_WINDOW.as_millis(),
        latency
            .get(latency.len() / 2)
            .map_or(0.0, |l| l.as_secs_f64() * 1000.0)
    );
    Ok(per_change_ms)
}

pub async fn run(args: XrayBenchArgs) -> Result<XrayFigures> {
    println!(
        "bench-xray: {} users with a VLESS device each, {} clients, then a {} s burst \
         (build with --release for meaningful figures)",
        args.users, args.clients, args.seconds
    );
    let exe = match &args.node_exe {
        Some(p) => p.clone(),
        None => std::env::current_exe()?,
    };
    println!("node binary: {}", exe.display());
    let node = Arc::new(Node::start(&args.xray_command, &exe).await?);
    let (n, wall) = burst(&node, "load", args.clients, Until::Count(args.users)).await?;
    println!(
        "load: {n} users + devices in {wall:.1} s ({:.0}/s)",
        n as f64 / wall
    );
    time_to_idle(&node, "after the load").await;
    let rss_api = node.xray_pid().map_or(0.0, rss_mib);

    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let (n, wall) = burst(&node, "burst", args.clients, Until::Deadline(deadline)).await?;
    println!(
        "burst: {n} users + devices in {wall:.1} s ({:.0}/s)",
        n as f64 / wall
    );
    let idle_after_burst_s = time_to_idle(&node, "after the burst").await;
    let single_change_cpu_ms = single_change_cost(&node, args.singles).await?;

    let users = args.users + n + args.singles;
    let before = node.xray_pid();
    if let Some(pid) = before {
        // The supervisor restarts it from the config file the node keeps.
        // SAFETY: kill(2) on a pid we just read as our child's child.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGKILL);
        }
    }
    let restarted = wait_new_xray(&node, before).await;
    time_to_idle(&node, "after an Xray restart").await;
    let rss_file = restarted.map_or(0.0, rss_mib);
    println!(
        "xray RSS: {rss_api:.1} MiB with {} users added through the API; \
         {rss_file:.1} MiB with {users} users after a restart from the config file; node RSS {:.1} MiB",
        args.users,
        rss_mib(node.pid())
    );
    print_note(Path::new("."));
    Ok(XrayFigures {
        idle_after_burst_s,
        single_change_cpu_ms,
        xray_rss_api_mib: rss_api,
        xray_rss_file_mib: rss_file,
        users_api: args.users,
        users_file: users,
    })
}

async fn wait_new_xray(node: &Node, old: Option<u32>) -> Option<u32> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if let Some(pid) = node.xray_pid().filter(|p| Some(*p) != old) {
            let _ = node.wait_for_xray().await;
            return Some(pid);
        }
    }
    None
}

fn print_note(dir: &Path) {
    println!(
        "machine: {} CPUs; data under {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        dir.canonicalize().unwrap_or_else(|_| dir.into()).display()
    );
}

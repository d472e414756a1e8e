//! `vpnkeeper bench`: figures for the spine, measured on a throw-away node.
//!
//! It starts this same binary as `vpnkeeper run` on a temporary data directory (fsync on, as
//! in production), drives it over the HTTP API on loopback, and prints:
//! - commit latency p50/p99 of `device add` with one client (nothing to batch with);
//! - commits per second and latency with N concurrent clients (openraft batches appends);
//! - idle RSS of the node after loading 10,000 users and 20,000 devices and restarting it;
//! - `GET /sub/{token}` requests per second over keep-alive connections on loopback (a lean
//!   HTTP/1.1 load generator below, so the client does not eat the CPU the server needs);
//! - the Xray service under load (the `bench-xray` run, when an Xray is found): time to idle
//!   after a burst, CPU per single change with 10k users present, Xray's RSS;
//! - then every figure next to its goal (issue #10), one line each.
//!
//! Rate limits are turned off on the bench node: they would be what is measured otherwise.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::json;

use crate::secret_files::ADMIN_TOKEN_FILE;

pub struct BenchArgs {
    pub clients: usize,
    pub requests: usize,
    pub users: usize,
    pub devices: usize,
    pub skip_rss: bool,
    /// Seconds of subscription load; 0 skips it.
    pub sub_seconds: u64,
    /// Concurrent keep-alive connections of the subscription load.
    pub sub_connections: usize,
    /// Only the subscription measurement.
    pub sub_only: bool,
    /// How to run Xray for the Xray part (`None`: found by [`find_xray`]; skipped if absent).
    pub xray_command: Option<String>,
    pub skip_xray: bool,
}

/// Each goal's figure, `None` where its part was skipped.
#[derive(Default)]
struct Figures {
    one_client: Option<(f64, f64)>,
    many_clients: Option<(usize, f64)>,
    idle_rss_mb: Option<f64>,
    xray: Option<crate::bench_xray::XrayFigures>,
}

/// An Xray command line: `xray` on the PATH, else the PyPI build through
/// `scripts/xray-run.py` (run from the repository root) if it is installed.
fn find_xray() -> Option<String> {
    let on_path = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join("xray").is_file()));
    if on_path {
        return Some("xray run -c {config}".into());
    }
    let pydir =
        std::env::var("VPNKEEPER_XRAY_PYDIR").unwrap_or_else(|_| "/opt/vpnkeeper/xray-py".into());
    let wrapper = Path::new("scripts/xray-run.py").canonicalize().ok()?;
    Path::new(&pydir).join("xray").is_dir().then(|| {
        format!(
            "env VPNKEEPER_XRAY_PYDIR={pydir} python3 {} run -c {{config}}",
            wrapper.display()
        )
    })
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT MET"
    }
}

/// One line per goal of issue #10, with the figure measured in this run.
fn print_goals(clients: usize, f: &Figures) {
    println!("\ngoals (issue #10), figures of this run:");
    let skipped = |what: &str| println!("  {what:<58} skipped");
    match f.many_clients {
        Some((_, rate)) => println!(
            "  {:<58} {rate:>8.0}/s   {}",
            format!("device add, {clients} clients >= 5,000/s"),
            verdict(rate >= 5000.0)
        ),
        None => skipped("device add, 32 clients >= 5,000/s"),
    }
    if let Some((p50, p99)) = f.one_client {
        println!(
            "  {:<58} {p50:>8.2} ms {}",
            "device add, 1 client p50 < 2 ms",
            verdict(p50 < 2.0)
        );
        println!(
            "  {:<58} {p99:>8.2} ms {}",
            "device add, 1 client p99 < 10 ms",
            verdict(p99 < 10.0)
        );
    }
    match f.idle_rss_mb {
        Some(rss) => println!(
            "  {:<58} {rss:>8.1} MB {}",
            "node idle RSS, 10k users / 20k devices < 60 MB",
            verdict(rss < 60.0)
        ),
        None => skipped("node idle RSS, 10k users / 20k devices < 60 MB"),
    }
    let Some(x) = &f.xray else {
        skipped("xray: node + Xray idle <= 5 s after a burst");
        return;
    };
    match x.idle_after_burst_s {
        Some(s) => println!(
            "  {:<58} {s:>8.1} s  {}",
            "xray: node + Xray idle <= 5 s after a burst",
            verdict(s <= 5.0)
        ),
        None => println!(
            "  {:<58} {:>8}    NOT MET",
            "xray: node + Xray idle <= 5 s after a burst", "> 600 s"
        ),
    }
    println!(
        "  {:<58} {:>8.1} ms (O(change): compare with a few users)",
        format!("xray: CPU per single change, {} users present", x.users_api),
        x.single_change_cpu_ms
    );
    println!(
        "  {:<58} {:>8.1} MiB via API, {:.1} MiB from the file ({} users)",
        format!("xray: Xray RSS with {} users", x.users_api),
        x.xray_rss_api_mib,
        x.xray_rss_file_mib,
        x.users_file
    );
}

struct BenchNode {
    dir: tempfile::TempDir,
    child: Option<Child>,
    base: String,
    token: String,
    api: String,
    raft: String,
    wg_interface: String,
    wg_port: u16,
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn free_udp_port() -> Result<u16> {
    Ok(std::net::UdpSocket::bind("0.0.0.0:0")?.local_addr()?.port())
}

impl BenchNode {
    fn create() -> Result<BenchNode> {
        // Under the target dir or cwd rather than /tmp: /tmp may be a tmpfs whose "fsync" is
        // free, which would flatter the figures.
        let mut dir = tempfile::Builder::new()
            .prefix("vpnkeeper-bench-")
            .tempdir_in(".")?;
        let api = format!("127.0.0.1:{}", free_port()?);
        let raft = format!("127.0.0.1:{}", free_port()?);
        let exe = std::env::current_exe()?;
        let data = dir.path().join("data");
        let out = Command::new(&exe)
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
        if std::env::var_os("VPNKEEPER_BENCH_KEEP").is_some() {
            // For profiling the loaded node afterwards (heaptrack, perf): the data directory
            // outlives the bench; its path is printed.
            eprintln!("keeping the bench data directory {}", dir.path().display());
            dir.disable_cleanup(true);
        }
        Ok(BenchNode {
            base: format!("http://{api}"),
            wg_interface: format!("vkb{}", std::process::id() % 1_000_000),
            wg_port: free_udp_port()?,
            dir,
            child: None,
            token,
            api,
            raft,
        })
    }

    async fn start(&mut self) -> Result<()> {
        let exe = std::env::current_exe()?;
        let child = Command::new(exe)
            .args(["run", "--data-dir"])
            .arg(self.dir.path().join("data"))
            // A /16 pool so 20,000 devices fit on one node.
            .env("VPNKEEPER_WIREGUARD__ADDRESS_POOL", "10.64.0.0/16")
            // Its own interface and UDP port: a second bench (or a real node) on the same
            // machine must not collide with this one on awg0:51820.
            .env("VPNKEEPER_WIREGUARD__INTERFACE", &self.wg_interface)
            .env("VPNKEEPER_WIREGUARD__LISTEN_PORT", self.wg_port.to_string())
            .env("VPNKEEPER_LOG__LEVEL", "warn")
            .env("VPNKEEPER_API__LISTEN", &self.api)
            .env("VPNKEEPER_RAFT__LISTEN", &self.raft)
            .env("VPNKEEPER_API__RATE_LIMIT_READS_PER_MIN", "0")
            .env("VPNKEEPER_API__RATE_LIMIT_WRITES_PER_MIN", "0")
            .env("VPNKEEPER_API__RATE_LIMIT_KEY_CREATE_PER_MIN", "0")
            .env("VPNKEEPER_API__RATE_LIMIT_ANONYMOUS_PER_IP_PER_MIN", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?;
        self.child = Some(child);
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = client.get(format!("{}/health", self.base)).send().await {
                let body = r.text().await.unwrap_or_default();
                if body.contains("\"status\":\"ok\"") {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("bench node did not become healthy");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let _ = c.wait();
        }
    }

    /// A `kB` line of /proc/PID/status (`VmRSS`, `RssAnon`, `RssFile`, …).
    fn status_kib(&self, field: &str) -> Result<u64> {
        let pid = self.child.as_ref().context("node not running")?.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .with_context(|| format!("no {field} in /proc/PID/status"))
    }
}

impl Drop for BenchNode {
    fn drop(&mut self) {
        self.stop();
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn post(
    client: &reqwest::Client,
    node: &BenchNode,
    path: &str,
    body: serde_json::Value,
) -> Result<()> {
    let r = client
        .post(format!("{}{}", node.base, path))
        .bearer_auth(&node.token)
        .json(&body)
        .send()
        .await?;
    if !r.status().is_success() {
        bail!(
            "{path}: HTTP {}: {}",
            r.status(),
            r.text().await.unwrap_or_default()
        );
    }
    Ok(())
}

/// Issues `total` devices over `clients` concurrent connections; returns per-request latency.
async fn issue_devices(
    node: &BenchNode,
    clients: usize,
    total: usize,
    tag: &str,
) -> Result<(Vec<Duration>, Duration)> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;
    // Each device belongs to one of a few users, named per device so every request is a
    // real new device (a new peer, a new address), never the "same device again" shortcut.
    let users = clients.max(1);
    for u in 0..users {
        post(
            &client,
            node,
            "/api/v1/users",
            json!({"name": format!("{tag}-u{u}")}),
        )
        .await?;
    }
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, next) = (client.clone(), next.clone());
        let base = node.base.clone();
        let token = node.token.clone();
        let tag = tag.to_string();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    return Ok::<_, anyhow::Error>(lat);
                }
                let body = json!({"user": format!("{tag}-u{}", i % users), "type": "phone", "name": format!("d{i}")});
                let t = Instant::now();
                let r = client
                    .post(format!("{base}/api/v1/devices"))
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await?;
                if r.status().as_u16() != 201 {
                    bail!("device add: HTTP {}: {}", r.status(), r.text().await.unwrap_or_default());
                }
                lat.push(t.elapsed());
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let wall = started.elapsed();
    all.sort();
    Ok((all, wall))
}

fn report(label: &str, lat: &[Duration], wall: Duration) {
    println!(
        "{label:<34} {:>7} commits in {:>6.2} s = {:>8.0} commits/s   p50 {:>6.2} ms   p99 {:>6.2} ms   max {:>6.2} ms",
        lat.len(),
        wall.as_secs_f64(),
        lat.len() as f64 / wall.as_secs_f64(),
        ms(percentile(lat, 0.50)),
        ms(percentile(lat, 0.99)),
        ms(percentile(lat, 1.0)),
    );
}

pub async fn run(args: BenchArgs) -> Result<()> {
    println!(
        "vpnkeeper bench: single node, fsync on (raft log synchronous=FULL), HTTP API on loopback"
    );
    let mut node = BenchNode::create()?;
    node.start().await?;
    print_fs_note(node.dir.path());

    if args.sub_seconds > 0 {
        sub_throughput(&node, args.sub_connections, args.sub_seconds).await?;
    }
    if args.sub_only {
        node.stop();
        return Ok(());
    }
    let mut figures = Figures::default();

    let (lat, wall) = issue_devices(&node, 1, args.requests.min(2000), "seq").await?;
    report("device add, 1 client", &lat, wall);
    figures.one_client = Some((ms(percentile(&lat, 0.50)), ms(percentile(&lat, 0.99))));
    let (lat, wall) = issue_devices(&node, args.clients, args.requests, "conc").await?;
    report(&format!("device add, {} clients", args.clients), &lat, wall);
    figures.many_clients = Some((args.clients, lat.len() as f64 / wall.as_secs_f64()));

    if !args.skip_rss {
        figures.idle_rss_mb = Some(load_and_measure_rss(&mut node, &args).await?);
    }
    node.stop();
    if !args.skip_xray {
        figures.xray = xray_part(&args).await?;
    }
    print_goals(args.clients, &figures);
    Ok(())
}

/// The `bench-xray` run on its own node, with this run's users and clients.
async fn xray_part(args: &BenchArgs) -> Result<Option<crate::bench_xray::XrayFigures>> {
    let Some(xray_command) = args.xray_command.clone().or_else(find_xray) else {
        println!(
            "xray part skipped: no `xray` on the PATH and no PyPI Xray-core for \
             scripts/xray-run.py (pass --xray-command, or --skip-xray)"
        );
        return Ok(None);
    };
    println!();
    let figures = crate::bench_xray::run(crate::bench_xray::XrayBenchArgs {
        users: args.users,
        clients: args.clients,
        seconds: 20,
        singles: 20,
        xray_command,
        node_exe: None,
    })
    .await?;
    Ok(Some(figures))
}

/// Loads the node to `args.users` users and `args.devices` devices, restarts it, and returns
/// its settled idle RSS in MB (10^6 bytes, as the goal is written): that of a node that
/// starts with this state (what an operator sees), not one warm from the load.
async fn load_and_measure_rss(node: &mut BenchNode, args: &BenchArgs) -> Result<f64> {
    // Load to the target size, then restart so the RSS is that of a node that starts
    // with this state (what an operator sees), not one warm from the load.
    let client = reqwest::Client::new();
    let have = args.requests + args.requests.min(2000);
    let needed_devices = args.devices.saturating_sub(have);
    let t = Instant::now();
    let per_user = needed_devices.div_ceil(args.users.max(1));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (client, next) = (client.clone(), next.clone());
        let (base, token) = (node.base.clone(), node.token.clone());
        let (users, devices) = (args.users, needed_devices);
        tasks.push(tokio::spawn(async move {
            loop {
                let u = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if u >= users {
                    return Ok::<_, anyhow::Error>(());
                }
                let name = format!("load-u{u}");
                let r = client
                    .post(format!("{base}/api/v1/users"))
                    .bearer_auth(&token)
                    .json(&json!({"name": name}))
                    .send()
                    .await?;
                if !r.status().is_success() {
                    bail!("user add: HTTP {}", r.status());
                }
                for d in 0..per_user {
                    if u * per_user + d >= devices {
                        break;
                    }
                    let r = client
                        .post(format!("{base}/api/v1/devices"))
                        .bearer_auth(&token)
                        .json(&json!({"user": name, "type": "laptop", "name": format!("l{d}")}))
                        .send()
                        .await?;
                    if !r.status().is_success() {
                        bail!("device add: HTTP {}", r.status());
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    println!(
        "loaded {} users and {} more devices in {:.1} s",
        args.users,
        needed_devices,
        t.elapsed().as_secs_f64()
    );
    node.stop();
    node.start().await?;
    let status: serde_json::Value = client
        .get(format!("{}/api/v1/status", node.base))
        .bearer_auth(&node.token)
        .send()
        .await?
        .json()
        .await?;
    // Sampled 5 s after the start, then at 2 and 4 minutes, after a dozen and two dozen of
    // the data plane's timer passes (every 10 s by default): memory kept after each full
    // pass used to add up for minutes (50 MiB at 5 s, 64 MiB at 3 min), so the figure that
    // counts is the highest of the later samples, what the node settles at.
    let mut settled_mb: f64 = 0.0;
    // (seconds since the previous sample, label, whether it counts towards the figure)
    for (wait, when, settled) in [
        (5, "5 s after restart", false),
        (115, "2 min after restart", true),
        (120, "4 min after restart", true),
    ] {
        tokio::time::sleep(Duration::from_secs(wait)).await;
        let rss_kib = node.status_kib("VmRSS")?;
        let rss_mb = rss_kib as f64 * 1024.0 / 1e6;
        if settled {
            settled_mb = settled_mb.max(rss_mb);
        }
        // Heap and stacks (anonymous) apart from mapped files (the binary's text, SQLite's
        // shared-memory WAL index): they shrink by different means.
        let mib = |field| node.status_kib(field).map(|k| k as f64 / 1024.0);
        println!(
            "idle RSS {when} with {} users / {} active devices: {rss_mb:.1} MB = {:.1} MiB \
             (anonymous {:.1}, files {:.1}, shared memory {:.1}; MiB)",
            status["counts"]["users"],
            status["counts"]["devices_active"],
            rss_kib as f64 / 1024.0,
            mib("RssAnon")?,
            mib("RssFile")?,
            mib("RssShmem")?,
        );
    }
    Ok(settled_mb)
}

fn print_fs_note(dir: &Path) {
    if let Ok(out) = Command::new("df").args(["-T"]).arg(dir).output() {
        if let Some(line) = String::from_utf8_lossy(&out.stdout).lines().nth(1) {
            let fs = line.split_whitespace().nth(1).unwrap_or("?");
            println!("data directory filesystem: {fs}");
        }
    }
}

/// A user with a phone, a laptop and a router (AmneziaWG, the node's flavour): a realistic
/// subscription to render.
async fn sub_user(node: &BenchNode) -> Result<String> {
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{}/api/v1/users", node.base))
        .bearer_auth(&node.token)
        .json(&json!({"name": "sub-bench"}))
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("user add: HTTP {}", r.status());
    }
    let user: serde_json::Value = r.json().await?;
    for (t, p) in [("phone", "awg"), ("laptop", "awg"), ("router", "awg")] {
        post(
            &client,
            node,
            "/api/v1/devices",
            json!({"user": "sub-bench", "type": t, "protocol": p}),
        )
        .await?;
    }
    let url = user["subscription_url"]
        .as_str()
        .context("no subscription_url in the user")?;
    url.split_once("/sub/")
        .map(|(_, t)| format!("/sub/{t}"))
        .context("subscription_url without /sub/")
}

/// Reads one HTTP/1.1 response with a Content-Length body from `buf`/`stream`; returns the
/// status code. Enough for our own server's answers; not a general client.
async fn read_response(stream: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> Result<u16> {
    use tokio::io::AsyncReadExt;
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end])?;
            let status: u16 = head
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .context("bad status line")?;
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .context("no content-length")?;
            let total = end + 4 + len;
            while buf.len() < total {
                let mut chunk = [0u8; 16384];
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    bail!("connection closed mid-body");
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            buf.drain(..total);
            return Ok(status);
        }
        let mut chunk = [0u8; 16384];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            bail!("connection closed");
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// `GET /sub/{token}` as fast as `connections` keep-alive connections allow, for `seconds`.
async fn sub_throughput(node: &BenchNode, connections: usize, seconds: u64) -> Result<()> {
    use tokio::io::AsyncWriteExt;
    let path = sub_user(node).await?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: v2rayNG/1.9\r\n\r\n",
        node.api
    );
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (addr, request) = (node.api.clone(), request.clone());
        tasks.push(tokio::spawn(async move {
            let mut stream = tokio::net::TcpStream::connect(&addr).await?;
            stream.set_nodelay(true)?;
            let mut buf = Vec::with_capacity(32 * 1024);
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                stream.write_all(request.as_bytes()).await?;
                let status = read_response(&mut stream, &mut buf).await?;
                if status != 200 {
                    bail!("GET /sub: HTTP {status}");
                }
                lat.push(t.elapsed());
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let wall = started.elapsed();
    all.sort();
    println!(
        "{:<34} {:>7} requests in {:>6.2} s = {:>8.0} req/s   p50 {:>6.2} ms   p99 {:>6.2} ms   ({connections} connections)",
        "GET /sub/{token} (3 devices)",
        all.len(),
        wall.as_secs_f64(),
        all.len() as f64 / wall.as_secs_f64(),
        ms(percentile(&all, 0.50)),
        ms(percentile(&all, 0.99)),
    );
    println!(
        "  for wrk: wrk -t2 -c{connections} -d{seconds}s http://{}{path}  (while this node runs)",
        node.api
    );
    Ok(())
}

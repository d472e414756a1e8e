//! Test harness: the real `vpnkeeper` binary as a process, on loopback ports, in a temp dir.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub mod fleet;
pub mod json_api;

pub const BIN: &str = env!("CARGO_BIN_EXE_vpnkeeper");

/// A loopback port nobody listens on, for a node under test to bind.
///
/// Chosen below Linux's ephemeral range (32768–60999): the nodes under test open many
/// outbound connections, whose local ports come from that range, and one of them could take
/// a port picked there before the node binds it (seen with three-node clusters). Each test
/// process walks its own block of 100 ports (by pid) so parallel processes rarely meet.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = 20_000 + (std::process::id() % 120) as u16 * 100;
    for _ in 0..100 {
        let port = base + NEXT.fetch_add(1, Ordering::Relaxed) % 100;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    TcpListener::bind("127.0.0.1:0")
        .expect("bind an ephemeral port")
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `vpnkeeper ARGS` to completion with a clean environment (no VPNKEEPER_* leaks).
pub fn vk(args: &[&str]) -> Output {
    vk_env(args, &[])
}

pub fn vk_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("VPNKEEPER_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("run the vpnkeeper binary")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// An initialised node directory plus (when started) its running process.
pub struct Node {
    pub dir: tempfile::TempDir,
    pub api_port: u16,
    pub raft_port: u16,
    pub token: String,
    pub child: Option<Child>,
}

impl Node {
    pub fn init() -> Node {
        Node::init_with(&[])
    }

    /// `init` with extra flags (e.g. `--public-host`).
    pub fn init_with(extra: &[&str]) -> Node {
        let dir = tempfile::tempdir().unwrap();
        let api_port = free_port();
        let raft_port = free_port();
        let data = dir.path().join("data");
        let out = vk(&[
            "init",
            "--data-dir",
            data.to_str().unwrap(),
            "--api-listen",
            &format!("127.0.0.1:{api_port}"),
            "--raft-listen",
            &format!("127.0.0.1:{raft_port}"),
        ]
        .into_iter()
        .chain(extra.iter().copied())
        // Tests run as root on machines with /dev/net/tun, where init would pick the
        // embedded data plane on awg0:51820 for every node at once: be explicit.
        .chain(
            (!extra.contains(&"--wg-backend"))
                .then_some(["--wg-backend", "none"])
                .into_iter()
                .flatten(),
        )
        .collect::<Vec<_>>());
        assert!(out.status.success(), "init failed: {}", stderr(&out));
        let token = stdout(&out).trim().to_string();
        Node {
            dir,
            api_port,
            raft_port,
            token,
            child: None,
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn data(&self) -> String {
        self.data_dir().to_str().unwrap().to_string()
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.api_port)
    }

    /// Starts `vpnkeeper run` and waits until `/health` reports a leader.
    pub fn start(&mut self) {
        self.start_env(&[]);
    }

    pub fn start_env(&mut self, env: &[(&str, &str)]) {
        assert!(self.child.is_none(), "node already running");
        let log = std::fs::File::create(self.dir.path().join("node.log")).unwrap();
        let mut cmd = Command::new(BIN);
        cmd.args(["run", "--data-dir", &self.data()]);
        for (k, _) in std::env::vars() {
            if k.starts_with("VPNKEEPER_") {
                cmd.env_remove(k);
            }
        }
        cmd.envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log));
        self.child = Some(cmd.spawn().expect("spawn vpnkeeper run"));
        wait_healthy(&self.base(), Duration::from_secs(20), self.dir.path());
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// SIGTERM and wait; returns the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("node running");
        let ok = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = c.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "node did not exit within 20 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("node.log")).unwrap_or_default()
    }

    /// `vpnkeeper VERB... --data-dir DIR`
    pub fn cli(&self, args: &[&str]) -> Output {
        let mut all: Vec<&str> = args.to_vec();
        let data = self.data();
        all.push("--data-dir");
        all.push(&data);
        vk(&all)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn wait_healthy(base: &str, timeout: Duration, dir: &Path) {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(body) = http_get(&format!("{base}/health")) {
            if body.contains("\"leader\":") && !body.contains("\"leader\":null") {
                return;
            }
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(dir.join("node.log")).unwrap_or_default();
            panic!("node at {base} not healthy within {timeout:?}; log:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A minimal blocking HTTP GET (no extra client crate needed for health polling).
pub fn http_get(url: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap();
    let mut s = std::net::TcpStream::connect(host)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = String::new();
    s.read_to_string(&mut buf)?;
    Ok(buf)
}

/// GET `path` with the admin token through curl; the body, or empty on an HTTP error.
pub fn api_text(node: &Node, path: &str) -> String {
    let out = std::process::Command::new("curl")
        // The node rate-limits reads per key (100/min by default): a 429 is retried after
        // its Retry-After instead of reading as an empty body.
        .args([
            "-sf",
            "--retry",
            "5",
            "-H",
            &format!("Authorization: Bearer {}", node.token),
        ])
        .arg(format!("{}{}", node.base(), path))
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// [`api_text`] parsed as JSON (`Null` when it is not).
pub fn api_get(node: &Node, path: &str) -> serde_json::Value {
    serde_json::from_str(&api_text(node, path)).unwrap_or(serde_json::Value::Null)
}

//! A two-host lab in network namespaces for the data-plane integration tests.
//!
//! `server` (ns A) and `client` (ns B) are joined by a veth pair (10.99.0.1 ↔ 10.99.0.2).
//! The server's WireGuard interface is run by the implementation under test (wireguard-go
//! or boringtun) and configured by the backend under test; the client always runs
//! wireguard-go configured with plain `wg set`, like a user's device would be. The tunnel
//! is 10.66.0.0/24: server 10.66.0.1, client 10.66.0.2.
//!
//! Everything is torn down by `Drop` (daemons killed, namespaces deleted, sockets removed),
//! so a failing assertion does not leave namespaces behind.

#![allow(dead_code)] // each test file uses a different part of the lab

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use vpnkeeper_dataplane::Key;

pub const SERVER_VETH_IP: &str = "10.99.0.1";
pub const CLIENT_VETH_IP: &str = "10.99.0.2";
pub const SERVER_TUN_IP: &str = "10.66.0.1";
pub const CLIENT_TUN_IP: &str = "10.66.0.2";
pub const SERVER_PORT: u16 = 51820;

/// A userspace WireGuard implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Impl {
    WireguardGo,
    Boringtun,
}

impl Impl {
    fn program(self) -> &'static str {
        match self {
            Impl::WireguardGo => "wireguard-go",
            Impl::Boringtun => "boringtun-cli",
        }
    }
}

const SKIP_VAR: &str = "VPNKEEPER_SKIP_NETNS";

fn install_hint(tool: &str) -> &'static str {
    match tool {
        "boringtun-cli" => "cargo install boringtun-cli (0.7.x, into ~/.cargo/bin)",
        "wireguard-go" => "apt-get install -y --no-install-recommends wireguard-go",
        "wg" => "apt-get install -y --no-install-recommends wireguard-tools",
        "ping" => "apt-get install -y --no-install-recommends iputils-ping",
        _ => "apt-get install -y --no-install-recommends iproute2",
    }
}

/// Where a program is: PATH, then ~/.cargo/bin (where `cargo install` puts boringtun-cli
/// even when that directory is not in the test's PATH).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("CARGO_HOME") {
        dirs.push(PathBuf::from(home).join("bin"));
    }
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// Check root and the tools. `None` = skipped (VPNKEEPER_SKIP_NETNS=1); otherwise a
/// missing prerequisite fails the test with what to install.
pub fn prerequisites(test: &str, tools: &[&str]) -> Option<()> {
    let skip = std::env::var(SKIP_VAR).is_ok_and(|v| v == "1");
    let mut missing = Vec::new();
    let uid = Command::new("id").arg("-u").output().ok();
    let root = uid.is_some_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !root {
        missing.push(
            "root (network namespaces need CAP_NET_ADMIN): run the tests as root".to_string(),
        );
    }
    for t in ["ip", "ping"].iter().chain(tools) {
        if find_program(t).is_none() {
            missing.push(format!("`{t}`: {}", install_hint(t)));
        }
    }
    if missing.is_empty() {
        return Some(());
    }
    if skip {
        eprintln!(
            "SKIP {test}: {SKIP_VAR}=1 and missing {}",
            missing.join("; ")
        );
        return None;
    }
    panic!(
        "{test} needs {} (or set {SKIP_VAR}=1 to skip the network-namespace tests)",
        missing.join("; ")
    );
}

/// Run a command, returning its output; panics with the command and stderr if it cannot
/// be started.
pub fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} {args:?}: {e}"))
}

/// Run and require success.
pub fn must(program: &str, args: &[&str]) -> String {
    let out = run(program, args);
    assert!(
        out.status.success(),
        "`{program} {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A fresh random key (base64) from the kernel's RNG.
pub fn random_key() -> Key {
    let mut b = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .expect("read /dev/urandom");
    Key(b)
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name unique to this process and call: several test binaries (and other people's
/// tests) share the machine, and UAPI sockets live in one global directory.
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{}x{n}", std::process::id() % 100_000)
}

pub struct Lab {
    pub ns_server: String,
    pub ns_client: String,
    /// The server's WireGuard interface name (also its UAPI socket name).
    pub server_if: String,
    pub client_if: String,
    pub server_key: Key,
    pub client_key: Key,
    pub psk: Key,
    pub tmp: tempfile::TempDir,
    server_daemon: Option<Child>,
    client_daemon: Option<Child>,
}

impl Lab {
    /// Namespaces, veth, and the client side fully configured (it expects the server at
    /// 10.99.0.1:51820 with `server_key`). The server daemon is started separately.
    pub fn new(tag: &str) -> Lab {
        let id = unique(tag);
        let mut lab = Lab {
            ns_server: format!("vpk-{id}-a"),
            ns_client: format!("vpk-{id}-b"),
            server_if: format!("{id}s"),
            client_if: format!("{id}c"),
            server_key: random_key(),
            client_key: random_key(),
            psk: random_key(),
            tmp: tempfile::tempdir().expect("tempdir"),
            server_daemon: None,
            client_daemon: None,
        };
        assert!(lab.server_if.len() <= 15, "interface name too long");
        let (va, vb) = (format!("{id}va"), format!("{id}vb"));
        must("ip", &["netns", "add", &lab.ns_server]);
        must("ip", &["netns", "add", &lab.ns_client]);
        must(
            "ip",
            &["link", "add", &va, "type", "veth", "peer", "name", &vb],
        );
        must("ip", &["link", "set", &va, "netns", &lab.ns_server]);
        must("ip", &["link", "set", &vb, "netns", &lab.ns_client]);
        for (ns, dev, ip) in [
            (&lab.ns_server, &va, SERVER_VETH_IP),
            (&lab.ns_client, &vb, CLIENT_VETH_IP),
        ] {
            let cidr = format!("{ip}/24");
            must("ip", &["-n", ns, "addr", "add", &cidr, "dev", dev]);
            must("ip", &["-n", ns, "link", "set", dev, "up"]);
            must("ip", &["-n", ns, "link", "set", "lo", "up"]);
        }
        let ns_client = lab.ns_client.clone();
        let client_if = lab.client_if.clone();
        let logs = lab.tmp.path().to_path_buf();
        lab.client_daemon = Some(start_daemon(
            Impl::WireguardGo,
            &ns_client,
            &client_if,
            &logs,
        ));
        lab.configure_client();
        lab
    }

    /// Start the server's userspace daemon (creates the interface and its UAPI socket).
    pub fn start_server(&mut self, imp: Impl) {
        assert!(self.server_daemon.is_none(), "server already running");
        self.server_daemon = Some(start_daemon(
            imp,
            &self.ns_server,
            &self.server_if,
            self.tmp.path(),
        ));
    }

    /// Kill the server daemon (its interface and socket go with it).
    pub fn kill_server(&mut self) {
        if let Some(mut c) = self.server_daemon.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // boringtun leaves its socket behind when killed; a stale socket is exactly what
        // a crashed daemon leaves, but the restart wants a clean slate.
        let sock = socket_path(&self.server_if);
        let deadline = Instant::now() + Duration::from_secs(5);
        while link_exists(&self.ns_server, &self.server_if) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = std::fs::remove_file(sock);
    }

    pub fn write_secret(&self, name: &str, key: &Key) -> PathBuf {
        let p = self.tmp.path().join(name);
        std::fs::write(&p, format!("{}\n", key.to_base64())).expect("write key file");
        p
    }

    /// The client as a user's device: its own address, the server as its only peer,
    /// keepalive off so an idle tunnel stays quiet.
    fn configure_client(&self) {
        let key = self.write_secret("client.key", &self.client_key);
        let psk = self.write_secret("client.psk", &self.psk);
        let endpoint = format!("{SERVER_VETH_IP}:{SERVER_PORT}");
        let server_pub = self.server_key.public_from_private().to_base64();
        self.ns(
            &self.ns_client,
            &[
                "wg",
                "set",
                &self.client_if,
                "private-key",
                key.to_str().unwrap(),
                "peer",
                &server_pub,
                "preshared-key",
                psk.to_str().unwrap(),
                "endpoint",
                &endpoint,
                "allowed-ips",
                &format!("{SERVER_TUN_IP}/32"),
            ],
        );
        let cidr = format!("{CLIENT_TUN_IP}/24");
        self.ns(
            &self.ns_client,
            &["ip", "addr", "replace", &cidr, "dev", &self.client_if],
        );
        self.ns(
            &self.ns_client,
            &["ip", "link", "set", &self.client_if, "up"],
        );
    }

    /// Forget the client's session (remove and re-add its peer), as a phone does when it
    /// reconnects: its next packet starts a fresh handshake instead of using a session the
    /// server no longer knows (which would take ~15 s of silence to give up on).
    pub fn reset_client_session(&self) {
        let server_pub = self.server_key.public_from_private().to_base64();
        self.ns(
            &self.ns_client,
            &["wg", "set", &self.client_if, "peer", &server_pub, "remove"],
        );
        self.configure_client();
    }

    /// `ip netns exec NS args…`, required to succeed.
    pub fn ns(&self, ns: &str, args: &[&str]) -> String {
        let mut full = vec!["netns", "exec", ns];
        full.extend_from_slice(args);
        must("ip", &full)
    }

    /// One ping from the client to the server's tunnel address.
    pub fn ping_once(&self, timeout_secs: u32) -> bool {
        let w = timeout_secs.to_string();
        run(
            "ip",
            &[
                "netns",
                "exec",
                &self.ns_client,
                "ping",
                "-n",
                "-q",
                "-c",
                "1",
                "-W",
                &w,
                SERVER_TUN_IP,
            ],
        )
        .status
        .success()
    }

    /// Whether the tunnel carries traffic within `within`.
    pub fn ping_works(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            if self.ping_once(1) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
        }
    }

    /// Public keys the server interface has, per `wg show IFACE peers`.
    pub fn server_peers(&self) -> Vec<String> {
        self.ns(&self.ns_server, &["wg", "show", &self.server_if, "peers"])
            .lines()
            .map(str::to_string)
            .collect()
    }

    pub fn client_pub(&self) -> String {
        self.client_key.public_from_private().to_base64()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // The daemons' own words are the best clue to a failed test.
            for i in [&self.server_if, &self.client_if] {
                let p = self.tmp.path().join(format!("{i}.daemon.log"));
                if let Ok(log) = std::fs::read_to_string(&p) {
                    eprintln!("--- {} ---\n{log}", p.display());
                }
            }
        }
        for c in [self.server_daemon.take(), self.client_daemon.take()]
            .into_iter()
            .flatten()
        {
            let mut c = c;
            let _ = c.kill();
            let _ = c.wait();
        }
        // Deleting a namespace deletes the veth end and any interface left in it.
        for ns in [&self.ns_server, &self.ns_client] {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
        for i in [&self.server_if, &self.client_if] {
            let _ = std::fs::remove_file(socket_path(i));
        }
    }
}

pub fn socket_path(iface: &str) -> PathBuf {
    Path::new("/var/run/wireguard").join(format!("{iface}.sock"))
}

fn link_exists(ns: &str, iface: &str) -> bool {
    Command::new("ip")
        .args(["-n", ns, "link", "show", "dev", iface])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Start a daemon in the foreground (so the `Child` is the daemon itself) and wait for its
/// UAPI socket.
fn start_daemon(imp: Impl, ns: &str, iface: &str, log_dir: &Path) -> Child {
    let program = find_program(imp.program()).unwrap_or_else(|| {
        panic!(
            "{} not found: {}",
            imp.program(),
            install_hint(imp.program())
        )
    });
    let program = program.to_str().unwrap().to_string();
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns, &program]);
    match imp {
        Impl::WireguardGo => {
            cmd.args(["-f", iface]);
        }
        Impl::Boringtun => {
            cmd.args([iface, "--foreground", "--disable-drop-privileges"]);
        }
    }
    let log_path = log_dir.join(format!("{iface}.daemon.log"));
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .expect("daemon log file");
    let mut child = cmd
        // wireguard-go refuses to run where a kernel module exists unless told otherwise;
        // the tests exercise userspace on purpose.
        .env("WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD", "1")
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
    let sock = socket_path(iface);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(sock.exists() && link_exists(ns, iface)) {
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            panic!("{program} {iface} exited with {status} before creating its socket: {log}");
        }
        assert!(
            Instant::now() < deadline,
            "{program} did not create {} within 10 s",
            sock.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

//! A two-host lab for the embedded data plane: namespaces `a` and `b` joined by a veth
//! (10.98.0.1 ↔ 10.98.0.2); the tunnel is 10.77.0.0/24 (a = .1, b = .2).
//!
//! Embedded devices are created *in this process* by a thread that enters the namespace
//! (`setns`): the TUN and the UDP socket belong to the namespace they were created in, so
//! the device keeps working from any thread afterwards. Real peers (wireguard-go,
//! boringtun-cli) run as processes under `ip netns exec`.
//!
//! Everything is torn down in `Drop`.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use vpnkeeper_awg::{AwgParams, Device, DeviceConfig, PeerConfig};

pub const A_VETH: &str = "10.98.0.1";
pub const B_VETH: &str = "10.98.0.2";
pub const A_TUN: &str = "10.77.0.1";
pub const B_TUN: &str = "10.77.0.2";
pub const PORT: u16 = 51820;

pub fn find_program(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// `None` = skip (VPNKEEPER_SKIP_NETNS=1 and something is missing); otherwise a missing
/// prerequisite fails the test with what to install.
pub fn prerequisites(test: &str, tools: &[&str]) -> Option<()> {
    let root = run("id", &["-u"]).stdout == b"0\n";
    let mut missing: Vec<String> = ["ip", "ping"]
        .iter()
        .chain(tools)
        .filter(|t| find_program(t).is_none())
        .map(|t| format!("`{t}` (see .ci/run)"))
        .collect();
    if !root {
        missing.push("root (network namespaces need CAP_NET_ADMIN)".into());
    }
    if missing.is_empty() {
        return Some(());
    }
    if std::env::var("VPNKEEPER_SKIP_NETNS").is_ok_and(|v| v == "1") {
        eprintln!("SKIP {test}: missing {}", missing.join(", "));
        return None;
    }
    panic!(
        "{test} needs {} (or VPNKEEPER_SKIP_NETNS=1)",
        missing.join(", ")
    );
}

pub fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} {args:?}: {e}"))
}

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

pub fn random_key() -> [u8; 32] {
    let mut b = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .expect("urandom");
    b
}

pub fn public(private: &[u8; 32]) -> [u8; 32] {
    x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(*private)).to_bytes()
}

pub fn b64(k: &[u8; 32]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(k)
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{}x{n}", std::process::id() % 100_000)
}

/// Run `f` on a thread that has entered network namespace `ns`.
pub fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).expect("open netns");
        // SAFETY: setns on a valid namespace fd affects only this thread.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    })
    .join()
    .expect("namespace thread")
}

pub struct Lab {
    pub ns_a: String,
    pub ns_b: String,
    pub veth_a: String,
    pub id: String,
    pub tmp: tempfile::TempDir,
    daemons: Vec<Child>,
}

impl Lab {
    pub fn new(tag: &str) -> Lab {
        let id = unique(tag);
        let lab = Lab {
            ns_a: format!("awg-{id}-a"),
            ns_b: format!("awg-{id}-b"),
            veth_a: format!("{id}va"),
            id: id.clone(),
            tmp: tempfile::tempdir().expect("tempdir"),
            daemons: Vec::new(),
        };
        let vb = format!("{id}vb");
        must("ip", &["netns", "add", &lab.ns_a]);
        must("ip", &["netns", "add", &lab.ns_b]);
        must(
            "ip",
            &[
                "link",
                "add",
                &lab.veth_a,
                "type",
                "veth",
                "peer",
                "name",
                &vb,
            ],
        );
        must("ip", &["link", "set", &lab.veth_a, "netns", &lab.ns_a]);
        must("ip", &["link", "set", &vb, "netns", &lab.ns_b]);
        for (ns, dev, ip) in [(&lab.ns_a, &lab.veth_a, A_VETH), (&lab.ns_b, &vb, B_VETH)] {
            must(
                "ip",
                &["-n", ns, "addr", "add", &format!("{ip}/24"), "dev", dev],
            );
            must("ip", &["-n", ns, "link", "set", dev, "up"]);
            must("ip", &["-n", ns, "link", "set", "lo", "up"]);
        }
        lab
    }

    pub fn iface(&self, side: &str) -> String {
        format!("{}{side}", self.id)
    }

    /// An embedded device in `ns` with tunnel address `addr/24`.
    pub fn embedded(
        &self,
        ns: &str,
        name: &str,
        key: [u8; 32],
        addr: &str,
        params: &AwgParams,
    ) -> Device {
        let mut cfg = DeviceConfig::new(name, key, PORT);
        cfg.address = Some(format!("{addr}/24").parse().unwrap());
        cfg.params = params.clone();
        in_ns(ns, move || {
            Device::create(cfg).expect("create embedded device")
        })
    }

    /// A userspace WireGuard daemon (`wireguard-go` or `boringtun-cli`) in `ns`, configured
    /// with `wg set` for one peer, tunnel address `addr/24`.
    #[allow(clippy::too_many_arguments)] // a test helper mirroring `wg set`'s own arguments
    pub fn daemon(
        &mut self,
        program: &str,
        ns: &str,
        iface: &str,
        key: &[u8; 32],
        addr: &str,
        peer: &[u8; 32],
        peer_ip: &str,
        endpoint: Option<&str>,
    ) {
        let bin = find_program(program).unwrap_or_else(|| panic!("{program} not installed"));
        let log = std::fs::File::create(self.tmp.path().join(format!("{iface}.log"))).unwrap();
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, bin.to_str().unwrap()]);
        if program == "boringtun-cli" {
            cmd.args([iface, "--foreground", "--disable-drop-privileges"]);
        } else {
            cmd.args(["-f", iface]);
        }
        let child = cmd
            .env("WG_SUDO", "1")
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start daemon");
        self.daemons.push(child);
        let sock = PathBuf::from(format!("/var/run/wireguard/{iface}.sock"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !sock.exists() {
            assert!(
                Instant::now() < deadline,
                "{program} did not create {}",
                sock.display()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let keyfile = self.tmp.path().join(format!("{iface}.key"));
        std::fs::write(&keyfile, b64(key)).unwrap();
        let mut args = vec![
            "netns".to_string(),
            "exec".into(),
            ns.into(),
            "wg".into(),
            "set".into(),
            iface.into(),
            "private-key".into(),
            keyfile.to_str().unwrap().into(),
            "listen-port".into(),
            PORT.to_string(),
            "peer".into(),
            b64(peer),
            "allowed-ips".into(),
            format!("{peer_ip}/32"),
        ];
        if let Some(e) = endpoint {
            args.extend(["endpoint".into(), e.into()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        must("ip", &args);
        must(
            "ip",
            &["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", iface],
        );
        must("ip", &["-n", ns, "link", "set", iface, "up"]);
    }

    pub fn ping(&self, from_ns: &str, to: &str, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        loop {
            let ok = run(
                "ip",
                &[
                    "netns", "exec", from_ns, "ping", "-n", "-q", "-c", "1", "-W", "1", to,
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

    /// Start tcpdump on a's veth, writing UDP to a pcap file; returns (child, path).
    pub fn capture(&mut self) -> (Child, PathBuf) {
        let path = self.tmp.path().join("wire.pcap");
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns_a,
                "tcpdump",
                "-i",
                &self.veth_a,
                "-U",
                "--immediate-mode",
                "-n",
                "-s",
                "0",
                "-w",
            ])
            .arg(&path)
            .arg("udp")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tcpdump");
        // tcpdump prints "listening on" once the capture runs.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !path.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(300));
        (child, path)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for mut c in self.daemons.drain(..) {
            let _ = c.kill();
            let _ = c.wait();
        }
        // boringtun leaves its UAPI socket behind when killed.
        for side in ["a", "b"] {
            let _ = std::fs::remove_file(format!("/var/run/wireguard/{}.sock", self.iface(side)));
        }
        for ns in [&self.ns_a, &self.ns_b] {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

pub fn peer(key: &[u8; 32], ip: &str, endpoint: Option<&str>) -> PeerConfig {
    PeerConfig {
        public_key: public(key),
        preshared_key: None,
        allowed_ips: vec![format!("{ip}/32").parse().unwrap()],
        endpoint: endpoint.map(|e| e.parse::<SocketAddr>().unwrap()),
        persistent_keepalive: None,
    }
}

/// Send `bytes` of a pattern over TCP from `from_ns` to `to_ip` through the tunnel; the
/// receiver in `to_ns` checks every byte. Returns the number of bytes checked.
pub fn tcp_transfer(from_ns: &str, to_ns: &str, to_ip: &str, bytes: usize) -> usize {
    let ip: std::net::IpAddr = to_ip.parse().unwrap();
    let listener = in_ns(to_ns, move || TcpListener::bind((ip, 0)).expect("bind"));
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut buf = vec![0u8; 65536];
        let mut got = 0usize;
        loop {
            let n = s.read(&mut buf).expect("read");
            if n == 0 {
                return got;
            }
            for (i, b) in buf[..n].iter().enumerate() {
                assert_eq!(*b, ((got + i) % 251) as u8, "corrupted byte at {}", got + i);
            }
            got += n;
        }
    });
    let stream = in_ns(from_ns, move || {
        TcpStream::connect_timeout(&addr, Duration::from_secs(10)).expect("connect")
    });
    let mut stream = stream;
    let chunk: Vec<u8> = (0..251 * 256).map(|i| (i % 251) as u8).collect();
    let mut sent = 0;
    while sent < bytes {
        let n = (bytes - sent).min(chunk.len());
        stream.write_all(&chunk[..n]).expect("write");
        sent += n;
    }
    drop(stream);
    server.join().expect("receiver")
}

/// UDP payloads in a pcap file (Ethernet + IPv4 + UDP), with their source address.
pub fn pcap_udp(path: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let data = std::fs::read(path).expect("pcap");
    let mut out = Vec::new();
    let mut at = 24;
    while at + 16 <= data.len() {
        let incl = u32::from_le_bytes(data[at + 8..at + 12].try_into().unwrap()) as usize;
        let frame = &data[at + 16..(at + 16 + incl).min(data.len())];
        at += 16 + incl;
        if frame.len() < 42 || frame[12..14] != [0x08, 0x00] {
            continue;
        }
        let ihl = (frame[14] & 0x0f) as usize * 4;
        let src = format!("{}.{}.{}.{}", frame[26], frame[27], frame[28], frame[29]);
        let udp = 14 + ihl;
        if frame.len() >= udp + 8 {
            out.push((src, frame[udp + 8..].to_vec()));
        }
    }
    out
}

//! Real peers for the Xray tests: the PyPI Xray-core (through
//! scripts/xray-run.py), an `openssl s_server` Reality target, a tiny HTTP
//! server, and curl. Shared by the integration tests and the benchmark.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};

pub fn wrapper() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/xray-run.py")
}

/// The command template that runs the PyPI Xray through the wrapper.
pub fn xray_command() -> String {
    format!("python3 {} run -c {{config}}", wrapper().display())
}

pub fn free_port() -> u16 {
    vpnkeeper_xray::config::free_port().unwrap()
}

/// Checks that Xray-core, openssl, curl and ss are installed. Missing tools
/// fail the test with what to install, unless VPNKEEPER_SKIP_XRAY=1, in
/// which case a skip line is printed and `false` returned.
pub fn require_tools(test: &str) -> bool {
    let pydir =
        std::env::var("VPNKEEPER_XRAY_PYDIR").unwrap_or_else(|_| "/opt/vpnkeeper/xray-py".into());
    let mut missing = Vec::new();
    let ok = |cmd: &str, args: &[&str]| {
        std::process::Command::new(cmd)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if !ok("python3", &[wrapper().to_str().unwrap(), "version"]) {
        missing.push(format!(
            "Xray-core (pip install --no-deps --target {pydir} Xray-core; or set VPNKEEPER_XRAY_PYDIR)"
        ));
    }
    if !ok("openssl", &["version"]) {
        missing.push("openssl (apt-get install -y openssl)".into());
    }
    if !ok("curl", &["--version"]) {
        missing.push("curl (apt-get install -y curl)".into());
    }
    if !ok("ss", &["-V"]) {
        missing.push("ss (apt-get install -y iproute2)".into());
    }
    if missing.is_empty() {
        return true;
    }
    if std::env::var("VPNKEEPER_SKIP_XRAY").as_deref() == Ok("1") {
        println!(
            "skipped {test}: VPNKEEPER_SKIP_XRAY=1 and missing {}",
            missing.join(", ")
        );
        return false;
    }
    panic!(
        "{test} needs real Xray and tools; missing: {}. Set VPNKEEPER_SKIP_XRAY=1 to skip.",
        missing.join("; ")
    );
}

/// `openssl s_server -tls1_3` on loopback with a fresh self-signed cert for
/// CN=localhost: the site whose TLS handshake Reality borrows.
pub async fn reality_target(dir: &Path) -> (Child, u16) {
    let (key, cert) = (dir.join("target.key"), dir.join("target.crt"));
    let st = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=localhost"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .unwrap();
    assert!(st.success(), "openssl req failed");
    let port = free_port();
    let child = Command::new("openssl")
        .args(["s_server", "-tls1_3", "-quiet", "-www"])
        .args(["-accept", &format!("127.0.0.1:{port}")])
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_port(port).await;
    (child, port)
}

pub const PAGE: &str = "hello through vless+reality\n";
/// `/slow` sends this many 1 KiB chunks, one every 50 ms (about 30 s).
pub const SLOW_CHUNKS: usize = 600;

/// A tiny HTTP/1.1 server: `/` returns [`PAGE`], `/slow` streams
/// [`SLOW_CHUNKS`] KiB slowly (the long-lived download a revoke must cut).
pub async fn http_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut req = Vec::new();
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let slow = req.starts_with(b"GET /slow");
                if slow {
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        SLOW_CHUNKS * 1024
                    );
                    if s.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    let chunk = vec![b'x'; 1024];
                    for _ in 0..SLOW_CHUNKS {
                        if s.write_all(&chunk).await.is_err() {
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                } else {
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{PAGE}",
                        PAGE.len()
                    );
                    let _ = s.write_all(resp.as_bytes()).await;
                }
            });
        }
    });
    port
}

pub async fn wait_port(port: u16) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nothing listens on 127.0.0.1:{port} after 10 s");
}

/// An Xray client process (socks inbound -> VLESS/Reality outbound) built
/// from a share link, as a user's app would build it.
/// `send_through` picks the client's source IP (Xray never lists 127.0.0.1
/// in its online-IP stats, 127.0.0.2 works).
pub async fn xray_client(
    dir: &Path,
    link: &str,
    name: &str,
    send_through: Option<&str>,
) -> (Child, u16) {
    let l = vpnkeeper_xray::link::parse(link).expect("share link parses");
    let socks = free_port();
    let mut cfg = json!({
        "log": { "loglevel": "warning" },
        "inbounds": [{ "listen": "127.0.0.1", "port": socks, "protocol": "socks",
                       "settings": { "udp": false } }],
        "outbounds": [{
            "protocol": "vless",
            "settings": { "vnext": [{ "address": l.host, "port": l.port, "users": [{
                "id": l.uuid.to_string(), "flow": l.flow, "encryption": "none" }] }] },
            "streamSettings": { "network": "tcp", "security": "reality", "realitySettings": {
                "serverName": l.sni, "fingerprint": l.fingerprint,
                "publicKey": l.public_key, "shortId": l.short_id } },
        }],
    });
    if let Some(ip) = send_through {
        cfg["outbounds"][0]["sendThrough"] = json!(ip);
    }
    let path = dir.join(format!("client-{name}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
    let child = Command::new("python3")
        .arg(wrapper())
        .args(["run", "-c"])
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_port(socks).await;
    (child, socks)
}

/// `curl --socks5-hostname` through a client; Ok(body) or Err(description).
pub async fn fetch(socks: u16, url: &str) -> Result<String, String> {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--socks5-hostname"])
        .arg(format!("127.0.0.1:{socks}"))
        .arg(url)
        .output()
        .await
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "curl {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Starts a long download through a client into `out`; returns the curl.
pub fn start_download(socks: u16, url: &str, out: &Path) -> Child {
    Command::new("curl")
        .args(["-sS", "--max-time", "120", "--socks5-hostname"])
        .arg(format!("127.0.0.1:{socks}"))
        .arg("-o")
        .arg(out)
        .arg(url)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

pub fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

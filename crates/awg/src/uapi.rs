//! The WireGuard cross-platform UAPI over a unix socket (`/var/run/amneziawg/IFACE.sock`),
//! with amneziawg-go's extra device keys (`jc`, `jmin`, `jmax`, `s1`–`s4`, `h1`–`h4`,
//! `i1`–`i5`), so `wg show`, `wg set` and `awg show` work against the embedded plane.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, UNIX_EPOCH};

use ipnet::IpNet;

use crate::device::{upsert, Device, Shared};
use crate::peers::PeerConfig;

/// The default directory, where amneziawg-go puts its sockets.
pub const DEFAULT_DIR: &str = "/var/run/amneziawg";

/// A running UAPI listener. Dropping it stops the thread and removes the socket file.
pub struct UapiServer {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl UapiServer {
    /// Serve `device` at `dir/NAME.sock` (mode 0600: the `get` carries the private key).
    pub fn start(device: &Device, dir: &Path) -> io::Result<UapiServer> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("{}.sock", device.name()));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let weak = Arc::downgrade(device.shared());
        let s = stop.clone();
        let thread = std::thread::Builder::new()
            .name("awg-uapi".into())
            .spawn(move || accept_loop(listener, weak, s))?;
        Ok(UapiServer {
            path,
            stop,
            thread: Some(thread),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for UapiServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn accept_loop(listener: UnixListener, device: Weak<Shared>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((conn, _)) => {
                let Some(dev) = device.upgrade() else { return };
                if let Err(e) = serve(conn, &dev) {
                    tracing::debug!(error = %e, "UAPI connection ended");
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(e) => {
                tracing::warn!(error = %e, "UAPI accept failed");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

fn serve(conn: UnixStream, dev: &Shared) -> io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut w = conn;
    loop {
        let mut op = String::new();
        if reader.read_line(&mut op)? == 0 {
            return Ok(());
        }
        let mut lines = Vec::new();
        loop {
            let mut l = String::new();
            if reader.read_line(&mut l)? == 0 || l == "\n" {
                break;
            }
            lines.push(l.trim_end_matches('\n').to_string());
        }
        match op.trim_end() {
            "get=1" => w.write_all(get(dev).as_bytes())?,
            "set=1" => {
                let errno = match set(dev, &lines) {
                    Ok(()) => 0,
                    Err(e) => {
                        tracing::warn!(error = %e, "UAPI set refused");
                        22 // EINVAL, as wireguard-go answers a bad set
                    }
                };
                write!(w, "errno={errno}\n\n")?;
            }
            _ => return write!(w, "errno=22\n\n"),
        }
    }
}

/// The `get=1` answer.
pub(crate) fn get(dev: &Shared) -> String {
    let st = dev.read();
    let mut out = format!(
        "private_key={}\nlisten_port={}\n",
        hex::encode(st.keys_private()),
        dev.listen_port
    );
    out.push_str(&st.params.to_uapi());
    let peers: Vec<_> = st.peers.all().cloned().collect();
    drop(st);
    for p in peers {
        let s = p.stats();
        out.push_str(&format!("public_key={}\n", hex::encode(s.public_key)));
        out.push_str(&format!(
            "preshared_key={}\n",
            hex::encode(s.preshared_key.unwrap_or([0; 32]))
        ));
        out.push_str("protocol_version=1\n");
        if let Some(e) = s.endpoint {
            out.push_str(&format!("endpoint={e}\n"));
        }
        let (sec, nsec) = s
            .last_handshake
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| (d.as_secs(), d.subsec_nanos()))
            .unwrap_or((0, 0));
        out.push_str(&format!(
            "last_handshake_time_sec={sec}\nlast_handshake_time_nsec={nsec}\ntx_bytes={}\nrx_bytes={}\npersistent_keepalive_interval={}\n",
            s.tx_bytes,
            s.rx_bytes,
            s.persistent_keepalive.unwrap_or(0)
        ));
        for ip in s.allowed_ips {
            out.push_str(&format!("allowed_ip={ip}\n"));
        }
    }
    out.push_str("errno=0\n\n");
    out
}

#[derive(Default)]
struct PeerEdit {
    remove: bool,
    psk: Option<Option<[u8; 32]>>,
    endpoint: Option<SocketAddr>,
    keepalive: Option<u16>,
    replace_ips: bool,
    ips: Vec<IpNet>,
}

fn key32(v: &str, what: &str) -> Result<[u8; 32], String> {
    let mut k = [0u8; 32];
    hex::decode_to_slice(v.trim(), &mut k).map_err(|_| format!("{what}: not 64 hex digits"))?;
    Ok(k)
}

/// A `set=1` transaction: parsed completely first, then applied under one lock.
pub(crate) fn set(dev: &Shared, lines: &[String]) -> Result<(), String> {
    let mut params = (*dev.read().params).clone();
    let mut private = None;
    let mut replace = false;
    let mut edits: Vec<([u8; 32], PeerEdit)> = Vec::new();
    for line in lines {
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| format!("bad line {line:?}"))?;
        let cur = edits.last_mut();
        match (k, cur) {
            ("private_key", _) => private = Some(key32(v, k)?),
            ("listen_port", _) if v.parse() == Ok(dev.listen_port) => {}
            ("listen_port", _) => {
                return Err("listen_port cannot change on a running interface".into())
            }
            ("fwmark", _) | ("protocol_version", _) => {}
            ("replace_peers", _) => replace = v == "true",
            ("public_key", _) => edits.push((key32(v, k)?, PeerEdit::default())),
            ("remove", Some((_, e))) => e.remove = v == "true",
            ("update_only", Some(_)) => {}
            ("preshared_key", Some((_, e))) => {
                let p = key32(v, k)?;
                e.psk = Some((p != [0; 32]).then_some(p));
            }
            ("endpoint", Some((_, e))) => {
                e.endpoint = Some(
                    v.parse()
                        .map_err(|_| format!("endpoint {v:?} is not ip:port"))?,
                )
            }
            ("persistent_keepalive_interval", Some((_, e))) => {
                e.keepalive = Some(v.parse().map_err(|_| format!("keepalive {v:?}"))?)
            }
            ("replace_allowed_ips", Some((_, e))) => e.replace_ips = v == "true",
            ("allowed_ip", Some((_, e))) => e
                .ips
                .push(v.parse().map_err(|_| format!("allowed_ip {v:?}"))?),
            (k, None) if params.set(k, v)? => {}
            (k, _) => return Err(format!("unknown UAPI key {k:?}")),
        }
    }
    params.validate()?;
    let mut st = dev.write();
    if let Some(k) = private {
        st.set_private(k);
    }
    st.params = Arc::new(params);
    if replace {
        st.peers.clear();
    }
    let existing: HashMap<[u8; 32], PeerConfig> = edits
        .iter()
        .filter_map(|(k, _)| st.peers.get(k).map(|p| (*k, current_config(p))))
        .collect();
    for (key, e) in edits {
        if e.remove {
            st.peers.remove(&key);
            continue;
        }
        let mut c = existing.get(&key).cloned().unwrap_or(PeerConfig {
            public_key: key,
            preshared_key: None,
            allowed_ips: Vec::new(),
            endpoint: None,
            persistent_keepalive: None,
        });
        if let Some(p) = e.psk {
            c.preshared_key = p;
        }
        if e.endpoint.is_some() {
            c.endpoint = e.endpoint;
        }
        if let Some(k) = e.keepalive {
            c.persistent_keepalive = Some(k);
        }
        if e.replace_ips {
            c.allowed_ips.clear();
        }
        c.allowed_ips.extend(e.ips);
        upsert(&mut st, c);
    }
    Ok(())
}

fn current_config(p: &crate::peers::Peer) -> PeerConfig {
    let mut c = p.config.clone();
    c.allowed_ips = p.allowed_ips();
    c.endpoint = p.endpoint();
    c
}

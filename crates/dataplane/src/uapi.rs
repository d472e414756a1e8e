//! The cross-platform WireGuard UAPI (<https://www.wireguard.com/xplatform/>) over the unix
//! socket of a userspace daemon: wireguard-go, amneziawg-go or boringtun.
//!
//! Wire format: the client sends `get=1\n\n` or `set=1\n` + `key=value` lines + `\n`;
//! the daemon answers `key=value` lines ending with `errno=N\n\n`. Keys are lowercase hex.
//!
//! ## Implementation quirks handled here
//!
//! The parser detects the implementation from the `get` response itself, so nothing needs
//! configuring and a daemon swapped underneath us is noticed on the next read:
//!
//! * **boringtun** never reveals the private key; it prints `own_public_key=` instead of
//!   `private_key=`. That key is the marker for [`Flavor::Boringtun`].
//! * boringtun's `last_handshake_time_sec` is the *age* of the handshake (seconds since),
//!   while wireguard-go's is absolute unix time (0 = never). We normalise both to absolute
//!   unix seconds: boringtun → `now - age`; wireguard-go → the value, with 0 → `None`.
//! * boringtun 0.7 rejects `update_only` (EINVAL), ignores `replace_allowed_ips`, and
//!   *panics* when a `set` touches an existing peer without removing it. It also carries
//!   `remove`, `preshared_key` and `persistent_keepalive_interval` over from one peer
//!   section to the next. So for boringtun every add/update is sent as `remove=true`
//!   followed by a fresh section that states every field explicitly. (An update therefore
//!   costs that peer a new handshake on boringtun; wireguard-go updates in place.)

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use zeroize::Zeroizing;

use crate::error::{errno_meaning, BackendError};
use crate::exec::Runner;
use crate::ip;
use crate::model::{
    parse_public_key, parse_secret_key, truncate, InterfaceSpec, InterfaceState, Key, PeerDiff,
    PeerSpec, PeerState, PskFingerprint,
};
use crate::WgBackend;

/// Where userspace daemons put their sockets, in the order we look.
pub const DEFAULT_SOCKET_DIRS: [&str; 2] = ["/var/run/amneziawg", "/var/run/wireguard"];

/// Which UAPI implementation answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// wireguard-go, amneziawg-go (and the kernel's semantics).
    WireguardGo,
    Boringtun,
}

/// A parsed `get=1` response.
#[derive(Debug, Clone)]
pub struct UapiDevice {
    pub flavor: Flavor,
    /// Only wireguard-go reports it.
    pub private_key: Option<Zeroizing<[u8; 32]>>,
    pub public_key: Option<Key>,
    pub listen_port: Option<u16>,
    /// Interface-level keys we do not interpret (fwmark, AmneziaWG's jc/s1/h1…), in order.
    pub extra: Vec<(String, String)>,
    pub peers: Vec<PeerState>,
}

impl UapiDevice {
    pub fn into_state(self) -> InterfaceState {
        InterfaceState {
            public_key: self.public_key.map(|k| k.to_base64()),
            listen_port: self.listen_port,
            peers: self.peers,
        }
    }
}

fn proto(iface: &str, detail: impl Into<String>) -> BackendError {
    BackendError::Protocol {
        iface: iface.to_string(),
        detail: detail.into(),
    }
}

/// Parse the text of a `get=1` response (everything up to the blank line).
///
/// `now_unix` converts boringtun's handshake ages to absolute time. Unknown keys are
/// skipped so newer daemons (AmneziaWG 1.5/2.0 parameters…) do not break us.
pub fn parse_get(text: &str, now_unix: i64, iface: &str) -> Result<UapiDevice, BackendError> {
    let mut dev = UapiDevice {
        flavor: Flavor::WireguardGo,
        private_key: None,
        public_key: None,
        listen_port: None,
        extra: Vec::new(),
        peers: Vec::new(),
    };
    // Handshake values are kept raw until the flavor is known (own_public_key comes first
    // in practice, but the protocol does not promise an order).
    let mut raw_handshakes: Vec<Option<i64>> = Vec::new();
    let mut errno: Option<i64> = None;

    for (lineno, line) in text.lines().enumerate() {
        if line.is_empty() {
            break;
        }
        let Some((k, v)) = line.split_once('=') else {
            return Err(proto(
                iface,
                format!(
                    "line {}: expected key=value, got {:?}",
                    lineno + 1,
                    truncate(line, 40)
                ),
            ));
        };
        let bad = |what: &str| {
            proto(
                iface,
                format!(
                    "line {}: bad {what} value {:?}",
                    lineno + 1,
                    truncate(v, 40)
                ),
            )
        };
        if k == "errno" {
            // wireguard-go writes negative values (errno=-22); others positive.
            errno = Some(v.parse::<i64>().map_err(|_| bad("errno"))?.abs());
            continue;
        }
        if k == "public_key" {
            let key = Key::from_hex(v).ok_or_else(|| bad("public_key"))?;
            dev.peers.push(PeerState {
                public_key: key.to_base64(),
                ..Default::default()
            });
            raw_handshakes.push(None);
            continue;
        }
        match dev.peers.last_mut() {
            None => device_key(&mut dev, k, v).map_err(&bad)?,
            Some(peer) => {
                let handshake = raw_handshakes.last_mut();
                peer_key(peer, handshake, k, v).map_err(&bad)?
            }
        }
    }

    match errno {
        None => return Err(proto(iface, "response ended without an errno line")),
        Some(0) => {}
        Some(n) => {
            return Err(BackendError::Errno {
                op: "get",
                iface: iface.to_string(),
                errno: n,
                meaning: errno_meaning(n),
            })
        }
    }

    for (peer, raw) in dev.peers.iter_mut().zip(raw_handshakes) {
        peer.last_handshake_unix = match (dev.flavor, raw) {
            (_, None) => None,
            (Flavor::Boringtun, Some(age)) => Some(now_unix.saturating_sub(age.max(0))),
            (Flavor::WireguardGo, Some(0)) => None,
            (Flavor::WireguardGo, Some(t)) => Some(t),
        };
    }
    Ok(dev)
}

/// One device-level `key=value` of a `get=1` response (before the first peer). The error
/// names the key whose value did not parse.
fn device_key(dev: &mut UapiDevice, k: &str, v: &str) -> Result<(), &'static str> {
    match k {
        "private_key" => {
            let key = Zeroizing::new(Key::from_hex(v).ok_or("private_key")?);
            if !key.is_zero() {
                dev.public_key = Some(key.public_from_private());
                dev.private_key = Some(Zeroizing::new((*key).0));
            }
        }
        "own_public_key" => {
            dev.flavor = Flavor::Boringtun;
            dev.public_key = Some(Key::from_hex(v).ok_or("own_public_key")?);
        }
        "listen_port" => {
            let p: u16 = v.parse().map_err(|_| "listen_port")?;
            dev.listen_port = (p != 0).then_some(p);
        }
        _ => dev.extra.push((k.to_string(), v.to_string())),
    }
    Ok(())
}

/// One peer-level `key=value` of a `get=1` response. The raw handshake value is kept aside
/// (`handshake`) until the daemon's flavor is known.
fn peer_key(
    peer: &mut PeerState,
    handshake: Option<&mut Option<i64>>,
    k: &str,
    v: &str,
) -> Result<(), &'static str> {
    match k {
        "preshared_key" => {
            let psk = Zeroizing::new(Key::from_hex(v).ok_or("preshared_key")?);
            // All zeros is how wireguard-go says "no PSK" (and is the same thing on the wire).
            peer.preshared_key_set = !psk.is_zero();
            peer.preshared_key_fingerprint =
                peer.preshared_key_set.then(|| PskFingerprint::of(&psk));
        }
        // wireguard-go writes "(none)"-free output; tolerate junk rather than fail the whole
        // read over a cosmetic field.
        "endpoint" => peer.endpoint = v.parse().ok(),
        "allowed_ip" => peer.allowed_ips.push(v.parse().map_err(|_| "allowed_ip")?),
        "last_handshake_time_sec" => {
            let secs: i64 = v.parse().map_err(|_| "last_handshake_time_sec")?;
            if let Some(h) = handshake {
                *h = Some(secs);
            }
        }
        "rx_bytes" => peer.rx_bytes = v.parse().map_err(|_| "rx_bytes")?,
        "tx_bytes" => peer.tx_bytes = v.parse().map_err(|_| "tx_bytes")?,
        "persistent_keepalive_interval" => {
            let ka: u16 = v.parse().map_err(|_| "persistent_keepalive_interval")?;
            peer.persistent_keepalive = (ka != 0).then_some(ka);
        }
        // last_handshake_time_nsec, protocol_version, future keys.
        _ => {}
    }
    Ok(())
}

/// Parse the `errno=N` that ends a `set=1` response.
pub fn parse_set_response(text: &str, iface: &str) -> Result<(), BackendError> {
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("errno=") {
            // wireguard-go writes negative values (errno=-22); others positive.
            let n: i64 = v
                .trim()
                .parse::<i64>()
                .map_err(|_| proto(iface, format!("bad errno {:?}", truncate(v, 20))))?
                .abs();
            if n == 0 {
                return Ok(());
            }
            return Err(BackendError::Errno {
                op: "set",
                iface: iface.to_string(),
                errno: n,
                meaning: errno_meaning(n),
            });
        }
    }
    Err(proto(iface, "set response ended without an errno line"))
}

/// A peer validated and decoded, ready to be written.
struct Prepared {
    key: Key,
    psk: Option<Zeroizing<[u8; 32]>>,
    ips: Vec<ipnet::IpNet>,
    keepalive: u16,
}

fn prepare(spec: &PeerSpec) -> Result<Prepared, BackendError> {
    let key = parse_public_key(&spec.public_key)?;
    let psk = match &spec.preshared_key {
        Some(s) => Some(Zeroizing::new(parse_secret_key(s, "preshared key")?.0)),
        None => None,
    };
    Ok(Prepared {
        key,
        psk,
        ips: crate::model::normalize_ips(&spec.allowed_ips),
        keepalive: spec.persistent_keepalive.unwrap_or(0),
    })
}

/// Encode the peer part of a `set=1` request for `flavor` (without `set=1` and the final
/// blank line). Validates every peer first so a bad key sends nothing.
pub fn encode_peer_ops(diff: &PeerDiff, flavor: Flavor) -> Result<Zeroizing<String>, BackendError> {
    use std::fmt::Write as _;
    let removes: Vec<Key> = diff
        .remove
        .iter()
        .map(|k| parse_public_key(k))
        .collect::<Result<_, _>>()?;
    let updates: Vec<Prepared> = diff.update.iter().map(prepare).collect::<Result<_, _>>()?;
    let adds: Vec<Prepared> = diff.add.iter().map(prepare).collect::<Result<_, _>>()?;

    // ~200 bytes per peer; reserve so 10k peers do not reallocate (and leave copies of
    // PSKs behind in freed memory).
    let mut out = Zeroizing::new(String::with_capacity(64 + 220 * diff.len()));
    let s: &mut String = &mut out;
    // Removals first: they free allowed IPs that added peers may take over.
    for k in &removes {
        let _ = write!(s, "public_key={}\nremove=true\n", k.to_hex());
    }
    let zero = [0u8; 32];
    for (p, is_update) in updates
        .iter()
        .map(|p| (p, true))
        .chain(adds.iter().map(|p| (p, false)))
    {
        let hexkey = p.key.to_hex();
        let psk_hex = Zeroizing::new(hex::encode(p.psk.as_deref().unwrap_or(&zero)));
        match flavor {
            Flavor::WireguardGo => {
                let _ = writeln!(s, "public_key={hexkey}");
                if is_update {
                    // Never resurrect a peer that was removed concurrently.
                    s.push_str("update_only=true\n");
                }
                // Stating every field makes an add over an existing peer (a race with
                // another writer) end in exactly the desired state too.
                let _ = write!(
                    s,
                    "preshared_key={}\npersistent_keepalive_interval={}\nreplace_allowed_ips=true\n",
                    psk_hex.as_str(),
                    p.keepalive
                );
            }
            Flavor::Boringtun => {
                let _ = write!(
                    s,
                    "public_key={hexkey}\nremove=true\npublic_key={hexkey}\nremove=false\npreshared_key={}\npersistent_keepalive_interval={}\n",
                    psk_hex.as_str(),
                    p.keepalive
                );
            }
        }
        for ip in &p.ips {
            let _ = writeln!(s, "allowed_ip={ip}");
        }
    }
    Ok(out)
}

/// AWG lines from the interface spec, validated: `key=value` with a lowercase key that is
/// not one we manage ourselves.
pub fn parse_awg_lines(awg: Option<&str>) -> Result<Vec<(String, String)>, BackendError> {
    const RESERVED: [&str; 9] = [
        "private_key",
        "listen_port",
        "public_key",
        "replace_peers",
        "remove",
        "allowed_ip",
        "preshared_key",
        "errno",
        "set",
    ];
    let mut out = Vec::new();
    for line in awg
        .unwrap_or("")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        let bad = |why: &str| BackendError::InvalidInput {
            what: "AmneziaWG parameters",
            detail: format!("{:?}: {why}", truncate(line, 60)),
        };
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| bad("expected key=value, e.g. jc=4"))?;
        let (k, v) = (k.trim(), v.trim());
        if k.is_empty()
            || !k
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(bad(
                "the key must be lowercase UAPI style (jc, jmin, s1, h1, i1…)",
            ));
        }
        if RESERVED.contains(&k) {
            return Err(bad("this key is set by vpnkeeper itself, not through awg"));
        }
        if v.is_empty() || v.contains(['\n', '\r']) {
            return Err(bad("empty value"));
        }
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

/// Backend talking UAPI to a userspace daemon.
#[derive(Debug)]
pub struct UapiBackend {
    iface: String,
    socket_dirs: Vec<PathBuf>,
    runner: Runner,
    timeout: Duration,
    /// Last flavor seen (0 unknown, 1 wireguard-go, 2 boringtun); `apply` needs it to pick
    /// the encoding without an extra `get` every time.
    flavor: AtomicU8,
    /// How many times `private_key` was sent: only when it really differs, since some
    /// daemons drop every session when it is set (issue #12 item 6).
    private_key_sets: std::sync::atomic::AtomicU64,
}

impl UapiBackend {
    /// How many `set` operations carried `private_key` since this backend was built.
    pub fn private_key_sets(&self) -> u64 {
        self.private_key_sets.load(Ordering::Relaxed)
    }

    /// `socket_dir`: where `IFACE.sock` lives; `None` looks in /var/run/amneziawg then
    /// /var/run/wireguard. `netns`: the namespace the interface lives in (for `ip`).
    pub fn new(
        iface: impl Into<String>,
        socket_dir: Option<PathBuf>,
        netns: Option<String>,
        timeout: Duration,
    ) -> Result<Self, BackendError> {
        let iface = iface.into();
        ip::validate_ifname(&iface)?;
        Ok(UapiBackend {
            iface,
            socket_dirs: match socket_dir {
                Some(d) => vec![d],
                None => DEFAULT_SOCKET_DIRS.iter().map(PathBuf::from).collect(),
            },
            runner: Runner { netns, timeout },
            timeout,
            flavor: AtomicU8::new(0),
            private_key_sets: Default::default(),
        })
    }

    pub fn interface(&self) -> &str {
        &self.iface
    }

    /// The socket path in use (the first directory that has `IFACE.sock`).
    pub fn socket_path(&self) -> Result<PathBuf, BackendError> {
        let name = format!("{}.sock", self.iface);
        for d in &self.socket_dirs {
            let p = d.join(&name);
            if p.exists() {
                return Ok(p);
            }
        }
        Err(BackendError::SocketMissing {
            path: self
                .socket_dirs
                .last()
                .map(|d| d.join(&name))
                .unwrap_or_default(),
            iface: self.iface.clone(),
        })
    }

    /// Send one request and read the response up to its terminating blank line.
    async fn roundtrip(&self, op: &'static str, request: &[u8]) -> Result<String, BackendError> {
        let path = self.socket_path()?;
        let fut = roundtrip_at(&path, op, request);
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(BackendError::Timeout {
                what: format!("UAPI {op} on {}", path.display()),
                secs: self.timeout.as_secs(),
            }),
        }
    }

    /// Read the device.
    pub async fn get(&self) -> Result<UapiDevice, BackendError> {
        let text = Zeroizing::new(self.roundtrip("get", b"get=1\n\n").await?);
        let dev = parse_get(&text, now_unix(), &self.iface)?;
        self.flavor.store(
            match dev.flavor {
                Flavor::WireguardGo => 1,
                Flavor::Boringtun => 2,
            },
            Ordering::Relaxed,
        );
        Ok(dev)
    }

    async fn set(&self, body: &str) -> Result<(), BackendError> {
        let mut req = Zeroizing::new(String::with_capacity(body.len() + 8));
        req.push_str("set=1\n");
        req.push_str(body);
        req.push('\n');
        let resp = self.roundtrip("set", req.as_bytes()).await?;
        parse_set_response(&resp, &self.iface)
    }

    /// Send the AmneziaWG parameters that differ, in their own transaction after the key:
    /// a fresh boringtun and a fresh wireguard-go answer `get` identically (only
    /// `listen_port`), and boringtun reveals itself with `own_public_key` only once it has
    /// a key. Plain WireGuard daemons answer unknown keys with EINVAL; that becomes an
    /// error saying which daemon to run instead.
    async fn set_awg(
        &self,
        awg: &[(String, String)],
        dev: UapiDevice,
        reread: bool,
    ) -> Result<(), BackendError> {
        use std::fmt::Write as _;
        let dev = if reread { self.get().await? } else { dev };
        let unsupported = |why: String| {
            BackendError::Config(format!(
                "interface {} {why}, so it cannot do AmneziaWG obfuscation: run amneziawg-go for it, or configure no AWG parameters (plain WireGuard)",
                self.iface
            ))
        };
        if dev.flavor == Flavor::Boringtun {
            return Err(unsupported("is served by boringtun".into()));
        }
        let mut body = String::new();
        for (k, v) in awg {
            if !dev.extra.iter().any(|(ek, ev)| ek == k && ev == v) {
                let _ = writeln!(body, "{k}={v}");
            }
        }
        if body.is_empty() {
            return Ok(());
        }
        tracing::info!(iface = %self.iface, keys = awg.len(), "setting AmneziaWG parameters via UAPI");
        match self.set(&body).await {
            Err(BackendError::Errno { errno, .. }) if errno == 22 || errno == 71 => Err(unsupported(
                format!("rejected the AWG keys (errno={errno}; a plain WireGuard daemon such as wireguard-go)"),
            )),
            r => r,
        }
    }

    async fn flavor(&self) -> Result<Flavor, BackendError> {
        match self.flavor.load(Ordering::Relaxed) {
            1 => Ok(Flavor::WireguardGo),
            2 => Ok(Flavor::Boringtun),
            _ => Ok(self.get().await?.flavor),
        }
    }
}

async fn roundtrip_at(
    path: &Path,
    op: &'static str,
    request: &[u8],
) -> Result<String, BackendError> {
    let stream = UnixStream::connect(path)
        .await
        .map_err(|e| BackendError::SocketConnect {
            path: path.to_path_buf(),
            source: e,
        })?;
    let (rd, mut wr) = stream.into_split();
    let io_err = |e| BackendError::SocketIo {
        op,
        path: path.to_path_buf(),
        source: e,
    };
    // The daemon parses while we write (a 10k-peer set is ~2 MB), so the kernel streams it.
    // If the daemon rejects a line it answers errno and stops reading: a failed write is
    // then not the real error, the errno is — so read the response before reporting it.
    let write_result = async {
        wr.write_all(request).await?;
        wr.flush().await
    }
    .await;
    let mut rd = rd;
    // Read raw bytes and look for the terminating blank line at the end of the buffer.
    // (`read_line` into a String re-validates the whole String as UTF-8 on every line,
    // which made reading 10k peers quadratic: seconds instead of milliseconds.) The
    // response ends at the first blank line, and no blank line occurs before it.
    let mut buf: Zeroizing<Vec<u8>> = Zeroizing::new(Vec::with_capacity(64 * 1024));
    let mut chunk: Zeroizing<Vec<u8>> = Zeroizing::new(vec![0u8; 64 * 1024]);
    loop {
        let n = rd.read(&mut chunk[..]).await.map_err(io_err)?;
        if n == 0 {
            if let Err(e) = write_result {
                return Err(io_err(e));
            }
            if contains(&buf, b"errno=") {
                // Some daemons close right after errno without the blank line.
                break;
            }
            return Err(BackendError::SocketIo {
                op,
                path: path.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed before the end of the response",
                ),
            });
        }
        if buf.len() + n > buf.capacity() {
            // Grow by hand so the old allocation (which may hold the private key that
            // starts a `get` response) is wiped rather than freed as it is.
            let mut bigger = Zeroizing::new(Vec::with_capacity((buf.len() + n) * 2));
            bigger.extend_from_slice(&buf);
            buf = bigger;
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.ends_with(b"\n\n") || buf.as_slice() == b"\n" {
            break;
        }
    }
    let bytes = std::mem::take(&mut *buf);
    String::from_utf8(bytes).map_err(|e| {
        // Wipe the bytes we could not convert before dropping them.
        drop(Zeroizing::new(e.into_bytes()));
        BackendError::SocketIo {
            op,
            path: path.to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "response is not UTF-8 text",
            ),
        }
    })
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[async_trait::async_trait]
impl WgBackend for UapiBackend {
    async fn ensure_interface(&self, spec: &InterfaceSpec) -> Result<(), BackendError> {
        use std::fmt::Write as _;
        if spec.name != self.iface {
            return Err(BackendError::Config(format!(
                "interface spec is for {:?} but this backend manages {:?}",
                spec.name, self.iface
            )));
        }
        let want_key = parse_secret_key(&spec.private_key, "interface private key")?;
        let want_key = Zeroizing::new(want_key.0);
        let awg = parse_awg_lines(spec.awg.as_deref())?;
        let dev = self.get().await?;

        // Only send what differs: re-setting the private key makes some daemons drop every
        // session, and ensure_interface runs on every reconcile pass.
        let mut body = Zeroizing::new(String::new());
        let key_matches = match (&dev.private_key, dev.public_key) {
            (Some(have), _) => **have == *want_key,
            (None, Some(pubkey)) => Key(*want_key).public_from_private() == pubkey,
            (None, None) => false,
        };
        if !key_matches {
            let _ = writeln!(body, "private_key={}", hex::encode(*want_key));
            self.private_key_sets.fetch_add(1, Ordering::Relaxed);
        }
        if dev.listen_port != Some(spec.listen_port) {
            let _ = writeln!(body, "listen_port={}", spec.listen_port);
        }
        if !body.is_empty() {
            tracing::info!(iface = %self.iface, key_changed = !key_matches, "configuring interface via UAPI");
            self.set(&body).await?;
        }
        if !awg.is_empty() {
            self.set_awg(&awg, dev, !body.is_empty()).await?;
        }
        ip::configure_link(&self.runner, spec).await
    }

    async fn state(&self) -> Result<InterfaceState, BackendError> {
        Ok(self.get().await?.into_state())
    }

    async fn apply(&self, diff: &PeerDiff) -> Result<(), BackendError> {
        if diff.is_empty() {
            return Ok(());
        }
        let flavor = if diff.add.is_empty() && diff.update.is_empty() {
            Flavor::WireguardGo // removals are encoded the same for both
        } else {
            self.flavor().await?
        };
        let body = encode_peer_ops(diff, flavor)?;
        tracing::info!(
            iface = %self.iface,
            add = diff.add.len(),
            update = diff.update.len(),
            remove = diff.remove.len(),
            "applying peer diff via UAPI"
        );
        self.set(&body).await
    }

    fn name(&self) -> &'static str {
        "uapi"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn awg_lines() {
        let v = parse_awg_lines(Some("jc=4\n jmin = 40\n\nh1=12345")).unwrap();
        assert_eq!(v[1], ("jmin".into(), "40".into()));
        assert!(parse_awg_lines(Some("private_key=00")).is_err());
        assert!(parse_awg_lines(Some("Jc=4")).is_err());
        assert!(parse_awg_lines(Some("jc")).is_err());
        assert!(parse_awg_lines(None).unwrap().is_empty());
    }

    #[test]
    fn set_response() {
        assert!(parse_set_response("errno=0\n\n", "wg0").is_ok());
        let e = parse_set_response("errno=22\n\n", "wg0").unwrap_err();
        assert!(e.to_string().contains("errno=22"), "{e}");
        let e = parse_set_response("errno=-22\n\n", "wg0").unwrap_err();
        assert!(e.to_string().contains("errno=22 (EINVAL"), "{e}");
        assert!(parse_set_response("\n", "wg0").is_err());
    }

    #[test]
    fn bad_key_sends_nothing() {
        let d = PeerDiff {
            add: vec![PeerSpec::new("not-a-key", vec![])],
            ..Default::default()
        };
        let e = encode_peer_ops(&d, Flavor::WireguardGo).unwrap_err();
        assert!(e.to_string().contains("peer public key"));
        let mut p = PeerSpec::new(Key([1; 32]).to_base64(), vec![]);
        p.preshared_key = Some("c2VjcmV0LWJ1dC1zaG9ydA==".into());
        let e = encode_peer_ops(
            &PeerDiff {
                add: vec![p],
                ..Default::default()
            },
            Flavor::WireguardGo,
        )
        .unwrap_err();
        assert!(!e.to_string().contains("c2VjcmV0"), "{e}");
    }

    #[test]
    fn encode_wireguard_go_and_boringtun() {
        let k1 = Key([1; 32]);
        let k2 = Key([2; 32]);
        let k3 = Key([3; 32]);
        let mut up = PeerSpec::new(k2.to_base64(), vec!["10.8.0.3/32".parse().unwrap()]);
        up.preshared_key = Some(Key([9; 32]).to_base64().into());
        up.persistent_keepalive = Some(25);
        let d = PeerDiff {
            add: vec![PeerSpec::new(
                k3.to_base64(),
                vec!["10.8.0.4/32".parse().unwrap()],
            )],
            update: vec![up],
            remove: vec![k1.to_base64()],
        };
        let wg = encode_peer_ops(&d, Flavor::WireguardGo).unwrap();
        let expected = format!(
            "public_key={}\nremove=true\n\
             public_key={}\nupdate_only=true\npreshared_key={}\npersistent_keepalive_interval=25\nreplace_allowed_ips=true\nallowed_ip=10.8.0.3/32\n\
             public_key={}\npreshared_key={}\npersistent_keepalive_interval=0\nreplace_allowed_ips=true\nallowed_ip=10.8.0.4/32\n",
            k1.to_hex(), k2.to_hex(), Key([9; 32]).to_hex(), k3.to_hex(), Key([0; 32]).to_hex()
        );
        assert_eq!(wg.as_str(), expected);
        let bt = encode_peer_ops(&d, Flavor::Boringtun).unwrap();
        assert!(!bt.contains("update_only"));
        assert_eq!(bt.matches("remove=true").count(), 3);
        assert_eq!(bt.matches("remove=false").count(), 2);
    }
}

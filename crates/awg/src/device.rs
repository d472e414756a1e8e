//! The running data plane: one UDP socket, one TUN device, and three kinds of threads.
//!
//! - `awg-udp` (N): datagram → AWG layer → peer (by index, or by the initiator's static key)
//!   → decrypt → TUN.
//! - `awg-tun` (M): IP packet → allowed-IPs trie → peer → encrypt → AWG layer → UDP.
//! - `awg-timers`: every 250 ms, each peer's rekey/keepalive/retry timers (a retried
//!   initiation gets its junk and I packets like the first), and the handshake rate
//!   limiter's reset every second.
//!
//! Decryption and encryption run on different threads, so a 2-core machine uses both cores
//! for one busy peer; more UDP/TUN workers help many peers at once. Peer state (boringtun's
//! `Tunn`) sits behind a mutex per peer; the table behind one `RwLock` taken for a lookup
//! and released before any crypto.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use boringtun::noise::handshake::parse_handshake_anon;
use boringtun::noise::rate_limiter::RateLimiter;
use boringtun::noise::{Packet, Tunn, TunnResult};
use ipnet::IpNet;
use x25519_dalek::{PublicKey, StaticSecret};

use crate::cookie;
use crate::metrics::{inc, Metrics};
use crate::params::AwgParams;
use crate::peers::{lock, Peer, PeerConfig, PeerStats, PeerTable};
use crate::wire::{self, Kind, OpenError};

/// Room before a message in a send buffer for the largest S prefix (S < 65535 - 32).
const HEAD: usize = 1 << 16;
const BUF: usize = HEAD + (1 << 16);
/// Handshake messages (initiations, responses) per second before cookies are asked.
pub const DEFAULT_HANDSHAKE_LIMIT: u64 = 200;
const TICK: Duration = Duration::from_millis(250);

/// How to bring the device up.
#[derive(Clone, Debug)]
pub struct DeviceConfig {
    pub name: String,
    pub private_key: [u8; 32],
    pub listen_port: u16,
    /// The interface address with its prefix (the pool's first address), if any.
    pub address: Option<IpNet>,
    /// The MTU before the S4 prefix is taken off (1420 like wg-quick when unset).
    pub mtu: u16,
    pub params: AwgParams,
    pub udp_workers: usize,
    pub tun_workers: usize,
    /// Handshake messages per second before the device asks for cookies (WireGuard's
    /// load state), counted once each since cookies are checked on the wire bytes.
    pub handshake_limit: u64,
    /// A named network namespace (`ip netns add NAME`) to create the TUN and the socket in;
    /// `None` = the caller's. The device works from any thread afterwards.
    pub netns: Option<String>,
}

impl DeviceConfig {
    pub fn new(name: impl Into<String>, private_key: [u8; 32], listen_port: u16) -> Self {
        DeviceConfig {
            name: name.into(),
            private_key,
            listen_port,
            address: None,
            mtu: 1420,
            params: AwgParams::default(),
            udp_workers: 1,
            tun_workers: 1,
            netns: None,
            handshake_limit: DEFAULT_HANDSHAKE_LIMIT,
        }
    }

    /// The TUN MTU: S4 bytes of every transport packet are prefix.
    pub fn tun_mtu(&self) -> u16 {
        self.mtu.saturating_sub(self.params.s[3]).max(576)
    }
}

pub(crate) struct Keys {
    pub(crate) private: StaticSecret,
    pub(crate) public: PublicKey,
    pub(crate) own_mac1: [u8; 32],
    /// boringtun's limiter, for its MAC1 check only: its limit is never reached, because
    /// load, MAC2 and cookie replies are [`cookie::Limiter`]'s, over the on-wire bytes.
    pub(crate) limiter: Arc<RateLimiter>,
    pub(crate) cookies: cookie::Limiter,
    limit: u64,
}

impl Keys {
    fn new(private: [u8; 32], limit: u64) -> Keys {
        let private = StaticSecret::from(private);
        let public = PublicKey::from(&private);
        Keys {
            own_mac1: wire::mac1_key(public.as_bytes()),
            limiter: Arc::new(RateLimiter::new(&public, u64::MAX)),
            cookies: cookie::Limiter::new(public.as_bytes(), limit),
            limit,
            private,
            public,
        }
    }
}

pub(crate) struct State {
    pub keys: Arc<Keys>,
    pub params: Arc<AwgParams>,
    pub peers: PeerTable,
}

impl State {
    pub(crate) fn keys_private(&self) -> [u8; 32] {
        self.keys.private.to_bytes()
    }

    /// Change the private key; false (and nothing touched) when it is the same.
    pub(crate) fn set_private(&mut self, key: [u8; 32]) -> bool {
        if self.keys.private.to_bytes() == key {
            return false;
        }
        self.keys = Arc::new(Keys::new(key, self.keys.limit));
        let keys = &self.keys;
        // Peers without Noise state yet will be built with the new keys when needed.
        for p in self.peers.all() {
            if let Some(t) = lock(&p.tunn).as_mut() {
                t.set_static_private(
                    keys.private.clone(),
                    keys.public,
                    Some(keys.limiter.clone()),
                );
            }
        }
        true
    }
}

pub(crate) struct Shared {
    pub name: String,
    pub listen_port: u16,
    base_mtu: u16,
    socket: UdpSocket,
    tun: tun_rs::SyncDevice,
    stop: AtomicBool,
    intr: tun_rs::InterruptEvent,
    state: RwLock<State>,
    pub metrics: Metrics,
}

/// A running AmneziaWG interface. Dropping it stops the threads and removes the TUN.
pub struct Device {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Device")
            .field("name", &self.shared.name)
            .finish()
    }
}

fn tun_device(cfg: &DeviceConfig) -> io::Result<tun_rs::SyncDevice> {
    let mut b = tun_rs::DeviceBuilder::new()
        .name(cfg.name.clone())
        .mtu(cfg.tun_mtu())
        .enable(true);
    match cfg.address {
        Some(IpNet::V4(a)) => b = b.ipv4(a.addr(), a.prefix_len(), None),
        Some(IpNet::V6(a)) => b = b.ipv6(a.addr(), a.prefix_len()),
        None => {}
    }
    let dev = b.build_sync()?;
    dev.set_nonblocking(true)?;
    Ok(dev)
}

/// The UDP socket and the TUN, in the calling thread's network namespace.
fn open_io(cfg: &DeviceConfig) -> io::Result<(UdpSocket, tun_rs::SyncDevice)> {
    let socket = UdpSocket::bind(("0.0.0.0", cfg.listen_port)).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot bind UDP port {}: {e}", cfg.listen_port),
        )
    })?;
    socket.set_read_timeout(Some(TICK))?;
    grow_buffers(&socket);
    let tun = tun_device(cfg).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "cannot create TUN interface {:?}: {e} (needs /dev/net/tun and CAP_NET_ADMIN)",
                cfg.name
            ),
        )
    })?;
    Ok((socket, tun))
}

/// Socket buffers of 4 MiB: bursts (a TCP window, a handshake flood) should queue in the
/// kernel rather than be dropped before we read them. `*FORCE` works as root past rmem_max;
/// otherwise the plain option gets what the sysctl allows.
fn grow_buffers(socket: &UdpSocket) {
    use std::os::fd::AsRawFd;
    const SIZE: libc::c_int = 4 << 20;
    let fd = socket.as_raw_fd();
    for (force, plain) in [
        (libc::SO_RCVBUFFORCE, libc::SO_RCVBUF),
        (libc::SO_SNDBUFFORCE, libc::SO_SNDBUF),
    ] {
        for opt in [force, plain] {
            // SAFETY: setsockopt on our own socket with a valid c_int option value.
            let rc = unsafe {
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    opt,
                    (&SIZE as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            if rc == 0 {
                break;
            }
        }
    }
}

/// Move this thread into the named network namespace.
fn enter_netns(name: &str) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let path = format!("/var/run/netns/{name}");
    let f = std::fs::File::open(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("network namespace {path}: {e}")))?;
    // SAFETY: setns with a valid namespace fd; it changes only the calling thread.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl Device {
    /// Create the TUN and the socket in the calling thread's network namespace, and start.
    pub fn create(cfg: DeviceConfig) -> io::Result<Device> {
        cfg.params
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let (socket, tun) = match cfg.netns.clone() {
            None => open_io(&cfg)?,
            Some(ns) => {
                let c = cfg.clone();
                std::thread::spawn(move || enter_netns(&ns).and_then(|()| open_io(&c)))
                    .join()
                    .map_err(|_| io::Error::other("namespace thread panicked"))??
            }
        };
        let listen_port = socket.local_addr()?.port();
        let shared = Arc::new(Shared {
            name: cfg.name.clone(),
            listen_port,
            base_mtu: cfg.mtu,
            socket,
            tun,
            stop: AtomicBool::new(false),
            intr: tun_rs::InterruptEvent::new()?,
            state: RwLock::new(State {
                keys: Arc::new(Keys::new(cfg.private_key, cfg.handshake_limit)),
                params: Arc::new(cfg.params.clone()),
                peers: PeerTable::default(),
            }),
            metrics: Metrics::default(),
        });
        let mut threads = Vec::new();
        for i in 0..cfg.udp_workers.max(1) {
            let s = shared.clone();
            threads.push(spawn(format!("awg-udp{i}"), move || s.udp_loop())?);
        }
        for i in 0..cfg.tun_workers.max(1) {
            let s = shared.clone();
            threads.push(spawn(format!("awg-tun{i}"), move || s.tun_loop())?);
        }
        let s = shared.clone();
        threads.push(spawn("awg-timers".into(), move || s.timer_loop())?);
        tracing::info!(interface = %cfg.name, port = listen_port, mtu = cfg.tun_mtu(), "embedded AmneziaWG interface up");
        Ok(Device { shared, threads })
    }

    pub fn name(&self) -> &str {
        &self.shared.name
    }
    pub fn listen_port(&self) -> u16 {
        self.shared.listen_port
    }
    pub fn public_key(&self) -> [u8; 32] {
        *self.shared.read().keys.public.as_bytes()
    }
    pub fn private_key(&self) -> [u8; 32] {
        self.shared.read().keys.private.to_bytes()
    }
    pub fn params(&self) -> AwgParams {
        (*self.shared.read().params).clone()
    }
    pub fn metrics(&self) -> crate::metrics::MetricsSnapshot {
        self.shared.metrics.snapshot()
    }
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Change the private key: every session is dropped (they were keyed by the old one).
    /// Returns false when the key is the same (nothing is touched).
    pub fn set_private_key(&self, key: [u8; 32]) -> bool {
        self.shared.write().set_private(key)
    }

    /// New obfuscation parameters, applied to the next packet (and the TUN MTU for S4).
    pub fn set_params(&self, params: AwgParams) -> Result<(), String> {
        params.validate()?;
        let mtu = self.shared.base_mtu.saturating_sub(params.s[3]).max(576);
        let mut st = self.shared.write();
        if params.s[3] != st.params.s[3] {
            if let Err(e) = self.shared.tun.set_mtu(mtu) {
                tracing::warn!(error = %e, "cannot change the TUN MTU for the new S4");
            }
        }
        st.params = Arc::new(params);
        Ok(())
    }

    /// Add or change peers in one write-lock. A peer whose PSK and keepalive are unchanged
    /// keeps its session (only allowed IPs/endpoint change).
    pub fn upsert_peers(&self, peers: impl IntoIterator<Item = PeerConfig>) {
        let mut st = self.shared.write();
        for c in peers {
            upsert(&mut st, c);
        }
    }

    /// Remove peers by public key; their sessions are dropped at once.
    pub fn remove_peers(&self, keys: &[[u8; 32]]) -> usize {
        let mut st = self.shared.write();
        keys.iter().filter(|k| st.peers.remove(k).is_some()).count()
    }

    pub fn clear_peers(&self) {
        self.shared.write().peers.clear();
    }

    pub fn peer_count(&self) -> usize {
        self.shared.read().peers.len()
    }

    pub fn peers(&self) -> Vec<PeerStats> {
        let list: Vec<Arc<Peer>> = self.shared.read().peers.all().cloned().collect();
        list.iter().map(|p| p.stats()).collect()
    }
}

pub(crate) fn upsert(st: &mut State, c: PeerConfig) {
    if let Some(old) = st.peers.get(&c.public_key).cloned() {
        if old.same_session(&c) {
            if old.allowed_ips() != c.allowed_ips {
                st.peers.set_allowed_ips(&old, c.allowed_ips.clone());
            }
            if let Some(e) = c.endpoint {
                old.set_endpoint(e);
            }
            return;
        }
    }
    let index = st.peers.allocate_index();
    let peer = Peer::new(c, index);
    st.peers.insert(Arc::new(peer));
}

impl Drop for Device {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = self.shared.intr.trigger();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        tracing::info!(interface = %self.shared.name, "embedded AmneziaWG interface down");
    }
}

fn spawn(name: String, f: impl FnOnce() + Send + 'static) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new().name(name).spawn(f)
}

/// Where a boringtun result slice sits inside our buffer (`base` = the buffer's address).
fn offset_in(base: usize, part: &[u8]) -> usize {
    part.as_ptr() as usize - base
}

enum Next {
    Nothing,
    Send(usize, usize),
    Tunnel(usize, usize, IpAddr),
}

fn next_of(buf_base: usize, r: TunnResult<'_>, m: &Metrics) -> Next {
    match r {
        TunnResult::Done => Next::Nothing,
        TunnResult::Err(e) => {
            m.noise_error(&e);
            Next::Nothing
        }
        TunnResult::WriteToNetwork(p) => Next::Send(offset_in(buf_base, p), p.len()),
        TunnResult::WriteToTunnelV4(p, src) => {
            Next::Tunnel(offset_in(buf_base, p), p.len(), src.into())
        }
        TunnResult::WriteToTunnelV6(p, src) => {
            Next::Tunnel(offset_in(buf_base, p), p.len(), src.into())
        }
    }
}

impl Shared {
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn udp_loop(&self) {
        let mut rx = vec![0u8; 1 << 16];
        let mut out = vec![0u8; BUF];
        while !self.stopped() {
            match self.socket.recv_from(&mut rx) {
                Ok((n, from)) => self.on_datagram(&mut rx[..n], from, &mut out),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "UDP receive failed");
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
    }

    fn on_datagram(&self, d: &mut [u8], from: SocketAddr, out: &mut [u8]) {
        let m = &self.metrics;
        inc(&m.rx_datagrams);
        let len = d.len();
        let (peer, params, start, kind, keys) = {
            let st = self.read();
            let (kind, start) = match wire::check(&st.params, &st.keys.own_mac1, d) {
                Ok(x) => x,
                Err(OpenError::Unclassified) => return inc(&m.dropped_unclassified),
                Err(OpenError::BadMac1) => return inc(&m.dropped_bad_mac),
            };
            if wire::is_handshake(kind) {
                // MAC2 is over the bytes as received (H value in the type field).
                if let Err(reply) = st.keys.cookies.check(from, &d[start..]) {
                    inc(&m.cookies_sent);
                    out[HEAD..HEAD + reply.len()].copy_from_slice(&reply);
                    self.send_raw(&st.params, &[0u8; 32], None, out, HEAD, reply.len(), from);
                    return;
                }
            }
            wire::restore(kind, &st.keys.own_mac1, &mut d[start..]);
            let msg = &d[start..];
            let peer = if kind == Kind::Initiation {
                match self.initiator(&st, msg, from, out) {
                    Some(p) => p,
                    None => return,
                }
            } else {
                // Response: type, sender, receiver; cookie and transport: type, receiver.
                let at = if kind == Kind::Response { 8 } else { 4 };
                let receiver = u32::from_le_bytes([msg[at], msg[at + 1], msg[at + 2], msg[at + 3]]);
                match st.peers.by_receiver(receiver) {
                    Some(p) => p.clone(),
                    None => return inc(&m.dropped_unknown_peer),
                }
            };
            (peer, st.params.clone(), start, kind, st.keys.clone())
        };
        if kind == Kind::Cookie {
            // Sealed with AEAD data = the on-wire MAC1 we sent, which boringtun never saw.
            let key = cookie::cookie_key(&peer.config.public_key);
            if !lock(&peer.cookie).accept_reply(&key, &d[start..]) {
                inc(&m.dropped_invalid);
            }
            return;
        }
        peer.rx_bytes
            .fetch_add(len as u64, std::sync::atomic::Ordering::Relaxed);
        let mut guard = peer.session(&keys);
        let Some(tunn) = guard.as_mut() else { return };
        let base = out[HEAD..].as_ptr() as usize;
        let r = tunn.decapsulate(Some(from.ip()), &d[start..], &mut out[HEAD..]);
        let next = next_of(base, r, m);
        match next {
            Next::Nothing => {}
            Next::Send(off, n) => {
                // Our response to an initiation, or the keepalive confirming a response.
                if matches!(kind, Kind::Initiation | Kind::Response) {
                    inc(&m.handshakes_completed);
                }
                peer.set_endpoint(from);
                self.send(&params, &peer, out, HEAD + off, n, from);
                // A handshake may have released queued packets.
                loop {
                    let r = tunn.decapsulate(None, &[], &mut out[HEAD..]);
                    match next_of(base, r, m) {
                        Next::Send(off, n) => self.send(&params, &peer, out, HEAD + off, n, from),
                        _ => break,
                    }
                }
            }
            Next::Tunnel(off, n, src) => {
                drop(guard);
                peer.set_endpoint(from);
                self.to_tun(&peer, &out[HEAD + off..HEAD + off + n], src);
            }
        }
    }

    /// The peer an initiation comes from (MAC1 and load already checked), after the
    /// responder's first DH to learn the initiator's static key.
    fn initiator(
        &self,
        st: &State,
        msg: &[u8],
        from: SocketAddr,
        out: &mut [u8],
    ) -> Option<Arc<Peer>> {
        let m = &self.metrics;
        let packet = match st
            .keys
            .limiter
            .verify_packet(Some(from.ip()), msg, &mut out[HEAD..])
        {
            Ok(p) => p,
            Err(TunnResult::Err(e)) => {
                m.noise_error(&e);
                return None;
            }
            Err(_) => return None,
        };
        let Packet::HandshakeInit(init) = packet else {
            inc(&m.dropped_invalid);
            return None;
        };
        let half = match parse_handshake_anon(&st.keys.private, &st.keys.public, &init) {
            Ok(h) => h,
            Err(e) => {
                m.noise_error(&e);
                return None;
            }
        };
        match st.peers.get(&half.peer_static_public) {
            Some(p) => Some(p.clone()),
            None => {
                inc(&m.dropped_unknown_peer);
                None
            }
        }
    }

    fn to_tun(&self, peer: &Arc<Peer>, packet: &[u8], src: IpAddr) {
        let allowed = self
            .read()
            .peers
            .route(src)
            .is_some_and(|p| Arc::ptr_eq(p, peer));
        if !allowed {
            return inc(&self.metrics.dropped_source);
        }
        if let Err(e) = self.tun.send(packet) {
            tracing::debug!(error = %e, "TUN write failed");
        }
    }

    /// Send a message boringtun produced for `peer`; an initiation is preceded by the I
    /// packets and the junk.
    fn send(
        &self,
        params: &AwgParams,
        peer: &Peer,
        buf: &mut [u8],
        at: usize,
        n: usize,
        to: SocketAddr,
    ) {
        let sent = self.send_raw(params, &peer.mac1_key, Some(peer), buf, at, n, to);
        peer.tx_bytes
            .fetch_add(sent as u64, std::sync::atomic::Ordering::Relaxed);
    }

    /// Dress and send; with `peer`, a handshake gets its MAC2 (cookie) over the dressed bytes.
    #[allow(clippy::too_many_arguments)] // the message, its destination and how to dress it
    fn send_raw(
        &self,
        params: &AwgParams,
        mac1_key: &[u8; 32],
        peer: Option<&Peer>,
        buf: &mut [u8],
        at: usize,
        n: usize,
        to: SocketAddr,
    ) -> usize {
        let m = &self.metrics;
        let mut rng = rand::thread_rng();
        let kind = wire::wg_kind(&buf[at..at + n]);
        if kind == Some(Kind::Initiation) {
            for p in wire::preamble(params, &mut rng) {
                if self.socket.send_to(&p, to).is_ok() {
                    inc(&m.junk_sent);
                    inc(&m.tx_datagrams);
                }
            }
        }
        let Some(range) = wire::seal(params, mac1_key, buf, at, n, &mut rng) else {
            return 0;
        };
        if let (Some(peer), Some(k)) = (peer, kind) {
            if wire::is_handshake(k) {
                lock(&peer.cookie).stamp(&mut buf[at..at + n]);
            }
        }
        match self.socket.send_to(&buf[range.clone()], to) {
            Ok(_) => {
                inc(&m.tx_datagrams);
                range.len()
            }
            Err(e) => {
                tracing::debug!(error = %e, %to, "UDP send failed");
                0
            }
        }
    }

    fn tun_loop(&self) {
        let mut pkt = vec![0u8; 1 << 16];
        let mut out = vec![0u8; BUF];
        while !self.stopped() {
            match self.tun.recv_intr(&mut pkt, &self.intr) {
                Ok(n) => self.on_tun_packet(&pkt[..n], &mut out),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::Interrupted
                            | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "TUN read failed");
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
        }
    }

    fn on_tun_packet(&self, pkt: &[u8], out: &mut [u8]) {
        let m = &self.metrics;
        let Some(dst) = Tunn::dst_address(pkt) else {
            return inc(&m.dropped_invalid);
        };
        let (peer, params, keys) = {
            let st = self.read();
            match st.peers.route(dst) {
                Some(p) => (p.clone(), st.params.clone(), st.keys.clone()),
                None => return inc(&m.dropped_no_route),
            }
        };
        let Some(to) = peer.endpoint() else {
            return inc(&m.dropped_no_endpoint);
        };
        let base = out[HEAD..].as_ptr() as usize;
        let next = match peer.session(&keys).as_mut() {
            Some(t) => next_of(base, t.encapsulate(pkt, &mut out[HEAD..]), m),
            None => Next::Nothing,
        };
        if let Next::Send(off, n) = next {
            self.send(&params, &peer, out, HEAD + off, n, to);
        }
    }

    fn timer_loop(&self) {
        let mut out = vec![0u8; BUF];
        let mut last_reset = Instant::now();
        while !self.stopped() {
            std::thread::sleep(TICK);
            let (peers, params, keys) = {
                let st = self.read();
                let peers: Vec<Arc<Peer>> = st.peers.all().cloned().collect();
                (peers, st.params.clone(), st.keys.clone())
            };
            if last_reset.elapsed() >= Duration::from_secs(1) {
                keys.cookies.reset_count();
                last_reset = Instant::now();
            }
            for peer in peers {
                let base = out[HEAD..].as_ptr() as usize;
                // A peer never used has no timers, unless it must keep the tunnel alive.
                let keepalive = peer.config.persistent_keepalive.is_some_and(|k| k > 0)
                    && peer.endpoint().is_some();
                let mut g = if keepalive {
                    peer.session(&keys)
                } else {
                    lock(&peer.tunn)
                };
                let next = match g.as_mut() {
                    Some(t) => next_of(base, t.update_timers(&mut out[HEAD..]), &self.metrics),
                    None => Next::Nothing,
                };
                drop(g);
                if let Next::Send(off, n) = next {
                    if let Some(to) = peer.endpoint() {
                        self.send(&params, &peer, &mut out, HEAD + off, n, to);
                    }
                }
            }
        }
    }
}

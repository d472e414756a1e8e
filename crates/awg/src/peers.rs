//! The peer table: by public key (configuration), by 24-bit index (incoming responses,
//! cookies and transport carry our index), and allowed IPs in a longest-prefix trie
//! (outgoing packets from the TUN, and the source check on decrypted packets).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, SystemTime};

use boringtun::noise::Tunn;
use ip_network::IpNetwork;
use ip_network_table::IpNetworkTable;
use ipnet::IpNet;

use crate::cookie::PeerCookie;

/// A peer as the control plane configures it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerConfig {
    pub public_key: [u8; 32],
    pub preshared_key: Option<[u8; 32]>,
    pub allowed_ips: Vec<IpNet>,
    pub endpoint: Option<SocketAddr>,
    /// Seconds; 0/None = off.
    pub persistent_keepalive: Option<u16>,
}

/// A peer's counters and handshake, as `wg show` reports them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerStats {
    pub public_key: [u8; 32],
    pub preshared_key: Option<[u8; 32]>,
    pub endpoint: Option<SocketAddr>,
    pub allowed_ips: Vec<IpNet>,
    pub persistent_keepalive: Option<u16>,
    pub last_handshake: Option<SystemTime>,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
}

pub struct Peer {
    /// The configuration the Noise state was built from (key, PSK, keepalive); allowed IPs
    /// and endpoint live beside it because they change without touching the session.
    pub config: PeerConfig,
    pub allowed_ips: RwLock<Vec<IpNet>>,
    pub index: u32,
    /// MAC1 key of the peer (outgoing handshakes are MACed with it).
    pub mac1_key: [u8; 32],
    /// boringtun's per-peer Noise state; `None` until first needed (see [`Peer::new`]).
    /// Boxed: a `Tunn` is ~10 KiB (eight session slots with replay windows); an idle
    /// peer should not pay for it.
    pub tunn: Mutex<Option<Box<Tunn>>>,
    /// MAC2/cookie state for handshakes we send it (see [`crate::cookie`]).
    pub cookie: Mutex<PeerCookie>,
    pub endpoint: RwLock<Option<SocketAddr>>,
    pub rx_bytes: AtomicU64,
    pub tx_bytes: AtomicU64,
}

impl Peer {
    /// A peer without Noise state yet: boringtun's `Tunn::new` computes the static-static
    /// DH (~50 µs), so it is built on the peer's first packet or timer need, not here —
    /// converging 10,000 peers is then table inserts only.
    pub fn new(config: PeerConfig, index: u32) -> Peer {
        Peer {
            mac1_key: crate::wire::mac1_key(&config.public_key),
            endpoint: RwLock::new(config.endpoint),
            allowed_ips: RwLock::new(config.allowed_ips.clone()),
            index,
            tunn: Mutex::new(None),
            cookie: Mutex::new(PeerCookie::default()),
            config,
            rx_bytes: AtomicU64::new(0),
            tx_bytes: AtomicU64::new(0),
        }
    }

    /// The Noise state under its lock, built with `keys` on first use.
    pub(crate) fn session(&self, keys: &crate::device::Keys) -> MutexGuard<'_, Option<Box<Tunn>>> {
        let mut g = lock(&self.tunn);
        if g.is_none() {
            *g = Some(Box::new(Tunn::new(
                keys.private.clone(),
                x25519_dalek::PublicKey::from(self.config.public_key),
                self.config.preshared_key,
                self.config.persistent_keepalive.filter(|k| *k > 0),
                self.index,
                Some(keys.limiter.clone()),
            )));
        }
        g
    }

    pub fn endpoint(&self) -> Option<SocketAddr> {
        *self.endpoint.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn allowed_ips(&self) -> Vec<IpNet> {
        self.allowed_ips
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether a new config can keep this peer's Noise state (same PSK and keepalive).
    pub fn same_session(&self, c: &PeerConfig) -> bool {
        self.config.preshared_key == c.preshared_key
            && self.config.persistent_keepalive.filter(|k| *k > 0)
                == c.persistent_keepalive.filter(|k| *k > 0)
    }

    pub fn set_endpoint(&self, addr: SocketAddr) {
        let mut e = self.endpoint.write().unwrap_or_else(|e| e.into_inner());
        if *e != Some(addr) {
            *e = Some(addr);
        }
    }

    pub fn stats(&self) -> PeerStats {
        let since = lock(&self.tunn)
            .as_ref()
            .and_then(|t| t.time_since_last_handshake());
        PeerStats {
            public_key: self.config.public_key,
            preshared_key: self.config.preshared_key,
            endpoint: self.endpoint(),
            allowed_ips: self.allowed_ips(),
            persistent_keepalive: self.config.persistent_keepalive,
            last_handshake: since.and_then(|d: Duration| SystemTime::now().checked_sub(d)),
            rx_bytes: self.rx_bytes.load(Ordering::Relaxed),
            tx_bytes: self.tx_bytes.load(Ordering::Relaxed),
        }
    }
}

/// Lock a mutex, ignoring poison (a panicking thread must not take the data plane down).
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn to_network(net: &IpNet) -> Option<IpNetwork> {
    IpNetwork::new_truncate(net.addr(), net.prefix_len()).ok()
}

/// Every peer, three ways.
pub struct PeerTable {
    by_key: HashMap<[u8; 32], Arc<Peer>>,
    by_index: HashMap<u32, Arc<Peer>>,
    routes: IpNetworkTable<Arc<Peer>>,
    next_index: u32,
}

impl Default for PeerTable {
    fn default() -> Self {
        PeerTable {
            by_key: HashMap::new(),
            by_index: HashMap::new(),
            routes: IpNetworkTable::new(),
            // A random start: indices on the wire should not be guessable.
            next_index: rand::random::<u32>() & 0x00ff_ffff,
        }
    }
}

impl PeerTable {
    pub fn len(&self) -> usize {
        self.by_key.len()
    }
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
    pub fn get(&self, key: &[u8; 32]) -> Option<&Arc<Peer>> {
        self.by_key.get(key)
    }
    /// The peer owning a receiver index from the wire (boringtun: peer index << 8 | session).
    pub fn by_receiver(&self, receiver: u32) -> Option<&Arc<Peer>> {
        self.by_index.get(&(receiver >> 8))
    }
    /// The peer whose allowed IPs cover `ip` best.
    pub fn route(&self, ip: IpAddr) -> Option<&Arc<Peer>> {
        self.routes.longest_match(ip).map(|(_, p)| p)
    }
    pub fn all(&self) -> impl Iterator<Item = &Arc<Peer>> {
        self.by_key.values()
    }

    /// A fresh 24-bit index not in use.
    pub fn allocate_index(&mut self) -> u32 {
        loop {
            self.next_index = (self.next_index + 1) & 0x00ff_ffff;
            if self.next_index != 0 && !self.by_index.contains_key(&self.next_index) {
                return self.next_index;
            }
        }
    }

    pub fn insert(&mut self, peer: Arc<Peer>) {
        if let Some(old) = self.by_key.get(&peer.config.public_key).cloned() {
            self.remove(&old.config.public_key);
        }
        for net in peer.allowed_ips().iter().filter_map(to_network) {
            self.routes.insert(net, peer.clone());
        }
        self.by_index.insert(peer.index, peer.clone());
        self.by_key.insert(peer.config.public_key, peer);
    }

    /// Remove a peer; its routes go too (unless another peer took them over since).
    pub fn remove(&mut self, key: &[u8; 32]) -> Option<Arc<Peer>> {
        let peer = self.by_key.remove(key)?;
        self.by_index.remove(&peer.index);
        self.drop_routes(&peer);
        Some(peer)
    }

    fn drop_routes(&mut self, peer: &Arc<Peer>) {
        for net in peer.allowed_ips().iter().filter_map(to_network) {
            if self
                .routes
                .exact_match(net)
                .is_some_and(|p| Arc::ptr_eq(p, peer))
            {
                self.routes.remove(net);
            }
        }
    }

    /// Change a peer's allowed IPs in place (its session is kept).
    pub fn set_allowed_ips(&mut self, peer: &Arc<Peer>, ips: Vec<IpNet>) {
        self.drop_routes(peer);
        for net in ips.iter().filter_map(to_network) {
            self.routes.insert(net, peer.clone());
        }
        *peer.allowed_ips.write().unwrap_or_else(|e| e.into_inner()) = ips;
    }

    pub fn clear(&mut self) {
        let next_index = self.next_index;
        *self = PeerTable::default();
        self.next_index = next_index;
    }
}

//! Backend `embedded`: the AmneziaWG data plane inside this process (crates/awg).
//!
//! No daemon, no socket hop, no text protocol: [`WgBackend::apply`] changes the peer table
//! under one write lock, a revoke drops the peer's session at once. The interface (TUN,
//! UDP socket) is created by the first [`WgBackend::ensure_interface`]; later passes change
//! only what differs (a same private key is not re-set, so sessions survive). For operators'
//! `wg show`/`awg show` the device also serves the UAPI socket (default
//! /var/run/amneziawg/IFACE.sock).

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use vpnkeeper_awg::uapi::{UapiServer, DEFAULT_DIR};
use vpnkeeper_awg::{AwgParams, Device, DeviceConfig, PeerConfig};
use zeroize::Zeroizing;

use crate::error::BackendError;
use crate::model::{
    parse_public_key, parse_secret_key, InterfaceSpec, InterfaceState, Key, PeerDiff, PeerSpec,
    PeerState, PskFingerprint,
};
use crate::{BackendHealth, WgBackend};

/// The base MTU when the spec has none (wg-quick's default); S4 is taken off it.
const DEFAULT_MTU: u16 = 1420;

struct Running {
    device: Device,
    _uapi: Option<UapiServer>,
    listen_port: u16,
    address: ipnet::IpNet,
    mtu: u16,
}

pub struct EmbeddedBackend {
    iface: String,
    socket_dir: PathBuf,
    netns: Option<String>,
    running: Mutex<Option<Running>>,
}

impl std::fmt::Debug for EmbeddedBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedBackend")
            .field("iface", &self.iface)
            .finish()
    }
}

impl EmbeddedBackend {
    /// `netns`: a named network namespace to create the interface in (tests, or an
    /// operator who isolates the tunnel); `None` = the node's own.
    pub fn new(
        iface: impl Into<String>,
        socket_dir: Option<PathBuf>,
        netns: Option<String>,
    ) -> Self {
        EmbeddedBackend {
            iface: iface.into(),
            netns,
            socket_dir: socket_dir.unwrap_or_else(|| PathBuf::from(DEFAULT_DIR)),
            running: Mutex::new(None),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Running>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Data-plane counters (drops by reason, handshakes, junk) for /metrics.
    pub fn metrics(&self) -> Option<vpnkeeper_awg::MetricsSnapshot> {
        self.lock().as_ref().map(|r| r.device.metrics())
    }

    fn not_up(&self) -> BackendError {
        BackendError::InterfaceMissing {
            iface: self.iface.clone(),
            detail: "the embedded interface is not up yet".into(),
            hint: "it is created by the first reconcile pass; see the log for why it failed".into(),
        }
    }

    fn start(
        &self,
        spec: &InterfaceSpec,
        key: [u8; 32],
        params: AwgParams,
    ) -> Result<Running, BackendError> {
        let mtu = spec.mtu.unwrap_or(DEFAULT_MTU);
        let mut cfg = DeviceConfig::new(spec.name.clone(), key, spec.listen_port);
        cfg.address = Some(spec.address);
        cfg.mtu = mtu;
        cfg.params = params;
        cfg.netns = self.netns.clone();
        let device = Device::create(cfg).map_err(|e| BackendError::Io {
            what: format!("creating embedded interface {}", spec.name),
            source: e,
        })?;
        let uapi = match UapiServer::start(&device, &self.socket_dir) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!(dir = %self.socket_dir.display(), error = %e, "cannot serve the UAPI socket; `wg show` will not see the interface");
                None
            }
        };
        Ok(Running {
            device,
            _uapi: uapi,
            listen_port: spec.listen_port,
            address: spec.address,
            mtu,
        })
    }
}

fn peer_config(p: &PeerSpec) -> Result<PeerConfig, BackendError> {
    let psk = match &p.preshared_key {
        Some(s) => Some(Zeroizing::new(parse_secret_key(s, "peer preshared key")?.0)),
        None => None,
    };
    Ok(PeerConfig {
        public_key: parse_public_key(&p.public_key)?.0,
        preshared_key: psk.map(|k| *k),
        allowed_ips: crate::model::normalize_ips(&p.allowed_ips),
        endpoint: None,
        persistent_keepalive: p.persistent_keepalive.filter(|k| *k > 0),
    })
}

fn peer_state(s: vpnkeeper_awg::PeerStats) -> PeerState {
    PeerState {
        public_key: Key(s.public_key).to_base64(),
        endpoint: s.endpoint,
        allowed_ips: s.allowed_ips,
        last_handshake_unix: s
            .last_handshake
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs() as i64),
        rx_bytes: s.rx_bytes,
        tx_bytes: s.tx_bytes,
        preshared_key_set: s.preshared_key.is_some(),
        preshared_key_fingerprint: s.preshared_key.map(|k| PskFingerprint::of(&Key(k))),
        persistent_keepalive: s.persistent_keepalive,
    }
}

#[async_trait::async_trait]
impl WgBackend for EmbeddedBackend {
    async fn ensure_interface(&self, spec: &InterfaceSpec) -> Result<(), BackendError> {
        if spec.name != self.iface {
            return Err(BackendError::Config(format!(
                "interface spec is for {:?} but this backend manages {:?}",
                spec.name, self.iface
            )));
        }
        let key = Zeroizing::new(parse_secret_key(&spec.private_key, "interface private key")?.0);
        let params = AwgParams::from_uapi(spec.awg.as_deref().unwrap_or("")).map_err(|detail| {
            BackendError::InvalidInput {
                what: "AmneziaWG parameters",
                detail,
            }
        })?;
        let mut guard = self.lock();
        let mtu = spec.mtu.unwrap_or(DEFAULT_MTU);
        let keep = guard.as_ref().is_some_and(|r| {
            r.listen_port == spec.listen_port && r.address == spec.address && r.mtu == mtu
        });
        if keep {
            let dev = &guard.as_ref().expect("checked").device;
            if dev.set_private_key(*key) {
                tracing::info!(iface = %self.iface, "embedded interface: private key changed; sessions reset");
            }
            if dev.params() != params {
                tracing::info!(iface = %self.iface, "embedded interface: AmneziaWG parameters changed");
                dev.set_params(params)
                    .map_err(|detail| BackendError::InvalidInput {
                        what: "AmneziaWG parameters",
                        detail,
                    })?;
            }
            return Ok(());
        }
        // Port, address or MTU changed (or first start): rebuild, carrying the peers over.
        let peers: Vec<PeerConfig> = guard
            .as_ref()
            .map(|r| {
                r.device
                    .peers()
                    .into_iter()
                    .map(|s| PeerConfig {
                        public_key: s.public_key,
                        preshared_key: s.preshared_key,
                        allowed_ips: s.allowed_ips,
                        endpoint: s.endpoint,
                        persistent_keepalive: s.persistent_keepalive,
                    })
                    .collect()
            })
            .unwrap_or_default();
        *guard = None; // the old TUN and socket must be gone before the new ones bind
        let running = self.start(spec, *key, params)?;
        running.device.upsert_peers(peers);
        *guard = Some(running);
        Ok(())
    }

    async fn state(&self) -> Result<InterfaceState, BackendError> {
        let guard = self.lock();
        let r = guard.as_ref().ok_or_else(|| self.not_up())?;
        Ok(InterfaceState {
            public_key: Some(Key(r.device.public_key()).to_base64()),
            listen_port: Some(r.device.listen_port()),
            peers: r.device.peers().into_iter().map(peer_state).collect(),
        })
    }

    async fn apply(&self, diff: &PeerDiff) -> Result<(), BackendError> {
        // Everything is parsed before anything changes: a bad key changes nothing.
        let upserts = diff
            .add
            .iter()
            .chain(&diff.update)
            .map(peer_config)
            .collect::<Result<Vec<_>, _>>()?;
        let removals = diff
            .remove
            .iter()
            .map(|k| parse_public_key(k).map(|k| k.0))
            .collect::<Result<Vec<_>, _>>()?;
        let guard = self.lock();
        let r = guard.as_ref().ok_or_else(|| self.not_up())?;
        r.device.remove_peers(&removals);
        r.device.upsert_peers(upserts);
        Ok(())
    }

    async fn health(&self) -> BackendHealth {
        match self.lock().as_ref() {
            Some(r) => BackendHealth::Healthy {
                peers: r.device.peer_count(),
            },
            None => BackendHealth::Unavailable {
                reason: self.not_up().to_string(),
            },
        }
    }

    fn counters(&self) -> Vec<(&'static str, u64)> {
        self.metrics().map(|m| m.pairs()).unwrap_or_default()
    }

    fn name(&self) -> &'static str {
        "embedded"
    }
}

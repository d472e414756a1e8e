//! Wires the WireGuard/AmneziaWG reconciler (crates/dataplane) to the replicated state.
//!
//! - Desired state: this node's interface settings and the active awg/wireguard devices of
//!   enabled users assigned to it, read from the local SQLite (`ReadStore`).
//! - Kicks: every applied change that concerns this node; plus the reconciler's own timer.
//!   A change that names its device (`Change::Device`: issued or revoked) marks just that
//!   id dirty, and the change pass reads only the dirty rows; anything broader (node
//!   settings, a user enabled or disabled, a snapshot, a lagged subscriber) makes the next
//!   pass read the whole desired set.
//! - Outcomes: traffic/handshake observations become exactly-once `RecordCounters` reports; peers
//!   deleted on purpose in the Amnezia app become `RevokeDevice` commands.
//!
//! Runs on every node (each node converges its own data plane), leader or not: proposals
//! from followers are forwarded to the leader.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use tokio::sync::{mpsc, watch, Notify};
use vpnkeeper_cluster::Cluster;
use vpnkeeper_dataplane::reconciler::{
    Desired, DesiredSource, PassOutcome, PeerChanges, Reconciler,
};
use vpnkeeper_dataplane::{InterfaceSpec, Key, PeerSpec, SecretString};
use vpnkeeper_domain::secrets::{purpose, Sealer};
use vpnkeeper_domain::{Actor, Command, DeviceRef, Protocol};
use vpnkeeper_store::Change;

use crate::config::{Config, WgBackendKind};
use crate::dataplane_health::PassTracker;
use crate::usage_report::CounterReporter;

/// The running reconciler: its task, and the tracker `/health` and `/metrics` read.
pub struct WgService {
    pub handle: tokio::task::JoinHandle<()>,
    pub tracker: Arc<PassTracker>,
}

/// Starts the reconciler when a backend is configured; `None` for backend `none`.
pub fn spawn(
    cluster: &Cluster,
    config: &Config,
    sealer: Sealer,
    stop: watch::Receiver<bool>,
) -> Result<Option<WgService>> {
    let Some(backend) = vpnkeeper_dataplane::build_backend(&config.wireguard.backend_config())
        .context("wireguard backend")?
    else {
        return Ok(None);
    };
    let tracker = PassTracker::new(
        format!("wireguard:{}", config.wireguard.interface),
        backend.name(),
        Duration::from_secs(config.wireguard.reconcile_interval_secs),
    );
    let node_id = config.node.id;
    let source = Arc::new(StoreSource {
        cluster: cluster.clone(),
        node_id,
        sealer,
        manage_interface: config.wireguard.backend != WgBackendKind::AmneziaDocker,
        interface: config.wireguard.interface.clone(),
        keys: Mutex::new(HashMap::new()),
        dirty: Mutex::new(Dirty::default()),
    });
    let kick = Arc::new(Notify::new());
    let counters = backend.clone();
    let mut reconciler = Reconciler::new(backend);
    reconciler.interval = Duration::from_secs(config.wireguard.reconcile_interval_secs);
    reconciler.throttle = vpnkeeper_dataplane::reconciler::ObservationThrottle::new(
        Duration::from_secs(config.wireguard.usage_interval_secs),
    );
    let (tx, rx) = mpsc::channel(16);

    // Applied changes that concern this node → one more pass (kicks coalesce).
    let mut changes = cluster.read().subscribe();
    let kicker = kick.clone();
    let marker = source.clone();
    tokio::spawn(async move {
        loop {
            let dirty = match changes.recv().await {
                Ok(Change::Device {
                    node_id: n,
                    device_id,
                }) if n == node_id => Some(device_id),
                Ok(Change::Devices { node_id: n }) | Ok(Change::Node { node_id: n })
                    if n == node_id =>
                {
                    None
                }
                Ok(Change::All) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => None,
                Ok(_) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            };
            marker.mark_dirty(dirty);
            kicker.notify_one()
        }
    });

    let reporter = tokio::spawn(report_outcomes(
        cluster.clone(),
        node_id,
        source.clone(),
        tracker.clone(),
        counters,
        rx,
    ));
    let mut stop_rx = stop;
    let handle = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stop_rx.wait_for(|s| *s).await;
        };
        reconciler.run(source, kick, tx, shutdown).await;
        let _ = reporter.await;
    });
    Ok(Some(WgService { handle, tracker }))
}

struct StoreSource {
    cluster: Cluster,
    node_id: u64,
    sealer: Sealer,
    manage_interface: bool,
    interface: String,
    /// Public key → device id of the last desired set, to turn observations into usage.
    /// Raw keys, not base64 text: 40 bytes an entry instead of ~100 (20,000 peers).
    keys: Mutex<HashMap<Key, i64>>,
    /// What applied changes touched since the last read.
    dirty: Mutex<Dirty>,
}

/// Devices changed since the desired set was last read.
#[derive(Debug, Default)]
struct Dirty {
    /// Something not narrowed to devices changed: read everything.
    all: bool,
    ids: Vec<i64>,
}

const WG_PROTOCOLS: [Protocol; 2] = [Protocol::Awg, Protocol::Wireguard];

impl StoreSource {
    /// `Some(id)`: that device changed; `None`: anything of this node may have.
    fn mark_dirty(&self, device: Option<i64>) {
        let mut dirty = self.dirty.lock().expect("dirty lock");
        match device {
            Some(id) if !dirty.all => dirty.ids.push(id),
            Some(_) => {}
            None => {
                dirty.all = true;
                dirty.ids = Vec::new();
            }
        }
    }

    /// The peer a wanted device becomes; `None` (logged) when its row cannot make one.
    fn peer_of(
        &self,
        id: i64,
        name: &str,
        public: Option<&String>,
        address: Option<&str>,
        psk: Option<&vpnkeeper_domain::secrets::Sealed>,
    ) -> Option<PeerSpec> {
        let (Some(public), Some(addr)) = (public, address) else {
            return None;
        };
        let Ok(net) = addr.parse::<ipnet::IpNet>() else {
            tracing::warn!(device = id, "device has an unparsable address; skipped");
            return None;
        };
        let psk = match psk {
            Some(sealed) => match self.sealer.open_string(purpose::DEVICE_WG_PSK, sealed) {
                Ok(p) => Some(SecretString::new(p)),
                Err(_) => {
                    tracing::error!(
                        device = id,
                        "device preshared key cannot be opened; skipped"
                    );
                    return None;
                }
            },
            None => None,
        };
        let mut spec = PeerSpec::new(public.clone(), vec![net]);
        spec.preshared_key = psk;
        spec.label = Some(format!("{name} #{id}"));
        Some(spec)
    }
}

#[async_trait::async_trait]
impl DesiredSource for StoreSource {
    async fn desired(&self) -> Result<Desired, String> {
        // Everything changed so far is in what we read now.
        *self.dirty.lock().expect("dirty lock") = Dirty::default();
        let read = self.cluster.read();
        let node = read
            .node(self.node_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("node {} is not registered yet", self.node_id))?;
        let Some(wg) = node.wireguard else {
            return Ok(Desired::default());
        };
        let interface = if self.manage_interface {
            let sealed = wg
                .private_key
                .as_ref()
                .ok_or("the node has no WireGuard private key stored")?;
            let private = self
                .sealer
                .open_string(purpose::NODE_WG_PRIVATE_KEY, sealed)
                .map_err(|_| "the node's WireGuard key cannot be opened with this cluster key")?;
            let first = wg
                .address_pool
                .hosts()
                .next()
                .ok_or("the address pool has no host addresses")?;
            let address = ipnet::Ipv4Net::new(first, wg.address_pool.prefix_len())
                .map_err(|e| e.to_string())?;
            Some(InterfaceSpec {
                name: self.interface.clone(),
                private_key: SecretString::new(private),
                listen_port: wg.listen_port,
                address: address.into(),
                awg: wg.awg.as_ref().map(|p| p.to_uapi()),
                mtu: wg.mtu,
            })
        } else {
            None
        };
        let devices = read
            .desired_peers(self.node_id, &WG_PROTOCOLS)
            .await
            .map_err(|e| e.to_string())?;
        let mut peers = Vec::with_capacity(devices.len());
        let mut keys = HashMap::with_capacity(devices.len());
        for d in devices {
            let peer = self.peer_of(
                d.id,
                &d.name,
                d.wg_public_key.as_ref(),
                d.address_v4.as_deref(),
                d.wg_psk.as_ref(),
            );
            if let Some(spec) = peer {
                if let Some(key) = Key::from_base64(&spec.public_key) {
                    keys.insert(key, d.id);
                }
                peers.push(spec);
            }
        }
        *self.keys.lock().expect("keys lock") = keys;
        Ok(Desired { interface, peers })
    }

    /// Only the devices marked dirty since the last read, when nothing broader changed.
    async fn changes(&self) -> Result<Option<PeerChanges>, String> {
        let ids = {
            let mut dirty = self.dirty.lock().expect("dirty lock");
            if dirty.all {
                return Ok(None);
            }
            let mut ids = std::mem::take(&mut dirty.ids);
            ids.sort_unstable();
            ids.dedup();
            ids
        };
        if ids.is_empty() {
            return Ok(Some(PeerChanges::default()));
        }
        let rows = match self
            .cluster
            .read()
            .device_desires(self.node_id, &WG_PROTOCOLS, &ids)
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                // Those ids are no longer marked: the next pass must read everything.
                self.mark_dirty(None);
                return Err(e.to_string());
            }
        };
        let mut changes = PeerChanges::default();
        let mut keys = self.keys.lock().expect("keys lock");
        for row in &rows {
            let peer = row.wanted.then(|| {
                self.peer_of(
                    row.id,
                    &row.name,
                    row.wg_public_key.as_ref(),
                    row.address_v4.as_deref(),
                    row.wg_psk.as_ref(),
                )
            });
            match peer.flatten() {
                Some(spec) => {
                    if let Some(key) = Key::from_base64(&spec.public_key) {
                        keys.insert(key, row.id);
                    }
                    changes.upsert.push(spec);
                }
                None => {
                    if let Some(public) = &row.wg_public_key {
                        if let Some(key) = Key::from_base64(public) {
                            keys.remove(&key);
                        }
                        changes.remove.push(public.clone());
                    }
                }
            }
        }
        // Rows gone altogether: their peers go too.
        if rows.len() < ids.len() {
            let found: std::collections::HashSet<i64> = rows.iter().map(|r| r.id).collect();
            keys.retain(|public, id| {
                let gone = ids.binary_search(id).is_ok() && !found.contains(id);
                if gone {
                    changes.remove.push(public.to_base64());
                }
                !gone
            });
        }
        Ok(Some(changes))
    }
}

/// Turns pass outcomes into commands. Counters from the data plane are totals per peer
/// lifetime; `CounterReporter` makes them exactly-once `RecordCounters` reports (see
/// usage_report.rs), whatever restarts in between.
async fn report_outcomes(
    cluster: Cluster,
    node_id: u64,
    source: Arc<StoreSource>,
    tracker: Arc<PassTracker>,
    backend: Arc<dyn vpnkeeper_dataplane::WgBackend>,
    mut rx: mpsc::Receiver<PassOutcome>,
) {
    let mut usage = CounterReporter::start(&cluster, node_id).await;
    let mut revoked_in_app: HashMap<String, Instant> = HashMap::new();
    while let Some(outcome) = rx.recv().await {
        let (report, observations) = match outcome {
            PassOutcome::Synced {
                report,
                observations,
                peers,
                took,
                full,
            } => {
                if full {
                    give_back_freed_heap().await;
                }
                tracker.pass_ok(took, format!("{peers} peers"));
                export_counters(backend.as_ref());
                (report, observations)
            }
            PassOutcome::Failed { error, .. } => {
                tracker.pass_failed(error);
                continue;
            }
        };
        // Change passes report neither: no need to look at the (20k-entry) key map.
        if observations.is_empty() && report.deleted_in_app.is_empty() {
            continue;
        }
        // Device ids of the observed and deleted peers only: no copy of the 20k-entry map.
        let (entries, deleted) = {
            let keys = source.keys.lock().expect("keys lock");
            let id_of = |public: &str| keys.get(&Key::from_base64(public)?).copied();
            // Peers that left the desired set left the data plane, and their counters too.
            let wanted: std::collections::HashSet<i64> = keys.values().copied().collect();
            usage.retain(|id| wanted.contains(&id));
            let entries: Vec<_> = observations
                .into_iter()
                .filter_map(|o| {
                    let device_id = id_of(&o.public_key)?;
                    let handshake_ms = o.last_handshake_unix.map(|s| s * 1000);
                    usage.observe(device_id, o.rx_bytes, o.tx_bytes, handshake_ms)
                })
                .collect();
            let deleted: Vec<(String, i64)> = report
                .deleted_in_app
                .into_iter()
                .filter_map(|public| {
                    let id = id_of(&public)?;
                    Some((public, id))
                })
                .collect();
            (entries, deleted)
        };
        usage.submit(&cluster, entries).await;
        // The Amnezia app deleted these on purpose: revoke them in our state too, once.
        for (public, device_id) in deleted {
            if revoked_in_app
                .get(&public)
                .is_some_and(|t| t.elapsed() < Duration::from_secs(300))
            {
                continue;
            }
            revoked_in_app.insert(public, Instant::now());
            tracing::info!(
                device = device_id,
                "peer deleted in the Amnezia app; revoking the device"
            );
            propose(
                &cluster,
                node_id,
                Command::RevokeDevice {
                    device: DeviceRef::Id(device_id),
                },
            )
            .await;
        }
    }
}

/// Returns the heap a full pass freed to the OS. A full pass builds the whole desired set,
/// the interface's state and their diff (tens of thousands of small allocations) and frees
/// them; glibc keeps such memory resident in the middle of its heaps for good, so without
/// this a node's idle RSS carries the high-water mark of its last full pass. malloc_trim
/// walks the free lists (a few ms); full passes come every `reconcile_interval_secs`.
async fn give_back_freed_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    let _ = tokio::task::spawn_blocking(|| {
        // SAFETY: malloc_trim only hands free pages back to the kernel; thread-safe.
        unsafe { libc::malloc_trim(0) }
    })
    .await;
}

/// The data plane's own counters (the embedded plane's drops by reason, handshakes, junk)
/// as `vpnkeeper_dataplane_events_total{backend, what}` on /metrics.
fn export_counters(backend: &dyn vpnkeeper_dataplane::WgBackend) {
    for (what, value) in backend.counters() {
        metrics::counter!("vpnkeeper_dataplane_events_total", "backend" => backend.name(), "what" => what)
            .absolute(value);
    }
}

async fn propose(cluster: &Cluster, node_id: u64, command: Command) {
    match cluster.submit(Actor::System { node_id }, command).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "data-plane report refused"),
        Err(e) => tracing::warn!(error = %e, "data-plane report not committed; will report again"),
    }
}

//! Wires the Xray data plane (crates/xray) to the replicated state.
//!
//! Desired = the active vless devices of enabled users on this node, as Xray users named
//! `dev-<device id>`. The difference is applied through Xray's gRPC API, never by
//! restarting Xray. Removed users' live connections are cut by the crate. Traffic deltas
//! (QueryStats with reset) are reported as exactly-once `RecordCounters` reports.
//!
//! Cost model (a burst of 32 clients adding devices must not leave the node busy):
//! - Applied changes only mark what they touched ([`Pending`]); one change pass serves every
//!   change queued so far, and passes start at least [`CHANGE_PASS_GAP`] (and twice the last
//!   pass's duration) apart. When only single devices were issued or revoked
//!   (`Change::Device`), the pass reads just those rows and sends their difference to what
//!   the last pass left in Xray (in memory): O(change), no `GetInboundUsers`, no file write.
//!   Anything broader (a user enabled/disabled, node settings, a snapshot, a lagged
//!   subscriber) reads the whole desired set and diffs it in memory.
//! - Full passes (start, every Xray (re)start, the drift timer) read Xray's users back.
//! - The config file (the fallback a restarted Xray loads) is rewritten debounced
//!   ([`FILE_DEBOUNCE`], at most [`FILE_MAX_DELAY`] late), and only if its bytes changed.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use tokio::sync::watch;
use vpnkeeper_cluster::Cluster;
use vpnkeeper_domain::secrets::{purpose, Sealer};
use vpnkeeper_domain::Protocol;
use vpnkeeper_store::Change;
use vpnkeeper_xray::settings::Secret;
use vpnkeeper_xray::{
    AccessLog, ConfigFile, Cutter, ReconcileReport, Supervisor, SupervisorConfig, UserSync,
    XrayApi, XrayNode, XraySettings, XrayUser,
};

use crate::config::Config;
use crate::dataplane_health::PassTracker;
use crate::usage_report::CounterReporter;

/// The Xray user name of a device: stable, and parseable back to the device id.
pub fn email_of(device_id: i64) -> String {
    format!("dev-{device_id}")
}

fn device_of(email: &str) -> Option<i64> {
    email.strip_prefix("dev-")?.parse().ok()
}

/// The Xray service: its task, and the tracker `/health` and `/metrics` read.
pub struct XrayService {
    pub handle: tokio::task::JoinHandle<()>,
    pub tracker: Arc<PassTracker>,
}

/// Starts the Xray service when `[xray] enabled`. It needs this node's registration (with
/// its Reality keys) in the state; until that is there, or while the settings cannot be
/// used, it retries with backoff (2 s up to 60 s) and `/health` says why.
pub fn spawn(
    cluster: &Cluster,
    config: &Config,
    data_dir: &std::path::Path,
    sealer: &Sealer,
    mut stop: watch::Receiver<bool>,
) -> Option<XrayService> {
    if !config.xray.enabled {
        return None;
    }
    let tracker = PassTracker::new(
        "xray",
        "xray",
        Duration::from_secs(config.xray.reconcile_interval_secs),
    );
    let (cluster, config, data_dir, sealer) = (
        cluster.clone(),
        config.clone(),
        data_dir.to_path_buf(),
        sealer.clone(),
    );
    let t = tracker.clone();
    let handle = tokio::spawn(async move {
        let mut delay = Duration::from_secs(2);
        let started = loop {
            match start(&cluster, &config, &data_dir, &sealer).await {
                Ok(started) => break started,
                Err(e) => {
                    let reason = format!("{e:#}");
                    tracing::error!(error = %reason, retry_in_s = delay.as_secs(), "xray service not started");
                    t.not_started(reason);
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = async { let _ = stop.wait_for(|s| *s).await; } => return,
            }
            delay = (delay * 2).min(Duration::from_secs(60));
        };
        tracing::info!(port = config.xray.port, api = %config.xray.api_addr, "xray service started");
        run_loop(
            cluster,
            config.node.id,
            started,
            config.xray.reconcile_interval_secs,
            config.xray.usage_interval_secs,
            t,
            stop,
        )
        .await;
    });
    Some(XrayService { handle, tracker })
}

/// What a started Xray service runs with.
struct Started {
    settings: XraySettings,
    xnode: XrayNode,
    supervisor: Option<Arc<Supervisor>>,
    /// The config file, as written at start.
    file: ConfigFile,
}

async fn start(
    cluster: &Cluster,
    config: &Config,
    data_dir: &std::path::Path,
    sealer: &Sealer,
) -> Result<Started> {
    let node_id = config.node.id;
    let node = cluster
        .read()
        .node(node_id)
        .await?
        .ok_or_else(|| anyhow!("node {node_id} is not registered yet"))?;
    let nx = node
        .xray_settings()
        .ok_or_else(|| anyhow!("node {node_id} has no Xray settings in the state yet"))?;
    let sealed = nx
        .reality_private_key
        .as_ref()
        .ok_or_else(|| anyhow!("node {node_id} has no Reality private key stored"))?;
    let private = sealer
        .open_string(purpose::NODE_REALITY_PRIVATE_KEY, sealed)
        .map_err(|_| anyhow!("the Reality private key cannot be opened with this cluster key"))?;
    let settings = config.xray.settings(
        data_dir,
        Secret::new(private),
        nx.reality_public_key.clone(),
        nx.short_ids.clone(),
    );
    settings
        .validate()
        .map_err(|e| anyhow!("xray settings: {e}"))?;

    // The config file carries every current user, so an Xray (re)started from it serves
    // them even before the reconciler has run: a fallback, not the mechanism.
    let users = desired_users(cluster, node_id).await?;
    let config = vpnkeeper_xray::render_server_config(&settings, &users, access_log(&settings))
        .map_err(|e| anyhow!("xray config: {e}"))?;
    let config_path =
        vpnkeeper_xray::install_config(&config, settings.command.as_deref(), &settings.config_dir)
            .await
            .context("writing the Xray config")?;
    let mut file = ConfigFile::new(&settings.config_dir);
    file.written(&config);

    let supervisor = match &settings.command {
        Some(command) => Some(
            Supervisor::spawn(SupervisorConfig::new(
                command.clone(),
                config_path,
                settings.api_addr,
            ))
            .context("starting Xray")?,
        ),
        None => None,
    };
    let tracker = supervisor.as_ref().map(|s| s.tracker());
    let xnode = XrayNode::spawn(
        XrayApi::new(settings.api_addr),
        settings.inbound_tag.clone(),
        Cutter::from_settings(&settings, tracker),
    );
    Ok(Started {
        settings,
        xnode,
        supervisor,
        file,
    })
}

/// A supervised Xray logs its accesses to stdout, where the supervisor reads them to know
/// each user's client addresses (for cutting live connections); an external one does not.
fn access_log(settings: &XraySettings) -> AccessLog {
    if settings.command.is_some() {
        AccessLog::Stdout
    } else {
        AccessLog::Off
    }
}

/// Every active VLESS device of an enabled user, whichever node it was placed on: each
/// node running Xray serves all of them with the same UUID (one link per node in the
/// subscription, as in Marzban). `_node_id`: kept for when placement narrows this again.
async fn desired_users(cluster: &Cluster, _node_id: u64) -> Result<Vec<XrayUser>> {
    let devices = cluster
        .read()
        .desired_devices_everywhere(Protocol::Vless)
        .await?;
    Ok(devices
        .into_iter()
        .map(|d| XrayUser::vision(email_of(d.id), d.uuid))
        .collect())
}

/// A burst of applied changes is sent to Xray at most this often: changes arriving in
/// between coalesce into the next pass. An isolated change goes out at once.
const CHANGE_PASS_GAP: Duration = Duration::from_millis(100);
/// The config file is rewritten this long after the last change to its users...
const FILE_DEBOUNCE: Duration = Duration::from_secs(2);
/// ...but no later than this after the first one, so a steady trickle still lands.
const FILE_MAX_DELAY: Duration = Duration::from_secs(10);

/// Why a pass runs: a change (fast path: only the difference is sent) or a full one
/// (start, Xray restart, drift timer: Xray's users are read back first).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pass {
    Change,
    Full,
}

/// Changes after this many distinct devices in one pass are read as a whole desired set:
/// past that, one query of every device is cheaper than many of a few.
const MAX_PATCH: usize = 5_000;

/// What applied changes touched since the last change pass.
#[derive(Debug, Default, PartialEq, Eq)]
enum Pending {
    #[default]
    Nothing,
    /// Only these devices were issued or revoked.
    Devices(HashSet<i64>),
    /// Anything may have changed: read the whole desired set.
    All,
}

impl Pending {
    fn device(&mut self, id: i64) {
        match self {
            Pending::Nothing => *self = Pending::Devices(HashSet::from([id])),
            Pending::Devices(ids) if ids.len() < MAX_PATCH => {
                ids.insert(id);
            }
            Pending::Devices(_) => *self = Pending::All,
            Pending::All => {}
        }
    }

    /// Folds `other` (what a failed pass took) back in.
    fn merge(&mut self, other: Pending) {
        match other {
            Pending::Nothing => {}
            Pending::All => *self = Pending::All,
            Pending::Devices(ids) => ids.into_iter().for_each(|id| self.device(id)),
        }
    }

    fn is_some(&self) -> bool {
        *self != Pending::Nothing
    }

    /// Notes one applied change. A VLESS user is served by every Xray node, wherever the
    /// device was placed: a change of any node's devices may concern this one.
    fn note(&mut self, change: &Change) {
        match change {
            Change::Device { device_id, .. } => self.device(*device_id),
            Change::Devices { .. } | Change::All => *self = Pending::All,
            Change::Node { .. } => {}
        }
    }
}

/// Why a pass failed: the store could not be read, or Xray's API refused or was away.
enum PassError {
    Read(String),
    Xray(vpnkeeper_xray::XrayError),
}

/// The service loop's state between events.
struct Service {
    cluster: Cluster,
    node_id: u64,
    settings: XraySettings,
    sync: UserSync,
    file: ConfigFile,
    tracker: Arc<PassTracker>,
    /// What changed since the last change pass.
    pending: Pending,
    /// The next change pass may not start before this.
    next_change_at: tokio::time::Instant,
    /// When the config file is due, if its users changed: (debounced deadline, hard one).
    file_due: Option<(tokio::time::Instant, tokio::time::Instant)>,
}

async fn run_loop(
    cluster: Cluster,
    node_id: u64,
    started: Started,
    reconcile_secs: u64,
    usage_secs: u64,
    tracker: Arc<PassTracker>,
    mut stop: watch::Receiver<bool>,
) {
    let Started {
        settings,
        xnode,
        supervisor,
        file,
    } = started;
    let mut changes = cluster.read().subscribe();
    let mut starts = supervisor.as_ref().map(|s| s.starts());
    let mut repair = tokio::time::interval(Duration::from_secs(reconcile_secs));
    repair.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut usage = tokio::time::interval(Duration::from_secs(usage_secs));
    usage.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reporter = CounterReporter::start(&cluster, node_id).await;
    let mut svc = Service {
        cluster,
        node_id,
        settings,
        sync: UserSync::new(xnode),
        file,
        tracker,
        pending: Pending::Nothing,
        next_change_at: tokio::time::Instant::now(),
        file_due: None,
    };
    let far = || tokio::time::Instant::now() + Duration::from_secs(3600);
    loop {
        let change_at = svc.next_change_at;
        let file_at = svc.file_due.map_or_else(far, |(soft, hard)| soft.min(hard));
        tokio::select! {
            // The watch guard must not live in select's output (it is not Send).
            _ = async { let _ = stop.wait_for(|s| *s).await; } => break,
            _ = repair.tick() => svc.pass(Pass::Full).await,
            _ = usage.tick() => report_usage(&svc.cluster, &mut reporter, svc.sync.node()).await,
            change = changes.recv() => match change {
                Ok(c) => svc.pending.note(&c),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    svc.pending = Pending::All
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            },
            // Every change queued so far is folded into this one pass.
            _ = tokio::time::sleep_until(change_at), if svc.pending.is_some() => svc.pass(Pass::Change).await,
            _ = tokio::time::sleep_until(file_at), if svc.file_due.is_some() => svc.write_file().await,
            Some(()) = async {
                match starts.as_mut() {
                    Some(rx) => rx.changed().await.ok(),
                    None => std::future::pending().await,
                }
            } => {
                // A (re)started Xray knows only its config file's users: read them back.
                svc.sync.forget();
                svc.pass(Pass::Full).await;
            }
        }
    }
    if svc.file_due.is_some() {
        svc.write_file().await;
    }
    report_usage(&svc.cluster, &mut reporter, svc.sync.node()).await;
    if let Some(s) = supervisor {
        s.shutdown().await;
    }
}

impl Service {
    async fn pass(&mut self, kind: Pass) {
        // Taken before the read: a change applied during the pass marks it again.
        let pending = std::mem::take(&mut self.pending);
        let started = tokio::time::Instant::now();
        if kind == Pass::Change {
            self.next_change_at = started + CHANGE_PASS_GAP;
        }
        let t = std::time::Instant::now();
        let result = match pending {
            Pending::Devices(ids) if kind == Pass::Change && self.sync.converged().is_some() => {
                self.patch(ids).await
            }
            // A full pass serves every change too.
            pending => self.converge(kind, pending).await,
        };
        if kind == Pass::Change {
            // A pass slower than the gap (a large desired set on a busy machine) is given
            // as long again: the service never takes more than half a core to a burst.
            self.next_change_at = self.next_change_at.max(started + 2 * started.elapsed());
        }
        match result {
            Ok(r) => {
                if r.added + r.removed > 0 {
                    tracing::info!(
                        added = r.added,
                        removed = r.removed,
                        cut_sockets = r.cut_sockets,
                        full = kind == Pass::Full,
                        "xray users converged"
                    );
                    self.file_changed();
                }
                let count = r.added + r.unchanged;
                self.tracker.pass_ok(t.elapsed(), format!("{count} users"));
            }
            Err(PassError::Read(e)) => {
                tracing::warn!(error = %e, "reading desired xray users failed");
                self.tracker
                    .pass_failed(format!("reading the desired users: {e}"));
            }
            Err(PassError::Xray(e)) => {
                // Expected for a moment while a supervised Xray restarts; /health and the
                // backend error counter show it if it lasts.
                tracing::debug!(error = %e, "xray reconcile failed; retrying on the next tick");
                self.tracker
                    .pass_failed(format!("xray API {}: {e}", self.settings.api_addr));
            }
        }
    }

    /// The change pass of single devices: reads just their rows and sends their difference
    /// to what Xray holds, O(change). A failed read puts them back for the next pass.
    async fn patch(&mut self, ids: HashSet<i64>) -> Result<ReconcileReport, PassError> {
        let list: Vec<i64> = ids.iter().copied().collect();
        let wants = match self
            .cluster
            .read()
            .device_wants_everywhere(Protocol::Vless, &list)
            .await
        {
            Ok(w) => w,
            Err(e) => {
                self.pending.merge(Pending::Devices(ids));
                return Err(PassError::Read(e.to_string()));
            }
        };
        // A device with no row (deleted) or no longer served: Xray must not hold it.
        let mut changes: HashMap<String, Option<XrayUser>> =
            list.iter().map(|id| (email_of(*id), None)).collect();
        for w in wants.into_iter().filter(|w| w.wanted) {
            let email = email_of(w.id);
            changes.insert(email.clone(), Some(XrayUser::vision(email, w.uuid)));
        }
        match self.sync.patch(changes).await.map_err(PassError::Xray)? {
            Some(report) => Ok(report),
            // No trusted base after all: read everything.
            None => self.converge(Pass::Change, Pending::All).await,
        }
    }

    /// A pass over the whole desired set: a full one reads Xray's users back, a change one
    /// diffs against the remembered base in memory. `pending`: what this pass serves, put
    /// back if the desired set cannot be read.
    async fn converge(
        &mut self,
        kind: Pass,
        pending: Pending,
    ) -> Result<ReconcileReport, PassError> {
        let users = match desired_users(&self.cluster, self.node_id).await {
            Ok(u) => u,
            Err(e) => {
                if kind == Pass::Change {
                    self.pending.merge(pending);
                }
                return Err(PassError::Read(e.to_string()));
            }
        };
        match kind {
            Pass::Change => self.sync.change_pass(users).await,
            Pass::Full => self.sync.full_pass(users).await,
        }
        .map_err(PassError::Xray)
    }

    /// Debounce the config file: due [`FILE_DEBOUNCE`] after the latest change, at most
    /// [`FILE_MAX_DELAY`] after the first one not yet written.
    fn file_changed(&mut self) {
        let now = tokio::time::Instant::now();
        let hard = self.file_due.map_or(now + FILE_MAX_DELAY, |(_, hard)| hard);
        self.file_due = Some((now + FILE_DEBOUNCE, hard));
    }

    /// Keeps the fallback config in step with the users Xray holds, without a test
    /// instance: only the user list changed, and users are validated by the renderer.
    async fn write_file(&mut self) {
        self.file_due = None;
        let users = match self.sync.converged() {
            Some(users) => sorted_users(users.values().cloned()),
            None => match desired_users(&self.cluster, self.node_id).await {
                Ok(u) => u,
                Err(e) => {
                    tracing::warn!(error = %e, "reading desired xray users failed");
                    self.file_changed();
                    return;
                }
            },
        };
        let written = vpnkeeper_xray::render_server_config(
            &self.settings,
            &users,
            access_log(&self.settings),
        )
        .map_err(|e| anyhow!("{e}"))
        .and_then(|c| self.file.write_if_changed(&c).map_err(|e| anyhow!("{e}")));
        match written {
            Ok(true) => tracing::debug!(users = users.len(), "xray config file rewritten"),
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "could not rewrite the xray config file"),
        }
    }
}

/// In device order, as the store lists them, so the same users make the same file.
fn sorted_users(users: impl IntoIterator<Item = XrayUser>) -> Vec<XrayUser> {
    let mut users: Vec<XrayUser> = users.into_iter().collect();
    users.sort_by(|a, b| (device_of(&a.email), &a.email).cmp(&(device_of(&b.email), &b.email)));
    users
}

/// Xray's stats reset when read: this run accumulates them into totals (see
/// usage_report.rs), so a report that does not commit is counted with the next one.
async fn report_usage(cluster: &Cluster, usage: &mut CounterReporter, xnode: &XrayNode) {
    let traffic = match xnode.collect_traffic().await {
        Ok(t) => t,
        Err(e) => {
            tracing::debug!(error = %e, "xray traffic query failed");
            return;
        }
    };
    let entries: Vec<_> = traffic
        .into_iter()
        .filter(|(_, t)| t.uplink + t.downlink > 0)
        .filter_map(|(email, t)| Some(usage.add(device_of(&email)?, t.uplink, t.downlink)))
        .collect();
    usage.submit(cluster, entries).await;
}

#[cfg(test)]
mod tests {
    use super::{Change, Pending, MAX_PATCH};
    use std::collections::HashSet;

    #[test]
    fn single_device_changes_stay_narrow_and_anything_broader_reads_all() {
        let mut p = Pending::default();
        assert!(!p.is_some());
        p.note(&Change::Node { node_id: 1 });
        assert_eq!(
            p,
            Pending::Nothing,
            "node settings do not change VLESS users"
        );
        p.note(&Change::Device {
            node_id: 1,
            device_id: 7,
        });
        p.note(&Change::Device {
            node_id: 2,
            device_id: 9,
        });
        p.note(&Change::Device {
            node_id: 1,
            device_id: 7,
        });
        assert_eq!(p, Pending::Devices(HashSet::from([7, 9])));
        p.note(&Change::Devices { node_id: 3 });
        assert_eq!(p, Pending::All);
        p.note(&Change::Device {
            node_id: 1,
            device_id: 8,
        });
        assert_eq!(
            p,
            Pending::All,
            "a narrower change does not narrow a broad one"
        );
        let mut q = Pending::default();
        q.note(&Change::All);
        assert_eq!(q, Pending::All);
    }

    #[test]
    fn a_failed_pass_puts_its_devices_back_and_many_devices_become_all() {
        let mut p = Pending::Devices(HashSet::from([1]));
        p.merge(Pending::Devices(HashSet::from([2, 3])));
        assert_eq!(p, Pending::Devices(HashSet::from([1, 2, 3])));
        p.merge(Pending::Nothing);
        assert_eq!(p, Pending::Devices(HashSet::from([1, 2, 3])));
        let mut many = Pending::default();
        for id in 0..=MAX_PATCH as i64 {
            many.device(id);
        }
        assert_eq!(many, Pending::All);
    }

    #[test]
    fn email_round_trip() {
        assert_eq!(super::device_of(&super::email_of(42)), Some(42));
        assert_eq!(super::device_of("admin"), None);
    }
}

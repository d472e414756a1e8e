//! The loop that keeps a backend converged, and the throttle for observations.
//!
//! Store-agnostic: the caller supplies the desired state through [`DesiredSource`] (read
//! from the local SQLite by the wiring code), kicks the loop when an applied log entry
//! touches this node, and receives each pass's [`PassOutcome`] on a channel, from which it
//! proposes revokes (`deleted_in_app`) and observation Commands.
//!
//! A pass runs at start, on every kick, and on a timer (drift repair). Kicks that arrive
//! during a pass coalesce into one more pass, so a burst of 1,000 applied entries costs
//! two passes, not 1,000.
//!
//! Timer passes are full: read the interface, diff, apply, observe. A kick (an applied
//! change) takes the fast path when the backend allows it: the new desired state is diffed
//! against what the last pass left, and only that difference is sent, with no read of the
//! interface first; on a 10k-peer interface that is a few milliseconds instead of the
//! ~150 ms a full read costs. Anything the fast path cannot vouch for (a changed interface,
//! a failed apply, no earlier pass) falls back to a full pass, and drift made behind our
//! back is the timer's job either way.
//!
//! A change pass reads only what changed when the source can name it
//! ([`DesiredSource::changes`]: in vpnkeeper, the devices the applied entries issued or
//! revoked), so it costs O(change), not O(devices); otherwise (node settings, a user
//! enabled or disabled, a snapshot) it reads the whole desired set.
//!
//! Change passes are paced: one starts at least [`Reconciler::change_gap`] (and twice the
//! last change pass's duration) after the previous one started, so under a write burst
//! the passes that do read everything cannot take a core away from the API and the log,
//! and a burst still ends in one pass that carries all of it.

use std::collections::HashMap;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Notify};

use crate::model::{
    canonical_key, InterfaceSpec, InterfaceState, Key, PeerDiff, PeerSpec, PskFingerprint,
};
use crate::{SyncReport, WgBackend};

/// What the control plane wants on this node.
#[derive(Clone, Debug, Default)]
pub struct Desired {
    /// `None` leaves the interface itself alone (Amnezia container, or not yet known).
    pub interface: Option<InterfaceSpec>,
    pub peers: Vec<PeerSpec>,
}

/// Where the desired state comes from (the store, in vpnkeeper).
#[async_trait::async_trait]
pub trait DesiredSource: Send + Sync {
    /// One-line error text on failure; the pass is skipped and retried on the next tick.
    async fn desired(&self) -> Result<Desired, String>;

    /// The peers that changed since the last `desired` or `changes` call, when the source
    /// can tell without reading everything (O(change)); `Ok(None)` = it cannot (the
    /// interface or an unknown set of peers may have changed): the pass reads `desired`.
    /// Asked only on change passes that have a converged base to apply the difference to.
    async fn changes(&self) -> Result<Option<PeerChanges>, String> {
        Ok(None)
    }
}

/// The peers one change pass touches, as the source found them now.
#[derive(Clone, Debug, Default)]
pub struct PeerChanges {
    /// Peers to be on the interface with this configuration (new or possibly changed).
    pub upsert: Vec<PeerSpec>,
    /// Public keys of peers to be off the interface.
    pub remove: Vec<String>,
}

/// One peer's counters worth reporting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    pub public_key: String,
    pub last_handshake_unix: Option<i64>,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
}

/// The result of one pass.
#[derive(Clone, Debug)]
pub enum PassOutcome {
    Synced {
        report: SyncReport,
        /// Only peers whose figures moved enough since they were last reported.
        observations: Vec<Observation>,
        /// Peers on the interface after the pass.
        peers: usize,
        took: Duration,
        /// A full pass (the whole desired set and the interface were read), as opposed to
        /// a change pass: the one that allocates in proportion to the peers.
        full: bool,
    },
    /// The pass failed; `unavailable` = the daemon/tool/container is not there (expected
    /// during restarts) rather than a rejected change.
    Failed { error: String, unavailable: bool },
}

/// Rate-limits observations so 10k peers do not flood the Raft log: a peer is reported
/// when first seen with traffic, then at most once per `min_interval`, and only if its
/// handshake or counters changed. Idle peers cost nothing.
#[derive(Debug)]
pub struct ObservationThrottle {
    min_interval: Duration,
    last: HashMap<String, (Observation, Instant)>,
}

impl ObservationThrottle {
    pub fn new(min_interval: Duration) -> Self {
        ObservationThrottle {
            min_interval,
            last: HashMap::new(),
        }
    }

    /// The observations to report from `state` at `now`.
    pub fn filter(&mut self, state: &InterfaceState, now: Instant) -> Vec<Observation> {
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for p in &state.peers {
            let key = canonical_key(&p.public_key);
            seen.insert(key.clone());
            let obs = Observation {
                public_key: key.clone(),
                last_handshake_unix: p.last_handshake_unix,
                rx_bytes: p.rx_bytes,
                tx_bytes: p.tx_bytes,
            };
            let due = match self.last.get(&key) {
                // Never seen: report once it has done anything at all.
                None => obs.last_handshake_unix.is_some() || obs.rx_bytes > 0 || obs.tx_bytes > 0,
                Some((prev, at)) => {
                    // Counters going down mean the daemon restarted: report at once so the
                    // accounting can add up across the restart.
                    let reset = obs.rx_bytes < prev.rx_bytes || obs.tx_bytes < prev.tx_bytes;
                    reset || (*prev != obs && now.duration_since(*at) >= self.min_interval)
                }
            };
            if due {
                self.last.insert(key, (obs.clone(), now));
                out.push(obs);
            }
        }
        // Forget removed peers so the map does not grow forever.
        self.last.retain(|k, _| seen.contains(k));
        out
    }
}

/// Default [`Reconciler::change_gap`]: a new device's peer is on the interface within about
/// this long of being applied, and a burst costs at most ten reads of the desired set per
/// second (measured: with one pass per kick, 32 API clients adding devices got 1,860/s; the
/// reconciler's reads and key decryption took most of a core).
pub const DEFAULT_CHANGE_GAP: Duration = Duration::from_millis(100);

/// Drives one backend.
pub struct Reconciler {
    pub backend: Arc<dyn WgBackend>,
    /// Drift-repair period (the default: 10 s).
    pub interval: Duration,
    pub throttle: ObservationThrottle,
    /// Least time between the starts of two change passes (see the module doc).
    pub change_gap: Duration,
    /// What the last successful pass left on the interface: the base of the fast path.
    converged: Option<Converged>,
}

/// The desired state a pass converged the interface to, kept lean: per peer only what
/// tells whether a desired peer differs from it ([`PeerDigest`]), no labels, no secrets.
/// With 20,000 peers the full `PeerSpec`s (five heap strings/vectors each) cost ~8 MB of
/// a node's idle memory; key + digest is ~1.3 MB.
struct Converged {
    interface: Option<InterfaceSpec>,
    peers: HashMap<Key, PeerDigest>,
}

/// A digest of a peer's configuration as the interface holds it: allowed IPs (normalised),
/// the PSK (through its one-way fingerprint, so no secret is kept), keepalive (0 = off);
/// not the label, which only some backends keep. Equal digests = same configuration, up to
/// a 64-bit hash collision, which at worst delays an update to the timer's full pass (that
/// compares with what the interface reports, not with this).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PeerDigest(u64);

impl PeerDigest {
    fn of(p: &PeerSpec) -> PeerDigest {
        let mut h = std::hash::DefaultHasher::new();
        crate::model::normalize_ips(&p.allowed_ips).hash(&mut h);
        p.preshared_key
            .as_ref()
            .map(PskFingerprint::of_secret)
            .hash(&mut h);
        p.persistent_keepalive.unwrap_or(0).hash(&mut h);
        PeerDigest(h.finish())
    }
}

/// Desired peers by public key (the last of duplicates wins); unparseable keys are left
/// out of the base (applying them fails, which makes the next pass a full one anyway).
fn by_key(peers: Vec<PeerSpec>) -> HashMap<Key, PeerSpec> {
    peers
        .into_iter()
        .filter_map(|p| Some((Key::from_base64(&p.public_key)?, p)))
        .collect()
}

/// The base a full pass leaves: each desired peer's digest (the last of duplicates wins).
fn digests(peers: &[PeerSpec]) -> HashMap<Key, PeerDigest> {
    peers
        .iter()
        .filter_map(|p| Some((Key::from_base64(&p.public_key)?, PeerDigest::of(p))))
        .collect()
}

/// What turns `from` into `to`.
fn delta(from: &HashMap<Key, PeerDigest>, to: HashMap<Key, PeerSpec>) -> PeerDiff {
    let mut d = PeerDiff {
        remove: from
            .keys()
            .filter(|k| !to.contains_key(*k))
            .map(Key::to_base64)
            .collect(),
        ..PeerDiff::default()
    };
    for (key, spec) in to {
        match from.get(&key) {
            None => d.add.push(spec),
            Some(old) if *old != PeerDigest::of(&spec) => d.update.push(spec),
            Some(_) => {}
        }
    }
    d
}

impl Reconciler {
    pub fn new(backend: Arc<dyn WgBackend>) -> Self {
        Reconciler {
            backend,
            interval: Duration::from_secs(10),
            throttle: ObservationThrottle::new(Duration::from_secs(60)),
            change_gap: DEFAULT_CHANGE_GAP,
            converged: None,
        }
    }

    async fn read_desired(source: &dyn DesiredSource) -> Result<Desired, PassOutcome> {
        source.desired().await.map_err(|e| PassOutcome::Failed {
            error: format!("reading the desired state: {e}"),
            unavailable: false,
        })
    }

    /// A full pass: interface, read, diff, apply, observations.
    pub async fn pass(&mut self, source: &dyn DesiredSource) -> PassOutcome {
        let t = Instant::now();
        match Self::read_desired(source).await {
            Ok(desired) => self.full_pass(desired, t).await,
            Err(failed) => failed,
        }
    }

    /// A pass for an applied change: only the difference to the last pass is sent, when the
    /// backend allows it and nothing but peers changed; otherwise a full pass. No
    /// observations (the timer's full passes make them). When the source can name what
    /// changed ([`DesiredSource::changes`]), only that is read.
    pub async fn change_pass(&mut self, source: &dyn DesiredSource) -> PassOutcome {
        let t = Instant::now();
        if self.backend.incremental() && self.converged.is_some() {
            match source.changes().await {
                Ok(Some(changes)) => {
                    let d = self.changes_delta(changes);
                    return self.send_delta(d, t).await;
                }
                Ok(None) => {}
                Err(e) => {
                    return PassOutcome::Failed {
                        error: format!("reading the changed devices: {e}"),
                        unavailable: false,
                    }
                }
            }
        }
        let desired = match Self::read_desired(source).await {
            Ok(d) => d,
            Err(failed) => return failed,
        };
        let fast = self.backend.incremental()
            && self
                .converged
                .as_ref()
                .is_some_and(|c| c.interface == desired.interface);
        if !fast {
            return self.full_pass(desired, t).await;
        }
        let want = by_key(desired.peers);
        let converged = self.converged.as_ref().expect("checked above");
        let d = delta(&converged.peers, want);
        self.send_delta(d, t).await
    }

    /// What turns the converged peers into the converged peers with `changes` applied.
    fn changes_delta(&self, changes: PeerChanges) -> PeerDiff {
        let base = &self.converged.as_ref().expect("asked with a base").peers;
        let mut d = PeerDiff::default();
        let upserted: std::collections::HashSet<Key> = changes
            .upsert
            .iter()
            .filter_map(|p| Key::from_base64(&p.public_key))
            .collect();
        let mut removed = std::collections::HashSet::new();
        for key in changes.remove.iter().filter_map(|k| Key::from_base64(k)) {
            if base.contains_key(&key) && !upserted.contains(&key) && removed.insert(key) {
                d.remove.push(key.to_base64());
            }
        }
        for spec in changes.upsert {
            match Key::from_base64(&spec.public_key).and_then(|k| base.get(&k)) {
                None => d.add.push(spec),
                Some(old) if *old != PeerDigest::of(&spec) => d.update.push(spec),
                Some(_) => {}
            }
        }
        d
    }

    /// Sends `d` (computed against the converged base) and moves the base along.
    async fn send_delta(&mut self, d: PeerDiff, t: Instant) -> PassOutcome {
        let report = SyncReport {
            added: d.add.len(),
            updated: d.update.len(),
            removed: d.remove.len(),
            ..Default::default()
        };
        if !d.is_empty() {
            if let Err(e) = self.backend.apply(&d).await {
                // Unsure what the interface holds now: the next pass reads it.
                self.converged = None;
                return PassOutcome::Failed {
                    unavailable: e.is_unavailable(),
                    error: e.to_string(),
                };
            }
        }
        let converged = self.converged.as_mut().expect("sent against a base");
        for key in d.remove.iter().filter_map(|k| Key::from_base64(k)) {
            converged.peers.remove(&key);
        }
        for spec in d.add.iter().chain(&d.update) {
            if let Some(key) = Key::from_base64(&spec.public_key) {
                converged.peers.insert(key, PeerDigest::of(spec));
            }
        }
        PassOutcome::Synced {
            report,
            observations: Vec::new(),
            peers: converged.peers.len(),
            took: t.elapsed(),
            full: false,
        }
    }

    async fn full_pass(&mut self, desired: Desired, t: Instant) -> PassOutcome {
        self.converged = None;
        let result = async {
            if let Some(spec) = &desired.interface {
                self.backend.ensure_interface(spec).await?;
            }
            let report = self.backend.reconcile(&desired.peers).await?;
            let state = self.backend.state().await?;
            Ok::<_, crate::BackendError>((report, state))
        }
        .await;
        match result {
            Ok((report, state)) => {
                // Peers deleted on purpose in the Amnezia app were not restored: the base
                // of the next fast pass must not count them as present. (That backend takes
                // no fast path today; this keeps the base true regardless.)
                let mut peers = digests(&desired.peers);
                for gone in report
                    .deleted_in_app
                    .iter()
                    .filter_map(|k| Key::from_base64(k))
                {
                    peers.remove(&gone);
                }
                self.converged = Some(Converged {
                    interface: desired.interface,
                    peers,
                });
                PassOutcome::Synced {
                    observations: self.throttle.filter(&state, Instant::now()),
                    peers: state.peers.len(),
                    report,
                    took: t.elapsed(),
                    full: true,
                }
            }
            Err(e) => PassOutcome::Failed {
                unavailable: e.is_unavailable(),
                error: e.to_string(),
            },
        }
    }

    /// Run until `shutdown` resolves: a pass now, then on every `kick` and every
    /// `interval`. Outcomes go to `sink`; a closed sink stops the loop.
    pub async fn run(
        mut self,
        source: Arc<dyn DesiredSource>,
        kick: Arc<Notify>,
        sink: mpsc::Sender<PassOutcome>,
        shutdown: impl Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let mut timer = tokio::time::interval(self.interval);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut next_change_at = Instant::now();
        loop {
            let full = tokio::select! {
                _ = &mut shutdown => return,
                _ = timer.tick() => true,
                _ = kick.notified() => false,
            };
            let outcome = if full {
                self.pass(source.as_ref()).await
            } else {
                // Kicks arriving while we wait coalesce into this one pass.
                tokio::select! {
                    _ = &mut shutdown => return,
                    _ = tokio::time::sleep_until(next_change_at.into()) => {}
                }
                let started = Instant::now();
                let outcome = self.change_pass(source.as_ref()).await;
                next_change_at = started + self.change_gap.max(2 * started.elapsed());
                outcome
            };
            match &outcome {
                PassOutcome::Synced { report, took, .. } => {
                    if report.added + report.updated + report.removed > 0
                        || !report.restored.is_empty()
                        || !report.deleted_in_app.is_empty()
                    {
                        tracing::info!(
                            backend = self.backend.name(),
                            added = report.added,
                            updated = report.updated,
                            removed = report.removed,
                            restored = report.restored.len(),
                            deleted_in_app = report.deleted_in_app.len(),
                            took_ms = took.as_millis() as u64,
                            "data plane converged"
                        );
                    }
                }
                PassOutcome::Failed {
                    error,
                    unavailable: true,
                } => {
                    tracing::debug!(backend = self.backend.name(), %error, "data plane unavailable; retrying");
                }
                PassOutcome::Failed { error, .. } => {
                    tracing::warn!(backend = self.backend.name(), %error, "reconcile pass failed");
                }
            }
            if sink.send(outcome).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Key, PeerState, SecretString};
    use std::sync::Mutex;

    /// An interface in memory that records what it is asked to do.
    #[derive(Debug, Default)]
    struct MemBackend {
        peers: Mutex<Vec<PeerState>>,
        reads: Mutex<usize>,
        applied: Mutex<Vec<PeerDiff>>,
    }

    #[async_trait::async_trait]
    impl WgBackend for MemBackend {
        async fn ensure_interface(&self, _: &InterfaceSpec) -> Result<(), crate::BackendError> {
            Ok(())
        }
        async fn state(&self) -> Result<InterfaceState, crate::BackendError> {
            *self.reads.lock().unwrap() += 1;
            Ok(InterfaceState {
                peers: self.peers.lock().unwrap().clone(),
                ..Default::default()
            })
        }
        async fn apply(&self, diff: &PeerDiff) -> Result<(), crate::BackendError> {
            let mut peers = self.peers.lock().unwrap();
            peers.retain(|p| !diff.remove.contains(&p.public_key));
            for a in diff.add.iter().chain(&diff.update) {
                peers.retain(|p| p.public_key != a.public_key);
                peers.push(PeerState {
                    public_key: a.public_key.clone(),
                    allowed_ips: a.allowed_ips.clone(),
                    ..Default::default()
                });
            }
            self.applied.lock().unwrap().push(diff.clone());
            Ok(())
        }
        fn name(&self) -> &'static str {
            "mem"
        }
    }

    struct Wanted(Mutex<Vec<PeerSpec>>);

    #[async_trait::async_trait]
    impl DesiredSource for Wanted {
        async fn desired(&self) -> Result<Desired, String> {
            Ok(Desired {
                interface: None,
                peers: self.0.lock().unwrap().clone(),
            })
        }
    }

    fn spec(n: u8) -> PeerSpec {
        PeerSpec::new(
            Key([n; 32]).to_base64(),
            vec![format!("10.8.0.{n}/32").parse().unwrap()],
        )
    }

    #[tokio::test]
    async fn a_change_sends_only_its_difference_without_reading_the_interface() {
        let backend = Arc::new(MemBackend::default());
        let mut r = Reconciler::new(backend.clone());
        let wanted = Wanted(Mutex::new((1..=50).map(spec).collect()));
        // No earlier pass: the change pass is a full one (it reads the interface).
        assert!(matches!(
            r.change_pass(&wanted).await,
            PassOutcome::Synced { .. }
        ));
        assert_eq!(
            *backend.reads.lock().unwrap(),
            2,
            "state read for diff and observations"
        );
        assert_eq!(backend.peers.lock().unwrap().len(), 50);

        // One issue, one revoke: one small apply each, no read.
        wanted.0.lock().unwrap().push(spec(99));
        let out = r.change_pass(&wanted).await;
        assert!(matches!(out, PassOutcome::Synced { ref report, .. } if report.added == 1));
        wanted
            .0
            .lock()
            .unwrap()
            .retain(|p| p.public_key != spec(7).public_key);
        let out = r.change_pass(&wanted).await;
        assert!(matches!(out, PassOutcome::Synced { ref report, .. } if report.removed == 1));
        assert_eq!(
            *backend.reads.lock().unwrap(),
            2,
            "the fast path read nothing"
        );
        let applied = backend.applied.lock().unwrap().clone();
        assert_eq!(applied.len(), 3);
        assert_eq!(applied[1].add, vec![spec(99)]);
        assert!(applied[1].remove.is_empty() && applied[1].update.is_empty());
        assert_eq!(applied[2].remove, vec![spec(7).public_key]);
        assert_eq!(backend.peers.lock().unwrap().len(), 50);

        // A peer removed behind our back is not seen by the fast path, but the timer's
        // full pass puts it back.
        backend
            .peers
            .lock()
            .unwrap()
            .retain(|p| p.public_key != spec(3).public_key);
        assert!(
            matches!(r.pass(&wanted).await, PassOutcome::Synced { ref report, .. } if report.added == 1)
        );
        assert_eq!(backend.peers.lock().unwrap().len(), 50);
    }

    /// A desired set that counts how often it is read.
    struct Counted(Wanted, std::sync::atomic::AtomicUsize);

    #[async_trait::async_trait]
    impl DesiredSource for Counted {
        async fn desired(&self) -> Result<Desired, String> {
            self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.0.desired().await
        }
    }

    #[tokio::test]
    async fn change_passes_wait_out_the_gap_and_shutdown_ends_the_wait() {
        let backend = Arc::new(MemBackend::default());
        let mut r = Reconciler::new(backend.clone());
        r.interval = Duration::from_secs(3600);
        r.change_gap = Duration::from_secs(3600);
        let source = Arc::new(Counted(
            Wanted(Mutex::new(vec![spec(1)])),
            Default::default(),
        ));
        let kick = Arc::new(Notify::new());
        let (sink, mut outcomes) = mpsc::channel(8);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let run = tokio::spawn(r.run(source.clone(), kick.clone(), sink, async {
            let _ = stopped.await;
        }));
        // The start pass, then the first change pass at once (no pass before it to space).
        assert!(matches!(
            outcomes.recv().await,
            Some(PassOutcome::Synced { .. })
        ));
        source.0 .0.lock().unwrap().push(spec(2));
        kick.notify_one();
        let out = outcomes.recv().await;
        assert!(matches!(out, Some(PassOutcome::Synced { ref report, .. }) if report.added == 1));
        // A change within the gap waits for it (an hour here) instead of reading again...
        source.0 .0.lock().unwrap().push(spec(3));
        kick.notify_one();
        assert!(
            tokio::time::timeout(Duration::from_millis(200), outcomes.recv())
                .await
                .is_err(),
            "a change pass ran within the gap"
        );
        // ...and shutting down does not wait for the gap.
        stop.send(()).unwrap();
        run.await.unwrap();
        assert_eq!(source.1.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert_eq!(backend.peers.lock().unwrap().len(), 2);
    }

    /// A source that can name what changed: counts full reads, hands out queued changes.
    struct Naming {
        full: Counted,
        next: Mutex<Option<PeerChanges>>,
    }

    #[async_trait::async_trait]
    impl DesiredSource for Naming {
        async fn desired(&self) -> Result<Desired, String> {
            self.full.desired().await
        }
        async fn changes(&self) -> Result<Option<PeerChanges>, String> {
            Ok(self.next.lock().unwrap().take())
        }
    }

    #[tokio::test]
    async fn a_named_change_is_applied_without_reading_the_desired_set() {
        let backend = Arc::new(MemBackend::default());
        let mut r = Reconciler::new(backend.clone());
        let source = Naming {
            full: Counted(
                Wanted(Mutex::new((1..=20).map(spec).collect())),
                Default::default(),
            ),
            next: Mutex::new(None),
        };
        let reads = || source.full.1.load(std::sync::atomic::Ordering::SeqCst);
        // No base yet: the change pass reads everything.
        assert!(matches!(
            r.change_pass(&source).await,
            PassOutcome::Synced { .. }
        ));
        assert_eq!(reads(), 1);

        // One added, one revoked, one re-sent unchanged, one unknown removal.
        let mut changed = spec(5);
        changed.allowed_ips = vec!["10.8.1.5/32".parse().unwrap()];
        *source.next.lock().unwrap() = Some(PeerChanges {
            upsert: vec![spec(42), spec(3), changed.clone()],
            remove: vec![spec(7).public_key, spec(99).public_key],
        });
        let out = r.change_pass(&source).await;
        assert!(
            matches!(out, PassOutcome::Synced { ref report, peers: 20, .. }
                if report.added == 1 && report.updated == 1 && report.removed == 1),
            "{out:?}"
        );
        assert_eq!(reads(), 1, "the desired set was read for a named change");
        let applied = backend.applied.lock().unwrap().last().cloned().unwrap();
        assert_eq!(applied.add, vec![spec(42)]);
        assert_eq!(applied.update, vec![changed]);
        assert_eq!(applied.remove, vec![spec(7).public_key]);
        assert_eq!(backend.peers.lock().unwrap().len(), 20);

        // The base moved along: revoking the new peer again sends exactly that.
        *source.next.lock().unwrap() = Some(PeerChanges {
            upsert: vec![],
            remove: vec![spec(42).public_key],
        });
        let out = r.change_pass(&source).await;
        assert!(
            matches!(out, PassOutcome::Synced { ref report, peers: 19, .. } if report.removed == 1)
        );

        // A source that cannot tell (None) gets a full read of the desired set.
        let out = r.change_pass(&source).await;
        assert!(matches!(out, PassOutcome::Synced { .. }));
        assert_eq!(reads(), 2);
    }

    #[test]
    fn the_digest_sees_ips_psk_and_keepalive_but_not_the_label_or_ip_order() {
        let base = {
            let mut p = spec(1);
            p.allowed_ips.push("10.9.0.0/24".parse().unwrap());
            p
        };
        let d = PeerDigest::of(&base);
        let with = |f: &dyn Fn(&mut PeerSpec)| {
            let mut p = base.clone();
            f(&mut p);
            PeerDigest::of(&p)
        };
        assert_eq!(with(&|p| p.label = Some("phone #1".into())), d);
        assert_eq!(with(&|p| p.allowed_ips.reverse()), d);
        assert_eq!(with(&|p| p.persistent_keepalive = Some(0)), d, "0 = off");
        assert_ne!(with(&|p| p.persistent_keepalive = Some(25)), d);
        assert_ne!(with(&|p| p.allowed_ips.pop().map(drop).unwrap()), d);
        let psk = |n: u8| Some(SecretString::new(Key([n; 32]).to_base64()));
        assert_ne!(with(&|p| p.preshared_key = psk(7)), d);
        let mut a = base.clone();
        a.preshared_key = psk(7);
        assert_ne!(with(&|p| p.preshared_key = psk(8)), PeerDigest::of(&a));
        assert_ne!(
            with(&|p| p.preshared_key = Some(SecretString::new("not base64"))),
            d,
            "an unreadable PSK is not the same as none"
        );
    }

    fn peer(n: u8, hs: Option<i64>, rx: u64) -> PeerState {
        PeerState {
            public_key: Key([n; 32]).to_base64(),
            last_handshake_unix: hs,
            rx_bytes: rx,
            tx_bytes: rx,
            ..Default::default()
        }
    }

    #[test]
    fn throttle_reports_active_peers_at_most_once_per_interval() {
        let mut th = ObservationThrottle::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let mut st = InterfaceState {
            peers: (0..100).map(|n| peer(n, None, 0)).collect(),
            ..Default::default()
        };
        assert!(th.filter(&st, t0).is_empty(), "idle peers reported");
        st.peers[3] = peer(3, Some(1000), 10);
        assert_eq!(th.filter(&st, t0).len(), 1);
        st.peers[3] = peer(3, Some(1100), 20);
        assert!(th.filter(&st, t0 + Duration::from_secs(10)).is_empty());
        assert_eq!(th.filter(&st, t0 + Duration::from_secs(61)).len(), 1);
        // Unchanged figures are not re-sent, however long it has been.
        assert!(th.filter(&st, t0 + Duration::from_secs(600)).is_empty());
        // A daemon restart (counters reset) is reported at once.
        st.peers[3] = peer(3, Some(1100), 5);
        assert_eq!(th.filter(&st, t0 + Duration::from_secs(601)).len(), 1);
        // Removed peers are forgotten.
        st.peers.truncate(1);
        th.filter(&st, t0);
        assert!(th.last.is_empty());
    }
}

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

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Notify};

use crate::model::{canonical_key, InterfaceSpec, InterfaceState, PeerSpec};
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

/// Drives one backend.
pub struct Reconciler {
    pub backend: Arc<dyn WgBackend>,
    /// Drift-repair period (the default: 10 s).
    pub interval: Duration,
    pub throttle: ObservationThrottle,
}

impl Reconciler {
    pub fn new(backend: Arc<dyn WgBackend>) -> Self {
        Reconciler {
            backend,
            interval: Duration::from_secs(10),
            throttle: ObservationThrottle::new(Duration::from_secs(60)),
        }
    }

    /// One pass: interface, peers, observations.
    pub async fn pass(&mut self, source: &dyn DesiredSource) -> PassOutcome {
        let t = Instant::now();
        let desired = match source.desired().await {
            Ok(d) => d,
            Err(e) => {
                return PassOutcome::Failed {
                    error: format!("reading the desired state: {e}"),
                    unavailable: false,
                }
            }
        };
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
            Ok((report, state)) => PassOutcome::Synced {
                observations: self.throttle.filter(&state, Instant::now()),
                peers: state.peers.len(),
                report,
                took: t.elapsed(),
            },
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
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = timer.tick() => {}
                _ = kick.notified() => {}
            }
            let outcome = self.pass(source.as_ref()).await;
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
    use crate::model::{Key, PeerState};

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

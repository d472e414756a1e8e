//! The node's metrics sampler (issue #14): every `node.sample_interval_secs` a [`Sample`] of
//! this machine and process, plus the peers its data planes serve, stored in the node's own
//! series file `DATA/metrics.db` (never in the Raft log).
//!
//! [`Metrics`] is the handle: [`Metrics::latest`] for placement and status, and the
//! [`TelemetrySource`] the cluster serves to other nodes over the node RPC (the API's
//! `/api/v1/nodes/{id}/metrics` and the bot's charts ask through it).

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use vpnkeeper_cluster::{Cluster, TelemetrySource};
use vpnkeeper_domain::telemetry::{NodeMetrics, PlanePeers, Range, Sample};
use vpnkeeper_domain::Protocol;
use vpnkeeper_telemetry::{Interfaces, Sampler, SeriesStore};

/// The series file, in the data directory next to the state.
pub const FILE: &str = "metrics.db";

/// A device counts as active when seen this recently.
const ACTIVE_WITHIN_MS: i64 = 180_000;

/// The shortest age up to which the latest sample still describes the node for placement
/// (three sample intervals, but never less than this: a sample is late on a busy machine).
const FRESH_AT_LEAST_MS: i64 = 30_000;

/// This node's telemetry: the series file and the latest sample.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Shared>,
}

struct Shared {
    node_id: u64,
    store: Mutex<SeriesStore>,
    latest: Mutex<Option<Sample>>,
    /// The running sampler's interval in ms; 0 until [`Metrics::spawn`].
    interval_ms: AtomicI64,
}

impl Metrics {
    /// Opens `DATA/metrics.db`; the latest stored sample counts as current until the first
    /// new one, so the values survive a restart.
    pub fn open(data_dir: &Path, node_id: u64) -> anyhow::Result<Metrics> {
        let store = SeriesStore::open(&data_dir.join(FILE))?;
        let latest = store.latest()?;
        Ok(Metrics {
            inner: Arc::new(Shared {
                node_id,
                store: Mutex::new(store),
                latest: Mutex::new(latest),
                interval_ms: AtomicI64::new(0),
            }),
        })
    }

    /// The most recent sample of this node, if any was ever taken.
    pub fn latest(&self) -> Option<Sample> {
        lock(&self.inner.latest).clone()
    }

    /// Samples every `interval` until `stop`, storing each sample.
    pub fn spawn(
        &self,
        cluster: Cluster,
        data_dir: &Path,
        interval: Duration,
        interfaces: Interfaces,
        mut stop: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let interval_ms = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX);
        self.inner.interval_ms.store(interval_ms, Ordering::Relaxed);
        let metrics = self.clone();
        let sampler = Arc::new(Mutex::new(Sampler::new(data_dir.to_path_buf(), interfaces)));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // The first tick fires at once; skip it so the first CPU share covers a whole
            // interval rather than the busy start-up.
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.wait_for(|s| *s) => return,
                }
                let planes = plane_peers(&cluster, metrics.inner.node_id).await;
                let (m, s) = (metrics.clone(), sampler.clone());
                let done = tokio::task::spawn_blocking(move || m.take(&s, planes)).await;
                if let Ok(Err(e)) = done {
                    tracing::warn!(error = %e, "a metrics sample was not stored");
                }
            }
        })
    }

    /// The latest sample when at most three intervals old at `now_ms` (at least
    /// [`FRESH_AT_LEAST_MS`]) and a sampler is running: a sample stored before a restart, or
    /// one from a stalled sampler, does not stand for the node's load now.
    fn fresh_at(&self, now_ms: i64) -> Option<Sample> {
        let interval = self.inner.interval_ms.load(Ordering::Relaxed);
        if interval == 0 {
            return None;
        }
        let window = interval.saturating_mul(3).max(FRESH_AT_LEAST_MS);
        self.latest()
            .filter(|s| now_ms.saturating_sub(s.at_ms) <= window)
    }

    /// Takes one sample and stores it.
    fn take(&self, sampler: &Mutex<Sampler>, planes: Vec<PlanePeers>) -> anyhow::Result<()> {
        let sample = lock(sampler).sample(vpnkeeper_cluster::now_ms(), planes);
        *lock(&self.inner.latest) = Some(sample.clone());
        lock(&self.inner.store).record(&sample)?;
        Ok(())
    }
}

impl TelemetrySource for Metrics {
    fn node_metrics(&self, range: Option<Range>) -> Result<NodeMetrics, String> {
        let series = match range {
            Some(r) => lock(&self.inner.store)
                .series(r, vpnkeeper_cluster::now_ms())
                .map_err(|e| e.to_string())?,
            None => Default::default(),
        };
        Ok(NodeMetrics {
            node_id: self.inner.node_id,
            current: self.latest(),
            range,
            series,
        })
    }

    fn fresh_sample(&self) -> Option<Sample> {
        self.fresh_at(vpnkeeper_cluster::now_ms())
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The devices this node serves per data plane, and how many were seen lately (counted by
/// the store: reading the rows to count them would hold every device in memory each sample).
async fn plane_peers(cluster: &Cluster, node_id: u64) -> Vec<PlanePeers> {
    let since = vpnkeeper_cluster::now_ms() - ACTIVE_WITHIN_MS;
    let counts = match cluster.read().served_peer_counts(node_id, since).await {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(error = %e, "peer counts not read for this sample");
            return Vec::new();
        }
    };
    Protocol::ALL
        .into_iter()
        .map(|p| {
            let (configured, active) = counts
                .iter()
                .find(|(q, ..)| *q == p)
                .map_or((0, 0), |&(_, c, a)| (c, a));
            PlanePeers {
                plane: p.as_str().to_string(),
                configured,
                active,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_at(at_ms: i64, cpu_pct: f64) -> Sample {
        Sample {
            at_ms,
            cpu_pct,
            load: [0.0; 3],
            mem_used_bytes: 1,
            mem_total_bytes: 2,
            disk_used_bytes: 1,
            disk_total_bytes: 2,
            net_rx_bps: 0.0,
            net_tx_bps: 0.0,
            uptime_secs: 1,
            rss_bytes: 1,
            planes: Vec::new(),
        }
    }

    /// Placement's sample (`TelemetrySource::fresh_sample`): only a recent one from a
    /// running sampler; a sample kept from before a restart does not count.
    #[test]
    fn only_a_recent_sample_of_a_running_sampler_is_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let now = 1_700_000_000_000;
        {
            let m = Metrics::open(dir.path(), 1).unwrap();
            m.inner
                .store
                .lock()
                .unwrap()
                .record(&sample_at(now, 55.0))
                .unwrap();
        }
        // Reopened (a restart): the stored sample is the latest, but no sampler runs yet.
        let m = Metrics::open(dir.path(), 1).unwrap();
        assert_eq!(m.latest().map(|s| s.cpu_pct), Some(55.0));
        assert_eq!(m.fresh_at(now), None);
        m.inner.interval_ms.store(10_000, Ordering::Relaxed);
        assert_eq!(m.fresh_at(now + 29_000).map(|s| s.cpu_pct), Some(55.0));
        assert_eq!(m.fresh_at(now + 31_000), None);
        // A long interval widens the window to three intervals.
        m.inner.interval_ms.store(60_000, Ordering::Relaxed);
        assert!(m.fresh_at(now + 179_000).is_some());
        assert!(m.fresh_at(now + 181_000).is_none());
    }
}

//! The node's metrics sampler (issue #14): every `node.sample_interval_secs` a [`Sample`] of
//! this machine and process, plus the peers its data planes serve, stored in the node's own
//! series file `DATA/metrics.db` (never in the Raft log).
//!
//! [`Metrics`] is the handle: [`Metrics::latest`] for placement and status, and the
//! [`TelemetrySource`] the cluster serves to other nodes over the node RPC (the API's
//! `/api/v1/nodes/{id}/metrics` and the bot's charts ask through it).

use std::path::Path;
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

/// This node's telemetry: the series file and the latest sample.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Shared>,
}

struct Shared {
    node_id: u64,
    store: Mutex<SeriesStore>,
    latest: Mutex<Option<Sample>>,
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
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The devices this node serves per data plane, and how many were seen lately.
async fn plane_peers(cluster: &Cluster, node_id: u64) -> Vec<PlanePeers> {
    let devices = match cluster
        .read()
        .desired_devices(node_id, &Protocol::ALL)
        .await
    {
        Ok(d) => d,
        Err(e) => {
            tracing::debug!(error = %e, "peer counts not read for this sample");
            return Vec::new();
        }
    };
    let since = vpnkeeper_cluster::now_ms() - ACTIVE_WITHIN_MS;
    Protocol::ALL
        .into_iter()
        .map(|p| {
            let on_plane = devices.iter().filter(|d| d.protocol == p);
            let (configured, active) = on_plane.fold((0u32, 0u32), |(c, a), d| {
                let seen = d.last_handshake_ms.is_some_and(|t| t >= since);
                (c + 1, a + u32::from(seen))
            });
            PlanePeers {
                plane: p.as_str().to_string(),
                configured,
                active,
            }
        })
        .collect()
}

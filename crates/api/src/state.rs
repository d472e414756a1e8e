//! What every handler can reach: the cluster (for proposals), the read store, the sealer,
//! the API options, the rate limiters, the health probes and the metrics handle.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use vpnkeeper_cluster::{Cluster, SubmitError};
use vpnkeeper_domain::secrets::Sealer;
use vpnkeeper_domain::wgconf::ClientOptions;
use vpnkeeper_domain::{Actor, ApiKey, ApplyOutcome, Command, Node};
use vpnkeeper_store::ReadStore;

use crate::error::ApiError;
use crate::health::HealthProbe;
use crate::ratelimit::{Limiters, RateLimits};
use crate::sub::SubCache;

/// Settings of the API, from the node's `[api]` config section.
#[derive(Debug, Clone)]
pub struct ApiOptions {
    /// The base URL clients reach this API at, without a trailing slash, e.g.
    /// `https://vpn.example.com`. Subscription and config URLs are built from it.
    pub public_url: String,
    pub limits: RateLimits,
    /// Take the client address from `X-Forwarded-For` (only behind a reverse proxy that
    /// sets it; otherwise any client could pick its own rate-limit bucket).
    pub trust_forwarded_for: bool,
    /// `/metrics` without an API key (for scrapers on a private network).
    pub metrics_public: bool,
    pub sub: SubOptions,
}

/// What the subscription endpoint tells client apps about the profile.
#[derive(Debug, Clone)]
pub struct SubOptions {
    /// `profile-title`; the user's name is appended.
    pub title: String,
    /// `profile-update-interval`, hours.
    pub update_interval_hours: u32,
    /// `support-url`, when set.
    pub support_url: Option<String>,
    /// The `[subscription]` section: client table, header templates, Reality constraints.
    pub settings: crate::sub::settings::SubscriptionSettings,
}

impl Default for ApiOptions {
    fn default() -> Self {
        ApiOptions {
            public_url: "http://127.0.0.1:8080".into(),
            limits: RateLimits::default(),
            trust_forwarded_for: false,
            metrics_public: false,
            sub: SubOptions {
                title: "vpnkeeper".into(),
                update_interval_hours: 12,
                support_url: None,
                settings: Default::default(),
            },
        }
    }
}

#[derive(Clone)]
pub struct ApiState {
    inner: Arc<Inner>,
}

struct Inner {
    cluster: Cluster,
    sealer: Sealer,
    client_options: ClientOptions,
    options: ApiOptions,
    limiters: Limiters,
    probes: Vec<Arc<dyn HealthProbe>>,
    metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    sub_cache: SubCache,
    /// Rows every request needs, cached while their generation counter stands (see
    /// `vpnkeeper_store::Generations`): API keys for auth, nodes for device issue.
    key_cache: Mutex<HashMap<String, (u64, ApiKey)>>,
    node_cache: Mutex<HashMap<u64, (u64, Node)>>,
    /// Every node with whether it is online, for placement, cached the same way.
    fleet_cache: Mutex<Option<(u64, Arc<Fleet>)>>,
    /// Active devices per node for placement, re-counted at most once a second.
    load_cache: crate::load_cache::LoadCache,
    /// What `GET /api/v1/backup` seals with and where it builds its copy (none: the route
    /// answers 503).
    backup: Option<BackupSource>,
    /// What `/health` says of voice transcription (none: `disabled`).
    voice: Option<Arc<dyn crate::health::VoiceProbe>>,
}

/// Every registered node and which of them the leader counts online: what placement needs
/// besides device counts.
#[derive(Debug)]
pub struct Fleet {
    pub nodes: Vec<Node>,
    pub online: Vec<vpnkeeper_domain::NodeId>,
    /// Nodes an operator marked draining: no new devices.
    pub draining: Vec<vpnkeeper_domain::NodeId>,
}

/// The cluster secret backups are sealed with, and a private scratch directory.
pub struct BackupSource {
    pub secret: vpnkeeper_domain::secrets::ClusterSecret,
    pub scratch_dir: std::path::PathBuf,
}

/// Past this many entries a cache starts over (keys and nodes are few; this only bounds
/// memory against odd usage).
const ROW_CACHE_MAX: usize = 10_000;

fn cached<K: std::hash::Hash + Eq, V: Clone>(
    cache: &Mutex<HashMap<K, (u64, V)>>,
    key: &K,
    generation: u64,
) -> Option<V> {
    let c = cache.lock().unwrap_or_else(|p| p.into_inner());
    c.get(key)
        .filter(|(g, _)| *g == generation)
        .map(|(_, v)| v.clone())
}

fn remember<K: std::hash::Hash + Eq, V>(
    cache: &Mutex<HashMap<K, (u64, V)>>,
    key: K,
    generation: u64,
    value: V,
) {
    let mut c = cache.lock().unwrap_or_else(|p| p.into_inner());
    if c.len() >= ROW_CACHE_MAX {
        c.clear();
    }
    c.insert(key, (generation, value));
}

impl ApiState {
    pub fn new(cluster: Cluster, sealer: Sealer, client_options: ClientOptions) -> Self {
        let options = ApiOptions::default();
        ApiState {
            inner: Arc::new(Inner {
                cluster,
                sealer,
                client_options,
                limiters: Limiters::new(options.limits),
                options,
                probes: Vec::new(),
                metrics: None,
                sub_cache: SubCache::default(),
                key_cache: Mutex::default(),
                node_cache: Mutex::default(),
                fleet_cache: Mutex::default(),
                load_cache: Default::default(),
                backup: None,
                voice: None,
            }),
        }
    }

    fn configure(&mut self) -> &mut Inner {
        // Configuration happens once, in the binary's wiring, before the state is shared.
        Arc::get_mut(&mut self.inner).expect("configure ApiState before cloning it")
    }

    /// Replaces the options (and rebuilds the rate limiters from them).
    pub fn with_options(mut self, options: ApiOptions) -> Self {
        let inner = self.configure();
        inner.limiters = Limiters::new(options.limits);
        inner.options = options;
        self
    }

    /// Adds a data-plane (or other) health probe reported by `/health`.
    pub fn with_health_probe(mut self, probe: Arc<dyn HealthProbe>) -> Self {
        self.configure().probes.push(probe);
        self
    }

    /// The Prometheus recorder `/metrics` renders (see [`crate::metrics::install`]).
    pub fn with_metrics(mut self, handle: metrics_exporter_prometheus::PrometheusHandle) -> Self {
        self.configure().metrics = Some(handle);
        self
    }

    /// Enables `GET /api/v1/backup`.
    pub fn with_backup(mut self, source: BackupSource) -> Self {
        self.configure().backup = Some(source);
        self
    }

    /// Reports voice transcription in `/health` (issue #17).
    pub fn with_voice_probe(mut self, probe: Arc<dyn crate::health::VoiceProbe>) -> Self {
        self.configure().voice = Some(probe);
        self
    }

    pub fn voice_probe(&self) -> Option<&Arc<dyn crate::health::VoiceProbe>> {
        self.inner.voice.as_ref()
    }

    pub fn backup_source(&self) -> Option<&BackupSource> {
        self.inner.backup.as_ref()
    }

    /// How client configs are shaped (router DNS/MTU/keepalive), from the node's config.
    pub fn client_options(&self) -> &ClientOptions {
        &self.inner.client_options
    }

    pub fn options(&self) -> &ApiOptions {
        &self.inner.options
    }

    pub(crate) fn limiters(&self) -> &Limiters {
        &self.inner.limiters
    }

    pub fn probes(&self) -> &[Arc<dyn HealthProbe>] {
        &self.inner.probes
    }

    pub fn metrics_handle(&self) -> Option<&metrics_exporter_prometheus::PrometheusHandle> {
        self.inner.metrics.as_ref()
    }

    pub(crate) fn sub_cache(&self) -> &SubCache {
        &self.inner.sub_cache
    }

    pub fn cluster(&self) -> &Cluster {
        &self.inner.cluster
    }

    pub fn read(&self) -> &ReadStore {
        self.inner.cluster.read()
    }

    pub fn sealer(&self) -> &Sealer {
        &self.inner.sealer
    }

    /// An API key by id, from the cache while no applied entry touched API keys since it
    /// was read (the generation is read first, so a revoke racing the read is seen next time).
    pub async fn api_key(&self, id: &str) -> Result<Option<ApiKey>, ApiError> {
        let generation = self.read().api_keys_generation();
        if let Some(k) = cached(&self.inner.key_cache, &id.to_string(), generation) {
            return Ok(Some(k));
        }
        let key = self.read().api_key(id).await?;
        if let Some(k) = &key {
            remember(&self.inner.key_cache, id.to_string(), generation, k.clone());
        }
        Ok(key)
    }

    /// A node by id, cached the same way.
    pub async fn node(&self, id: u64) -> Result<Option<Node>, ApiError> {
        let generation = self.read().nodes_generation();
        if let Some(n) = cached(&self.inner.node_cache, &id, generation) {
            return Ok(Some(n));
        }
        let node = self.read().node(id).await?;
        if let Some(n) = &node {
            remember(&self.inner.node_cache, id, generation, n.clone());
        }
        Ok(node)
    }

    /// Every node and which are online, cached while no applied entry touched nodes (liveness
    /// changes bump the same generation).
    pub async fn fleet(&self) -> Result<Arc<Fleet>, ApiError> {
        let generation = self.read().nodes_generation();
        {
            let c = self
                .inner
                .fleet_cache
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if let Some((_, fleet)) = c.as_ref().filter(|(g, _)| *g == generation) {
                return Ok(fleet.clone());
            }
        }
        let fleet = Arc::new(Fleet {
            nodes: self.read().nodes().await?,
            online: self.read().online_node_ids().await?,
            draining: self.read().draining_node_ids().await?,
        });
        *self
            .inner
            .fleet_cache
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some((generation, fleet.clone()));
        Ok(fleet)
    }

    /// Every node's active devices, capacity and liveness for placement (see
    /// [`crate::load_cache`]: counts may be a second old).
    pub async fn node_loads(&self) -> Result<Vec<vpnkeeper_store::NodeLoad>, ApiError> {
        Ok(self.inner.load_cache.loads(self.read()).await?)
    }

    /// Placement chose `node`: counted there until the next count.
    pub fn placed_on(&self, node: vpnkeeper_domain::NodeId) {
        self.inner.load_cache.placed(node);
    }

    /// Validates `command`, proposes it and waits until it is applied. A refusal decided by
    /// `apply` (not found, conflict) comes back as a 4xx [`ApiError`].
    pub async fn execute(
        &self,
        actor: Actor,
        command: Command,
    ) -> Result<vpnkeeper_domain::Applied, ApiError> {
        let outcome: ApplyOutcome = match self.inner.cluster.submit(actor, command).await {
            Ok(outcome) => outcome,
            Err(SubmitError::Invalid(e)) => return Err(e.into()),
            Err(SubmitError::Propose(e)) => return Err(e.into()),
        };
        Ok(outcome?)
    }
}

/// The node's clock (one definition, in the write path's front door).
pub use vpnkeeper_cluster::now_ms;

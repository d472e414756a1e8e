//! Node operations over the authenticated node RPC (issue #14, items 4–6): a speed test
//! between two nodes, rebooting a node with *its own* configured command, and each node's
//! CPU and network load for placement.
//!
//! Every node serves the `/ops/*` routes ([`routes`]) on its Raft listener, so they inherit
//! mutual TLS and the membership check of every other node-to-node call. What a node runs
//! or contacts is decided by its own config ([`AgentConfig`]): a peer can ask a node to
//! reboot, never what to execute; the HTTP download test only runs when that node's
//! `node.speedtest_url` is set. Load reports stay in memory: none of it enters the Raft log.

mod load;
mod reboot;
pub(crate) mod routes;
mod speed;

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use load::LoadReport;
pub use speed::{HttpSpeed, SpeedError, SpeedResult};

use crate::Cluster;

/// What this node does when a peer asks (from its `[node]` config section).
#[derive(Debug, Clone, Default)]
pub struct AgentConfig {
    /// Program and arguments that reboot this machine (`node.reboot_command`).
    pub reboot_command: Vec<String>,
    /// An HTTP(S) URL this node downloads from during a speed test; `None`: no HTTP test.
    pub speedtest_url: Option<String>,
    /// The link's capacity in Mbit/s, when the operator said (`node.bandwidth_mbps`).
    pub bandwidth_mbps: Option<u32>,
}

/// What identifies one boot of a node's process and machine: when either changes, the node
/// restarted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootMark {
    /// `/proc/sys/kernel/random/boot_id` (empty where unreadable).
    pub boot_id: String,
    /// When this vpnkeeper process started (unix ms).
    pub process_started_ms: i64,
}

/// A node's load as last fetched by this node, with when (unix ms).
#[derive(Debug, Clone, Copy)]
struct SeenLoad {
    report: LoadReport,
    at_ms: i64,
}

/// Loads older than this are not trusted for placement (the node may be gone or changed).
const LOAD_FRESH_MS: i64 = 60_000;

/// The node-operation state of this process (part of [`Cluster`]).
#[derive(Default)]
pub struct NodeAgent {
    config: OnceLock<AgentConfig>,
    started_ms: OnceLock<i64>,
    /// Target side: the speed test this node is serving (its token, and when it lapses).
    serving: speed::Serving,
    /// Measuring side: targets a test from here is running against.
    running: Mutex<HashSet<u64>>,
    /// The last result per target node, measured from here.
    last: Mutex<HashMap<u64, SpeedResult>>,
    /// Each node's load as last fetched from here.
    loads: Mutex<HashMap<u64, SeenLoad>>,
    sampler: load::Sampler,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl NodeAgent {
    pub(crate) fn config(&self) -> AgentConfig {
        self.config.get().cloned().unwrap_or_default()
    }

    fn boot_mark(&self) -> BootMark {
        BootMark {
            boot_id: std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
            process_started_ms: *self.started_ms.get_or_init(crate::now_ms),
        }
    }
}

/// Why a node operation could not be done, in one line for an admin.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OpsError {
    #[error("node {0} is not a member of this cluster")]
    NotMember(u64),
    #[error("node {node} did not answer: {reason}")]
    Unreachable { node: u64, reason: String },
    #[error("{0}")]
    Refused(String),
}

impl Cluster {
    /// Sets what this node does when asked (reboot command, HTTP test URL). Call once at
    /// start; later calls are ignored.
    pub fn configure_node_ops(&self, config: AgentConfig) {
        let _ = self.inner.agent.started_ms.set(crate::now_ms());
        let _ = self.inner.agent.config.set(config);
    }

    pub(crate) fn agent(&self) -> &NodeAgent {
        &self.inner.agent
    }

    /// The Raft address of member `id`.
    fn raft_addr_of(&self, id: u64) -> Result<String, OpsError> {
        self.metrics()
            .membership_config
            .membership()
            .get_node(&id)
            .map(|n| n.raft_addr.clone())
            .ok_or(OpsError::NotMember(id))
    }

    /// POSTs `req` to `/ops/...` on node `id` and decodes the answer.
    async fn ops_call<Req: Serialize, Resp: serde::de::DeserializeOwned>(
        &self,
        id: u64,
        path: &str,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp, OpsError> {
        let addr = self.raft_addr_of(id)?;
        self.inner
            .network
            .post(id, &addr, path, req, timeout)
            .await
            .map_err(|e| OpsError::Unreachable {
                node: id,
                reason: e.to_string(),
            })
    }

    /// What identifies node `id`'s current boot (asked over RPC; this node's own, locally).
    pub async fn boot_mark(&self, id: u64) -> Result<BootMark, OpsError> {
        if id == self.node_id() {
            return Ok(self.agent().boot_mark());
        }
        self.ops_call(id, "/ops/boot", &(), Duration::from_secs(3))
            .await
    }

    /// Asks node `id` to run its own `node.reboot_command`. `Ok` once the command started
    /// (and did not fail within a few seconds).
    pub async fn reboot_node(&self, id: u64) -> Result<(), OpsError> {
        let outcome: Result<(), String> = if id == self.node_id() {
            reboot::run(&self.agent().config().reboot_command).await
        } else {
            self.ops_call(id, "/ops/reboot", &(), Duration::from_secs(20))
                .await?
        };
        outcome.map_err(OpsError::Refused)
    }

    /// Fetches every member's load (this node's own locally) and keeps it for placement.
    pub async fn refresh_loads(&self) {
        let ids: Vec<u64> = self
            .metrics()
            .membership_config
            .membership()
            .nodes()
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            let report = if id == self.node_id() {
                Ok(self.local_load())
            } else {
                self.ops_call::<_, LoadReport>(id, "/ops/load", &(), Duration::from_secs(3))
                    .await
            };
            match report {
                Ok(report) => {
                    let seen = SeenLoad {
                        report,
                        at_ms: crate::now_ms(),
                    };
                    lock(&self.agent().loads).insert(id, seen);
                }
                Err(e) => tracing::debug!(node = id, error = %e, "no load report"),
            }
        }
    }

    /// This node's own load now: the metrics sampler's fresh sample when there is one (the
    /// figures the node card shows), else this module's own `/proc` reading.
    pub(crate) fn local_load(&self) -> LoadReport {
        let bandwidth = self.agent().config().bandwidth_mbps;
        let fresh = self.fresh_sample();
        load::current(fresh.as_ref(), bandwidth, || {
            self.agent().sampler.sample(bandwidth)
        })
    }

    /// Node `id`'s load as last fetched, when fetched within the last minute.
    pub fn node_load(&self, id: u64) -> Option<LoadReport> {
        let seen = lock(&self.agent().loads).get(&id).copied()?;
        (crate::now_ms() - seen.at_ms <= LOAD_FRESH_MS).then_some(seen.report)
    }

    /// The last speed test measured from this node against `id`.
    pub fn last_speed_test(&self, id: u64) -> Option<SpeedResult> {
        lock(&self.agent().last).get(&id).cloned()
    }
}

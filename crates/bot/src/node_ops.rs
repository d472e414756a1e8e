//! Operations on nodes that the bot's admins may trigger: reboot, speed test. [`ClusterOps`]
//! performs them over the authenticated node RPC (`vpnkeeper_cluster::node_ops`); the test
//! double [`Recorder`] only writes down the reboots asked for.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use vpnkeeper_cluster::node_ops::{BootMark, SpeedError, SpeedResult};
use vpnkeeper_cluster::Cluster;
use vpnkeeper_domain::Node;

/// Why a speed test gave no result.
#[derive(Debug, Clone, PartialEq)]
pub enum SpeedTestError {
    /// Another test of that node is running.
    Running,
    /// One line for the admin.
    Failed(String),
}

#[async_trait::async_trait]
pub trait NodeOps: Send + Sync {
    /// Reboots `node`. `Ok` carries the node's boot mark from before, when its return can be
    /// watched ([`NodeOps::back_online`]). An `Err` is told to the admin as is, so it should
    /// say what to do.
    async fn reboot(&self, node: &Node) -> Result<Option<BootMark>, String>;

    /// Waits (bounded) until `node` answers again with another boot than `before`; false
    /// when it did not within the wait.
    async fn back_online(&self, _node: &Node, _before: &BootMark) -> bool {
        false
    }

    /// Measures throughput both ways and the RTT between this node and `node`.
    async fn speed_test(&self, node: &Node) -> Result<SpeedResult, SpeedTestError> {
        Err(SpeedTestError::Failed(format!(
            "this build cannot run speed tests; measure {} from its console",
            node.name
        )))
    }

    /// The last speed test of node `id` run from here.
    fn last_speed_test(&self, _id: u64) -> Option<SpeedResult> {
        None
    }
}

/// How long the bot waits for a rebooted node to come back before saying it did not.
const BACK_WITHIN: Duration = Duration::from_secs(15 * 60);
const BACK_POLL: Duration = Duration::from_secs(2);

/// The real operations: the target node runs its own `node.reboot_command`; speed tests
/// stream over the node RPC.
pub struct ClusterOps {
    cluster: Cluster,
}

impl ClusterOps {
    pub fn new(cluster: Cluster) -> Self {
        ClusterOps { cluster }
    }
}

#[async_trait::async_trait]
impl NodeOps for ClusterOps {
    async fn reboot(&self, node: &Node) -> Result<Option<BootMark>, String> {
        // Without a mark from before, "back" cannot be told from "never went down".
        let before = self.cluster.boot_mark(node.id).await.ok();
        self.cluster
            .reboot_node(node.id)
            .await
            .map_err(|e| e.to_string())?;
        tracing::warn!(node = node.id, "reboot command started on the node");
        Ok(before)
    }

    async fn back_online(&self, node: &Node, before: &BootMark) -> bool {
        let deadline = tokio::time::Instant::now() + BACK_WITHIN;
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(BACK_POLL).await;
            if let Ok(now) = self.cluster.boot_mark(node.id).await {
                if &now != before {
                    return true;
                }
            }
        }
        false
    }

    async fn speed_test(&self, node: &Node) -> Result<SpeedResult, SpeedTestError> {
        self.cluster.speed_test(node.id).await.map_err(|e| match e {
            SpeedError::Busy(_) => SpeedTestError::Running,
            other => SpeedTestError::Failed(other.to_string()),
        })
    }

    fn last_speed_test(&self, id: u64) -> Option<SpeedResult> {
        self.cluster.last_speed_test(id)
    }
}

/// A test double: appends one JSON line per reboot to a file, so an integration test running
/// the real binary can see exactly which operations were requested.
pub struct Recorder {
    path: PathBuf,
}

impl Recorder {
    pub fn new(path: PathBuf) -> Self {
        Recorder { path }
    }
}

#[async_trait::async_trait]
impl NodeOps for Recorder {
    async fn reboot(&self, node: &Node) -> Result<Option<BootMark>, String> {
        let line = serde_json::json!({ "op": "reboot", "node_id": node.id, "name": node.name });
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| format!("cannot record the reboot in {}: {e}", self.path.display()))?;
        writeln!(f, "{line}").map_err(|e| format!("cannot record the reboot: {e}"))?;
        tracing::info!(node = node.id, "reboot recorded by the test double");
        Ok(None)
    }
}

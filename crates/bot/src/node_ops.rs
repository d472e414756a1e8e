//! Operations on nodes that the bot's admins may trigger. Executing them belongs to the fleet
//! work (a node agent reached over the cluster RPC); the bot only needs this trait.

use std::io::Write;
use std::path::PathBuf;

use vpnkeeper_domain::Node;

#[async_trait::async_trait]
pub trait NodeOps: Send + Sync {
    /// Reboots `node`. An `Err` is told to the admin as is, so it should say what to do.
    async fn reboot(&self, node: &Node) -> Result<(), String>;
}

/// The default until the fleet work lands: refuses, saying so.
pub struct Unavailable;

#[async_trait::async_trait]
impl NodeOps for Unavailable {
    async fn reboot(&self, node: &Node) -> Result<(), String> {
        Err(format!(
            "this build cannot reboot nodes yet; reboot {} from its console",
            node.name
        ))
    }
}

/// A test double: appends one JSON line per call to a file, so an integration test running
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
    async fn reboot(&self, node: &Node) -> Result<(), String> {
        let line = serde_json::json!({ "op": "reboot", "node_id": node.id, "name": node.name });
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| format!("cannot record the reboot in {}: {e}", self.path.display()))?;
        writeln!(f, "{line}").map_err(|e| format!("cannot record the reboot: {e}"))?;
        tracing::info!(node = node.id, "reboot recorded by the test double");
        Ok(())
    }
}

//! Placement's device counts per node, counted at most once a second.
//!
//! Counting a node's active devices is a scan of its rows in the `devices_node` index, on
//! every `POST /api/v1/devices` once there are two or more candidate nodes (a single node
//! never counts): with 8,000 devices the query alone took ~6 ms on the shared 2-core VM. Placement is a balance, not an invariant, so counts up to a
//! second old do: the devices this node places meanwhile are added as it places them, so a
//! burst through one node still spreads. A change to the node list (online, draining,
//! capacity) bumps the nodes generation and re-counts at once.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use vpnkeeper_domain::NodeId;
use vpnkeeper_store::{NodeLoad, ReadError, ReadStore};

/// How old counts may be.
const MAX_AGE: Duration = Duration::from_secs(1);

struct Counted {
    nodes_generation: u64,
    at: Instant,
    loads: Vec<NodeLoad>,
}

#[derive(Default)]
pub(crate) struct LoadCache {
    counted: Mutex<Option<Counted>>,
}

impl LoadCache {
    /// Every node's load, counted within [`MAX_AGE`] plus what this node placed since.
    pub(crate) async fn loads(&self, read: &ReadStore) -> Result<Vec<NodeLoad>, ReadError> {
        let generation = read.nodes_generation();
        if let Some(c) = self.lock().as_ref() {
            if c.nodes_generation == generation && c.at.elapsed() < MAX_AGE {
                return Ok(c.loads.clone());
            }
        }
        let loads = read.node_loads().await?;
        *self.lock() = Some(Counted {
            nodes_generation: generation,
            at: Instant::now(),
            loads: loads.clone(),
        });
        Ok(loads)
    }

    /// Counts a device placed on `node` until the next count.
    pub(crate) fn placed(&self, node: NodeId) {
        if let Some(c) = self.lock().as_mut() {
            if let Some(l) = c.loads.iter_mut().find(|l| l.id == node) {
                l.active_devices += 1;
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Counted>> {
        self.counted.lock().unwrap_or_else(|p| p.into_inner())
    }
}

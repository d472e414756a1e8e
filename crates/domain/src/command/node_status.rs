//! Node liveness as the replicated state sees it (`SetNodeOnline`).
//!
//! "Online" must read the same on every node, or two nodes would hand out different
//! subscriptions and place devices differently. So it is not each node's own impression:
//! the leader probes the other nodes and proposes `SetNodeOnline` only when a node's state
//! *changes* (offline after [`OFFLINE_AFTER_MS`] without a successful probe, online again at
//! the first success). A healthy fleet writes nothing.

use crate::entity::NodeId;
use crate::validate::ValidationError;

/// A node is offline after this long without answering the leader's probe.
pub const OFFLINE_AFTER_MS: i64 = 15_000;

pub fn validate(node_id: NodeId) -> Result<(), ValidationError> {
    if node_id == 0 {
        return Err(ValidationError::new("node_id", "node ids start at 1"));
    }
    Ok(())
}

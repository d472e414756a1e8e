//! The operator's draining mark on a node (`SetNodeDraining`, issue #14; migration 0025).
//! Placement skips draining nodes; their devices stay where they are.

use vpnkeeper_domain::NodeId;

use super::node_status::{set_flag, NodeFlag};
use super::Applying;
use crate::change::Change;

pub(super) fn set_draining(
    conn: &crate::sql::Conn,
    at: i64,
    node_id: NodeId,
    draining: bool,
    changes: &mut Vec<Change>,
) -> Applying {
    set_flag(conn, at, node_id, NodeFlag::Draining, draining, changes)
}

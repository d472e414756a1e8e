//! Node liveness (`SetNodeOnline`, see `vpnkeeper_domain::command::node_status`).

use vpnkeeper_domain::{Applied, CommandError, NodeId};

use super::{refuse_at, Applying, Effect};
use crate::change::Change;
use crate::sql::{self, Conn};

/// Marks a node online or offline. Its devices' reconcilers are told (a VLESS user's
/// subscription changes with it), and node caches are invalidated.
pub(super) fn set_online(
    conn: &Conn,
    at: i64,
    node_id: NodeId,
    online: bool,
    changes: &mut Vec<Change>,
) -> Applying {
    set_flag(conn, at, node_id, NodeFlag::Online, online, changes)
}

/// A yes/no mark on a node with the time it last changed.
#[derive(Clone, Copy)]
pub(super) enum NodeFlag {
    /// `online`, `online_changed_at`: liveness.
    Online,
    /// `draining`, `draining_changed_at`: the operator's mark (`node_drain.rs`).
    Draining,
}

/// Sets `flag` on node `node_id` (refused when there is no such node) and tells the node's
/// reconcilers and caches ([`Change::Node`]).
pub(super) fn set_flag(
    conn: &Conn,
    at: i64,
    node_id: NodeId,
    flag: NodeFlag,
    value: bool,
    changes: &mut Vec<Change>,
) -> Applying {
    let sql = match flag {
        NodeFlag::Online => "UPDATE nodes SET online = ?, online_changed_at = ? WHERE id = ?",
        NodeFlag::Draining => "UPDATE nodes SET draining = ?, draining_changed_at = ? WHERE id = ?",
    };
    let target = Some(format!("node:{node_id}"));
    let updated = sql::query(sql)
        .bind(value)
        .bind(at)
        .bind(node_id as i64)
        .execute(conn)?;
    if updated.rows_affected() == 0 {
        return Err(refuse_at(
            &target,
            CommandError::not_found(format!("node {node_id}")),
        ));
    }
    changes.push(Change::Node { node_id });
    Ok(Effect::new(Applied::Node { id: node_id }, target))
}

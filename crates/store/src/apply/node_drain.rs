//! The operator's draining mark on a node (`SetNodeDraining`, issue #14; migration 0025).
//! Placement skips draining nodes; their devices stay where they are.

use vpnkeeper_domain::{Applied, CommandError, NodeId};

use super::{refuse_at, Applying, Effect};
use crate::change::Change;
use crate::sql::{self, Conn};

pub(super) fn set_draining(
    conn: &Conn,
    at: i64,
    node_id: NodeId,
    draining: bool,
    changes: &mut Vec<Change>,
) -> Applying {
    let target = Some(format!("node:{node_id}"));
    let updated = sql::query("UPDATE nodes SET draining = ?, draining_changed_at = ? WHERE id = ?")
        .bind(draining)
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

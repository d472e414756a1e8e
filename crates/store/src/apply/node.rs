//! Nodes: registration and settings (`UpsertNode`), reboot requests.

use vpnkeeper_domain::command::NodeSpec;
use vpnkeeper_domain::{Applied, CommandError, NodeId, NodeWireguard};

use super::{refuse_at, Applying, Effect};
use crate::change::Change;
use crate::sql::{self, Conn};

/// Registers a node or updates its settings. A changed address pool restarts the pool cursor;
/// existing addresses are kept.
pub(super) fn upsert(conn: &Conn, at: i64, node: &NodeSpec, changes: &mut Vec<Change>) -> Applying {
    let target = Some(format!("node:{}", node.id));
    let clash: Option<i64> = sql::query_scalar("SELECT id FROM nodes WHERE name = ? AND id != ?")
        .bind(&node.name)
        .bind(node.id as i64)
        .fetch_optional(conn)?;
    if let Some(other) = clash {
        return Err(refuse_at(
            &target,
            CommandError::conflict(
                Some("name"),
                format!("node name `{}` is already used by node {other}", node.name),
            ),
        ));
    }
    let wg = node
        .wireguard
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| sql::Error::ToSqlConversionFailure(Box::new(e)))?;
    let xray = node.xray.as_ref().map(|v| v.to_string());
    let old_pool: Option<Option<String>> =
        sql::query_scalar("SELECT wireguard FROM nodes WHERE id = ?")
            .bind(node.id as i64)
            .fetch_optional(conn)?;
    let pool_changed = match (&old_pool, &node.wireguard) {
        (Some(Some(old)), Some(new)) => serde_json::from_str::<NodeWireguard>(old)
            .map(|o| o.address_pool != new.address_pool)
            .unwrap_or(true),
        _ => true,
    };
    sql::query(
        "INSERT INTO nodes(id, name, raft_addr, api_addr, public_host, wireguard, xray, pool_cursor, created_at, updated_at)
         VALUES(?, ?, ?, ?, ?, ?, ?, 0, ?, ?)
         ON CONFLICT(id) DO UPDATE SET name = excluded.name, raft_addr = excluded.raft_addr,
           api_addr = excluded.api_addr, public_host = excluded.public_host,
           wireguard = excluded.wireguard, xray = excluded.xray, updated_at = excluded.updated_at,
           pool_cursor = CASE WHEN ? THEN 0 ELSE pool_cursor END",
    )
    .bind(node.id as i64)
    .bind(&node.name)
    .bind(&node.raft_addr)
    .bind(&node.api_addr)
    .bind(&node.public_host)
    .bind(wg)
    .bind(xray)
    .bind(at)
    .bind(at)
    .bind(pool_changed)
    .execute(conn)?;
    // Placement capacity (migration 0020): absent in registrations older than it.
    if let Some(capacity) = node.capacity {
        sql::query("UPDATE nodes SET capacity = ? WHERE id = ?")
            .bind(i64::from(capacity))
            .bind(node.id as i64)
            .execute(conn)?;
    }
    changes.push(Change::Node { node_id: node.id });
    changes.push(Change::Devices { node_id: node.id });
    Ok(Effect::new(Applied::Node { id: node.id }, target))
}

/// An admin asked to reboot a node. The audit row is the point; the reboot itself is
/// performed by the bot's outbox.
pub(super) fn request_reboot(conn: &Conn, node_id: NodeId) -> Applying {
    let target = Some(format!("node:{node_id}"));
    let exists: Option<i64> = sql::query_scalar("SELECT 1 FROM nodes WHERE id = ?")
        .bind(node_id as i64)
        .fetch_optional(conn)?;
    if exists.is_none() {
        return Err(refuse_at(
            &target,
            CommandError::not_found(format!("node {node_id}")),
        ));
    }
    Ok(Effect::new(Applied::Node { id: node_id }, target))
}

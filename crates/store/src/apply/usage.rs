//! Data-plane telemetry: traffic deltas and last handshakes.

use vpnkeeper_domain::command::UsageEntry;
use vpnkeeper_domain::{Applied, NodeId};

use super::{Applying, Effect};
use crate::sql::{self, Conn};

/// Adds traffic deltas and moves last-handshake forward. Devices that no longer exist or
/// belong to another node are skipped: a report can race with a revoke or a move.
pub(super) fn record(conn: &Conn, node_id: NodeId, entries: &[UsageEntry]) -> Applying {
    for e in entries {
        sql::query(
            "UPDATE devices SET rx_bytes = rx_bytes + ?1, tx_bytes = tx_bytes + ?2, \
             last_handshake_at = CASE WHEN ?3 IS NULL THEN last_handshake_at \
                                      ELSE MAX(COALESCE(last_handshake_at, 0), ?3) END \
             WHERE id = ?4 AND node_id = ?5",
        )
        .bind(i64::try_from(e.rx_delta).unwrap_or(i64::MAX))
        .bind(i64::try_from(e.tx_delta).unwrap_or(i64::MAX))
        .bind(e.last_handshake_ms)
        .bind(e.device_id)
        .bind(node_id as i64)
        .execute(conn)?;
    }
    Ok(Effect::new(Applied::Done, format!("node:{node_id}")))
}

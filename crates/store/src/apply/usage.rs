//! Data-plane telemetry: traffic deltas and last handshakes, and what they do to the user's
//! lifecycle (period usage toward the quota; the first handshake of an on-hold user).

use vpnkeeper_domain::command::UsageEntry;
use vpnkeeper_domain::{Applied, NodeId};

use super::{plan, Applying, Effect};
use crate::change::Change;
use crate::sql::{self, Conn};

/// Adds traffic deltas and moves last-handshake forward. Devices that no longer exist or
/// belong to another node are skipped: a report can race with a revoke or a move.
pub(super) fn record(
    conn: &Conn,
    at: i64,
    node_id: NodeId,
    entries: &[UsageEntry],
    changes: &mut Vec<Change>,
) -> Applying {
    for e in entries {
        let rx = i64::try_from(e.rx_delta).unwrap_or(i64::MAX);
        let tx = i64::try_from(e.tx_delta).unwrap_or(i64::MAX);
        let user: Option<i64> = sql::query_scalar(
            "UPDATE devices SET rx_bytes = rx_bytes + ?1, tx_bytes = tx_bytes + ?2, \
             last_handshake_at = CASE WHEN ?3 IS NULL THEN last_handshake_at \
                                      ELSE MAX(COALESCE(last_handshake_at, 0), ?3) END \
             WHERE id = ?4 AND node_id = ?5 RETURNING user_id",
        )
        .bind(rx)
        .bind(tx)
        .bind(e.last_handshake_ms)
        .bind(e.device_id)
        .bind(node_id as i64)
        .fetch_optional(conn)?;
        let Some(user_id) = user else { continue };
        account(
            conn,
            at,
            user_id,
            rx.saturating_add(tx),
            e.last_handshake_ms,
            changes,
        )?;
    }
    Ok(Effect::new(Applied::Done, format!("node:{node_id}")))
}

/// The user's side of one entry: period usage, then the status it may change.
fn account(
    conn: &Conn,
    at: i64,
    user_id: i64,
    bytes: i64,
    handshake_ms: Option<i64>,
    changes: &mut Vec<Change>,
) -> Result<(), sql::Error> {
    let watch: Option<i64> = sql::query_scalar(
        "UPDATE users SET used_bytes = used_bytes + ?1 WHERE id = ?2 \
         RETURNING (on_hold_days IS NOT NULL) OR (traffic_limit_bytes IS NOT NULL AND status = 'active' AND used_bytes >= traffic_limit_bytes)",
    )
    .bind(bytes)
    .bind(user_id)
    .fetch_optional(conn)?;
    if watch != Some(1) {
        return Ok(());
    }
    if let Some(h) = handshake_ms.filter(|h| *h > 0) {
        plan::first_handshake(conn, at, user_id, h, changes)?;
    }
    plan::refresh_status(conn, at, user_id, changes)
}

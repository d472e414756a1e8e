//! Data-plane telemetry: traffic deltas and last handshakes, and what they do to the user's
//! lifecycle (period usage toward the quota; the first handshake of an on-hold user).

use vpnkeeper_domain::command::{CounterEntry, UsageEntry};
use vpnkeeper_domain::{Applied, CommandError, NodeId};

use super::{plan, refuse_at, Applying, Effect};
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
    // Watch: an on-hold user's first handshake, the quota reached, or the usage crossing
    // 80% of the quota (a reminder may be due: `reminder::refresh_next_due`).
    let watch: Option<i64> = sql::query_scalar(
        "UPDATE users SET used_bytes = used_bytes + ?1 WHERE id = ?2 \
         RETURNING (on_hold_days IS NOT NULL) OR (traffic_limit_bytes IS NOT NULL AND status = 'active' AND used_bytes >= traffic_limit_bytes) \
            OR (traffic_limit_bytes IS NOT NULL AND traffic_limit_bytes > 0 AND used_bytes * 5 >= traffic_limit_bytes * 4 AND (used_bytes - ?1) * 5 < traffic_limit_bytes * 4)",
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

const DAY_MS: i64 = 86_400_000;

/// One `RecordCounters` report.
pub(super) struct CounterReport<'a> {
    pub node_id: NodeId,
    pub boot_epoch: i64,
    pub seq: u64,
    pub entries: &'a [CounterEntry],
}

/// Applies a report of absolute counters exactly once: a report not after the node's last
/// one is refused whole (a replay, or a retry that had committed after all); each entry
/// adds only what its device's counters gained since they were last seen.
pub(super) fn record_counters(
    conn: &Conn,
    at: i64,
    report: &CounterReport<'_>,
    changes: &mut Vec<Change>,
) -> Applying {
    let node_id = report.node_id;
    let target = Some(format!("node:{node_id}"));
    let seq = i64::try_from(report.seq).unwrap_or(i64::MAX);
    let last: Option<(i64, i64)> =
        sql::query_as("SELECT boot_epoch, seq FROM usage_reports WHERE node_id = ?")
            .bind(node_id as i64)
            .fetch_optional(conn)?;
    if let Some((boot, last_seq)) = last.filter(|l| (report.boot_epoch, seq) <= *l) {
        return Err(refuse_at(
            &target,
            CommandError::conflict(
                Some("seq"),
                format!(
                    "report ({}, {seq}) is not after the last applied ({boot}, {last_seq}) of node {node_id}: already counted",
                    report.boot_epoch
                ),
            ),
        ));
    }
    sql::query(
        "INSERT INTO usage_reports (node_id, boot_epoch, seq, at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (node_id) DO UPDATE SET boot_epoch = ?2, seq = ?3, at = ?4",
    )
    .bind(node_id as i64)
    .bind(report.boot_epoch)
    .bind(seq)
    .bind(at)
    .execute(conn)?;
    for e in report.entries {
        let user: Option<i64> =
            sql::query_scalar("SELECT user_id FROM devices WHERE id = ? AND node_id = ?")
                .bind(e.device_id)
                .bind(node_id as i64)
                .fetch_optional(conn)?;
        let Some(user_id) = user else { continue };
        let (rx, tx) = advance_counters(conn, node_id, e)?;
        sql::query(
            "UPDATE devices SET rx_bytes = rx_bytes + ?1, tx_bytes = tx_bytes + ?2, \
             last_handshake_at = CASE WHEN ?3 IS NULL THEN last_handshake_at \
                                      ELSE MAX(COALESCE(last_handshake_at, 0), ?3) END \
             WHERE id = ?4",
        )
        .bind(rx)
        .bind(tx)
        .bind(e.last_handshake_ms)
        .bind(e.device_id)
        .execute(conn)?;
        if rx > 0 || tx > 0 {
            sql::query(
                "INSERT INTO node_usage_daily (node_id, day, rx_bytes, tx_bytes) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (node_id, day) DO UPDATE SET rx_bytes = rx_bytes + ?3, tx_bytes = tx_bytes + ?4",
            )
            .bind(node_id as i64)
            .bind(at.div_euclid(DAY_MS))
            .bind(rx)
            .bind(tx)
            .execute(conn)?;
        }
        account(
            conn,
            at,
            user_id,
            rx.saturating_add(tx),
            e.last_handshake_ms,
            changes,
        )?;
    }
    Ok(Effect::new(Applied::Done, target))
}

/// Stores the entry's totals as the device's last-seen counters and returns the bytes not
/// counted before (rx, tx).
fn advance_counters(
    conn: &Conn,
    node_id: NodeId,
    e: &CounterEntry,
) -> Result<(i64, i64), sql::Error> {
    let stored: Option<(i64, i64, i64)> = sql::query_as(
        "SELECT epoch, rx_seen, tx_seen FROM device_counters WHERE device_id = ? AND node_id = ?",
    )
    .bind(e.device_id)
    .bind(node_id as i64)
    .fetch_optional(conn)?;
    let rx = i64::try_from(e.rx_total).unwrap_or(i64::MAX);
    let tx = i64::try_from(e.tx_total).unwrap_or(i64::MAX);
    let (epoch, delta) = counter_delta(stored, e.counter_epoch, rx, tx);
    sql::query(
        "INSERT INTO device_counters (device_id, node_id, epoch, rx_seen, tx_seen) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT (device_id, node_id) DO UPDATE SET epoch = ?3, rx_seen = ?4, tx_seen = ?5",
    )
    .bind(e.device_id)
    .bind(node_id as i64)
    .bind(epoch)
    .bind(rx)
    .bind(tx)
    .execute(conn)?;
    Ok(delta)
}

/// The counter lifetime to store and the new bytes, from the stored `(epoch, rx, tx)` and a
/// reported `epoch` with totals.
///
/// - Epoch `0` or the stored one: the same lifetime; what grew is new. A total below what
///   was seen means the counters restarted at zero unseen by the reporter (its own restart
///   hid the daemon's), so all of it is new.
/// - Any other epoch: a lifetime that began at zero; all of it is new.
fn counter_delta(
    stored: Option<(i64, i64, i64)>,
    epoch: i64,
    rx: i64,
    tx: i64,
) -> (i64, (i64, i64)) {
    match stored {
        Some((e0, rx0, tx0)) if epoch == 0 || epoch == e0 => {
            if rx >= rx0 && tx >= tx0 {
                (e0, (rx - rx0, tx - tx0))
            } else {
                (e0, (rx, tx))
            }
        }
        _ => (epoch, (rx, tx)),
    }
}

#[cfg(test)]
mod tests {
    use super::counter_delta;

    #[test]
    fn the_same_lifetime_adds_only_growth_and_a_replay_adds_nothing() {
        assert_eq!(counter_delta(None, 0, 100, 50), (0, (100, 50)));
        assert_eq!(counter_delta(Some((0, 100, 50)), 0, 150, 70), (0, (50, 20)));
        assert_eq!(counter_delta(Some((0, 150, 70)), 0, 150, 70), (0, (0, 0)));
        assert_eq!(counter_delta(Some((7, 150, 70)), 7, 160, 70), (7, (10, 0)));
    }

    #[test]
    fn a_new_lifetime_or_a_drop_counts_from_zero() {
        assert_eq!(counter_delta(Some((0, 150, 70)), 9, 30, 5), (9, (30, 5)));
        assert_eq!(counter_delta(Some((9, 150, 70)), 0, 30, 5), (9, (30, 5)));
        assert_eq!(
            counter_delta(Some((9, 150, 70)), 9, 30, 500),
            (9, (30, 500))
        );
    }
}

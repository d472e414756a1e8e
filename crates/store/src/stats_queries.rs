//! The admin stats (issue #15 item 8): one read transaction of four small queries over the
//! aggregates migration 0036 keeps by triggers (users per status, active devices per node),
//! two index ranges on `users` (created, last seen) and the per-node daily traffic. Nothing
//! here scans users or devices, so the cost does not grow with the fleet.

use sqlx::Row;
use vpnkeeper_domain::command::plan::UserStatus;
use vpnkeeper_domain::reset::{civil_from_days, days_from_civil};
use vpnkeeper_domain::NodeId;

use crate::queries::ReadStore;

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

/// Every status, in the order stats show them (zero counts included).
pub const STATUSES: [UserStatus; 5] = [
    UserStatus::Active,
    UserStatus::OnHold,
    UserStatus::Limited,
    UserStatus::Expired,
    UserStatus::Disabled,
];

/// Bytes down (`rx`, from the node's side: what clients sent) and up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    pub rx_bytes: i64,
    pub tx_bytes: i64,
}

impl Traffic {
    pub fn total(&self) -> i64 {
        self.rx_bytes.saturating_add(self.tx_bytes)
    }
}

/// One node's line of the stats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStats {
    pub node_id: NodeId,
    pub name: String,
    /// As the leader last decided (`SetNodeOnline`).
    pub online: bool,
    /// Active (not revoked) devices placed on the node.
    pub devices: i64,
    pub today: Traffic,
    pub month: Traffic,
}

/// The admin stats at one moment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdminStats {
    /// Users per status, in [`STATUSES`] order, zeros included.
    pub users_by_status: Vec<(UserStatus, i64)>,
    pub users_total: i64,
    /// Users created in the last 24 hours / 7 days.
    pub new_users_24h: i64,
    pub new_users_7d: i64,
    /// Users with a handshake (any device) in the last 24 hours.
    pub active_users_24h: i64,
    /// Traffic of the current UTC day and calendar month, all nodes (removed ones too).
    pub traffic_today: Traffic,
    pub traffic_month: Traffic,
    pub nodes: Vec<NodeStats>,
}

/// Days since the epoch of the UTC day of `now_ms`, and of the first day of its month.
pub fn today_and_month_start(now_ms: i64) -> (i64, i64) {
    let today = now_ms.div_euclid(DAY_MS);
    let date = civil_from_days(today);
    (today, days_from_civil(date.year, date.month, 1))
}

impl ReadStore {
    /// The admin stats as of `now_ms`, from one consistent read.
    pub async fn admin_stats(&self, now_ms: i64) -> Result<AdminStats, sqlx::Error> {
        let (today, month_start) = today_and_month_start(now_ms);
        let mut tx = self.pool().begin().await?;

        let counts: Vec<(String, i64)> = sqlx::query_as("SELECT status, n FROM user_status_counts")
            .fetch_all(&mut *tx)
            .await?;
        let by = |st: UserStatus| {
            counts
                .iter()
                .find(|(s, _)| s == st.as_str())
                .map_or(0, |(_, n)| *n)
        };
        let users_by_status: Vec<(UserStatus, i64)> =
            STATUSES.iter().map(|st| (*st, by(*st))).collect();
        // A status this build does not know (a newer node's) still counts in the total.
        let users_total = counts.iter().map(|(_, n)| n).sum();

        let ranges = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM users WHERE created_at >= ?1),
                    (SELECT COUNT(*) FROM users WHERE created_at >= ?2),
                    (SELECT COUNT(*) FROM user_last_seen WHERE at >= ?3)",
        )
        .bind(now_ms - 24 * HOUR_MS)
        .bind(now_ms - 7 * DAY_MS)
        .bind(now_ms - 24 * HOUR_MS)
        .fetch_one(&mut *tx)
        .await?;

        let totals = sqlx::query(
            "SELECT COALESCE(SUM(CASE WHEN day = ?1 THEN rx_bytes END), 0),
                    COALESCE(SUM(CASE WHEN day = ?1 THEN tx_bytes END), 0),
                    COALESCE(SUM(rx_bytes), 0), COALESCE(SUM(tx_bytes), 0)
             FROM node_usage_daily WHERE day >= ?2",
        )
        .bind(today)
        .bind(month_start)
        .fetch_one(&mut *tx)
        .await?;

        let nodes = sqlx::query(
            "SELECT n.id, n.name, n.online, COALESCE(c.n, 0),
                    COALESCE(SUM(CASE WHEN u.day = ?1 THEN u.rx_bytes END), 0),
                    COALESCE(SUM(CASE WHEN u.day = ?1 THEN u.tx_bytes END), 0),
                    COALESCE(SUM(u.rx_bytes), 0), COALESCE(SUM(u.tx_bytes), 0)
             FROM nodes n
             LEFT JOIN node_device_counts c ON c.node_id = n.id
             LEFT JOIN node_usage_daily u ON u.node_id = n.id AND u.day >= ?2
             GROUP BY n.id ORDER BY n.id",
        )
        .bind(today)
        .bind(month_start)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;

        Ok(AdminStats {
            users_by_status,
            users_total,
            new_users_24h: ranges.get(0),
            new_users_7d: ranges.get(1),
            active_users_24h: ranges.get(2),
            traffic_today: Traffic {
                rx_bytes: totals.get(0),
                tx_bytes: totals.get(1),
            },
            traffic_month: Traffic {
                rx_bytes: totals.get(2),
                tx_bytes: totals.get(3),
            },
            nodes: nodes
                .iter()
                .map(|r| NodeStats {
                    node_id: r.get::<i64, _>(0) as NodeId,
                    name: r.get(1),
                    online: r.get::<i64, _>(2) != 0,
                    devices: r.get(3),
                    today: Traffic {
                        rx_bytes: r.get(4),
                        tx_bytes: r.get(5),
                    },
                    month: Traffic {
                        rx_bytes: r.get(6),
                        tx_bytes: r.get(7),
                    },
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_and_month_start() {
        // 2024-03-15 12:00 UTC: day 19797, March 1st is day 19783.
        let now = 19_797 * DAY_MS + 12 * HOUR_MS;
        assert_eq!(today_and_month_start(now), (19_797, 19_783));
        // The first instant of a month is in that month.
        assert_eq!(today_and_month_start(19_783 * DAY_MS), (19_783, 19_783));
        // The last millisecond of February 2024 (leap year) is still February: Feb 1 = 19754.
        assert_eq!(today_and_month_start(19_783 * DAY_MS - 1), (19_782, 19_754));
    }
}

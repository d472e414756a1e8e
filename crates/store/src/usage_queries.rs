//! Read queries of exact usage accounting (tables of migration 0031).

use crate::queries::ReadStore;

/// Traffic one node carried on one UTC day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeDayUsage {
    pub node_id: u64,
    /// Days since the Unix epoch (UTC).
    pub day: i64,
    pub rx_bytes: i64,
    pub tx_bytes: i64,
}

impl ReadStore {
    /// The `(boot_epoch, seq)` of the node's last applied counter report, if any: a
    /// restarting reporter starts after it.
    pub async fn last_usage_report(&self, node_id: u64) -> Result<Option<(i64, i64)>, sqlx::Error> {
        sqlx::query_as("SELECT boot_epoch, seq FROM usage_reports WHERE node_id = ?")
            .bind(node_id as i64)
            .fetch_optional(self.pool())
            .await
    }

    /// Per node and day traffic from `from_day` on (days since the Unix epoch), oldest first.
    pub async fn node_usage_since(&self, from_day: i64) -> Result<Vec<NodeDayUsage>, sqlx::Error> {
        let rows: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT node_id, day, rx_bytes, tx_bytes FROM node_usage_daily WHERE day >= ? ORDER BY day, node_id",
        )
        .bind(from_day)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(node_id, day, rx_bytes, tx_bytes)| NodeDayUsage {
                node_id: node_id as u64,
                day,
                rx_bytes,
                tx_bytes,
            })
            .collect())
    }
}

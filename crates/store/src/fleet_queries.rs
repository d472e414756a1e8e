//! Read queries about nodes: placement and liveness (columns of migration 0020), and the
//! per-plane peer counts a node's metrics sample carries.

use vpnkeeper_domain::model::Protocol;
use vpnkeeper_domain::{Device, NodeId};

use crate::queries::ReadStore;

/// A node as placement and subscriptions see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeLoad {
    pub id: NodeId,
    pub active_devices: i64,
    /// From its registration; `None`: placement's default.
    pub capacity: Option<u32>,
    pub online: bool,
    /// An operator marked it draining (migration 0025): no new devices.
    pub draining: bool,
}

impl ReadStore {
    /// Every node with its active devices, capacity and liveness, by id.
    pub async fn node_loads(&self) -> Result<Vec<NodeLoad>, sqlx::Error> {
        let rows: Vec<(i64, i64, Option<i64>, bool, bool)> = sqlx::query_as(
            "SELECT n.id,
                    (SELECT COUNT(*) FROM devices d WHERE d.node_id = n.id AND d.revoked_at IS NULL),
                    n.capacity, n.online, n.draining
             FROM nodes n ORDER BY n.id",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(id, active_devices, capacity, online, draining)| NodeLoad {
                    id: id as NodeId,
                    active_devices,
                    capacity: capacity.and_then(|c| u32::try_from(c).ok()),
                    online,
                    draining,
                },
            )
            .collect())
    }

    /// Ids of the nodes an operator marked draining (`SetNodeDraining`).
    pub async fn draining_node_ids(&self) -> Result<Vec<NodeId>, sqlx::Error> {
        let ids: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM nodes WHERE draining = 1 ORDER BY id")
                .fetch_all(self.pool())
                .await?;
        Ok(ids.into_iter().map(|i| i as NodeId).collect())
    }

    /// The capacity a node registered with (`None`: none, or no such node).
    pub async fn node_capacity(&self, id: NodeId) -> Result<Option<u32>, sqlx::Error> {
        let c: Option<Option<i64>> = sqlx::query_scalar("SELECT capacity FROM nodes WHERE id = ?")
            .bind(id as i64)
            .fetch_optional(self.pool())
            .await?;
        Ok(c.flatten().and_then(|c| u32::try_from(c).ok()))
    }

    /// Ids of the nodes the leader counts online.
    pub async fn online_node_ids(&self) -> Result<Vec<NodeId>, sqlx::Error> {
        let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM nodes WHERE online = 1 ORDER BY id")
            .fetch_all(self.pool())
            .await?;
        Ok(ids.into_iter().map(|i| i as NodeId).collect())
    }

    /// Every active device of `protocol` of an enabled user, whatever node it was placed
    /// on: a VLESS user is served by every node that runs Xray (same UUID everywhere).
    pub async fn desired_devices_everywhere(
        &self,
        protocol: Protocol,
    ) -> Result<Vec<Device>, sqlx::Error> {
        let mut all = Vec::new();
        for node in self.node_loads().await? {
            all.extend(self.desired_devices(node.id, &[protocol]).await?);
        }
        all.sort_by_key(|d| d.id);
        Ok(all)
    }

    /// Per protocol, how many devices `node_id` serves (the condition of
    /// [`ReadStore::desired_devices`]) and how many of those had a handshake at or after
    /// `seen_since_ms`. Counted in SQLite: the metrics sampler asks every interval, and
    /// reading the 20,000 rows of a full node to count them cost ~45 MB of peak heap.
    pub async fn served_peer_counts(
        &self,
        node_id: NodeId,
        seen_since_ms: i64,
    ) -> Result<Vec<(Protocol, u32, u32)>, sqlx::Error> {
        let sql = format!(
            "SELECT d.protocol, COUNT(*), COALESCE(SUM(d.last_handshake_at >= ?), 0)
             FROM devices d JOIN users u ON u.id = d.user_id
             WHERE d.node_id = ? AND {}
             GROUP BY d.protocol",
            crate::queries::SERVED
        );
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(&sql)
            .bind(seen_since_ms)
            .bind(node_id as i64)
            .fetch_all(self.pool())
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(protocol, configured, active)| {
                let count = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
                Some((protocol.parse().ok()?, count(configured), count(active)))
            })
            .collect())
    }
}

//! `GET /api/v1/stats`: the admin stats (issue #15 item 8) — users by status, new and active
//! users, traffic today and this month, per node (devices, traffic, online), and revenue.
//! Read from the aggregates of `ReadStore::admin_stats` (a few small queries, no scans).

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use vpnkeeper_store::payment_queries::Revenue;
use vpnkeeper_store::stats_queries::{AdminStats, NodeStats, Traffic};

use crate::auth::Admin;
use crate::error::ApiError;
use crate::responses::AdminReadErrors;
use crate::state::{now_ms, ApiState};

/// Users per lifecycle status (the `status` of the user JSON).
#[derive(Serialize, ToSchema)]
pub struct UsersByStatus {
    pub active: i64,
    pub on_hold: i64,
    pub limited: i64,
    pub expired: i64,
    pub disabled: i64,
}

#[derive(Serialize, ToSchema)]
pub struct UserStatsView {
    /// Every user, whatever the status.
    pub total: i64,
    pub by_status: UsersByStatus,
    /// Users created in the last 24 hours.
    pub new_24h: i64,
    /// Users created in the last 7 days.
    pub new_7d: i64,
    /// Users with a handshake or connection on any device in the last 24 hours.
    pub active_24h: i64,
}

/// Bytes counted by the data planes (upload + download per direction).
#[derive(Serialize, ToSchema)]
pub struct TrafficView {
    /// Bytes received by the nodes (sent by clients).
    pub rx_bytes: i64,
    /// Bytes sent by the nodes to clients.
    pub tx_bytes: i64,
    pub total_bytes: i64,
}

impl From<Traffic> for TrafficView {
    fn from(t: Traffic) -> TrafficView {
        TrafficView {
            rx_bytes: t.rx_bytes,
            tx_bytes: t.tx_bytes,
            total_bytes: t.total(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TrafficStatsView {
    /// The current UTC day.
    pub today: TrafficView,
    /// The current UTC calendar month.
    pub this_month: TrafficView,
}

#[derive(Serialize, ToSchema)]
pub struct NodeStatsView {
    pub id: u64,
    pub name: String,
    /// As the leader last decided from its probes.
    pub online: bool,
    /// Active (not revoked) devices placed on the node.
    pub devices: i64,
    pub traffic: TrafficStatsView,
}

impl From<NodeStats> for NodeStatsView {
    fn from(n: NodeStats) -> NodeStatsView {
        NodeStatsView {
            id: n.node_id,
            name: n.name,
            online: n.online,
            devices: n.devices,
            traffic: TrafficStatsView {
                today: n.today.into(),
                this_month: n.month.into(),
            },
        }
    }
}

/// Revenue in Telegram Stars: payments not refunded, by when they were paid (days and
/// months UTC; 7 d and 30 d are rolling windows ending now).
#[derive(Serialize, ToSchema)]
pub struct RevenueView {
    /// Always `XTR` (Telegram Stars).
    pub currency: String,
    pub stars_today: i64,
    pub stars_this_month: i64,
    /// Successful payments this month.
    pub payments_this_month: i64,
    pub stars_7d: i64,
    pub stars_30d: i64,
}

#[derive(Serialize, ToSchema)]
pub struct StatsView {
    /// When the figures were read (unix ms); days and months are UTC.
    pub at_ms: i64,
    pub users: UserStatsView,
    /// All nodes, including removed ones.
    pub traffic: TrafficStatsView,
    /// Nodes in id order.
    pub nodes: Vec<NodeStatsView>,
    pub revenue: RevenueView,
}

impl StatsView {
    fn new(at_ms: i64, s: AdminStats, revenue: Revenue) -> StatsView {
        use vpnkeeper_domain::command::plan::UserStatus;
        let of = |st: UserStatus| {
            s.users_by_status
                .iter()
                .find(|(x, _)| *x == st)
                .map_or(0, |(_, n)| *n)
        };
        StatsView {
            at_ms,
            users: UserStatsView {
                total: s.users_total,
                by_status: UsersByStatus {
                    active: of(UserStatus::Active),
                    on_hold: of(UserStatus::OnHold),
                    limited: of(UserStatus::Limited),
                    expired: of(UserStatus::Expired),
                    disabled: of(UserStatus::Disabled),
                },
                new_24h: s.new_users_24h,
                new_7d: s.new_users_7d,
                active_24h: s.active_users_24h,
            },
            traffic: TrafficStatsView {
                today: s.traffic_today.into(),
                this_month: s.traffic_month.into(),
            },
            nodes: s.nodes.into_iter().map(NodeStatsView::from).collect(),
            revenue: RevenueView {
                currency: "XTR".into(),
                stars_today: revenue.today,
                stars_this_month: revenue.this_month,
                payments_this_month: revenue.payments_this_month,
                stars_7d: revenue.last_7d,
                stars_30d: revenue.last_30d,
            },
        }
    }
}

#[utoipa::path(get, path = "/api/v1/stats", tag = "stats",
    security(("bearer" = [])),
    responses((status = 200, description = "The admin stats", body = StatsView), AdminReadErrors))]
pub async fn get(
    State(state): State<ApiState>,
    _admin: Admin,
) -> Result<Json<StatsView>, ApiError> {
    let at = now_ms();
    let stats = state.read().admin_stats(at).await?;
    let revenue = state.read().revenue(at).await?;
    Ok(Json(StatsView::new(at, stats, revenue)))
}

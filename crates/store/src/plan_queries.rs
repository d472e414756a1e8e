//! Read queries of plans and the user lifecycle (tables of migration 0030).

use sqlx::Row;
use vpnkeeper_domain::command::plan::PlanSpec;
use vpnkeeper_domain::reset::ResetStrategy;
use vpnkeeper_domain::schedule::LifecycleRow;

use crate::queries::ReadStore;

/// A plan as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub id: i64,
    pub spec: PlanSpec,
    pub archived: bool,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

const PLAN_COLS: &str = "id, name, duration_days, traffic_limit_bytes, device_limit, reset_strategy, reset_day, price_stars, archived, created_at, updated_at";

fn plan_from_row(r: &sqlx::sqlite::SqliteRow) -> Plan {
    let reset: String = r.get(5);
    let day: Option<i64> = r.get(6);
    Plan {
        id: r.get(0),
        spec: PlanSpec {
            name: r.get(1),
            duration_days: r.get(2),
            traffic_limit_bytes: r.get(3),
            device_limit: r.get(4),
            reset_strategy: ResetStrategy::parse(&reset).unwrap_or_default(),
            reset_day: day.map(|d| d as u8),
            price_stars: r.get(7),
        },
        archived: r.get::<i64, _>(8) != 0,
        created_at_ms: r.get(9),
        updated_at_ms: r.get(10),
    }
}

impl ReadStore {
    pub async fn plans(&self, include_archived: bool) -> Result<Vec<Plan>, sqlx::Error> {
        let sql = format!("SELECT {PLAN_COLS} FROM plans WHERE ? OR archived = 0 ORDER BY id");
        let rows = sqlx::query(&sql)
            .bind(include_archived)
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().map(plan_from_row).collect())
    }

    pub async fn plan(&self, id: i64) -> Result<Option<Plan>, sqlx::Error> {
        let sql = format!("SELECT {PLAN_COLS} FROM plans WHERE id = ?");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.as_ref().map(plan_from_row))
    }

    /// Users whose status can change by time alone: an expiry, an on-hold timeout or a
    /// reset strategy. One scan on indexed columns.
    pub async fn lifecycle_rows(&self) -> Result<Vec<LifecycleRow>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, status, expires_at, on_hold_timeout, reset_strategy, reset_day, plan_started_at, period_start
             FROM users
             WHERE status != 'disabled'
               AND (expires_at IS NOT NULL OR on_hold_timeout IS NOT NULL OR reset_strategy != 'no_reset')",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let reset: String = r.get(4);
                let day: Option<i64> = r.get(5);
                LifecycleRow {
                    user_id: r.get(0),
                    status: r.get(1),
                    expires_at_ms: r.get(2),
                    on_hold_timeout_ms: r.get(3),
                    reset_strategy: ResetStrategy::parse(&reset).unwrap_or_default(),
                    reset_day: day.map(|d| d as u8),
                    plan_started_at_ms: r.get(6),
                    period_start_ms: r.get(7),
                }
            })
            .collect())
    }

    /// A user's lifecycle status and period usage (for the user view).
    pub async fn user_lifecycle(
        &self,
        user_id: i64,
    ) -> Result<Option<(String, i64, Option<i64>)>, sqlx::Error> {
        let row = sqlx::query("SELECT status, used_bytes, plan_id FROM users WHERE id = ?")
            .bind(user_id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.map(|r| (r.get(0), r.get(1), r.get(2))))
    }
}

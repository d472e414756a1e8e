//! Read queries of plans and the user lifecycle (tables of migrations 0030 and 0032).

use sqlx::Row;
use vpnkeeper_domain::command::plan::PlanSpec;
use vpnkeeper_domain::command::reminder::ReminderKind;
use vpnkeeper_domain::reset::ResetStrategy;
use vpnkeeper_domain::schedule::LifecycleRow;

use crate::apply::reminder::{row_from, LIFECYCLE_COLS};
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

    /// The users the scheduler must look at `now`: those whose next due time (kept by apply,
    /// migration 0032) has come. One range scan on a partial index, so a pass costs what is
    /// due, not the user count.
    pub async fn due_rows(&self, now_ms: i64) -> Result<Vec<LifecycleRow>, sqlx::Error> {
        let sql = format!(
            "SELECT {LIFECYCLE_COLS} FROM users WHERE next_due_ms IS NOT NULL AND next_due_ms <= ? ORDER BY id"
        );
        let rows = sqlx::query(&sql)
            .bind(now_ms)
            .fetch_all(self.pool())
            .await?;
        let mut out: Vec<LifecycleRow> = rows
            .iter()
            .map(|r| {
                row_from((
                    r.get(0),
                    r.get(1),
                    r.get(2),
                    r.get(3),
                    r.get(4),
                    r.get(5),
                    r.get(6),
                    r.get(7),
                    r.get(8),
                    r.get(9),
                    r.get(10),
                ))
            })
            .collect();
        if out.is_empty() {
            return Ok(out);
        }
        let sent = sqlx::query(
            "SELECT r.user_id, r.kind, r.period FROM user_reminders r JOIN users u ON u.id = r.user_id
             WHERE u.next_due_ms IS NOT NULL AND u.next_due_ms <= ? ORDER BY r.user_id",
        )
        .bind(now_ms)
        .fetch_all(self.pool())
        .await?;
        for s in sent {
            let user: i64 = s.get(0);
            let kind: String = s.get(1);
            // Both lists are in user order (and come from one snapshot of the pool's reader).
            if let (Ok(i), Some(kind)) = (
                out.binary_search_by_key(&user, |r| r.user_id),
                ReminderKind::parse(&kind),
            ) {
                out[i].reminded.set(kind, s.get(2));
            }
        }
        Ok(out)
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

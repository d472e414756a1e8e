//! Read queries of payments and orders (migration 0060, issue #16).

use serde::Serialize;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use crate::queries::{Page, ReadStore};
use crate::stats_queries::today_and_month_start;

const DAY_MS: i64 = 86_400_000;
const PAYMENT_COLS: &str =
    "id, provider, provider_payment_id, order_id, user_id, telegram_id, plan_id, amount,
    currency, days, status, paid_at, refund_requested_by, refunded_at, refund_error";

/// A recorded payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Payment {
    pub id: i64,
    pub provider: String,
    /// Telegram's `telegram_payment_charge_id` for Stars.
    pub provider_payment_id: String,
    pub order_id: String,
    pub user_id: i64,
    pub telegram_id: Option<i64>,
    pub plan_id: i64,
    pub amount: i64,
    pub currency: String,
    /// Days of access the payment added (taken back by a refund).
    pub days: i64,
    /// `paid`, `refund_pending`, `refunded` or `refund_failed`.
    pub status: String,
    pub paid_at_ms: i64,
    /// Who asked for the refund (audit actor form).
    pub refund_requested_by: Option<String>,
    pub refunded_at_ms: Option<i64>,
    /// The provider's reason when it refused the refund.
    pub refund_error: Option<String>,
}

/// An invoice offered to a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: String,
    pub user_id: i64,
    pub telegram_id: i64,
    pub plan_id: i64,
    pub amount: i64,
    pub currency: String,
    pub discount_percent: Option<i64>,
    pub payment_id: Option<i64>,
}

/// Stars received and not refunded, over windows ending now (days are UTC).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Revenue {
    /// Since the start of the current UTC day.
    pub today: i64,
    /// The last 7 and 30 days (rolling).
    pub last_7d: i64,
    pub last_30d: i64,
    /// Since the start of the current UTC month, and how many payments.
    pub this_month: i64,
    pub payments_this_month: i64,
}

fn payment_from_row(r: &SqliteRow) -> Payment {
    Payment {
        id: r.get(0),
        provider: r.get(1),
        provider_payment_id: r.get(2),
        order_id: r.get(3),
        user_id: r.get(4),
        telegram_id: r.get(5),
        plan_id: r.get(6),
        amount: r.get(7),
        currency: r.get(8),
        days: r.get(9),
        status: r.get(10),
        paid_at_ms: r.get(11),
        refund_requested_by: r.get(12),
        refunded_at_ms: r.get(13),
        refund_error: r.get(14),
    }
}

impl ReadStore {
    pub async fn payment(&self, id: i64) -> Result<Option<Payment>, sqlx::Error> {
        let row = sqlx::query(&format!("SELECT {PAYMENT_COLS} FROM payments WHERE id = ?"))
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.as_ref().map(payment_from_row))
    }

    /// Payments, newest first; `statuses` empty = all.
    pub async fn payments(
        &self,
        statuses: &[&str],
        page: Page,
    ) -> Result<Vec<Payment>, sqlx::Error> {
        let filter = if statuses.is_empty() {
            String::new()
        } else {
            let marks = vec!["?"; statuses.len()].join(", ");
            format!("WHERE status IN ({marks})")
        };
        let sql = format!(
            "SELECT {PAYMENT_COLS} FROM payments {filter} ORDER BY id DESC LIMIT ? OFFSET ?"
        );
        let mut q = sqlx::query(&sql);
        for s in statuses {
            q = q.bind(*s);
        }
        let rows = q
            .bind(page.limit.clamp(1, 1000))
            .bind(page.offset.max(0))
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().map(payment_from_row).collect())
    }

    /// Every payment of a provider's payment id (the test's exactly-once check).
    pub async fn payments_by_provider_id(
        &self,
        provider: &str,
        provider_payment_id: &str,
    ) -> Result<Vec<Payment>, sqlx::Error> {
        let rows = sqlx::query(&format!(
            "SELECT {PAYMENT_COLS} FROM payments WHERE provider = ? AND provider_payment_id = ?"
        ))
        .bind(provider)
        .bind(provider_payment_id)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(payment_from_row).collect())
    }

    pub async fn order(&self, id: &str) -> Result<Option<Order>, sqlx::Error> {
        let row = sqlx::query(
            "SELECT id, user_id, telegram_id, plan_id, amount, currency, discount_percent, payment_id
               FROM payment_orders WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| Order {
            id: r.get(0),
            user_id: r.get(1),
            telegram_id: r.get(2),
            plan_id: r.get(3),
            amount: r.get(4),
            currency: r.get(5),
            discount_percent: r.get(6),
            payment_id: r.get(7),
        }))
    }

    /// Revenue as of `now_ms`: payments not refunded, by when they were paid.
    pub async fn revenue(&self, now_ms: i64) -> Result<Revenue, sqlx::Error> {
        let (today, month_start) = today_and_month_start(now_ms);
        let row = sqlx::query(
            "SELECT COALESCE(SUM(CASE WHEN paid_at >= ?1 THEN amount END), 0),
                    COALESCE(SUM(CASE WHEN paid_at >= ?2 THEN amount END), 0),
                    COALESCE(SUM(CASE WHEN paid_at >= ?3 THEN amount END), 0),
                    COALESCE(SUM(CASE WHEN paid_at >= ?4 THEN amount END), 0),
                    COUNT(CASE WHEN paid_at >= ?4 THEN 1 END)
               FROM payments WHERE status != 'refunded' AND paid_at >= MIN(?3, ?4)",
        )
        .bind(today * DAY_MS)
        .bind(now_ms - 7 * DAY_MS)
        .bind(now_ms - 30 * DAY_MS)
        .bind(month_start * DAY_MS)
        .fetch_one(self.pool())
        .await?;
        Ok(Revenue {
            today: row.get(0),
            last_7d: row.get(1),
            last_30d: row.get(2),
            this_month: row.get(3),
            payments_this_month: row.get(4),
        })
    }
}

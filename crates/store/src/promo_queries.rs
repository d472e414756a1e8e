//! Read queries of balances, promo codes, trials and referrals (migration 0065, issue #16).

use serde::Serialize;
use sqlx::Row;

use crate::queries::ReadStore;

/// A promo code as the API and the bot list it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PromoCodeRow {
    pub id: i64,
    pub code: String,
    /// `days`, `traffic` or `discount`.
    pub kind: String,
    /// Days, bytes or percent, by `kind`.
    pub amount: i64,
    pub max_uses: i64,
    pub uses: i64,
    pub expires_at_ms: Option<i64>,
    pub disabled: bool,
    pub created_at_ms: i64,
    pub created_by: String,
}

/// One balance movement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LedgerRow {
    pub id: i64,
    pub delta: i64,
    pub balance_after: i64,
    pub reason: String,
    pub actor: String,
    pub payment_id: Option<i64>,
    pub at_ms: i64,
}

/// A user's referral standing: who referred them, and how many they referred.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReferralInfo {
    pub referrer_id: Option<i64>,
    /// `pending`, `rewarded` or `reversed` for the user's own binding.
    pub status: Option<String>,
    pub referred: i64,
    pub rewarded: i64,
}

const CODE_COLS: &str =
    "id, code, kind, amount, max_uses, uses, expires_at, disabled, created_at, created_by";

fn code_row(r: &sqlx::sqlite::SqliteRow) -> PromoCodeRow {
    PromoCodeRow {
        id: r.get(0),
        code: r.get(1),
        kind: r.get(2),
        amount: r.get(3),
        max_uses: r.get(4),
        uses: r.get(5),
        expires_at_ms: r.get(6),
        disabled: r.get::<i64, _>(7) != 0,
        created_at_ms: r.get(8),
        created_by: r.get(9),
    }
}

impl ReadStore {
    pub async fn promo_codes(&self) -> Result<Vec<PromoCodeRow>, sqlx::Error> {
        let rows = sqlx::query(&format!("SELECT {CODE_COLS} FROM promo_codes ORDER BY id"))
            .fetch_all(self.pool())
            .await?;
        Ok(rows.iter().map(code_row).collect())
    }

    /// One code, compared case-insensitively (the column's collation).
    pub async fn promo_code(&self, code: &str) -> Result<Option<PromoCodeRow>, sqlx::Error> {
        let row = sqlx::query(&format!(
            "SELECT {CODE_COLS} FROM promo_codes WHERE code = ?"
        ))
        .bind(code)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(code_row))
    }

    /// The user's balance in Stars (0 when they never had one).
    pub async fn balance(&self, user_id: i64) -> Result<i64, sqlx::Error> {
        let stars: Option<i64> =
            sqlx::query_scalar("SELECT stars FROM user_balances WHERE user_id = ?")
                .bind(user_id)
                .fetch_optional(self.pool())
                .await?;
        Ok(stars.unwrap_or(0))
    }

    /// The user's latest balance movements, newest first.
    pub async fn balance_ledger(
        &self,
        user_id: i64,
        limit: i64,
    ) -> Result<Vec<LedgerRow>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, delta, balance_after, reason, actor, payment_id, at FROM balance_ledger
             WHERE user_id = ? ORDER BY id DESC LIMIT ?",
        )
        .bind(user_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| LedgerRow {
                id: r.get(0),
                delta: r.get(1),
                balance_after: r.get(2),
                reason: r.get(3),
                actor: r.get(4),
                payment_id: r.get(5),
                at_ms: r.get(6),
            })
            .collect())
    }

    /// Whether this Telegram account has had its free trial.
    pub async fn trial_used(&self, telegram_id: i64) -> Result<bool, sqlx::Error> {
        let at: Option<i64> =
            sqlx::query_scalar("SELECT at FROM trials_used WHERE telegram_id = ?")
                .bind(telegram_id)
                .fetch_optional(self.pool())
                .await?;
        Ok(at.is_some())
    }

    pub async fn referral_info(&self, user_id: i64) -> Result<ReferralInfo, sqlx::Error> {
        let own = sqlx::query("SELECT referrer_id, status FROM referrals WHERE referee_id = ?")
            .bind(user_id)
            .fetch_optional(self.pool())
            .await?;
        let counts = sqlx::query(
            "SELECT COUNT(*), COALESCE(SUM(status = 'rewarded'), 0) FROM referrals WHERE referrer_id = ?",
        )
        .bind(user_id)
        .fetch_one(self.pool())
        .await?;
        Ok(ReferralInfo {
            referrer_id: own.as_ref().map(|r| r.get(0)),
            status: own.as_ref().map(|r| r.get(1)),
            referred: counts.get(0),
            rewarded: counts.get(1),
        })
    }
}

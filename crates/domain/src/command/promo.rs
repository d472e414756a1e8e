//! Promo codes (issue #16 item 5): a code grants days, traffic, or a discount percent on the
//! next purchase; it has a maximum number of uses, one use per user, and an optional expiry.
//! Redemptions are Commands applied serially by the state machine, so the use count can
//! never pass the maximum whatever the concurrency of the callers.

use serde::{Deserialize, Serialize};

use crate::validate::ValidationError;

/// What a code gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PromoGrant {
    /// Days added to the user's expiry.
    Days { days: i64 },
    /// Bytes added to the user's traffic quota.
    Traffic { bytes: i64 },
    /// A discount on the user's next purchase, consumed by the paid order.
    Discount { percent: i64 },
}

impl PromoGrant {
    pub fn kind(&self) -> &'static str {
        match self {
            PromoGrant::Days { .. } => "days",
            PromoGrant::Traffic { .. } => "traffic",
            PromoGrant::Discount { .. } => "discount",
        }
    }

    pub fn amount(&self) -> i64 {
        match *self {
            PromoGrant::Days { days } => days,
            PromoGrant::Traffic { bytes } => bytes,
            PromoGrant::Discount { percent } => percent,
        }
    }

    /// The grant back from its stored `kind` and `amount` columns.
    pub fn from_parts(kind: &str, amount: i64) -> Option<PromoGrant> {
        match kind {
            "days" => Some(PromoGrant::Days { days: amount }),
            "traffic" => Some(PromoGrant::Traffic { bytes: amount }),
            "discount" => Some(PromoGrant::Discount { percent: amount }),
            _ => None,
        }
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        match *self {
            PromoGrant::Days { days } if !(1..=3650).contains(&days) => Err(ValidationError::new(
                "days",
                format!("must be 1..=3650 (got {days})"),
            )),
            PromoGrant::Traffic { bytes } if !(1..=(1i64 << 50)).contains(&bytes) => Err(
                ValidationError::new("traffic", "must be between 1 byte and 1 PiB"),
            ),
            PromoGrant::Discount { percent } if !(1..=100).contains(&percent) => Err(
                ValidationError::new("percent", format!("must be 1..=100 (got {percent})")),
            ),
            _ => Ok(()),
        }
    }
}

/// A new promo code as an admin defines it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromoSpec {
    pub code: String,
    pub grant: PromoGrant,
    /// How many users may redeem it in all (each at most once).
    pub max_uses: i64,
    /// Unix ms after which it is refused; `None` = never expires.
    pub expires_at_ms: Option<i64>,
}

pub const CODE_MIN_CHARS: usize = 3;
pub const CODE_MAX_CHARS: usize = 32;
pub const MAX_USES_LIMIT: i64 = 1_000_000;

impl PromoSpec {
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate_code(&self.code)?;
        self.grant.validate()?;
        if !(1..=MAX_USES_LIMIT).contains(&self.max_uses) {
            return Err(ValidationError::new(
                "max_uses",
                format!("must be 1..={MAX_USES_LIMIT} (got {})", self.max_uses),
            ));
        }
        if matches!(self.expires_at_ms, Some(e) if e <= 0) {
            return Err(ValidationError::new(
                "expires_at",
                "must be a time after 1970",
            ));
        }
        Ok(())
    }
}

/// A code as people type it: 3–32 letters, digits, `-` or `_` (compared case-insensitively).
pub fn validate_code(code: &str) -> Result<(), ValidationError> {
    let n = code.chars().count();
    if !(CODE_MIN_CHARS..=CODE_MAX_CHARS).contains(&n) {
        return Err(ValidationError::new(
            "code",
            format!("must be {CODE_MIN_CHARS}–{CODE_MAX_CHARS} characters (got {n})"),
        ));
    }
    if !code
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(ValidationError::new(
            "code",
            "may contain only latin letters, digits, `-` and `_`",
        ));
    }
    Ok(())
}

/// The stored form of a code: upper case, so `summer25` and `SUMMER25` are one code.
pub fn normalize_code(code: &str) -> String {
    code.trim().to_ascii_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(code: &str, grant: PromoGrant, max_uses: i64) -> PromoSpec {
        PromoSpec {
            code: code.into(),
            grant,
            max_uses,
            expires_at_ms: None,
        }
    }

    #[test]
    fn codes_grants_and_uses() {
        assert!(spec("SUMMER25", PromoGrant::Discount { percent: 25 }, 5)
            .validate()
            .is_ok());
        assert!(spec("ab", PromoGrant::Days { days: 1 }, 1)
            .validate()
            .is_err());
        assert!(spec("bad code", PromoGrant::Days { days: 1 }, 1)
            .validate()
            .is_err());
        assert!(spec("КОД123", PromoGrant::Days { days: 1 }, 1)
            .validate()
            .is_err());
        assert!(spec("OK1", PromoGrant::Discount { percent: 101 }, 1)
            .validate()
            .is_err());
        assert!(spec("OK1", PromoGrant::Days { days: 0 }, 1)
            .validate()
            .is_err());
        assert!(spec("OK1", PromoGrant::Traffic { bytes: 0 }, 1)
            .validate()
            .is_err());
        assert!(spec("OK1", PromoGrant::Days { days: 7 }, 0)
            .validate()
            .is_err());
        assert_eq!(normalize_code(" summer25 "), "SUMMER25");
        for g in [
            PromoGrant::Days { days: 3 },
            PromoGrant::Traffic { bytes: 9 },
            PromoGrant::Discount { percent: 10 },
        ] {
            assert_eq!(PromoGrant::from_parts(g.kind(), g.amount()), Some(g));
        }
    }
}

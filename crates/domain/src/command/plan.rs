//! Plans and the user lifecycle: create/update/archive a plan, assign or extend it, reset a
//! user's period usage, and the scheduler's time-driven events.
//!
//! A user's `status` (`active`, `disabled`, `limited`, `expired`, `on_hold`) is derived by
//! apply from the user's row at the envelope's clock, so every node agrees; the scheduler only
//! names *which* users to look at ([`LifecycleEvent`]), and apply re-checks the condition, so a
//! replayed or late event is harmless.

use serde::{Deserialize, Serialize};

use crate::entity::UserId;
use crate::reset::{validate_reset, ResetStrategy};
use crate::validate::{self, ValidationError};

pub type PlanId = i64;

/// Longest plan: 100 years. Longer is a typo, and would overflow nothing but would confuse.
pub const MAX_DURATION_DAYS: i64 = 36_500;
/// Largest quota: 1 EiB.
pub const MAX_QUOTA_BYTES: i64 = 1 << 60;
/// Most devices a plan may allow.
pub const MAX_DEVICE_LIMIT: i64 = 10_000;
/// Largest price in Telegram Stars (Telegram caps one invoice at 10,000... kept generous).
pub const MAX_PRICE_STARS: i64 = 1_000_000;

/// A plan's fields, as carried by `CreatePlan`/`UpdatePlan`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanSpec {
    pub name: String,
    /// Days of access a purchase (or an extension) adds.
    pub duration_days: i64,
    /// Traffic quota per reset period in bytes (upload + download); 0 = unlimited.
    pub traffic_limit_bytes: i64,
    /// Active devices a user may hold; 0 = unlimited.
    pub device_limit: i64,
    pub reset_strategy: ResetStrategy,
    /// Day of the month (1–31) for `day_of_month`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_day: Option<u8>,
    /// Price in Telegram Stars (used by payments); 0 = not for sale.
    #[serde(default)]
    pub price_stars: i64,
}

impl PlanSpec {
    pub fn validate(&self) -> Result<(), ValidationError> {
        validate::name("name", &self.name)?;
        if !(1..=MAX_DURATION_DAYS).contains(&self.duration_days) {
            return Err(ValidationError::new(
                "duration_days",
                format!("must be between 1 and {MAX_DURATION_DAYS} days"),
            ));
        }
        if !(0..=MAX_QUOTA_BYTES).contains(&self.traffic_limit_bytes) {
            return Err(ValidationError::new(
                "traffic_limit_bytes",
                format!("must be between 0 (unlimited) and {MAX_QUOTA_BYTES} bytes"),
            ));
        }
        if !(0..=MAX_DEVICE_LIMIT).contains(&self.device_limit) {
            return Err(ValidationError::new(
                "device_limit",
                format!("must be between 0 (unlimited) and {MAX_DEVICE_LIMIT}"),
            ));
        }
        if !(0..=MAX_PRICE_STARS).contains(&self.price_stars) {
            return Err(ValidationError::new(
                "price_stars",
                format!("must be between 0 and {MAX_PRICE_STARS}"),
            ));
        }
        validate_reset(self.reset_strategy, self.reset_day)
    }
}

/// `AssignPlan`: an on-hold start needs a timeout in the future of the epoch, if any.
pub fn validate_assign(
    on_hold: bool,
    on_hold_timeout_ms: Option<i64>,
) -> Result<(), ValidationError> {
    match on_hold_timeout_ms {
        Some(_) if !on_hold => Err(ValidationError::new(
            "on_hold_timeout_ms",
            "is only used with `on_hold: true`",
        )),
        Some(t) if t <= 0 => Err(ValidationError::new(
            "on_hold_timeout_ms",
            "must be a positive unix time in milliseconds",
        )),
        _ => Ok(()),
    }
}

/// What the scheduler noticed about one user; apply re-checks it at the envelope's clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum LifecycleEvent {
    /// The expiry has passed: the user becomes `expired`.
    Expire { user_id: UserId },
    /// A new reset period began at `period_start_ms`: zero the period usage, once per period.
    Reset {
        user_id: UserId,
        period_start_ms: i64,
    },
    /// An on-hold user's timeout has passed: start the clock anyway.
    OnHoldTimeout { user_id: UserId },
}

/// Most events one `Lifecycle` may carry, so one log entry stays small.
pub const MAX_LIFECYCLE_EVENTS: usize = 2000;

pub fn validate_lifecycle(events: &[LifecycleEvent]) -> Result<(), ValidationError> {
    if events.len() > MAX_LIFECYCLE_EVENTS {
        return Err(ValidationError::new(
            "events",
            format!("at most {MAX_LIFECYCLE_EVENTS} per command; split the batch"),
        ));
    }
    Ok(())
}

/// A user's lifecycle status, Marzban's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    Active,
    Disabled,
    Limited,
    Expired,
    OnHold,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Disabled => "disabled",
            UserStatus::Limited => "limited",
            UserStatus::Expired => "expired",
            UserStatus::OnHold => "on_hold",
        }
    }

    pub fn parse(s: &str) -> Option<UserStatus> {
        [
            UserStatus::Active,
            UserStatus::Disabled,
            UserStatus::Limited,
            UserStatus::Expired,
            UserStatus::OnHold,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }

    /// Whether the data planes serve this user's devices. On-hold users are served: their
    /// first handshake is what starts the clock.
    pub fn is_served(self) -> bool {
        matches!(self, UserStatus::Active | UserStatus::OnHold)
    }
}

/// The one rule that derives a status from a user's row at time `at`.
pub struct StatusInputs {
    pub enabled: bool,
    pub expires_at_ms: Option<i64>,
    pub traffic_limit_bytes: Option<i64>,
    pub used_bytes: i64,
    /// Days to run once an on-hold user first connects; `Some` while on hold.
    pub on_hold_days: Option<i64>,
}

pub fn derive_status(s: &StatusInputs, at: i64) -> UserStatus {
    if !s.enabled {
        UserStatus::Disabled
    } else if s.on_hold_days.is_some() && s.expires_at_ms.is_none() {
        UserStatus::OnHold
    } else if s.expires_at_ms.is_some_and(|e| e <= at) {
        UserStatus::Expired
    } else if s
        .traffic_limit_bytes
        .is_some_and(|l| l > 0 && s.used_bytes >= l)
    {
        UserStatus::Limited
    } else {
        UserStatus::Active
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> PlanSpec {
        PlanSpec {
            name: "monthly".into(),
            duration_days: 30,
            traffic_limit_bytes: 0,
            device_limit: 3,
            reset_strategy: ResetStrategy::Month,
            reset_day: None,
            price_stars: 100,
        }
    }

    #[test]
    fn bad_plans_name_the_field() {
        type Break = fn(&mut PlanSpec);
        let cases: Vec<(Break, &str)> = vec![
            (|p| p.duration_days = 0, "duration_days"),
            (|p| p.duration_days = 100_000, "duration_days"),
            (|p| p.traffic_limit_bytes = -1, "traffic_limit_bytes"),
            (|p| p.traffic_limit_bytes = i64::MAX, "traffic_limit_bytes"),
            (|p| p.device_limit = -2, "device_limit"),
            (|p| p.name = String::new(), "name"),
            (
                |p| {
                    p.reset_strategy = ResetStrategy::DayOfMonth;
                    p.reset_day = Some(32)
                },
                "reset_day",
            ),
        ];
        assert!(spec().validate().is_ok());
        for (break_it, field) in cases {
            let mut p = spec();
            break_it(&mut p);
            assert_eq!(p.validate().unwrap_err().field, field);
        }
    }

    #[test]
    fn status_rule() {
        let mut s = StatusInputs {
            enabled: true,
            expires_at_ms: Some(1000),
            traffic_limit_bytes: Some(2048),
            used_bytes: 0,
            on_hold_days: None,
        };
        assert_eq!(derive_status(&s, 999), UserStatus::Active);
        assert_eq!(derive_status(&s, 1000), UserStatus::Expired);
        s.used_bytes = 2048;
        assert_eq!(derive_status(&s, 10), UserStatus::Limited);
        s.enabled = false;
        assert_eq!(derive_status(&s, 10), UserStatus::Disabled);
        s.enabled = true;
        s.expires_at_ms = None;
        s.on_hold_days = Some(30);
        assert_eq!(derive_status(&s, 10), UserStatus::OnHold);
    }
}

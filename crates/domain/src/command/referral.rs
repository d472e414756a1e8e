//! Referrals (issue #16 item 6): `/start ref_<code>` binds a new user to the referrer whose
//! code it is; the referrer is rewarded once, when the referee's first payment succeeds
//! (store `apply/payment_hooks.rs`), and the reward is taken back if that payment is refunded.
//!
//! A user's code is their user id in base 36: stable, short enough for a deep link (Telegram
//! allows 64 characters of `[A-Za-z0-9_-]`), and needing no stored token.

use serde::{Deserialize, Serialize};

use crate::validate::ValidationError;

/// What the referrer gets, fixed when the referee is bound (from the proposer's
/// `[payments]` config), so apply never reads config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReferralReward {
    /// Days added to the referrer's expiry.
    Days { days: i64 },
    /// This percentage of the referee's first payment, credited to the referrer's balance.
    Percent { percent: i64 },
}

impl ReferralReward {
    pub fn kind(&self) -> &'static str {
        match self {
            ReferralReward::Days { .. } => "days",
            ReferralReward::Percent { .. } => "percent",
        }
    }

    pub fn amount(&self) -> i64 {
        match *self {
            ReferralReward::Days { days } => days,
            ReferralReward::Percent { percent } => percent,
        }
    }

    pub fn from_parts(kind: &str, amount: i64) -> Option<ReferralReward> {
        match kind {
            "days" => Some(ReferralReward::Days { days: amount }),
            "percent" => Some(ReferralReward::Percent { percent: amount }),
            _ => None,
        }
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        match *self {
            ReferralReward::Days { days } if !(1..=365).contains(&days) => Err(
                ValidationError::new("reward_days", format!("must be 1..=365 (got {days})")),
            ),
            ReferralReward::Percent { percent } if !(1..=100).contains(&percent) => Err(
                ValidationError::new("reward_percent", format!("must be 1..=100 (got {percent})")),
            ),
            _ => Ok(()),
        }
    }
}

/// The deep-link payload prefix: `/start ref_<code>`.
pub const START_PREFIX: &str = "ref_";

/// A user's referral code.
pub fn code_of(user_id: i64) -> String {
    let mut n = user_id.max(0) as u64;
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(digits[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).expect("ascii digits")
}

/// The user id a code names, if it is a well-formed code.
pub fn user_of(code: &str) -> Option<i64> {
    // i64::MAX is 13 base-36 digits.
    if code.is_empty() || code.len() > 13 {
        return None;
    }
    let id = i64::from_str_radix(&code.to_ascii_lowercase(), 36).ok()?;
    (id > 0).then_some(id)
}

/// `BindReferrer`: the code must name a user; the reward must be sane.
pub fn validate_bind(code: &str, reward: &ReferralReward) -> Result<(), ValidationError> {
    if user_of(code).is_none() {
        return Err(ValidationError::new(
            "code",
            "is not a referral code (expected the part after `ref_` of a referral link)",
        ));
    }
    reward.validate()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for id in [1, 35, 36, 42, 1_000_000, i64::MAX] {
            assert_eq!(user_of(&code_of(id)), Some(id), "id {id}");
        }
        assert_eq!(code_of(42), "16");
        assert_eq!(user_of(""), None);
        assert_eq!(user_of("0"), None);
        assert_eq!(user_of("not a code"), None);
        assert_eq!(user_of("-5"), None);
        assert!(validate_bind("16", &ReferralReward::Days { days: 7 }).is_ok());
        assert!(validate_bind("!!", &ReferralReward::Days { days: 7 }).is_err());
        assert!(validate_bind("16", &ReferralReward::Percent { percent: 0 }).is_err());
    }
}

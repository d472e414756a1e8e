//! Free trials (issue #16 item 4): a plan for a configured number of days, once per Telegram
//! account ever (apply keys it by Telegram id, so deleting the user does not re-arm it).

use crate::validate::{self, ValidationError};

pub const MAX_TRIAL_DAYS: i64 = 365;

/// `StartTrial`: a plausible chat, a plan id and a length.
pub fn validate_start(telegram_id: i64, plan_id: i64, days: i64) -> Result<(), ValidationError> {
    validate::telegram_id("telegram_id", telegram_id)?;
    if plan_id < 1 {
        return Err(ValidationError::new("plan", "must be a positive plan id"));
    }
    if !(1..=MAX_TRIAL_DAYS).contains(&days) {
        return Err(ValidationError::new(
            "days",
            format!("must be 1..={MAX_TRIAL_DAYS} (got {days})"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        assert!(validate_start(42, 1, 3).is_ok());
        assert!(validate_start(42, 0, 3).is_err());
        assert!(validate_start(42, 1, 0).is_err());
        assert!(validate_start(0, 1, 3).is_err());
    }
}

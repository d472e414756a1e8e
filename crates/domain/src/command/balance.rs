//! User balances in Telegram Stars (issue #16 item 3): an admin credits or debits a user.
//! Apply refuses a debit that would take the balance below zero; every movement is audited
//! with its actor and kept in the balance ledger.

use crate::validate::ValidationError;

/// The largest single credit or debit, in Stars (Telegram caps one payment at 10,000 Stars;
/// this leaves room for manual corrections while catching a typo of a few extra digits).
pub const MAX_ADJUST_STARS: i64 = 1_000_000;
/// The longest reason kept in the ledger.
pub const MAX_REASON_CHARS: usize = 200;

/// `AdjustBalance`: a non-zero amount within bounds and a short reason.
pub fn validate_adjust(delta_stars: i64, reason: &str) -> Result<(), ValidationError> {
    if delta_stars == 0 {
        return Err(ValidationError::new(
            "amount",
            "must not be zero: a positive amount credits, a negative one debits",
        ));
    }
    if delta_stars.unsigned_abs() > MAX_ADJUST_STARS as u64 {
        return Err(ValidationError::new(
            "amount",
            format!("at most {MAX_ADJUST_STARS} Stars at a time (got {delta_stars})"),
        ));
    }
    let n = reason.chars().count();
    if n > MAX_REASON_CHARS {
        return Err(ValidationError::new(
            "reason",
            format!("at most {MAX_REASON_CHARS} characters (got {n})"),
        ));
    }
    if reason.chars().any(char::is_control) {
        return Err(ValidationError::new(
            "reason",
            "must not contain control characters",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_and_reasons() {
        assert!(validate_adjust(50, "goodwill").is_ok());
        assert!(validate_adjust(-50, "").is_ok());
        assert!(validate_adjust(0, "x").is_err());
        assert!(validate_adjust(MAX_ADJUST_STARS + 1, "x").is_err());
        assert!(validate_adjust(-MAX_ADJUST_STARS - 1, "x").is_err());
        assert!(validate_adjust(5, &"r".repeat(MAX_REASON_CHARS + 1)).is_err());
        assert!(validate_adjust(5, "a\nb").is_err());
    }
}

//! User commands: create, enable/disable, update, delete, rotate the subscription token.

use serde::{Deserialize, Serialize};

use crate::validate::{self, ValidationError};

/// A change to an optional field: set a value or clear it. `Option<Update<T>>` gives the
/// three states a PATCH needs (keep, set, clear) without relying on `null` vs absent, which
/// does not survive a serde round trip of the log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Update<T> {
    Set(T),
    Clear,
}

impl<T: Copy> Update<T> {
    /// The new column value: `Some(v)` to set, `None` to clear.
    pub fn value(&self) -> Option<T> {
        match self {
            Update::Set(v) => Some(*v),
            Update::Clear => None,
        }
    }
}

/// `CreateUser`: a valid name and, when given, a plausible Telegram id.
pub fn validate_create(name: &str, telegram_id: Option<i64>) -> Result<(), ValidationError> {
    validate::name("name", name)?;
    if let Some(t) = telegram_id {
        validate::telegram_id("telegram_id", t)?;
    }
    Ok(())
}

/// The fields of `UpdateUser`, borrowed for validation and apply.
pub struct UserPatch<'a> {
    pub name: Option<&'a str>,
    pub telegram_id: Option<&'a Update<i64>>,
    pub expires_at_ms: Option<&'a Update<i64>>,
    pub traffic_limit_bytes: Option<&'a Update<i64>>,
}

impl UserPatch<'_> {
    /// `UpdateUser`: every field that is set must be valid on its own.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if let Some(n) = self.name {
            validate::name("name", n)?;
        }
        if let Some(Update::Set(t)) = self.telegram_id {
            validate::telegram_id("telegram_id", *t)?;
        }
        if let Some(Update::Set(e)) = self.expires_at_ms {
            if *e <= 0 {
                return Err(ValidationError::new(
                    "expires_at_ms",
                    "must be a positive unix time in milliseconds, or null for no expiry",
                ));
            }
        }
        if let Some(Update::Set(l)) = self.traffic_limit_bytes {
            if *l <= 0 {
                return Err(ValidationError::new(
                    "traffic_limit_bytes",
                    "must be a positive number of bytes, or null for unlimited",
                ));
            }
        }
        Ok(())
    }
}

/// `RotateSubToken`: the proposer draws the token from the OS RNG; refuse anything guessable.
pub fn validate_sub_token(sub_token: &str) -> Result<(), ValidationError> {
    let url_safe = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if sub_token.len() < 16 || !sub_token.chars().all(url_safe) {
        return Err(ValidationError::new(
            "sub_token",
            "must be at least 16 URL-safe characters",
        ));
    }
    Ok(())
}

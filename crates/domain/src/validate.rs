//! Validation rules shared by the API, the CLI and the bot.
//!
//! Every rule returns a [`ValidationError`] that names the offending field and says what a
//! valid value looks like, so the message can be shown to a person unchanged.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A value a person supplied is not acceptable. `field` is the API/CLI name of the input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl fmt::Display) -> Self {
        Self {
            field: field.into(),
            message: message.to_string(),
        }
    }
}

pub const NAME_MAX_CHARS: usize = 64;

/// Names of users, devices and nodes: 1–64 characters, no control characters, no leading or
/// trailing whitespace (they end up in file names, Telegram messages and config comments).
pub fn name(field: &str, value: &str) -> Result<(), ValidationError> {
    let chars = value.chars().count();
    if chars == 0 {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if chars > NAME_MAX_CHARS {
        return Err(ValidationError::new(
            field,
            format!("must be at most {NAME_MAX_CHARS} characters (got {chars})"),
        ));
    }
    if value.trim() != value {
        return Err(ValidationError::new(
            field,
            "must not start or end with whitespace",
        ));
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(ValidationError::new(
            field,
            format!(
                "must not contain control characters (found U+{:04X})",
                c as u32
            ),
        ));
    }
    // A name that parses as a number would be ambiguous wherever "id or name" is accepted.
    if value.parse::<i64>().is_ok() {
        return Err(ValidationError::new(
            field,
            "must not be a plain number (numbers are read as ids); add a letter",
        ));
    }
    Ok(())
}

/// Telegram user ids are positive 64-bit integers.
pub fn telegram_id(field: &str, value: i64) -> Result<(), ValidationError> {
    if value <= 0 {
        return Err(ValidationError::new(
            field,
            format!("must be a positive Telegram user id (got {value})"),
        ));
    }
    Ok(())
}

/// Host names or IP literals that clients will connect to.
pub fn host(field: &str, value: &str) -> Result<(), ValidationError> {
    if value.is_empty() || value.len() > 253 {
        return Err(ValidationError::new(
            field,
            "must be a host name or IP address of 1–253 characters",
        ));
    }
    if value.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    let ok = value.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    });
    if !ok {
        return Err(ValidationError::new(
            field,
            format!("`{value}` is not a valid host name or IP address"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(name("name", "alice").is_ok());
        assert!(name("name", "Алиса телефон").is_ok());
        assert!(name("name", &"x".repeat(64)).is_ok());
        assert_eq!(
            name("name", &"x".repeat(65)).unwrap_err().to_string(),
            "name: must be at most 64 characters (got 65)"
        );
        assert!(name("name", "").is_err());
        assert!(name("name", " a").is_err());
        assert!(name("name", "a\nb").is_err());
        assert!(name("name", "42").is_err());
    }

    #[test]
    fn telegram_ids() {
        assert!(telegram_id("telegram_id", 1).is_ok());
        assert!(telegram_id("telegram_id", 0).is_err());
        assert!(telegram_id("telegram_id", -5).is_err());
    }

    #[test]
    fn hosts() {
        assert!(host("public_host", "vpn.example.com").is_ok());
        assert!(host("public_host", "127.0.0.1").is_ok());
        assert!(host("public_host", "::1").is_ok());
        assert!(host("public_host", "bad host").is_err());
        assert!(host("public_host", "-a.com").is_err());
    }
}

//! References to users and devices as a person types them.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::entity::{DeviceId, UserId};
use crate::validate::{self, ValidationError};

/// A reference to a user as a person types it: a numeric id or a name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserRef {
    Id(UserId),
    Name(String),
    TelegramId(i64),
}

impl UserRef {
    /// `"42"` is an id, anything else a name (names may not be plain numbers).
    pub fn parse(text: &str) -> UserRef {
        match text.trim().parse::<i64>() {
            Ok(id) => UserRef::Id(id),
            Err(_) => UserRef::Name(text.trim().to_string()),
        }
    }

    /// Stateless check: ids are positive, names not empty, Telegram ids plausible.
    pub fn validate(&self) -> Result<(), ValidationError> {
        match self {
            UserRef::Id(id) if *id <= 0 => Err(ValidationError::new("user", "ids are positive")),
            UserRef::Name(n) if n.is_empty() => {
                Err(ValidationError::new("user", "must not be empty"))
            }
            UserRef::TelegramId(t) => validate::telegram_id("user", *t),
            _ => Ok(()),
        }
    }
}

impl std::fmt::Display for UserRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UserRef::Id(id) => write!(f, "#{id}"),
            UserRef::Name(n) => write!(f, "`{n}`"),
            UserRef::TelegramId(t) => write!(f, "telegram id {t}"),
        }
    }
}

/// A device by numeric id or UUID: both are accepted everywhere (seed 001's 422 bug).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceRef {
    Id(DeviceId),
    Uuid(Uuid),
}

impl DeviceRef {
    pub fn parse(text: &str) -> Result<DeviceRef, ValidationError> {
        let t = text.trim();
        if let Ok(id) = t.parse::<i64>() {
            return Ok(DeviceRef::Id(id));
        }
        Uuid::parse_str(t).map(DeviceRef::Uuid).map_err(|_| {
            ValidationError::new("device", format!("`{t}` is neither a device id nor a UUID"))
        })
    }
}

impl std::fmt::Display for DeviceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceRef::Id(id) => write!(f, "#{id}"),
            DeviceRef::Uuid(u) => write!(f, "{u}"),
        }
    }
}

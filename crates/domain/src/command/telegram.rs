//! The Telegram bot's commands: one update and its effects, delivery reports, chat state,
//! access requests and broadcasts (see `crate::telegram` for the exactly-once design).

use super::Command;
use crate::telegram::{
    ChatChange, OutboxItem, MAX_BROADCAST_CHARS, MAX_OUTBOX_ITEMS, MAX_UPDATE_COMMANDS,
};
use crate::validate::{self, ValidationError};

/// `TelegramUpdate`: bounded, not nested, and every inner command valid on its own.
pub fn validate_update(commands: &[Command], outbox: &[OutboxItem]) -> Result<(), ValidationError> {
    if commands.len() > MAX_UPDATE_COMMANDS {
        return Err(ValidationError::new(
            "commands",
            format!("at most {MAX_UPDATE_COMMANDS} per update"),
        ));
    }
    if outbox.len() > MAX_OUTBOX_ITEMS {
        return Err(ValidationError::new(
            "outbox",
            format!("at most {MAX_OUTBOX_ITEMS} per update"),
        ));
    }
    for c in commands {
        if matches!(
            c,
            Command::TelegramUpdate { .. } | Command::TelegramDelivered { .. }
        ) {
            return Err(ValidationError::new(
                "commands",
                "Telegram updates cannot be nested",
            ));
        }
        c.validate()?;
    }
    Ok(())
}

/// `TelegramChat`: a plausible chat and a supported language.
pub fn validate_chat(telegram_id: i64, change: &ChatChange) -> Result<(), ValidationError> {
    validate::telegram_id("telegram_id", telegram_id)?;
    match change.lang.as_deref() {
        None | Some("ru") | Some("en") => Ok(()),
        Some(other) => Err(ValidationError::new(
            "lang",
            format!("`{other}` is not a supported language; use ru or en"),
        )),
    }
}

/// `TelegramAccessRequest`: a plausible id and a display name of bounded length.
pub fn validate_access_request(telegram_id: i64, display: &str) -> Result<(), ValidationError> {
    validate::telegram_id("telegram_id", telegram_id)?;
    if display.chars().count() > 256 {
        return Err(ValidationError::new("display", "at most 256 characters"));
    }
    Ok(())
}

/// `StartBroadcast`: a message that is not empty and fits one Telegram message.
pub fn validate_broadcast(text: &str) -> Result<(), ValidationError> {
    let n = text.chars().count();
    if text.trim().is_empty() {
        return Err(ValidationError::new("text", "must not be empty"));
    }
    if n > MAX_BROADCAST_CHARS {
        return Err(ValidationError::new(
            "text",
            format!("at most {MAX_BROADCAST_CHARS} characters (got {n})"),
        ));
    }
    Ok(())
}

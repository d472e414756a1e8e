//! Support tickets: a user's message, an admin's reply, closing (see `crate::ticket`).

use crate::ticket::MAX_TICKET_TEXT_CHARS;
use crate::validate::{self, ValidationError};

/// A ticket message: some text, not more than fits a Telegram message.
pub fn validate_text(text: &str) -> Result<(), ValidationError> {
    if text.trim().is_empty() {
        return Err(ValidationError::new("text", "must not be empty"));
    }
    let n = text.chars().count();
    if n > MAX_TICKET_TEXT_CHARS {
        return Err(ValidationError::new(
            "text",
            format!("at most {MAX_TICKET_TEXT_CHARS} characters (got {n})"),
        ));
    }
    Ok(())
}

/// `TicketPost`: a plausible chat and a message.
pub fn validate_post(telegram_id: i64, text: &str) -> Result<(), ValidationError> {
    validate::telegram_id("telegram_id", telegram_id)?;
    validate_text(text)
}

/// `TicketReply` / `CloseTicket`: ticket ids start at 1.
pub fn validate_ticket_id(ticket_id: i64) -> Result<(), ValidationError> {
    if ticket_id < 1 {
        return Err(ValidationError::new("ticket_id", "must be a positive id"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_and_ids() {
        assert!(validate_post(42, "help, nothing connects").is_ok());
        assert!(validate_post(42, "   ").is_err());
        assert!(validate_post(0, "hi").is_err());
        assert!(validate_text(&"я".repeat(MAX_TICKET_TEXT_CHARS)).is_ok());
        assert!(validate_text(&"я".repeat(MAX_TICKET_TEXT_CHARS + 1)).is_err());
        assert!(validate_ticket_id(1).is_ok());
        assert!(validate_ticket_id(0).is_err());
    }
}

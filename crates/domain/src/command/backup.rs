//! Scheduled backups sent to the bot's admins (`TelegramBackupDue`).
//!
//! The leader's schedule proposes one command per schedule slot (the slot's start, a
//! multiple of the interval in unix ms); apply queues one outbox row per admin chat only
//! when no slot as late was queued before, so a slot is sent once even when leadership
//! moves while it is due. The backup file itself never enters the log: the bot's sender
//! makes it when it performs the row.

use crate::validate::{self, ValidationError};

/// Admin chats one command may address (Telegram admins are a handful of people).
pub const MAX_BACKUP_CHATS: usize = 100;

pub fn validate_due(slot_ms: i64, chats: &[i64]) -> Result<(), ValidationError> {
    if slot_ms <= 0 {
        return Err(ValidationError::new(
            "slot_ms",
            format!("must be a positive unix time in ms (got {slot_ms})"),
        ));
    }
    if chats.is_empty() || chats.len() > MAX_BACKUP_CHATS {
        return Err(ValidationError::new(
            "chats",
            format!("must name 1 to {MAX_BACKUP_CHATS} admin chats"),
        ));
    }
    for chat in chats {
        validate::telegram_id("chats", *chat)?;
    }
    Ok(())
}

/// The start of the schedule slot `now_ms` falls in: slots are aligned to multiples of the
/// interval since the epoch, so every node agrees on them whoever leads.
pub fn slot_start(now_ms: i64, interval_ms: i64) -> i64 {
    if interval_ms <= 0 {
        return now_ms;
    }
    now_ms - now_ms.rem_euclid(interval_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_align_and_bad_commands_are_refused() {
        assert_eq!(slot_start(10_500, 1_000), 10_000);
        assert_eq!(slot_start(10_000, 1_000), 10_000);
        assert_eq!(slot_start(86_400_000 * 3 + 5, 86_400_000), 86_400_000 * 3);
        assert!(validate_due(10_000, &[7]).is_ok());
        assert_eq!(validate_due(0, &[7]).unwrap_err().field, "slot_ms");
        assert_eq!(validate_due(1, &[]).unwrap_err().field, "chats");
        assert_eq!(validate_due(1, &[-5]).unwrap_err().field, "chats");
        let many: Vec<i64> = (1..=101).collect();
        assert!(validate_due(1, &many).is_err());
    }
}

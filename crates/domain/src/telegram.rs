//! The Telegram bot's part of the replicated state: what makes its updates exactly-once.
//!
//! Every update the bot acts on becomes ONE [`crate::Command::TelegramUpdate`] log entry that
//! carries, together:
//! - the update id (apply ignores an id it has seen, so a redelivered update changes nothing),
//! - the getUpdates offset the update was fetched with (every smaller id was already handled,
//!   so a new leader resumes polling from there),
//! - the domain commands the update causes (issue a device, approve a user, …),
//! - the replies to send, as outbox rows.
//!
//! A crash before the entry commits loses nothing (Telegram redelivers the update, the offset
//! was never advanced); a crash after it leaves the effects applied once and the replies in the
//! outbox, which the bot on the (next) leader drains. Replies are rendered when they are sent,
//! from the outbox payload and the current state; the payload format belongs to the bot crate,
//! so here it is opaque JSON.

use serde::{Deserialize, Serialize};

/// One reply or side effect waiting to be performed by the leader's bot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxItem {
    /// The chat it goes to. Rows of one chat are performed in order.
    pub chat_id: i64,
    /// What to do, in the bot crate's format.
    pub payload: serde_json::Value,
}

/// An outbox row as stored, with the outcomes of the update's commands (for rendering).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxRow {
    pub id: i64,
    pub update_id: Option<i64>,
    pub chat_id: i64,
    pub payload: serde_json::Value,
    /// The `ApplyOutcome`s of the update's commands, in order (empty when it had none).
    pub outcomes: Vec<crate::ApplyOutcome>,
    pub created_at_ms: i64,
}

/// A performed outbox row, reported back so it is not performed again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivered {
    pub outbox_id: i64,
    /// When the row sent the chat's new main message: its message id, remembered so the
    /// next one can replace it.
    pub main_message_id: Option<i64>,
}

/// Per-chat bot state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TelegramChat {
    pub telegram_id: i64,
    /// `ru` or `en`, chosen by the user; `None` = from the Telegram client's language.
    pub lang: Option<String>,
    /// The message with the menu, edited in place instead of sending new ones.
    pub main_message_id: Option<i64>,
    /// What the bot waits for from this chat (e.g. an admin's broadcast text), bot format.
    pub pending: Option<serde_json::Value>,
}

/// Changes to a chat's state. `None` leaves a field as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatChange {
    pub lang: Option<String>,
    /// `Some(None)` clears the pending input.
    pub pending: Option<Option<serde_json::Value>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessStatus {
    Pending,
    Approved,
    Denied,
}

impl AccessStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessStatus::Pending => "pending",
            AccessStatus::Approved => "approved",
            AccessStatus::Denied => "denied",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(AccessStatus::Pending),
            "approved" => Some(AccessStatus::Approved),
            "denied" => Some(AccessStatus::Denied),
            _ => None,
        }
    }
}

/// A person asking for access in `approval` mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRequest {
    pub telegram_id: i64,
    /// How to show them to admins (name and @username as Telegram gave them).
    pub display: String,
    pub status: AccessStatus,
    pub requested_at_ms: i64,
    pub decided_at_ms: Option<i64>,
    pub decided_by: Option<String>,
}

/// A message to every enabled user with a Telegram id, sent at a limited rate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Broadcast {
    pub id: String,
    pub text: String,
    /// The admin's chat, told when it is finished.
    pub admin_chat: i64,
    pub created_at_ms: i64,
    /// Users with an id up to this one have been handled.
    pub cursor: i64,
    pub sent: i64,
    pub failed: i64,
    pub finished_at_ms: Option<i64>,
}

/// Most text an admin may broadcast: Telegram's limit of one message.
pub const MAX_BROADCAST_CHARS: usize = 4096;
/// Most outbox rows one update may produce (a notice to every admin is the largest case).
pub const MAX_OUTBOX_ITEMS: usize = 64;
/// Most domain commands one update may carry (revoking all devices of a user).
pub const MAX_UPDATE_COMMANDS: usize = 256;

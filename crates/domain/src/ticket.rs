//! Support tickets: a user's conversation with the admins, one open ticket per user at a time.
//!
//! Ticket texts are personal: they live only in the replicated state and in the messages the
//! bot sends; they are never written to logs or to the audit log's detail.

use serde::{Deserialize, Serialize};

/// Longest text of one ticket message (fits one Telegram message with the admin's header).
pub const MAX_TICKET_TEXT_CHARS: usize = 3500;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    Open,
    Closed,
}

impl TicketStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TicketStatus::Open => "open",
            TicketStatus::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<TicketStatus> {
        match s {
            "open" => Some(TicketStatus::Open),
            "closed" => Some(TicketStatus::Closed),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    pub id: i64,
    /// The user's Telegram chat: where replies go.
    pub telegram_id: i64,
    pub user_id: i64,
    pub status: TicketStatus,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    pub closed_at_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketMessage {
    pub id: i64,
    pub ticket_id: i64,
    /// `user` for the ticket's owner, else the actor that answered (`tg:…`, `key:…`).
    pub author: String,
    pub text: String,
    pub at_ms: i64,
}

impl TicketMessage {
    pub fn from_user(&self) -> bool {
        self.author == "user"
    }
}

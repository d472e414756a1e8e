//! What applying a command produced: [`Applied`] or a state-dependent [`CommandError`].

use serde::{Deserialize, Serialize};

use crate::entity::{Device, DeviceId, NodeId, UserId};

/// What a successfully applied command produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Applied {
    Done,
    User {
        id: UserId,
    },
    Device {
        id: DeviceId,
        created: bool,
        /// The device as it was written, so the proposer answers without reading it back.
        /// Not serialized: outcomes stored in the bot's outbox and forwarded between nodes
        /// keep their format, and arrive without it (read the device then).
        #[serde(skip)]
        device: Option<Box<Device>>,
    },
    Node {
        id: NodeId,
    },
    /// A Telegram update: `duplicate` when its id had been handled before (nothing changed).
    Telegram {
        duplicate: bool,
    },
    Plan {
        id: i64,
    },
    /// A support ticket's message: the ticket (`opened` when this message opened it) and the
    /// message's id.
    Ticket {
        ticket_id: i64,
        message_id: i64,
        opened: bool,
    },
    /// A user's balance after a movement, in Stars.
    Balance {
        user_id: UserId,
        stars: i64,
    },
    /// A promo code created (its id).
    PromoCode {
        id: i64,
    },
    /// A promo code redeemed: the redemption and what it granted.
    Redeemed {
        redemption_id: i64,
        grant: crate::command::promo::PromoGrant,
    },
}

/// A state-dependent refusal, decided deterministically inside `apply`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CommandError {
    #[error("{what} not found")]
    NotFound { what: String },
    #[error("{message}")]
    Conflict {
        field: Option<String>,
        message: String,
    },
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("address pool {pool} of node {node_id} is exhausted: widen wireguard.address_pool or revoke unused devices")]
    PoolExhausted { node_id: NodeId, pool: String },
}

impl CommandError {
    pub fn not_found(what: impl std::fmt::Display) -> CommandError {
        CommandError::NotFound {
            what: what.to_string(),
        }
    }

    /// A clash with existing state; `field` names the input at fault, when there is one.
    pub fn conflict(field: Option<&str>, message: impl std::fmt::Display) -> CommandError {
        CommandError::Conflict {
            field: field.map(str::to_string),
            message: message.to_string(),
        }
    }

    pub fn invalid(field: &str, message: impl std::fmt::Display) -> CommandError {
        CommandError::Invalid {
            field: field.to_string(),
            message: message.to_string(),
        }
    }
}

/// The response of one log entry.
pub type ApplyOutcome = Result<Applied, CommandError>;

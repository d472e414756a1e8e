//! Who asked for a change, recorded in the audit log by `apply`.

use serde::{Deserialize, Serialize};

use crate::entity::NodeId;

/// Who asked for a change. Recorded in the audit log by `apply`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Actor {
    /// The node itself (start-up registration, reconcilers, scheduler).
    System { node_id: NodeId },
    /// An API key (the CLI uses the admin key from `admin.token`).
    ApiKey { key_id: String },
    /// A Telegram user talking to the bot.
    Telegram { telegram_id: i64 },
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Actor::System { node_id } => write!(f, "node:{node_id}"),
            Actor::ApiKey { key_id } => write!(f, "key:{key_id}"),
            Actor::Telegram { telegram_id } => write!(f, "tg:{telegram_id}"),
        }
    }
}

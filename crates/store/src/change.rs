//! What applied entries touched, told to the rest of the node.
//!
//! - [`Change`]: broadcast after each apply; reconcilers and the bot subscribe to react at
//!   once instead of polling.
//! - [`Generations`]: counters readers use to keep hot rows (API keys, nodes) cached.

use std::sync::atomic::{AtomicU64, Ordering};

use vpnkeeper_domain::{Command, NodeId};

/// What an applied entry touched; reconcilers and the bot subscribe to these to react at once
/// instead of polling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Devices served by this node changed (user enabled/disabled, node settings): any of
    /// them may have, so a reader re-reads them all.
    Devices { node_id: NodeId },
    /// A node's registration or settings changed.
    Node { node_id: NodeId },
    /// Everything may have changed (snapshot installed).
    All,
    /// One device served by this node was issued or revoked, and nothing else of that node's
    /// devices changed: a narrower [`Change::Devices`], so a data plane can re-read just this
    /// row (O(change)) instead of all of the node's devices. A subscriber that does not care
    /// for the difference treats it like `Devices { node_id }`.
    Device { node_id: NodeId, device_id: i64 },
}

impl Change {
    /// The node whose devices this change concerns, if it concerns one node's devices
    /// (`Devices` or `Device`).
    pub fn devices_of(&self) -> Option<NodeId> {
        match self {
            Change::Devices { node_id } | Change::Device { node_id, .. } => Some(*node_id),
            _ => None,
        }
    }
}

/// Counters bumped whenever an applied entry may have changed API keys or nodes (and on
/// snapshot install), before the entry's proposer hears back. Readers keep those rows
/// cached and trust a cached row only while the counter is unchanged: exact, with no read
/// per request.
#[derive(Debug, Default)]
pub struct Generations {
    api_keys: AtomicU64,
    nodes: AtomicU64,
}

impl Generations {
    pub fn api_keys(&self) -> u64 {
        self.api_keys.load(Ordering::SeqCst)
    }

    pub fn nodes(&self) -> u64 {
        self.nodes.load(Ordering::SeqCst)
    }

    /// After applying `commands`: bumps the counters of what they may have changed (the
    /// commands inside a Telegram update included).
    pub(crate) fn bump_for<'a>(&self, commands: impl IntoIterator<Item = &'a Command>) {
        let (mut keys, mut nodes) = (false, false);
        for c in commands {
            let (k, n) = touches(c);
            keys |= k;
            nodes |= n;
        }
        if keys {
            self.api_keys.fetch_add(1, Ordering::SeqCst);
        }
        if nodes {
            self.nodes.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// After a snapshot install: everything may have changed.
    pub(crate) fn bump_all(&self) {
        self.api_keys.fetch_add(1, Ordering::SeqCst);
        self.nodes.fetch_add(1, Ordering::SeqCst);
    }
}

/// Whether a command may change (API keys, nodes).
fn touches(command: &Command) -> (bool, bool) {
    match command {
        Command::CreateApiKey { .. } | Command::RevokeApiKey { .. } => (true, false),
        Command::UpsertNode { .. }
        | Command::SetNodeOnline { .. }
        | Command::ImportServerKey { .. }
        | Command::SetNodeDraining { .. } => (false, true),
        Command::TelegramUpdate { commands, .. } => commands
            .iter()
            .map(touches)
            .fold((false, false), |(k, n), (k2, n2)| (k || k2, n || n2)),
        _ => (false, false),
    }
}

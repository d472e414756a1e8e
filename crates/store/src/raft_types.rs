//! The openraft type configuration shared by the store and the cluster crates.

use std::fmt;
use std::io::Cursor;

use serde::{Deserialize, Serialize};
use vpnkeeper_domain::{ApplyOutcome, Envelope};

/// How to reach a Raft member: its node-to-node RPC address and its HTTP API address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeAddr {
    pub raft_addr: String,
    pub api_addr: String,
}

impl fmt::Display for NodeAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "raft={} api={}", self.raft_addr, self.api_addr)
    }
}

/// What one log entry carries: the command envelopes proposed together (group commit: the
/// proposals that arrived while the previous entry was being written share one entry, one
/// fsync and one state transaction; each envelope is still applied on its own savepoint, so
/// one refusal leaves the others alone). Serialised as a JSON array of envelopes, or, when it
/// carries a command newer than the base format, with its format version
/// (`entry_format.rs`).
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal(pub Vec<Envelope>);

openraft::declare_raft_types!(
    /// vpnkeeper's Raft: log entries carry batches of command envelopes, responses are their
    /// apply outcomes in the same order, snapshots are a consistent copy of `state.db` held
    /// in memory.
    pub TypeConfig:
        D = Proposal,
        R = Vec<ApplyOutcome>,
        NodeId = u64,
        Node = NodeAddr,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type LogId = openraft::LogId<u64>;
pub type Vote = openraft::Vote<u64>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type StorageError = openraft::StorageError<u64>;
pub type StoredMembership = openraft::StoredMembership<u64, NodeAddr>;
pub type SnapshotMeta = openraft::SnapshotMeta<u64, NodeAddr>;
pub type Snapshot = openraft::Snapshot<TypeConfig>;

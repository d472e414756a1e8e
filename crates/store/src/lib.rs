//! Storage for vpnkeeper: the Raft log store, the SQLite state machine and the read queries.
//!
//! Two SQLite files live in the data directory:
//! - `raft-log.db`: the Raft log and vote, written with `synchronous=FULL` (an acknowledged
//!   write is on disk);
//! - `state.db`: the replicated state, written only by [`StateMachine::apply`] and snapshot
//!   install, with `synchronous=NORMAL` (WAL). Losing its last transactions in a power cut is
//!   harmless: the entries are still in the log and are re-applied.
//!
//! Reads ([`ReadStore`]) use a separate pool of read-only connections on `state.db`, so API
//! and bot reads never wait for the writer.

// openraft's error types (StorageError, RPCError, RaftError) are large by design and are
// what its traits return; boxing them at every call site would only add noise.
#![allow(clippy::result_large_err)]

mod apply;
pub mod backup;
mod change;
mod checkpoint;
mod db;
pub mod entry_format;
mod fleet_queries;
mod legacy_queries;
mod log_cache;
pub mod log_store;
pub mod payment_queries;
pub mod plan_queries;
pub mod promo_queries;
pub mod queries;
pub mod raft_types;
mod sql;
pub mod state_machine;
pub mod stats_queries;
mod telegram_queries;
mod ticket_queries;
pub mod usage_queries;

pub use change::{Change, Generations};
pub use fleet_queries::NodeLoad;
pub use legacy_queries::LegacySubUser;
pub use log_store::LogStore;
pub use queries::Page;
pub use queries::{DeviceDesire, DeviceWant, ReadStore};
pub use raft_types::{NodeAddr, Proposal, TypeConfig};
pub use state_machine::StateMachine;
pub use telegram_queries::BotStats;
pub use usage_queries::NodeDayUsage;

/// The error of read queries (the API maps it to a 500 with a log line).
pub use sqlx::Error as ReadError;

use std::path::Path;

/// The node's wall clock in unix milliseconds. The one definition: the write path's front
/// door (`vpnkeeper_cluster::Cluster::submit`) stamps envelopes with it; `apply` never reads
/// it (it uses the envelope's time).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("database migration of {path} failed: {source}")]
    Migrate {
        path: String,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    #[error("cannot create directory {path}: {source}")]
    Dir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// Opens (creating and migrating when needed) both databases of a data directory.
pub async fn open(data_dir: &Path) -> Result<(LogStore, StateMachine, ReadStore), StoreError> {
    let log = LogStore::open(&data_dir.join("raft-log.db")).await?;
    let sm = StateMachine::open(data_dir).await?;
    let read = sm.read_store();
    Ok((log, sm, read))
}

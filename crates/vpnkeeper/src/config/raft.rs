//! `[raft]`: the node-to-node listener and Raft timing.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::{invalid, ConfigError};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RaftSection {
    /// Node-to-node RPC listener.
    pub listen: SocketAddr,
    /// The address other nodes use to reach this one; defaults to `listen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advertise: Option<String>,
    pub heartbeat_ms: u64,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    /// Snapshot (and compact the log) after this many entries.
    pub snapshot_every: u64,
}

impl Default for RaftSection {
    fn default() -> Self {
        let t = vpnkeeper_cluster::RaftTiming::default();
        RaftSection {
            listen: SocketAddr::from(([127, 0, 0, 1], 8090)),
            advertise: None,
            heartbeat_ms: t.heartbeat_ms,
            election_timeout_min_ms: t.election_timeout_min_ms,
            election_timeout_max_ms: t.election_timeout_max_ms,
            snapshot_every: t.snapshot_every,
        }
    }
}

impl RaftSection {
    pub fn advertised(&self) -> String {
        self.advertise
            .clone()
            .unwrap_or_else(|| self.listen.to_string())
    }

    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if self.heartbeat_ms == 0 || self.election_timeout_min_ms <= self.heartbeat_ms {
            return Err(invalid(
                "raft.election_timeout_min_ms",
                "must be greater than raft.heartbeat_ms (> 0)",
            ));
        }
        if self.election_timeout_max_ms <= self.election_timeout_min_ms {
            return Err(invalid(
                "raft.election_timeout_max_ms",
                "must be greater than raft.election_timeout_min_ms",
            ));
        }
        if self.snapshot_every == 0 {
            return Err(invalid("raft.snapshot_every", "must be at least 1"));
        }
        Ok(())
    }

    pub fn timing(&self) -> vpnkeeper_cluster::RaftTiming {
        vpnkeeper_cluster::RaftTiming {
            heartbeat_ms: self.heartbeat_ms,
            election_timeout_min_ms: self.election_timeout_min_ms,
            election_timeout_max_ms: self.election_timeout_max_ms,
            snapshot_every: self.snapshot_every,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::assert_bad;

    fn with(f: impl FnOnce(&mut RaftSection)) -> Result<(), ConfigError> {
        let mut s = RaftSection::default();
        f(&mut s);
        s.check()
    }

    #[test]
    fn defaults_and_good_values_pass() {
        RaftSection::default().check().unwrap();
        with(|s| {
            s.heartbeat_ms = 1;
            s.election_timeout_min_ms = 2;
            s.election_timeout_max_ms = 3;
            s.snapshot_every = 1;
        })
        .unwrap();
    }

    #[test]
    fn each_bad_value_names_its_key() {
        let min = "raft.election_timeout_min_ms";
        assert_bad(
            with(|s| s.heartbeat_ms = 0),
            min,
            "greater than raft.heartbeat_ms",
        );
        assert_bad(
            with(|s| s.election_timeout_min_ms = s.heartbeat_ms),
            min,
            "greater than raft.heartbeat_ms",
        );
        assert_bad(
            with(|s| s.election_timeout_max_ms = s.election_timeout_min_ms),
            "raft.election_timeout_max_ms",
            "greater than raft.election_timeout_min_ms",
        );
        assert_bad(
            with(|s| s.snapshot_every = 0),
            "raft.snapshot_every",
            "at least 1",
        );
    }

    #[test]
    fn advertised_defaults_to_listen() {
        assert_eq!(RaftSection::default().advertised(), "127.0.0.1:8090");
    }
}

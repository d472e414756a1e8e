//! What `/health`, `/api/v1/status` and `/metrics` say about this node's place in the
//! cluster: its role, the current leader, how far behind each follower is (on the leader),
//! and how long ago this node last heard from the cluster.
//!
//! "Heard from" means: on a follower or learner, the last heartbeat or append from the
//! leader (the time openraft last refreshed the leader's vote, `vote_last_modified`); on
//! the leader, the last time a quorum acknowledged it (`millis_since_quorum_ack`). A value
//! that keeps growing is a node cut off from the others.

use std::fmt::Write;
use std::time::Duration;

use openraft::{RaftMetrics, ServerState};
use serde::Serialize;
use utoipa::ToSchema;
use vpnkeeper_cluster::{role_name, Cluster};
use vpnkeeper_store::NodeAddr;

/// How far one follower is behind the leader.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ReplicationView {
    pub node_id: u64,
    /// The last log index the follower is known to hold (none yet: null).
    pub matched_index: Option<u64>,
    /// Log entries the follower lacks.
    pub lag: u64,
}

/// Per-follower replication from the leader's metrics; empty on a node that does not lead.
pub fn replication(m: &RaftMetrics<u64, NodeAddr>) -> Vec<ReplicationView> {
    let Some(progress) = m.replication.as_ref() else {
        return Vec::new();
    };
    let last = m.last_log_index;
    progress
        .iter()
        .filter(|(id, _)| **id != m.id)
        .map(|(id, matched)| {
            let matched_index = matched.map(|l| l.index);
            let lag = match (last, matched_index) {
                (Some(last), Some(have)) => last.saturating_sub(have),
                (Some(last), None) => last + 1,
                (None, _) => 0,
            };
            ReplicationView {
                node_id: *id,
                matched_index,
                lag,
            }
        })
        .collect()
}

/// The API address of the current leader, from the membership.
pub fn leader_api_addr(m: &RaftMetrics<u64, NodeAddr>) -> Option<String> {
    let leader = m.current_leader?;
    m.membership_config
        .membership()
        .get_node(&leader)
        .map(|n| n.api_addr.clone())
}

/// Time since this node last heard from the cluster (see the module docs); `None` when it
/// never has (a fresh node, no leader yet).
pub async fn heartbeat_age(cluster: &Cluster) -> Option<Duration> {
    let m = cluster.metrics();
    if m.state == ServerState::Leader {
        return m.millis_since_quorum_ack.map(Duration::from_millis);
    }
    cluster
        .raft()
        .with_raft_state(|st| st.vote_last_modified().map(|t| t.elapsed()))
        .await
        .ok()
        .flatten()
}

const ROLES: [ServerState; 4] = [
    ServerState::Leader,
    ServerState::Follower,
    ServerState::Candidate,
    ServerState::Learner,
];

/// The cluster gauges in Prometheus text format, computed at scrape time (so a follower
/// that has left, or a node that stopped leading, leaves no stale series behind).
pub fn prometheus(m: &RaftMetrics<u64, NodeAddr>, heartbeat: Option<Duration>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP vpnkeeper_raft_role 1 for this node's Raft role"
    );
    let _ = writeln!(out, "# TYPE vpnkeeper_raft_role gauge");
    for role in ROLES {
        let on = u8::from(m.state == role);
        let _ = writeln!(
            out,
            "vpnkeeper_raft_role{{role=\"{}\"}} {on}",
            role_name(role)
        );
    }
    if let Some(age) = heartbeat {
        let _ = writeln!(
            out,
            "# HELP vpnkeeper_raft_heartbeat_age_seconds Since this node last heard from the cluster (follower: the leader's heartbeat; leader: a quorum's acknowledgement)"
        );
        let _ = writeln!(out, "# TYPE vpnkeeper_raft_heartbeat_age_seconds gauge");
        let _ = writeln!(
            out,
            "vpnkeeper_raft_heartbeat_age_seconds {}",
            age.as_secs_f64()
        );
    }
    if let Some(ms) = m.millis_since_quorum_ack {
        let _ = writeln!(
            out,
            "# HELP vpnkeeper_raft_quorum_ack_age_seconds Leader only: since a quorum last acknowledged it"
        );
        let _ = writeln!(out, "# TYPE vpnkeeper_raft_quorum_ack_age_seconds gauge");
        let _ = writeln!(
            out,
            "vpnkeeper_raft_quorum_ack_age_seconds {}",
            ms as f64 / 1000.0
        );
    }
    let followers = replication(m);
    if !followers.is_empty() {
        let _ = writeln!(
            out,
            "# HELP vpnkeeper_raft_replication_lag_entries Leader only: log entries each follower lacks"
        );
        let _ = writeln!(out, "# TYPE vpnkeeper_raft_replication_lag_entries gauge");
        for f in &followers {
            let _ = writeln!(
                out,
                "vpnkeeper_raft_replication_lag_entries{{follower=\"{}\"}} {}",
                f.node_id, f.lag
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use openraft::{CommittedLeaderId, LogId, Membership, StoredMembership};

    use super::*;

    fn addr(n: u64) -> NodeAddr {
        NodeAddr {
            raft_addr: format!("10.0.0.{n}:8090"),
            api_addr: format!("10.0.0.{n}:8080"),
        }
    }

    fn log_id(index: u64) -> Option<LogId<u64>> {
        Some(LogId::new(CommittedLeaderId::new(3, 1), index))
    }

    /// A leader (node 1) of three voters: node 2 is 5 entries behind, node 3 has nothing.
    fn leader_metrics() -> RaftMetrics<u64, NodeAddr> {
        let nodes: BTreeMap<u64, NodeAddr> = (1..=3).map(|n| (n, addr(n))).collect();
        let membership = Membership::new(vec![nodes.keys().copied().collect()], nodes);
        let mut m = RaftMetrics::new_initial(1);
        m.state = ServerState::Leader;
        m.current_leader = Some(1);
        m.last_log_index = Some(120);
        m.millis_since_quorum_ack = Some(40);
        m.membership_config = Arc::new(StoredMembership::new(log_id(1), membership));
        m.replication = Some(BTreeMap::from([
            (1, log_id(120)),
            (2, log_id(115)),
            (3, None),
        ]));
        m
    }

    #[test]
    fn the_leader_reports_each_followers_lag_but_not_its_own() {
        let m = leader_metrics();
        assert_eq!(
            replication(&m),
            vec![
                ReplicationView {
                    node_id: 2,
                    matched_index: Some(115),
                    lag: 5
                },
                ReplicationView {
                    node_id: 3,
                    matched_index: None,
                    lag: 121
                },
            ]
        );
        assert_eq!(leader_api_addr(&m).as_deref(), Some("10.0.0.1:8080"));
    }

    #[test]
    fn prometheus_lines_for_a_leader() {
        let text = prometheus(&leader_metrics(), Some(Duration::from_millis(40)));
        for line in [
            "vpnkeeper_raft_role{role=\"leader\"} 1",
            "vpnkeeper_raft_role{role=\"follower\"} 0",
            "vpnkeeper_raft_heartbeat_age_seconds 0.04",
            "vpnkeeper_raft_quorum_ack_age_seconds 0.04",
            "vpnkeeper_raft_replication_lag_entries{follower=\"2\"} 5",
            "vpnkeeper_raft_replication_lag_entries{follower=\"3\"} 121",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
        }
        assert!(!text.contains("follower=\"1\""), "{text}");
    }

    #[test]
    fn a_follower_has_no_replication_or_quorum_lines() {
        let mut m = leader_metrics();
        m.state = ServerState::Follower;
        m.current_leader = Some(2);
        m.replication = None;
        m.millis_since_quorum_ack = None;
        assert!(replication(&m).is_empty());
        assert_eq!(leader_api_addr(&m).as_deref(), Some("10.0.0.2:8080"));
        let text = prometheus(&m, Some(Duration::from_millis(250)));
        assert!(
            text.contains("vpnkeeper_raft_role{role=\"follower\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("vpnkeeper_raft_heartbeat_age_seconds 0.25"),
            "{text}"
        );
        assert!(!text.contains("replication_lag"), "{text}");
        assert!(!text.contains("quorum_ack"), "{text}");
    }
}

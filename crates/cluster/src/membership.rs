//! Who is in the cluster: adding learners, promoting caught-up learners to voters (up to
//! [`MAX_VOTERS`]), removing nodes, and the per-node view `node list` shows.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use openraft::ChangeMembers;
use serde::{Deserialize, Serialize};
use vpnkeeper_store::NodeAddr;

use crate::Cluster;

/// Voters beyond this stay learners: five voters survive two failures, more only slow
/// down every commit.
pub const MAX_VOTERS: usize = 5;
/// A learner this close to the leader's last log index counts as caught up.
const CAUGHT_UP_LAG: u64 = 50;
/// A peer heard from within this long is online.
pub const ONLINE_WITHIN_MS: i64 = 5_000;

/// One node of the membership, as the answering node (the leader, when reachable) sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Member {
    pub id: u64,
    /// `leader`, `follower` (a voter) or `learner`.
    pub role: String,
    pub online: bool,
    /// Unix ms of the last exchange with it (its own clock for the answering node).
    pub last_contact_ms: Option<i64>,
    pub raft_addr: String,
    pub api_addr: String,
    /// The log format its build applies (see `vpnkeeper_domain::version`); `None` until it
    /// has been heard from. Absent in answers from builds before versioning.
    #[serde(default)]
    pub format: Option<u32>,
    /// Its release (crate version), as it advertises it.
    #[serde(default)]
    pub release: Option<String>,
}

#[derive(Debug, Clone, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MembershipError {
    #[error(
        "node {id} is the last voter; a cluster cannot run without one (add another node first)"
    )]
    LastVoter { id: u64 },
    #[error("node {id} is not a member of this cluster")]
    NotMember { id: u64 },
    #[error("the cluster has no leader right now; retry in a few seconds")]
    NoLeader,
    #[error("membership change failed: {reason}")]
    Failed { reason: String },
}

fn failed(e: impl std::fmt::Display) -> MembershipError {
    MembershipError::Failed {
        reason: e.to_string(),
    }
}

impl Cluster {
    /// Adds `id` as a learner at `addr` without waiting for it to catch up (it may not even
    /// be running yet). Leader only.
    pub async fn add_learner(&self, id: u64, addr: NodeAddr) -> Result<(), MembershipError> {
        self.inner
            .raft
            .add_learner(id, addr, false)
            .await
            .map(|_| ())
            .map_err(failed)
    }

    /// The membership seen from here: roles, liveness, last contact.
    pub fn local_members(&self) -> Vec<Member> {
        let m = self.metrics();
        let contacts = self.inner.network.contacts();
        let now = crate::now_ms();
        let membership = m.membership_config.membership();
        let voters: BTreeSet<u64> = membership.voter_ids().collect();
        membership
            .nodes()
            .map(|(id, addr)| {
                let role = if m.current_leader == Some(*id) {
                    "leader"
                } else if voters.contains(id) {
                    "follower"
                } else {
                    "learner"
                };
                let last = if *id == self.inner.node_id {
                    Some(now)
                } else {
                    contacts.get(id).copied()
                };
                let version = self.version_of(*id);
                Member {
                    format: version.as_ref().map(|v| v.format),
                    release: version.map(|v| v.release),
                    id: *id,
                    role: role.into(),
                    online: last.is_some_and(|t| now - t <= ONLINE_WITHIN_MS),
                    last_contact_ms: last,
                    raft_addr: addr.raft_addr.clone(),
                    api_addr: addr.api_addr.clone(),
                }
            })
            .collect()
    }

    /// The membership as the leader sees it (it hears from everyone); this node's own view
    /// when the leader cannot be asked.
    pub async fn members(&self) -> Vec<Member> {
        if let Some((leader, addr)) = self.remote_leader() {
            let asked = self
                .inner
                .network
                .post::<_, Vec<Member>>(
                    leader,
                    &addr.raft_addr,
                    "/raft/members",
                    &(),
                    Duration::from_secs(3),
                )
                .await;
            match asked {
                Ok(members) => return members,
                Err(e) => tracing::debug!(error = %e, "asking the leader for the membership"),
            }
        }
        self.local_members()
    }

    /// Asks the other members in this node's view whether they count it as a member: true
    /// when a majority of them say it is not (a committed removal this node did not see, as
    /// a removed learner never does). One lagging peer cannot make a node think it is out.
    pub async fn majority_says_removed(&self) -> bool {
        let m = self.metrics();
        let others: Vec<(u64, NodeAddr)> = m
            .membership_config
            .membership()
            .nodes()
            .filter(|(id, _)| **id != self.inner.node_id)
            .map(|(id, a)| (*id, a.clone()))
            .collect();
        if others.is_empty() {
            return false;
        }
        let mut refusals = 0;
        for (id, addr) in &others {
            let asked = self
                .inner
                .network
                .post::<_, Vec<Member>>(
                    *id,
                    &addr.raft_addr,
                    "/raft/members",
                    &(),
                    Duration::from_secs(2),
                )
                .await;
            if matches!(asked, Err(crate::network::PostError::NotMember(_))) {
                refusals += 1;
            }
        }
        refusals * 2 > others.len()
    }

    /// The leader and its address when it is another node.
    pub(crate) fn remote_leader(&self) -> Option<(u64, NodeAddr)> {
        let m = self.metrics();
        let leader = m.current_leader.filter(|l| *l != self.inner.node_id)?;
        let addr = m
            .membership_config
            .membership()
            .get_node(&leader)
            .cloned()?;
        Some((leader, addr))
    }

    /// Removes node `id` from the membership (forwarded to the leader). The last voter
    /// cannot be removed.
    pub async fn remove_node(&self, id: u64) -> Result<(), MembershipError> {
        if !self.is_leader() {
            let Some((leader, addr)) = self.remote_leader() else {
                return Err(MembershipError::NoLeader);
            };
            return self
                .inner
                .network
                .post::<_, Result<(), MembershipError>>(
                    leader,
                    &addr.raft_addr,
                    "/raft/remove-node",
                    &id,
                    Duration::from_secs(15),
                )
                .await
                .map_err(failed)?;
        }
        let m = self.metrics();
        let membership = m.membership_config.membership();
        let voters: BTreeSet<u64> = membership.voter_ids().collect();
        if membership.get_node(&id).is_none() {
            return Err(MembershipError::NotMember { id });
        }
        let change = if voters.contains(&id) {
            if voters.len() == 1 {
                return Err(MembershipError::LastVoter { id });
            }
            ChangeMembers::RemoveVoters(BTreeSet::from([id]))
        } else {
            ChangeMembers::RemoveNodes(BTreeSet::from([id]))
        };
        match self.inner.raft.change_membership(change, false).await {
            Ok(_) => {
                tracing::info!(node_id = id, "node removed from the membership");
                Ok(())
            }
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_))) => {
                Err(MembershipError::NoLeader)
            }
            Err(e) => Err(failed(e)),
        }
    }

    /// On the leader: promotes caught-up learners while there are fewer than
    /// [`MAX_VOTERS`] voters. Runs for the life of the node.
    pub(crate) async fn promote_learners(self) {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tick.tick().await;
            if !self.is_leader() {
                continue;
            }
            let Some(id) = self.learner_to_promote() else {
                continue;
            };
            let change = ChangeMembers::AddVoterIds(BTreeSet::from([id]));
            match self.inner.raft.change_membership(change, true).await {
                Ok(_) => tracing::info!(node_id = id, "learner caught up: promoted to voter"),
                Err(e) => tracing::debug!(node_id = id, error = %e, "promotion not done"),
            }
            if self.inner.raft.metrics().borrow().running_state.is_err() {
                return;
            }
        }
    }

    fn learner_to_promote(&self) -> Option<u64> {
        let m = self.metrics();
        let membership = m.membership_config.membership();
        // Only from a committed, non-joint config: one change at a time.
        if membership.get_joint_config().len() != 1
            || m.membership_config.log_id() > &m.last_applied
        {
            return None;
        }
        let voters: BTreeSet<u64> = membership.voter_ids().collect();
        if voters.len() >= MAX_VOTERS {
            return None;
        }
        let last = m.last_log_index.unwrap_or(0);
        let matched: BTreeMap<u64, u64> = m
            .replication
            .as_ref()?
            .iter()
            .filter_map(|(id, l)| l.map(|l| (*id, l.index)))
            .collect();
        membership
            .learner_ids()
            .filter(|id| matched.get(id).is_some_and(|i| i + CAUGHT_UP_LAG >= last))
            .min()
    }
}

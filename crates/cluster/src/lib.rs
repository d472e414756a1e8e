//! The Raft side of a vpnkeeper node: the openraft instance over the SQLite stores,
//! authenticated node-to-node RPC, and [`Cluster::submit`] — the one way to change state.
//!
//! Invariant (the front door): every write enters through [`Cluster::submit`], which
//! validates the command ([`Command::validate`]), stamps the clock once ([`now_ms`]) and
//! proposes the [`Envelope`]. No other code builds an envelope, so an invalid command never
//! reaches the log, whoever sends it (API, bot, reconcilers, init).
//!
//! A single-node install is a one-voter cluster: the same code path as a fleet, with a
//! membership of one.

// openraft's error types (StorageError, RPCError, RaftError) are large by design and are
// what its traits return; boxing them at every call site would only add noise.
#![allow(clippy::result_large_err)]

mod commit;
pub mod invite_ttl;
mod join;
mod membership;
mod network;
mod node_metrics;
pub mod node_ops;
mod rpc;
mod server;
pub mod tls;
pub mod version;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use openraft::{Raft, RaftMetrics, ServerState};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};
use vpnkeeper_domain::validate::ValidationError;
use vpnkeeper_domain::{Actor, ApplyOutcome, Command, Envelope};
use vpnkeeper_store::{NodeAddr, ReadStore, TypeConfig};

use commit::{Pending, Written};

/// The node's wall clock in unix milliseconds: the one clock of the write path (the front
/// door stamps envelopes with it) and of readers that compare against stored times.
pub use vpnkeeper_store::now_ms;

pub use join::{
    cluster_id, request_join, Invite, InviteError, JoinGrant, JoinLink, JoinRequest, Pki,
};
pub use membership::{Member, MembershipError, MAX_VOTERS};
pub use network::HttpNetwork;
pub use node_metrics::{NodeMetricsError, TelemetrySource};

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("storage: {0}")]
    Store(#[from] vpnkeeper_store::StoreError),
    #[error("raft: {0}")]
    Raft(String),
    #[error("cluster TLS: {0}")]
    Tls(#[from] tls::TlsError),
    /// The data directory was written by a newer build (see [`version`]).
    #[error("{0}")]
    Version(String),
}

/// Why a proposal did not produce an outcome. A [`vpnkeeper_domain::CommandError`] is not
/// here: that is a successful commit of a refused command, returned inside `Ok`.
#[derive(Debug, Clone, thiserror::Error, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ProposeError {
    #[error("the cluster has no leader right now; retry in a few seconds")]
    NoLeader,
    #[error("the leader (node {leader_id}) could not be reached: {reason}")]
    LeaderUnreachable { leader_id: u64, reason: String },
    #[error("raft is shutting down or failed: {reason}")]
    Fatal { reason: String },
    /// The command is newer than some member's build (see [`version`]): nothing was
    /// proposed.
    #[error("{}", version::gate_message(action, *needs, *node, *runs))]
    VersionGate {
        action: String,
        needs: u32,
        node: u64,
        /// The format that node runs; `None` when it has not been heard from lately.
        runs: Option<u32>,
    },
}

/// Why [`Cluster::submit`] did not produce an outcome.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SubmitError {
    /// The command failed its stateless validation; nothing was proposed.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error(transparent)]
    Propose(#[from] ProposeError),
}

/// Timing of the Raft protocol.
///
/// Failover takes about `election_timeout_max + election_timeout` (random in [min, max)):
/// openraft's followers refuse votes for a leader lease of `election_timeout_max` after the
/// last heartbeat, and a candidate stands only after that lease plus its own timeout. With
/// 1–2 s the bot answered 3.2–3.9 s after a leader's `kill -9` (median 3.5 s, `fleet_bench`);
/// 0.8–1.2 s makes it ~2.2 s, and a leader must still miss heartbeats for 2 s before anyone
/// stands, which a loaded 2-core machine does not do by accident.
#[derive(Debug, Clone)]
pub struct RaftTiming {
    pub heartbeat_ms: u64,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    /// Build a snapshot (and purge the log up to it) after this many applied entries.
    pub snapshot_every: u64,
}

impl Default for RaftTiming {
    fn default() -> Self {
        RaftTiming {
            heartbeat_ms: 200,
            election_timeout_min_ms: 800,
            election_timeout_max_ms: 1200,
            snapshot_every: 20_000,
        }
    }
}

/// A running Raft member plus the handles the rest of the node needs.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
}

struct Inner {
    node_id: u64,
    raft: Raft<TypeConfig>,
    read: ReadStore,
    network: HttpNetwork,
    pki: Pki,
    /// Proposals on their way into the log (see [`commit::group_commit`]).
    proposals: mpsc::UnboundedSender<Pending>,
    /// Where this node's telemetry comes from (see [`node_metrics`]).
    telemetry: node_metrics::TelemetrySlot,
    /// Speed tests, reboots and load reports (see [`node_ops`]).
    agent: node_ops::NodeAgent,
}

impl Cluster {
    /// Opens the stores in `data_dir` and starts the Raft member `node_id`.
    ///
    /// Does not serve RPC: run [`Cluster::serve_rpc`] on the Raft listener (a one-voter
    /// cluster never needs it, but a fleet does).
    pub async fn start(
        node_id: u64,
        data_dir: &Path,
        pki: Pki,
        timing: RaftTiming,
    ) -> Result<Cluster, ClusterError> {
        // Migrations run inside `open`: only once the data dir is known not to be newer.
        version::check_data_dir(data_dir)?;
        let (log, sm, read) = vpnkeeper_store::open(data_dir).await?;
        version::record_data_dir(data_dir)?;
        let config = openraft::Config {
            cluster_name: "vpnkeeper".into(),
            heartbeat_interval: timing.heartbeat_ms,
            election_timeout_min: timing.election_timeout_min_ms,
            election_timeout_max: timing.election_timeout_max_ms,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(timing.snapshot_every),
            max_in_snapshot_log_to_keep: 1000,
            ..Default::default()
        }
        .validate()
        .map_err(|e| ClusterError::Raft(e.to_string()))?;
        let network = HttpNetwork::new(&pki.tls)?;
        let raft = Raft::new(node_id, Arc::new(config), network.clone(), log, sm)
            .await
            .map_err(|e| ClusterError::Raft(e.to_string()))?;
        let (proposals, rx) = mpsc::unbounded_channel();
        let committer = commit::Committer {
            node_id,
            raft: raft.clone(),
            network: network.clone(),
        };
        tokio::spawn(commit::group_commit(committer, rx));
        let cluster = Cluster {
            inner: Arc::new(Inner {
                node_id,
                raft,
                read,
                network,
                pki,
                proposals,
                telemetry: Default::default(),
                agent: node_ops::NodeAgent::default(),
            }),
        };
        tokio::spawn(cluster.clone().promote_learners());
        cluster.elect_if_sole_voter().await;
        Ok(cluster)
    }

    /// A one-voter cluster does not need to wait out an election timeout after a restart:
    /// nobody else can be leader, so it campaigns at once.
    async fn elect_if_sole_voter(&self) {
        let m = self.metrics();
        let voters: Vec<u64> = m.membership_config.membership().voter_ids().collect();
        if voters == [self.inner.node_id] {
            if let Err(e) = self.inner.raft.trigger().elect().await {
                tracing::warn!(error = %e, "could not trigger an election");
            }
        }
    }

    /// Makes this node the only voter of a brand-new cluster. Called once, by `init`.
    pub async fn initialize_single(&self, addr: NodeAddr) -> Result<(), ClusterError> {
        let mut members = BTreeMap::new();
        members.insert(self.inner.node_id, addr);
        self.inner
            .raft
            .initialize(members)
            .await
            .map_err(|e| ClusterError::Raft(e.to_string()))
    }

    pub fn node_id(&self) -> u64 {
        self.inner.node_id
    }

    pub fn raft(&self) -> &Raft<TypeConfig> {
        &self.inner.raft
    }

    pub fn read(&self) -> &ReadStore {
        &self.inner.read
    }

    pub fn metrics(&self) -> RaftMetrics<u64, NodeAddr> {
        self.inner.raft.metrics().borrow().clone()
    }

    /// Fires whenever Raft's view changes (role, leader, term, indexes).
    pub fn metrics_watch(&self) -> watch::Receiver<RaftMetrics<u64, NodeAddr>> {
        self.inner.raft.metrics()
    }

    pub fn is_leader(&self) -> bool {
        self.metrics().state == ServerState::Leader
    }

    /// Serves node-to-node RPC and the join handshake on `listener` (mutual TLS; see
    /// [`server`]) until `stop` completes.
    pub async fn serve_rpc(
        &self,
        listener: tokio::net::TcpListener,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<(), ClusterError> {
        let service = server::RpcService::new(
            rpc::router(self.clone()),
            self.join_router(),
            &self.inner.pki.tls,
        )?;
        service.serve(listener, stop).await;
        Ok(())
    }

    /// Whether this node's own view of the membership lists it (false before it has any).
    pub fn in_membership(&self) -> bool {
        let m = self.metrics();
        let listed = m
            .membership_config
            .membership()
            .get_node(&self.inner.node_id)
            .is_some();
        listed
    }

    /// The cluster's id (derived from its secret) and CA fingerprint.
    pub fn pki(&self) -> &Pki {
        &self.inner.pki
    }

    /// Waits until some node is leader (this one or another), up to `timeout`.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Result<u64, ClusterError> {
        let m = self
            .inner
            .raft
            .wait(Some(timeout))
            .metrics(|m| m.current_leader.is_some(), "a leader is known")
            .await
            .map_err(|e| ClusterError::Raft(format!("no leader after {timeout:?}: {e}")))?;
        Ok(m.current_leader.expect("checked by the wait condition"))
    }

    /// Waits until this node has applied every entry in its log (at least one): after
    /// `initialize_single` and an election, the membership and the leader's blank entry.
    /// A restore reads the applied position to place the backup's snapshot after it.
    pub async fn wait_caught_up(&self, timeout: Duration) -> Result<(), ClusterError> {
        self.inner
            .raft
            .wait(Some(timeout))
            .metrics(
                |m| {
                    m.last_applied
                        .is_some_and(|a| Some(a.index) >= m.last_log_index)
                },
                "every log entry applied",
            )
            .await
            .map_err(|e| ClusterError::Raft(format!("log not applied after {timeout:?}: {e}")))?;
        Ok(())
    }

    /// The front door for writes: validates `command`, stamps it with the clock and the
    /// actor, appends it to the Raft log and waits until it is applied, on the leader.
    ///
    /// An invalid command comes back as [`SubmitError::Invalid`] without touching the log.
    /// On a follower the proposal is forwarded to the leader over RPC. Concurrent proposals
    /// share log entries (see [`commit`]). A refusal decided by the state (not found,
    /// conflict) is a successful commit: it comes back inside `Ok`.
    pub async fn submit(
        &self,
        actor: Actor,
        command: Command,
    ) -> Result<ApplyOutcome, SubmitError> {
        command.validate()?;
        let env = Envelope {
            at_ms: now_ms(),
            actor,
            command,
        };
        Ok(self.propose(env).await?)
    }

    /// Proposes an envelope built by [`Cluster::submit`] (here or on the follower that
    /// forwarded it).
    pub(crate) async fn propose(&self, env: Envelope) -> Result<ApplyOutcome, ProposeError> {
        self.propose_indexed(env).await.map(|(outcome, _)| outcome)
    }

    /// [`Cluster::propose`], with the index of the log entry the envelope went into.
    pub(crate) async fn propose_indexed(
        &self,
        env: Envelope,
    ) -> Result<(ApplyOutcome, u64), ProposeError> {
        self.check_format(&env.command)?;
        let (done, written) = oneshot::channel();
        let stopped = || ProposeError::Fatal {
            reason: "raft has stopped".into(),
        };
        self.inner
            .proposals
            .send(Pending {
                env: env.clone(),
                done,
            })
            .map_err(|_| stopped())?;
        match written.await.map_err(|_| stopped())? {
            Written::Applied(outcome, index) => Ok((outcome, index)),
            Written::Forwarded(outcome, index) => {
                self.wait_applied_here(index).await;
                Ok((outcome, index))
            }
            Written::Forward(leader_id, node) if leader_id != self.inner.node_id => {
                self.forward(leader_id, &node, &env).await
            }
            Written::Forward(..) => Err(ProposeError::NoLeader),
            Written::Failed(e) => Err(e),
        }
    }

    async fn forward(
        &self,
        leader_id: u64,
        leader: &NodeAddr,
        env: &Envelope,
    ) -> Result<(ApplyOutcome, u64), ProposeError> {
        let (outcome, index) = self
            .inner
            .network
            .post::<_, Result<(ApplyOutcome, u64), ProposeError>>(
                leader_id,
                &leader.raft_addr,
                "/raft/propose",
                env,
                commit::FORWARD_TIMEOUT,
            )
            .await
            .map_err(|e| ProposeError::LeaderUnreachable {
                leader_id,
                reason: e.to_string(),
            })??;
        self.wait_applied_here(index).await;
        Ok((outcome, index))
    }

    /// Read-your-writes on this node after a forwarded write: the caller's next read (the
    /// API answers with the row it just created) is served from the local state, so wait
    /// until this node has applied the entry too. Replication is usually a heartbeat away;
    /// past the bound the write still stands and the answer goes out.
    async fn wait_applied_here(&self, index: u64) {
        let applied = self
            .inner
            .raft
            .wait(Some(Duration::from_secs(5)))
            .applied_index_at_least(Some(index), "forwarded write applied here")
            .await;
        if let Err(e) = applied {
            tracing::debug!(index, error = %e, "forwarded write not yet applied locally");
        }
    }

    /// Stops Raft: no more proposals are accepted; the stores are flushed and closed.
    pub async fn shutdown(&self) {
        if let Err(e) = self.inner.raft.shutdown().await {
            tracing::warn!(error = %e, "raft shutdown reported an error");
        }
        self.inner.read.close().await;
    }
}

/// A short word for the role, for status output and metrics.
pub fn role_name(state: ServerState) -> &'static str {
    match state {
        ServerState::Leader => "leader",
        ServerState::Follower => "follower",
        ServerState::Candidate => "candidate",
        ServerState::Learner => "learner",
        ServerState::Shutdown => "shutdown",
    }
}

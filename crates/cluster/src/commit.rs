//! How proposals become log entries: group commit on the leader, batch forwarding on a
//! follower.
//!
//! Every proposal of this node goes through one queue ([`Pending`]). [`group_commit`] takes
//! what has gathered there into one batch while earlier batches are still being written:
//! - on the leader, the batch is one log entry: one append, one fsync, one state
//!   transaction for all of it (each envelope still applied on its own savepoint);
//! - on a follower, the batch goes to the leader in one `/raft/propose-batch` request, where
//!   it joins the leader's queue. Forwarding each proposal on its own cost a request, a
//!   TLS record and a JSON document per command on both nodes.

use std::sync::Arc;

use openraft::error::{ClientWriteError, RaftError};
use openraft::Raft;
use tokio::sync::{mpsc, oneshot, Semaphore};
use vpnkeeper_domain::{ApplyOutcome, Envelope};
use vpnkeeper_store::{NodeAddr, Proposal, TypeConfig};

use crate::network::{HttpNetwork, PostError};
use crate::ProposeError;

/// Most envelopes in one log entry (and in one forwarded batch).
pub(crate) const MAX_BATCH: usize = 256;
/// Batches being written at once: while they are, new proposals gather into the next.
const IN_FLIGHT: usize = 2;
/// Batches a follower has at the leader at once.
const FORWARD_IN_FLIGHT: usize = 2;
/// Where a follower sends its batches.
pub(crate) const FORWARD_PATH: &str = "/raft/propose-batch";
/// How long a forwarded proposal (batched or alone) may take at the leader.
pub(crate) const FORWARD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The outcome of one proposal as the leader decided it, with its log index.
pub(crate) type Decided = Result<(ApplyOutcome, u64), ProposeError>;

/// A proposal waiting for its log entry, and where its outcome goes.
pub(crate) struct Pending {
    pub env: Envelope,
    pub done: oneshot::Sender<Written>,
}

/// What became of a proposal at this node.
pub(crate) enum Written {
    /// Applied on this node, the leader, in the log entry at this index.
    Applied(ApplyOutcome, u64),
    /// Applied on the leader this follower forwarded it to, at this index; this node may
    /// not have applied it yet.
    Forwarded(ApplyOutcome, u64),
    /// Not written: the proposer forwards it on its own to this leader (raft stepped down
    /// under the batch, or the leader's build has no batch route).
    Forward(u64, NodeAddr),
    Failed(ProposeError),
}

/// What [`group_commit`] needs to write or forward a batch.
#[derive(Clone)]
pub(crate) struct Committer {
    pub node_id: u64,
    pub raft: Raft<TypeConfig>,
    pub network: HttpNetwork,
}

/// Runs until every sender of `rx` is gone: batches what gathers in the queue and writes
/// up to [`IN_FLIGHT`] batches at once, or forwards up to [`FORWARD_IN_FLIGHT`].
pub(crate) async fn group_commit(c: Committer, mut rx: mpsc::UnboundedReceiver<Pending>) {
    let appending = Arc::new(Semaphore::new(IN_FLIGHT));
    let forwarding = Arc::new(Semaphore::new(FORWARD_IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        let leader = c.other_leader();
        let slots = if leader.is_some() {
            &forwarding
        } else {
            &appending
        };
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        // Everything queued meanwhile joins this batch.
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let c = c.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let (envs, dones): (Vec<Envelope>, Vec<oneshot::Sender<Written>>) =
                batch.into_iter().map(|p| (p.env, p.done)).unzip();
            let written = match leader {
                Some((id, addr)) => forward_batch(&c.network, id, addr, envs).await,
                None => c.append(envs).await,
            };
            for (done, written) in dones.into_iter().zip(written) {
                let _ = done.send(written);
            }
        });
    }
}

impl Committer {
    /// The leader, when this node knows it is another node: the batch is forwarded there.
    fn other_leader(&self) -> Option<(u64, NodeAddr)> {
        let m = self.raft.metrics();
        let m = m.borrow();
        let id = m.current_leader.filter(|id| *id != self.node_id)?;
        let addr = m.membership_config.membership().get_node(&id)?.clone();
        Some((id, addr))
    }

    /// Appends the batch as one log entry, as the leader.
    async fn append(&self, envs: Vec<Envelope>) -> Vec<Written> {
        let n = envs.len();
        let fatal = |reason: String| {
            each(n, || {
                Written::Failed(ProposeError::Fatal {
                    reason: reason.clone(),
                })
            })
        };
        match self.raft.client_write(Proposal(envs)).await {
            Ok(resp) if resp.data.len() == n => {
                let index = resp.log_id.index;
                let applied = resp.data.into_iter();
                applied.map(|o| Written::Applied(o, index)).collect()
            }
            Ok(resp) => {
                let reason = format!(
                    "the state machine returned {} outcomes for {n} commands",
                    resp.data.len()
                );
                tracing::error!(%reason, "group commit");
                fatal(reason)
            }
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(fwd))) => {
                match (fwd.leader_id, fwd.leader_node) {
                    (Some(id), Some(node)) => each(n, || Written::Forward(id, node.clone())),
                    _ => each(n, || Written::Failed(ProposeError::NoLeader)),
                }
            }
            Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e))) => {
                fatal(e.to_string())
            }
            Err(RaftError::Fatal(e)) => fatal(e.to_string()),
        }
    }
}

/// One [`Written`] per envelope of `envs`, forwarded to `leader_id` in one request.
async fn forward_batch(
    network: &HttpNetwork,
    leader_id: u64,
    leader: NodeAddr,
    envs: Vec<Envelope>,
) -> Vec<Written> {
    let n = envs.len();
    let sent = network
        .post::<_, Vec<Decided>>(
            leader_id,
            &leader.raft_addr,
            FORWARD_PATH,
            &envs,
            FORWARD_TIMEOUT,
        )
        .await;
    let unreachable = |reason: String| {
        each(n, || {
            Written::Failed(ProposeError::LeaderUnreachable {
                leader_id,
                reason: reason.clone(),
            })
        })
    };
    match sent {
        Ok(decided) if decided.len() == n => decided
            .into_iter()
            .map(|d| match d {
                Ok((outcome, index)) => Written::Forwarded(outcome, index),
                Err(e) => Written::Failed(e),
            })
            .collect(),
        Ok(decided) => unreachable(format!(
            "it answered {} outcomes for {n} commands",
            decided.len()
        )),
        // A leader of an older build (rolling upgrade): one request per proposal.
        Err(PostError::NoRoute(_)) => each(n, || Written::Forward(leader_id, leader.clone())),
        Err(e) => unreachable(e.to_string()),
    }
}

/// `n` times what `written` makes: the same fate for every proposal of a batch.
fn each(n: usize, written: impl Fn() -> Written) -> Vec<Written> {
    (0..n).map(|_| written()).collect()
}

#[cfg(test)]
mod tests {
    use axum::routing::post;
    use axum::{Json, Router};
    use tempfile::TempDir;
    use vpnkeeper_domain::{Actor, Command};

    use super::*;
    use crate::server::RpcService;
    use crate::tls::{self, NodeTls, CA_CERT_FILE, CA_KEY_FILE};

    /// A "leader" (node 1) serving `rpc` over the cluster's mutual TLS on a loopback port,
    /// and node 2's client side. Dropping the sender stops the server.
    async fn leader_serving(
        rpc: Router,
    ) -> (HttpNetwork, NodeAddr, oneshot::Sender<()>, [TempDir; 2]) {
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        tls::ensure(dirs[0].path(), 1, "forward-test").unwrap();
        for file in [CA_CERT_FILE, CA_KEY_FILE] {
            std::fs::copy(dirs[0].path().join(file), dirs[1].path().join(file)).unwrap();
        }
        tls::ensure(dirs[1].path(), 2, "forward-test").unwrap();
        let tls1 = NodeTls::load(dirs[0].path(), 1).unwrap();
        let server = RpcService::new(rpc, Router::new(), &tls1).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let raft_addr = listener.local_addr().unwrap().to_string();
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(server.serve(listener, async {
            let _ = stopped.await;
        }));
        let network = HttpNetwork::new(&NodeTls::load(dirs[1].path(), 2).unwrap()).unwrap();
        let leader = NodeAddr {
            raft_addr,
            api_addr: String::new(),
        };
        (network, leader, stop, dirs)
    }

    fn envelopes(n: usize) -> Vec<Envelope> {
        (0..n)
            .map(|i| Envelope {
                at_ms: 1,
                actor: Actor::System { node_id: 2 },
                command: Command::CreateUser {
                    name: format!("u{i}"),
                    telegram_id: None,
                    sub_token: format!("tok-{i:016}"),
                },
            })
            .collect()
    }

    /// The leader's answers come back one per proposal, in order.
    #[tokio::test]
    async fn a_batch_is_decided_by_the_leader_in_one_request() {
        let answer = |Json(envs): Json<Vec<Envelope>>| async move {
            let decided: Vec<Decided> = (0..envs.len())
                .map(|i| match i % 2 {
                    0 => Err(ProposeError::NoLeader),
                    _ => Err(ProposeError::Fatal {
                        reason: format!("#{i}"),
                    }),
                })
                .collect();
            Json(decided)
        };
        let rpc = Router::new().route(FORWARD_PATH, post(answer));
        let (network, leader, _stop, _dirs) = leader_serving(rpc).await;
        let written = forward_batch(&network, 1, leader, envelopes(3)).await;
        let kinds: Vec<String> = written
            .iter()
            .map(|w| match w {
                Written::Failed(e) => e.to_string(),
                _ => "not failed".into(),
            })
            .collect();
        assert_eq!(kinds.len(), 3);
        assert!(kinds[0].contains("no leader"), "{kinds:?}");
        assert!(kinds[1].contains("#1"), "{kinds:?}");
        assert!(kinds[2].contains("no leader"), "{kinds:?}");
    }

    /// A leader of an older build has no batch route: every proposal goes back to its
    /// proposer to be forwarded on its own, none is reported failed.
    #[tokio::test]
    async fn a_leader_without_the_batch_route_gets_one_request_per_proposal() {
        let (network, leader, _stop, _dirs) = leader_serving(Router::new()).await;
        let written = forward_batch(&network, 1, leader.clone(), envelopes(4)).await;
        assert_eq!(written.len(), 4);
        for w in written {
            assert!(
                matches!(&w, Written::Forward(1, addr) if *addr == leader),
                "expected a per-proposal forward to node 1"
            );
        }
    }

    /// A leader that cannot be reached fails the whole batch with a reason, at once.
    #[tokio::test]
    async fn an_unreachable_leader_fails_the_batch() {
        let (network, leader, stop, _dirs) = leader_serving(Router::new()).await;
        drop(stop);
        let gone = NodeAddr {
            raft_addr: "127.0.0.1:1".into(),
            ..leader
        };
        let written = forward_batch(&network, 1, gone, envelopes(2)).await;
        assert_eq!(written.len(), 2);
        for w in written {
            assert!(matches!(
                w,
                Written::Failed(ProposeError::LeaderUnreachable { leader_id: 1, .. })
            ));
        }
    }
}

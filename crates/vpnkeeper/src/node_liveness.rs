//! Which nodes are online, decided by the leader and written to the replicated state only
//! when it changes (`Command::SetNodeOnline`; the rule and its threshold are in
//! `vpnkeeper_domain::command::node_status`).
//!
//! A leader-only service: every [`PROBE_EVERY`] the leader opens a TCP connection to each
//! other node's Raft listener. A node that has not answered for `OFFLINE_AFTER_MS` is
//! proposed offline; the first answer after that proposes it online again. A new leader
//! gives every node that long from the start of its session before judging it, so a
//! leader change does not flap the fleet. The leader itself is online by definition.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio::sync::watch;
use vpnkeeper_cluster::Cluster;
use vpnkeeper_domain::command::node_status::OFFLINE_AFTER_MS;
use vpnkeeper_domain::{Actor, Command, NodeId};

/// How often the leader probes.
const PROBE_EVERY: Duration = Duration::from_secs(5);
/// How long one probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The decision, a plain function: the state to propose for a node, or `None` to write
/// nothing. `silent_for`: time since its last successful probe (or since this leader
/// started judging, if it never answered).
pub fn decide(stored_online: bool, answered_now: bool, silent_for: Duration) -> Option<bool> {
    let offline_after = Duration::from_millis(OFFLINE_AFTER_MS as u64);
    match (stored_online, answered_now) {
        (false, true) => Some(true),
        (true, false) if silent_for >= offline_after => Some(false),
        _ => None,
    }
}

/// One leadership session of the service.
pub async fn session(cluster: Cluster, mut stop: watch::Receiver<bool>) {
    let started = Instant::now();
    let mut last_ok: HashMap<NodeId, Instant> = HashMap::new();
    let mut tick = tokio::time::interval(PROBE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        if let Err(e) = round(&cluster, started, &mut last_ok).await {
            tracing::warn!(error = %e, "cannot read the nodes to probe them");
        }
    }
}

async fn round(
    cluster: &Cluster,
    started: Instant,
    last_ok: &mut HashMap<NodeId, Instant>,
) -> Result<(), vpnkeeper_store::ReadError> {
    let me = cluster.node_id();
    let nodes = cluster.read().nodes().await?;
    let loads = cluster.read().node_loads().await?;
    for node in nodes {
        let stored_online = loads.iter().any(|l| l.id == node.id && l.online);
        let answered = node.id == me || probe(&node.raft_addr).await;
        let now = Instant::now();
        if answered {
            last_ok.insert(node.id, now);
        }
        let silent_for = now - last_ok.get(&node.id).copied().unwrap_or(started);
        let Some(online) = decide(stored_online, answered, silent_for) else {
            continue;
        };
        tracing::info!(node = node.id, online, "node liveness changed");
        let command = Command::SetNodeOnline {
            node_id: node.id,
            online,
        };
        if let Err(e) = cluster.submit(Actor::System { node_id: me }, command).await {
            tracing::warn!(node = node.id, error = %e, "cannot record a node's liveness");
        }
    }
    Ok(())
}

/// True when `addr` accepts a TCP connection within the probe timeout.
async fn probe(addr: &str) -> bool {
    matches!(
        tokio::time::timeout(PROBE_TIMEOUT, TcpStream::connect(addr)).await,
        Ok(Ok(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn an_online_node_goes_offline_only_after_the_threshold() {
        assert_eq!(decide(true, false, S(5)), None);
        assert_eq!(decide(true, false, S(14)), None);
        assert_eq!(decide(true, false, S(15)), Some(false));
        assert_eq!(decide(true, false, S(600)), Some(false));
    }

    #[test]
    fn an_offline_node_is_back_at_its_first_answer() {
        assert_eq!(decide(false, true, S(0)), Some(true));
        assert_eq!(
            decide(false, false, S(600)),
            None,
            "already offline: nothing to write"
        );
    }

    #[test]
    fn a_healthy_fleet_writes_nothing() {
        for silent in [0, 1, 5, 14] {
            assert_eq!(decide(true, true, S(silent)), None);
        }
    }

    #[tokio::test]
    async fn a_probe_sees_a_listener_and_not_a_closed_port() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        assert!(probe(&addr).await);
        drop(listener);
        assert!(!probe(&addr).await);
    }
}

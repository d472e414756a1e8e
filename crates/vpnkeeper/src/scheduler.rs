//! The lifecycle scheduler (issue #15): on the Raft leader only, every tick, it reads the
//! users whose status can change by time, asks `domain::schedule::due_events` what is due and
//! proposes it as `Lifecycle` commands. It checks `is_leader()` each tick, so it stops the
//! moment this node stops leading and starts on whichever node leads next; apply re-checks
//! every event, so a pass repeated across a failover is harmless.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use vpnkeeper_cluster::{now_ms, Cluster};
use vpnkeeper_domain::command::plan::MAX_LIFECYCLE_EVENTS;
use vpnkeeper_domain::schedule::due_events;
use vpnkeeper_domain::{Actor, Command};

/// How often the leader looks. Expiry is enforced within one tick plus one reconcile pass.
const TICK: Duration = Duration::from_secs(1);

pub fn spawn(cluster: &Cluster, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    let cluster = cluster.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            if !cluster.is_leader() {
                continue;
            }
            if let Err(e) = pass(&cluster).await {
                tracing::warn!(error = %e, "scheduler pass failed; retrying next tick");
            }
        }
    })
}

/// One pass: what is due now, proposed in batches.
pub async fn pass(cluster: &Cluster) -> anyhow::Result<usize> {
    let rows = cluster.read().lifecycle_rows().await?;
    let events = due_events(&rows, now_ms());
    let actor = Actor::System {
        node_id: cluster.node_id(),
    };
    for batch in events.chunks(MAX_LIFECYCLE_EVENTS) {
        let command = Command::Lifecycle {
            events: batch.to_vec(),
        };
        if let Err(e) = cluster.submit(actor.clone(), command).await? {
            tracing::warn!(error = %e, "scheduler events refused");
        }
    }
    Ok(events.len())
}

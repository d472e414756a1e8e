//! The lifecycle scheduler (issue #15): on the Raft leader only, every tick, it reads the
//! users whose next due time has come, asks `domain::schedule::plan_pass` what is due and
//! proposes it as `Lifecycle`, `RemindUsers` and `RecheckDue` commands. It checks `is_leader()` each tick, so it stops the
//! moment this node stops leading and starts on whichever node leads next; apply re-checks
//! every event, so a pass repeated across a failover is harmless.

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use vpnkeeper_cluster::{now_ms, Cluster, ProposeError, SubmitError};
use vpnkeeper_domain::command::plan::MAX_LIFECYCLE_EVENTS;
use vpnkeeper_domain::command::reminder::MAX_REMINDERS;
use vpnkeeper_domain::schedule::plan_pass;
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

/// One pass: the users whose next due time has come (an index range, not every user), what
/// is due for them now, proposed in batches: lifecycle events first (an expiry marks the
/// user `expired` before the "expired" reminder is checked), then reminders, then the users
/// found with nothing due, whose next due time apply recomputes.
pub async fn pass(cluster: &Cluster) -> anyhow::Result<usize> {
    let now = now_ms();
    let rows = cluster.read().due_rows(now).await?;
    let pass = plan_pass(&rows, now);
    let mut commands = Vec::new();
    for batch in pass.events.chunks(MAX_LIFECYCLE_EVENTS) {
        commands.push(Command::Lifecycle {
            events: batch.to_vec(),
        });
    }
    for batch in pass.reminders.chunks(MAX_REMINDERS) {
        commands.push(Command::RemindUsers {
            reminders: batch.to_vec(),
        });
    }
    for batch in pass.idle.chunks(MAX_REMINDERS) {
        commands.push(Command::RecheckDue {
            user_ids: batch.to_vec(),
        });
    }
    let actor = Actor::System {
        node_id: cluster.node_id(),
    };
    for command in commands {
        let action = command.action();
        match cluster.submit(actor.clone(), command).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, action, "scheduler command refused"),
            // During a rolling upgrade reminders wait until every node can apply them;
            // lifecycle events (proposed first) go on meanwhile.
            Err(SubmitError::Propose(ProposeError::VersionGate { .. })) => {
                tracing::debug!(action, "scheduler command waits for the upgrade to finish");
                break;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(pass.events.len() + pass.reminders.len())
}

//! Leader-only services: a service runs while this node is the Raft leader, starts when it
//! becomes leader and is told to stop the moment it is not.
//!
//! The Telegram bot is one; the scheduler (plans) and anything else that must run once per
//! cluster use the same loop through [`while_leader`]. A session is always over (its task
//! awaited) before the next one starts, so one node never runs two sessions of a service.
//! Across nodes, a deposed leader that has not noticed yet is held back by the leader lease
//! (`lease.rs`), which a service that talks to the outside world must check before acting.

use std::future::Future;

use tokio::sync::watch;
use vpnkeeper_cluster::Cluster;

/// Runs `session` while this node leads, until `stop` turns true.
///
/// `session(session_stop)` is started each time this node becomes leader; `session_stop`
/// turns true when it stops leading (or on shutdown), and the session should then finish
/// what is in flight and return. On shutdown this returns after the session has.
pub async fn while_leader<F, Fut>(
    cluster: Cluster,
    name: &str,
    mut stop: watch::Receiver<bool>,
    mut session: F,
) where
    F: FnMut(watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut metrics = cluster.metrics_watch();
    loop {
        // Idle until this node leads (or we are told to stop).
        loop {
            if *stop.borrow() {
                return;
            }
            if cluster.is_leader() {
                break;
            }
            tokio::select! {
                r = metrics.changed() => if r.is_err() { return },
                _ = stop.changed() => {}
            }
        }
        tracing::info!(service = name, "this node leads: {name} starting");
        let (session_stop, session_rx) = watch::channel(false);
        let running = tokio::spawn(session(session_rx));
        let shutting_down = loop {
            tokio::select! {
                r = metrics.changed() => {
                    if r.is_err() || !cluster.is_leader() {
                        break r.is_err();
                    }
                }
                _ = stop.changed() => if *stop.borrow() { break true },
            }
        };
        let _ = session_stop.send(true);
        if let Err(e) = running.await {
            tracing::error!(service = name, error = %e, "{name} session ended abnormally");
        }
        if shutting_down {
            tracing::info!(service = name, "{name} stopped");
            return;
        }
        tracing::info!(service = name, "this node no longer leads: {name} stopped");
    }
}

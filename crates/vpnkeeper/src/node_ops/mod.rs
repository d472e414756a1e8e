//! Node operations wiring (issue #14): every node keeps the latest load report of every
//! member, for placement's headroom (`vpnkeeper_domain::placement::NodeLoad`). The
//! operations themselves live in `vpnkeeper_cluster::node_ops` (RPC) and
//! `vpnkeeper_bot::node_ops` (the bot's side).

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use vpnkeeper_cluster::Cluster;

/// How often each member's load is fetched.
const LOAD_EVERY: Duration = Duration::from_secs(10);

/// Fetches every member's load every [`LOAD_EVERY`] until `stop`.
pub fn spawn_load_reports(cluster: &Cluster, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    let cluster = cluster.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(LOAD_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // The refresh runs after the select: awaiting it inside a branch would hold the
            // watch guard of the other branch across the await (not `Send`).
            let stopped = tokio::select! {
                _ = tick.tick() => false,
                _ = stop.wait_for(|s| *s) => true,
            };
            if stopped {
                return;
            }
            cluster.refresh_loads().await;
        }
    })
}

/// `vpnkeeper node drain|undrain ID` (a client of `POST /api/v1/nodes/{id}/drain|undrain`).
pub async fn drain_verb(
    api: &crate::client::ApiClient,
    id: u64,
    drain: bool,
) -> anyhow::Result<()> {
    let verb = if drain { "drain" } else { "undrain" };
    let _: (_, serde_json::Value) = api
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/nodes/{id}/{verb}"),
            None,
        )
        .await?;
    if drain {
        eprintln!("node {id} is draining: it gets no new devices (its devices stay)");
    } else {
        eprintln!("node {id} takes new devices again");
    }
    Ok(())
}

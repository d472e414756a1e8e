//! Starts the Telegram bot beside the API, when `[telegram]` has a token, and other
//! leader-only services ([`spawn_leader_only`]).

use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use vpnkeeper_bot::node_ops::{ClusterOps, NodeOps, Recorder};
use vpnkeeper_cluster::Cluster;
use vpnkeeper_domain::secrets::Sealer;

use crate::config::Config;

/// Test switch: a file the node-operation test double appends requested reboots to, instead
/// of the target node running its `node.reboot_command` (see `vpnkeeper_bot::node_ops`).
const NODE_OPS_RECORD_ENV: &str = "VPNKEEPER_TEST_NODE_OPS_LOG";

/// Spawns the bot; `None` (and one log line) when no token is configured. The handle ends
/// after `stop` once the updates and replies in flight are done.
pub fn spawn(
    cluster: &Cluster,
    config: &Config,
    sealer: Sealer,
    backups: Arc<dyn vpnkeeper_bot::backup_doc::BackupMaker>,
    stop: watch::Receiver<bool>,
) -> Option<JoinHandle<()>> {
    let subscription_base = config.api.options(&config.node).public_url;
    let Some(mut settings) = config
        .telegram
        .settings(config.wireguard.client_options(), subscription_base)
    else {
        tracing::info!("no telegram.token configured: running without the Telegram bot");
        return None;
    };
    settings.promo = config.payments.bot_settings();
    let node_ops: Arc<dyn NodeOps> = match std::env::var_os(NODE_OPS_RECORD_ENV) {
        Some(path) => Arc::new(Recorder::new(path.into())),
        None => Arc::new(ClusterOps::new(cluster.clone())),
    };
    tracing::info!(
        bot = settings.token.bot_id(),
        access = ?settings.access,
        admins = settings.admin_ids.len(),
        "Telegram bot enabled; it runs while this node is the Raft leader"
    );
    let bot =
        vpnkeeper_bot::Bot::new(settings, cluster.clone(), sealer, node_ops).with_backups(backups);
    Some(tokio::spawn(bot.run(stop)))
}

/// Runs a leader-only service (node liveness, the scheduler, anything that must run once
/// per cluster):
/// `session` starts each time this node becomes the Raft leader and its stop signal turns
/// true the moment it is not (or on shutdown). The handle ends after `stop`, once the
/// running session has returned. See `vpnkeeper_bot::leader`.
pub fn spawn_leader_only<F, Fut>(
    cluster: &Cluster,
    name: &'static str,
    stop: watch::Receiver<bool>,
    session: F,
) -> JoinHandle<()>
where
    F: FnMut(watch::Receiver<bool>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let cluster = cluster.clone();
    tokio::spawn(
        async move { vpnkeeper_bot::leader::while_leader(cluster, name, stop, session).await },
    )
}

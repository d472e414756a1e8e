//! `vpnkeeper run`: the node in the foreground until SIGINT/SIGTERM.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use vpnkeeper_api::ApiState;
use vpnkeeper_cluster::Cluster;
use vpnkeeper_domain::secrets::ClusterSecret;

use crate::config::{Config, Location};
use crate::secret_files::read_cluster_secret;

pub async fn run(location: &Location, config: &Config) -> Result<()> {
    let dir = &location.data_dir;
    refuse_unusable(dir)?;
    let secret = read_cluster_secret(dir)?;
    let pki = vpnkeeper_cluster::Pki::ensure(dir, config.node.id, &secret)
        .context("preparing the cluster certificates")?;
    // Catch SIGTERM/SIGINT from here on: start-up can take seconds (leader election, an
    // Xray test instance), and a stop asked for meanwhile must still be a clean one.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing a SIGTERM handler")?;
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .context("installing a SIGINT handler")?;

    // Bind first: a port in use is the most common start-up failure and should be reported
    // before anything else happens.
    let api_listener = TcpListener::bind(config.api.listen)
        .await
        .with_context(|| format!("cannot listen on api.listen {}", config.api.listen))?;
    let raft_listener = TcpListener::bind(config.raft.listen)
        .await
        .with_context(|| format!("cannot listen on raft.listen {}", config.raft.listen))?;

    let cluster = Cluster::start(config.node.id, dir, pki, config.raft.timing()).await?;
    cluster.configure_node_ops(config.node.agent_config());
    let (stop_tx, stop_rx) = watch::channel(false);

    let raft_server = {
        let cluster = cluster.clone();
        let stop = stop_rx.clone();
        tokio::spawn(async move { cluster.serve_rpc(raft_listener, wait_stop(stop)).await })
    };
    register(&cluster, config, &secret).await;
    let services = Services::start(&cluster, config, dir, &secret, api_listener, &stop_rx)?;

    let removed = tokio::select! {
        _ = term.recv() => false,
        _ = int.recv() => false,
        _ = wait_removed(&cluster) => true,
    };
    if removed {
        tracing::error!("this node was removed from the cluster: stopping");
        let _ = std::fs::write(dir.join(REMOVED_MARKER), "removed from the cluster\n");
    }
    tracing::info!("shutting down: finishing in-flight requests");
    let _ = stop_tx.send(true);
    services.stop().await;
    if let Ok(Err(e)) = raft_server.await {
        tracing::warn!(error = %e, "Raft RPC server stopped with an error");
    }
    cluster.shutdown().await;
    if removed {
        anyhow::bail!("this node was removed from the cluster and has stopped serving");
    }
    tracing::info!("stopped cleanly");
    Ok(())
}

/// Refuses a directory that holds no node, or one removed from its cluster.
fn refuse_unusable(dir: &Path) -> Result<()> {
    if !dir.join(crate::secret_files::CLUSTER_KEY_FILE).exists() {
        anyhow::bail!(
            "{} is not an initialised vpnkeeper data directory (no cluster.key); create one with `vpnkeeper init --data-dir {}`",
            dir.display(),
            dir.display()
        );
    }
    if dir.join(REMOVED_MARKER).exists() {
        anyhow::bail!(
            "this node was removed from the cluster; it can only come back through a new invite (`vpnkeeper join` into an empty directory)"
        );
    }
    Ok(())
}

/// The first try at this node's registration, before serving (a node is usually
/// registered by the time its API answers); retried in the background when it fails.
async fn register(cluster: &Cluster, config: &Config, secret: &ClusterSecret) {
    let registered = match cluster.wait_for_leader(Duration::from_secs(10)).await {
        Ok(_) => crate::register::ensure_registered(cluster, config, &secret.sealer())
            .await
            .map_err(|e| tracing::warn!(error = %format!("{e:#}"), "could not update this node's registration; retrying"))
            .is_ok(),
        Err(e) => {
            tracing::warn!(error = %e, "no Raft leader yet; serving reads only until one is elected");
            false
        }
    };
    if !registered {
        spawn_registration(cluster.clone(), config.clone(), secret.sealer());
    }
}

/// The node's tasks around Raft, started by [`Services::start`] and awaited by
/// [`Services::stop`] in an order that lets in-flight work still commit.
struct Services {
    api_server: JoinHandle<std::io::Result<()>>,
    api_maintenance: JoinHandle<()>,
    bot: Option<JoinHandle<()>>,
    liveness: JoinHandle<()>,
    backup_schedule: Option<JoinHandle<()>>,
    scheduler: JoinHandle<()>,
    sampler: JoinHandle<()>,
    voice: Option<JoinHandle<()>>,
    wg: Option<crate::wg_service::WgService>,
    xray: Option<crate::xray_service::XrayService>,
}

impl Services {
    /// Metrics, the data planes, the API, then the bot and the leader's background jobs.
    fn start(
        cluster: &Cluster,
        config: &Config,
        dir: &Path,
        secret: &ClusterSecret,
        api_listener: TcpListener,
        stop_rx: &watch::Receiver<bool>,
    ) -> Result<Services> {
        let sampler = spawn_metrics(cluster, config, dir, stop_rx)?;
        // Data planes first: their trackers are what `/health` and `/metrics` report on them.
        let wg = crate::wg_service::spawn(cluster, config, secret.sealer(), stop_rx.clone())?;
        let xray =
            crate::xray_service::spawn(cluster, config, dir, &secret.sealer(), stop_rx.clone());
        let probes = [
            wg.as_ref().map(|s| s.tracker.clone()),
            xray.as_ref().map(|s| s.tracker.clone()),
        ];
        // Support voice notes: the leader-only transcription worker (issue #17).
        let voice = crate::voice_service::spawn(cluster, config, stop_rx.clone());
        let state = api_state(
            cluster,
            config,
            &secret.sealer(),
            probes.into_iter().flatten(),
        )
        .with_backup(vpnkeeper_api::state::BackupSource {
            secret: secret.clone(),
            scratch_dir: dir.join("snapshots"),
        })
        .with_voice_probe(voice.probe.clone());
        let api_tls = match (&config.api.tls_cert, &config.api.tls_key) {
            (Some(cert), Some(key)) => Some(vpnkeeper_api::tls::load_server_config(cert, key)?),
            _ => None,
        };
        let api_maintenance = vpnkeeper_api::spawn_maintenance(state.clone());
        let app = crate::http_trace::wrap(vpnkeeper_api::router(state));
        tracing::info!(
            node_id = config.node.id,
            api = %config.api.listen,
            api_tls = config.api.tls_enabled(),
            raft = %config.raft.listen,
            data_dir = %dir.display(),
            "vpnkeeper node running"
        );
        let jobs = BackgroundJobs::spawn(cluster, config, dir, secret, stop_rx);
        let api_server = {
            let stop = stop_rx.clone();
            tokio::spawn(async move {
                vpnkeeper_api::tls::serve(api_listener, app, api_tls, wait_stop(stop)).await
            })
        };
        Ok(Services {
            api_server,
            api_maintenance,
            bot: jobs.bot,
            liveness: jobs.liveness,
            backup_schedule: jobs.backup_schedule,
            scheduler: jobs.scheduler,
            sampler,
            voice: voice.handle,
            wg,
            xray,
        })
    }

    /// Waits for every task once the stop signal is sent, before Raft stops.
    async fn stop(self) {
        // In-flight requests (and the proposals they wait on) finish before Raft stops.
        if let Ok(Err(e)) = self.api_server.await {
            tracing::warn!(error = %e, "API server stopped with an error");
        }
        self.api_maintenance.abort();
        // The bot's in-flight updates and replies finish while Raft can still commit them.
        if let Some(handle) = self.bot {
            let _ = handle.await;
        }
        let _ = self.liveness.await;
        if let Some(handle) = self.backup_schedule {
            let _ = handle.await;
        }
        let _ = self.scheduler.await;
        let _ = self.sampler.await;
        // A transcription in progress is abandoned: its note stays pending for the next leader.
        if let Some(handle) = self.voice {
            let _ = handle.await;
        }
        if let Some(wg) = self.wg {
            let _ = wg.handle.await;
        }
        if let Some(xray) = self.xray {
            let _ = xray.handle.await;
        }
    }
}

/// This node's metrics sampler (issue #14): its own series file, served to the other
/// nodes over the node RPC.
fn spawn_metrics(
    cluster: &Cluster,
    config: &Config,
    dir: &Path,
    stop_rx: &watch::Receiver<bool>,
) -> Result<JoinHandle<()>> {
    let node_metrics = crate::metrics::Metrics::open(dir, config.node.id)
        .context("opening the node's metrics file")?;
    cluster.set_telemetry(std::sync::Arc::new(node_metrics.clone()));
    Ok(node_metrics.spawn(
        cluster.clone(),
        dir,
        config.node.sample_interval(),
        vpnkeeper_telemetry::Interfaces {
            vpn: vec![config.wireguard.interface.clone()],
        },
        stop_rx.clone(),
    ))
}

/// The bot and the jobs that run beside it (most only on the leader). Those not kept here
/// (scheduled backups, load reports) are never awaited: they stop with the stop signal.
struct BackgroundJobs {
    bot: Option<JoinHandle<()>>,
    backup_schedule: Option<JoinHandle<()>>,
    liveness: JoinHandle<()>,
    scheduler: JoinHandle<()>,
}

impl BackgroundJobs {
    fn spawn(
        cluster: &Cluster,
        config: &Config,
        dir: &Path,
        secret: &ClusterSecret,
        stop_rx: &watch::Receiver<bool>,
    ) -> BackgroundJobs {
        let backup_maker = crate::backup_telegram::Maker::new(
            cluster.read().clone(),
            vpnkeeper_api::state::BackupSource {
                secret: secret.clone(),
                scratch_dir: dir.join("snapshots"),
            },
        );
        let bot = crate::bot_service::spawn(
            cluster,
            config,
            secret.sealer(),
            backup_maker,
            stop_rx.clone(),
        );
        // Scheduled backups to the admins (ops): only where the bot runs.
        let backup_schedule = bot
            .as_ref()
            .and_then(|_| crate::backup_telegram::spawn_schedule(cluster, config, stop_rx.clone()));
        let liveness = {
            let c = cluster.clone();
            crate::bot_service::spawn_leader_only(
                cluster,
                "node liveness",
                stop_rx.clone(),
                move |s| crate::node_liveness::session(c.clone(), s),
            )
        };
        // `[backup]` schedule (ops); stops with the node.
        let _backups = crate::backup::spawn_scheduled(
            cluster.read().clone(),
            config,
            dir,
            secret.clone(),
            stop_rx.clone(),
        );
        let scheduler = crate::scheduler::spawn(cluster, stop_rx.clone());
        let _load_reports = crate::node_ops::spawn_load_reports(cluster, stop_rx.clone());
        BackgroundJobs {
            bot,
            backup_schedule,
            liveness,
            scheduler,
        }
    }
}

/// Written into the data directory of a node that learnt it was removed: `run` refuses it.
const REMOVED_MARKER: &str = "removed";

/// Completes once this node learns it is no longer a member: its own membership stops
/// listing it (after having listed it: a joiner replaying the log passes through configs
/// from before it joined), or a majority of the other members refuse it.
async fn wait_removed(cluster: &Cluster) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    let mut was_member = false;
    for round in 0u64.. {
        tick.tick().await;
        if cluster.in_membership() {
            was_member = true;
        } else if was_member {
            return;
        }
        // A removed learner hears from nobody: ask the others now and then.
        if round % 4 == 3 && !cluster.is_leader() && cluster.majority_says_removed().await {
            return;
        }
    }
}

/// API wiring: options from [api], the Prometheus recorder, the data-plane health probes.
fn api_state(
    cluster: &Cluster,
    config: &Config,
    sealer: &vpnkeeper_domain::secrets::Sealer,
    probes: impl Iterator<Item = std::sync::Arc<crate::dataplane_health::PassTracker>>,
) -> ApiState {
    let mut state = ApiState::new(
        cluster.clone(),
        sealer.clone(),
        config.wireguard.client_options(),
    )
    .with_options({
        let mut options = config.api.options(&config.node);
        options.sub.settings = config.subscription.clone();
        options
    });
    match vpnkeeper_api::metrics::install() {
        Ok(handle) => state = state.with_metrics(handle),
        Err(e) => tracing::warn!(error = %e, "metrics recorder not installed; /metrics is off"),
    }
    for probe in probes {
        state = state.with_health_probe(probe);
    }
    state
}

async fn wait_stop(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Keeps proposing this node's registration until it is in the replicated state. A node
/// that just joined may not reach the leader on its first try (it is still a learner
/// catching up, or an election is running); until it is registered, no device can be
/// placed on it and its data planes have nothing to serve, so one failure must not be final.
fn spawn_registration(
    cluster: vpnkeeper_cluster::Cluster,
    config: Config,
    sealer: vpnkeeper_domain::secrets::Sealer,
) {
    tokio::spawn(async move {
        for attempt in 0u32.. {
            match crate::register::ensure_registered(&cluster, &config, &sealer).await {
                Ok(()) => return,
                Err(e) if attempt % 30 == 29 => {
                    tracing::warn!(error = %format!("{e:#}"), "could not update this node's registration; retrying")
                }
                Err(_) => {}
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

//! `vpnkeeper run`: the node in the foreground until SIGINT/SIGTERM.

use std::time::Duration;

use anyhow::{Context, Result};
use tokio::net::TcpListener;
use tokio::sync::watch;
use vpnkeeper_api::ApiState;
use vpnkeeper_cluster::Cluster;

use crate::config::{Config, Location};
use crate::secret_files::read_cluster_secret;

pub async fn run(location: &Location, config: &Config) -> Result<()> {
    let dir = &location.data_dir;
    if !dir.join(crate::secret_files::CLUSTER_KEY_FILE).exists() {
        anyhow::bail!(
            "{} is not an initialised vpnkeeper data directory (no cluster.key); create one with `vpnkeeper init --data-dir {}`",
            dir.display(),
            dir.display()
        );
    }
    let secret = read_cluster_secret(dir)?;

    // Bind first: a port in use is the most common start-up failure and should be reported
    // before anything else happens.
    let api_listener = TcpListener::bind(config.api.listen)
        .await
        .with_context(|| format!("cannot listen on api.listen {}", config.api.listen))?;
    let raft_listener = TcpListener::bind(config.raft.listen)
        .await
        .with_context(|| format!("cannot listen on raft.listen {}", config.raft.listen))?;

    let cluster = Cluster::start(config.node.id, dir, &secret, config.raft.timing()).await?;
    let (stop_tx, stop_rx) = watch::channel(false);

    let raft_server = {
        let app = cluster.rpc_router();
        let stop = stop_rx.clone();
        tokio::spawn(async move {
            axum::serve(raft_listener, app)
                .with_graceful_shutdown(wait_stop(stop))
                .await
        })
    };

    match cluster.wait_for_leader(Duration::from_secs(10)).await {
        Ok(_) => {
            if let Err(e) =
                crate::register::ensure_registered(&cluster, config, &secret.sealer()).await
            {
                tracing::error!(error = %e, "could not update this node's registration");
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "no Raft leader yet; serving reads only until one is elected")
        }
    }

    // API wiring (issue #5): options from [api], the Prometheus recorder, HTTPS when a
    // certificate is configured. Data-plane health probes are added with
    // `.with_health_probe(...)` by whoever starts a backend.
    let mut state = ApiState::new(
        cluster.clone(),
        secret.sealer(),
        config.wireguard.client_options(),
    )
    .with_options(config.api.options(&config.node));
    match vpnkeeper_api::metrics::install() {
        Ok(handle) => state = state.with_metrics(handle),
        Err(e) => tracing::warn!(error = %e, "metrics recorder not installed; /metrics is off"),
    }
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
    let wg_reconciler =
        crate::wg_service::spawn(&cluster, config, secret.sealer(), stop_rx.clone())?;
    let xray =
        match crate::xray_service::spawn(&cluster, config, dir, &secret.sealer(), stop_rx.clone())
            .await
        {
            Ok(h) => h,
            Err(e) => {
                // The rest of the node (API, WireGuard) stays useful; say what to fix.
                tracing::error!(error = %format!("{e:#}"), "xray service not started");
                None
            }
        };

    let bot = crate::bot_service::spawn(&cluster, config, secret.sealer(), stop_rx.clone());

    let api_server = {
        let stop = stop_rx.clone();
        tokio::spawn(async move {
            vpnkeeper_api::tls::serve(api_listener, app, api_tls, wait_stop(stop)).await
        })
    };

    shutdown_signal().await;
    tracing::info!("shutting down: finishing in-flight requests");
    let _ = stop_tx.send(true);
    // In-flight requests (and the proposals they wait on) finish before Raft stops.
    if let Ok(Err(e)) = api_server.await {
        tracing::warn!(error = %e, "API server stopped with an error");
    }
    api_maintenance.abort();
    // The bot's in-flight updates and replies finish while Raft can still commit them.
    if let Some(handle) = bot {
        let _ = handle.await;
    }
    if let Some(handle) = wg_reconciler {
        let _ = handle.await;
    }
    if let Some(handle) = xray {
        let _ = handle.await;
    }
    if let Ok(Err(e)) = raft_server.await {
        tracing::warn!(error = %e, "Raft RPC server stopped with an error");
    }
    cluster.shutdown().await;
    tracing::info!("stopped cleanly");
    Ok(())
}

async fn wait_stop(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

//! The verbs that set up or run a node in a data directory: `init`, `run`, `restore`, `join`.
//! They work on local files (and, for `join`, the inviting cluster), not the local API.

use std::net::SocketAddr;

use anyhow::Result;

use crate::config::{self, Config, Location, LogFormat};
use crate::{init, join, restore, run, secret_files, Cmd, Place};

/// Runs one of this module's verbs; `main` routes only them here.
pub(crate) async fn dispatch(cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::Init {
            data_dir,
            name,
            api_listen,
            raft_listen,
            public_host,
            wg_backend,
        } => {
            // Refuse an initialised directory before saying anything about the backend.
            init::ensure_uninitialised(&data_dir)?;
            let listen = (api_listen, raft_listen);
            let config = new_node_config(name, public_host, listen, wg_backend, true)?;
            let token = init::init(&data_dir, &config).await?;
            eprintln!(
                "initialised node {} in {}; the admin token (also in {}) is:",
                config.node.name,
                data_dir.display(),
                data_dir.join(secret_files::ADMIN_TOKEN_FILE).display()
            );
            println!("{token}");
            Ok(())
        }
        Cmd::Run { place, log_format } => run_verb(&place, log_format.as_deref()).await,
        Cmd::Restore {
            data_dir,
            from,
            passphrase_file,
            cluster_key,
            name,
            api_listen,
            raft_listen,
            public_host,
            wg_backend,
        } => {
            init::ensure_uninitialised(&data_dir)?;
            // Open and check the backup before writing anything.
            let (state_db, secret) = restore::open(&restore::RestoreFrom {
                file: from,
                passphrase_file,
                cluster_key,
            })?;
            let listen = (api_listen, raft_listen);
            let config = new_node_config(name, public_host, listen, wg_backend, false)?;
            let token = restore::restore(&data_dir, &config, state_db, secret).await?;
            eprintln!(
                "restored into {}; the new admin token (also in {}) is:",
                data_dir.display(),
                data_dir.join(secret_files::ADMIN_TOKEN_FILE).display()
            );
            println!("{token}");
            Ok(())
        }
        Cmd::Join {
            data_dir,
            link,
            name,
            api_listen,
            raft_listen,
            public_host,
            wg_backend,
        } => {
            let config = join::join(join::JoinArgs {
                data_dir: data_dir.clone(),
                link,
                name,
                api_listen,
                raft_listen,
                public_host,
                wg_backend,
            })
            .await?;
            eprintln!(
                "joined the cluster as node {} ({}); start it with `vpnkeeper run --data-dir {}`; the admin token is in {}",
                config.node.id,
                config.node.name,
                data_dir.display(),
                data_dir.join(secret_files::ADMIN_TOKEN_FILE).display()
            );
            Ok(())
        }
        _ => unreachable!("only init, run, restore and join are routed to node_verbs"),
    }
}

/// The config of a node made by `init` or `restore`, checked. Without `--wg-backend` the
/// backend is this host's default; `init` says which and why on stderr (`say_default`).
fn new_node_config(
    name: String,
    public_host: String,
    (api_listen, raft_listen): (SocketAddr, SocketAddr),
    wg_backend: Option<String>,
    say_default: bool,
) -> Result<Config> {
    let mut config = Config::default();
    config.node.name = name;
    config.node.public_host = public_host;
    config.wireguard.backend = match wg_backend {
        Some(b) => b
            .parse()
            .map_err(|e| anyhow::anyhow!("--wg-backend: {e}"))?,
        None => {
            let w = &config.wireguard;
            let (kind, line) = init::default_wg_backend(&w.interface, w.listen_port);
            if say_default {
                eprintln!("{line}");
            }
            kind
        }
    };
    config.api.listen = api_listen;
    config.raft.listen = raft_listen;
    config.check_all()?;
    Ok(config)
}

/// `run`: the node in the foreground, initialising an empty data directory first.
async fn run_verb(place: &Place, log_format: Option<&str>) -> Result<()> {
    let location = Location::from_args(place.data_dir.clone(), place.config.clone());
    let fresh = place.config.is_none() && init::ensure_uninitialised(&location.data_dir).is_ok();
    let (location, mut config) = location.load()?;
    if let Some(f) = log_format {
        config.log.format = if f == "json" {
            LogFormat::Json
        } else {
            LogFormat::Text
        };
    }
    init_logging(&config);
    if fresh {
        choose_first_run_backend(&mut config);
        init::init(&location.data_dir, &config).await?;
        tracing::info!(
            data_dir = %location.data_dir.display(),
            "first run: initialised a new one-node cluster; the admin token is in admin.token"
        );
    }
    run::run(&location, &config).await
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log.level));
    // Colours only on a terminal: escape codes in a journal or log file are noise.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match config.log.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init(),
        LogFormat::Text => builder.init(),
    }
}

/// The README's first command (`vpnkeeper run` on an empty directory) picks the WireGuard
/// backend the way `init` does: `embedded` where a TUN device can be made, else `none` with
/// the one line that says what is missing. An explicit `VPNKEEPER_WIREGUARD__BACKEND` wins.
fn choose_first_run_backend(config: &mut config::Config) {
    if std::env::var_os("VPNKEEPER_WIREGUARD__BACKEND").is_some() {
        return;
    }
    let w = &config.wireguard;
    let (kind, line) = init::default_wg_backend(&w.interface, w.listen_port);
    if kind == config::WgBackendKind::None {
        tracing::warn!("{line}");
    } else {
        tracing::info!("{line}");
    }
    config.wireguard.backend = kind;
}

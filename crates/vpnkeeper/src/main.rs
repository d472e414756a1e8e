//! `vpnkeeper`: the one binary. `init` and `run` operate a node; the other verbs are clients of
//! a running node's local API.

mod backup;
mod backup_telegram;
mod bench;
mod bench_backup;
mod bench_xray;
mod bot_service;
mod client;
mod config;
mod dataplane_health;
mod fleet_verbs;
mod http_trace;
mod import;
mod init;
mod join;
mod metrics;
mod node_liveness;
mod node_ops;
mod node_verbs;
mod plan_verbs;
mod promo_verbs;
mod register;
mod restore;
mod run;
mod scheduler;
mod secret_files;
mod usage_report;
mod verbs;
mod voice_cli;
mod voice_service;
mod wg_service;
mod xray_service;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use crate::client::ApiClient;
use crate::config::{Config, Location};

/// Shown at the end of `--help`.
const EXIT_CODES: &str = "Exit codes:\n  0  success\n  1  the command failed; one line on stderr says why (refused by the node, bad file, no node running, …)\n  2  bad command line (unknown verb or flag, missing argument)";

/// Where a node lives when no `--data-dir`/`--config` is given.
pub const DEFAULT_DATA_DIR: &str = "./vpnkeeper-data";

#[derive(Parser)]
#[command(
    name = "vpnkeeper",
    version,
    after_help = EXIT_CODES,
    about = "Self-hosted VPN service: AmneziaWG/WireGuard and VLESS+Reality access, Telegram bot, Raft cluster"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Args, Clone)]
struct Place {
    /// The node's data directory (config, databases, secrets).
    #[arg(long, env = "VPNKEEPER_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// The node's config file (default: DATA_DIR/vpnkeeper.toml).
    #[arg(long, env = "VPNKEEPER_CONFIG", global = true)]
    config: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create a new one-node cluster in an empty data directory and print the admin token.
    Init {
        #[arg(long, env = "VPNKEEPER_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        /// This node's name.
        #[arg(long, default_value = "node-1")]
        name: String,
        #[arg(long, default_value = "127.0.0.1:8080")]
        api_listen: SocketAddr,
        #[arg(long, default_value = "127.0.0.1:8090")]
        raft_listen: SocketAddr,
        /// The host clients connect to (DNS name or IP).
        #[arg(long, default_value = "127.0.0.1")]
        public_host: String,
        /// The WireGuard data plane (`embedded`, `uapi`, `cli`, `amnezia-docker`, `none`);
        /// unset = `embedded` when /dev/net/tun and CAP_NET_ADMIN are there, else `none`.
        #[arg(long)]
        wg_backend: Option<String>,
    },
    /// Run the node in the foreground until SIGINT/SIGTERM. An empty data directory is
    /// initialised first with the defaults.
    Run {
        #[command(flatten)]
        place: Place,
        /// Log format (overrides log.format).
        #[arg(long, value_parser = ["text", "json"])]
        log_format: Option<String>,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCmd,
        #[command(flatten)]
        place: Place,
    },
    /// Manage devices (configs).
    Device {
        #[command(subcommand)]
        command: DeviceCmd,
        #[command(flatten)]
        place: Place,
    },
    /// Show the node, its Raft role, last applied index and counts.
    Status {
        #[command(flatten)]
        place: Place,
    },
    /// Measure commit latency/throughput, idle memory and the Xray service under load on
    /// throw-away nodes, and print each figure next to its goal (build with --release for
    /// meaningful figures).
    Bench {
        /// Concurrent API clients for the throughput run.
        #[arg(long, default_value_t = 32)]
        clients: usize,
        /// Devices issued in the throughput run.
        #[arg(long, default_value_t = 10_000)]
        requests: usize,
        /// Users loaded for the RSS measurement.
        #[arg(long, default_value_t = 10_000)]
        users: usize,
        /// Devices in total for the RSS measurement.
        #[arg(long, default_value_t = 20_000)]
        devices: usize,
        /// Skip the (slower) load-and-measure-RSS part.
        #[arg(long)]
        skip_rss: bool,
        /// Seconds of `GET /sub/{token}` load (0 skips it).
        #[arg(long, default_value_t = 10)]
        sub_seconds: u64,
        /// Keep-alive connections of the subscription load.
        #[arg(long, default_value_t = 64)]
        sub_connections: usize,
        /// Only measure the subscription endpoint.
        #[arg(long)]
        sub_only: bool,
        /// How to run Xray for the Xray part (`{config}` is replaced by the config path).
        /// Default: `xray` on the PATH, else the PyPI build through scripts/xray-run.py.
        #[arg(long)]
        xray_command: Option<String>,
        /// Skip the Xray part (a node supervising a real Xray: time to idle after a burst,
        /// CPU per single change, Xray's RSS).
        #[arg(long)]
        skip_xray: bool,
    },
    /// Measure what VLESS device churn costs a node running a real Xray: time to idle and
    /// CPU seconds after a burst, CPU per single change, Xray's RSS (build with --release).
    BenchXray {
        /// Users (one VLESS device each) loaded first.
        #[arg(long, default_value_t = 10_000)]
        users: usize,
        /// Concurrent API clients.
        #[arg(long, default_value_t = 32)]
        clients: usize,
        /// Seconds of the burst on top of the load.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Isolated single changes measured.
        #[arg(long, default_value_t = 20)]
        singles: usize,
        /// How the node runs Xray; `{config}` is replaced by its config path.
        #[arg(long, default_value = "xray run -c {config}")]
        xray_command: String,
        /// Run the node from this binary instead (e.g. an older build, to compare).
        #[arg(long)]
        node_exe: Option<PathBuf>,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to stdout.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to stdout.
    Man,
    /// Backups of the replicated state.
    Backup {
        #[command(subcommand)]
        command: BackupCmd,
        #[command(flatten)]
        place: Place,
    },
    /// Create a new one-node cluster in an empty directory from a backup: every user,
    /// device, key, subscription token and plan, the same server keys and AmneziaWG params.
    Restore {
        /// The new node's data directory (must not hold a node).
        #[arg(long)]
        data_dir: PathBuf,
        /// The backup file.
        #[arg(long)]
        from: PathBuf,
        /// For a passphrase-sealed backup: the file holding the passphrase.
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
        /// For a cluster-sealed backup: the old cluster's cluster.key.
        #[arg(long)]
        cluster_key: Option<PathBuf>,
        /// This node's name.
        #[arg(long, default_value = "node-1")]
        name: String,
        #[arg(long, default_value = "127.0.0.1:8080")]
        api_listen: SocketAddr,
        #[arg(long, default_value = "127.0.0.1:8090")]
        raft_listen: SocketAddr,
        /// The host clients connect to (DNS name or IP): give the old one, or update DNS.
        #[arg(long, default_value = "127.0.0.1")]
        public_host: String,
        /// The WireGuard data plane, as for `init`.
        #[arg(long)]
        wg_backend: Option<String>,
    },
    /// Carry users, devices and keys over from another panel, keeping every customer's
    /// subscription URL and config working. Re-running an import changes nothing more.
    Import {
        #[command(subcommand)]
        source: ImportCmd,
        /// Print what would happen and change nothing.
        #[arg(long, global = true)]
        dry_run: bool,
        #[command(flatten)]
        place: Place,
    },
    /// Make an empty data directory a member of an existing cluster, from a link made by
    /// `vpnkeeper invite create`; then start it with `vpnkeeper run`.
    Join {
        #[arg(long, env = "VPNKEEPER_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        /// The one-time join link.
        #[arg(long)]
        link: String,
        /// This node's name (default: node-<id>).
        #[arg(long)]
        name: Option<String>,
        #[arg(long, default_value = "127.0.0.1:8080")]
        api_listen: SocketAddr,
        #[arg(long, default_value = "127.0.0.1:8090")]
        raft_listen: SocketAddr,
        /// The host clients connect to (DNS name or IP).
        #[arg(long)]
        public_host: Option<String>,
        /// The WireGuard data plane, as for `init`.
        #[arg(long)]
        wg_backend: Option<String>,
    },
    /// One-time join links for new nodes.
    Invite {
        #[command(subcommand)]
        command: InviteCmd,
        #[command(flatten)]
        place: Place,
    },
    /// The cluster's members.
    Node {
        #[command(subcommand)]
        command: NodeCmd,
        #[command(flatten)]
        place: Place,
    },
    /// This node's cluster certificate.
    Cert {
        #[command(subcommand)]
        command: CertCmd,
        #[command(flatten)]
        place: Place,
    },
    /// Manage plans (duration, traffic quota, device limit, reset strategy, price).
    Plan {
        #[command(subcommand)]
        command: PlanCmd,
        #[command(flatten)]
        place: Place,
    },
    /// Voice-note transcription tools: import a Whisper model, try it on a file.
    Voice {
        #[command(subcommand)]
        command: voice_cli::VoiceCmd,
    },
    /// Promo codes: create, list, disable (issue #16).
    Promo {
        #[command(subcommand)]
        command: promo_verbs::PromoCmd,
        #[command(flatten)]
        place: Place,
    },
    /// Users' balances in Telegram Stars: show, credit, debit (issue #16).
    Balance {
        #[command(subcommand)]
        command: promo_verbs::BalanceCmd,
        #[command(flatten)]
        place: Place,
    },
    /// Measure backup and restore time and file size on a throw-away node seeded with
    /// USERS users and DEVICES devices (build with --release for meaningful figures).
    BenchBackup {
        #[arg(long, default_value_t = 100_000)]
        users: usize,
        /// At most twice --users (a WireGuard and a VLESS device each).
        #[arg(long, default_value_t = 200_000)]
        devices: usize,
    },
}

#[derive(Subcommand)]
pub(crate) enum PlanCmd {
    /// Create a plan and print its id.
    Add {
        name: String,
        /// Days of access a purchase or an extension adds (1–36500).
        #[arg(long)]
        days: i64,
        /// Traffic per reset period: bytes, or 500M, 50G, 1T; 0 or `unlimited` = no quota.
        #[arg(long, default_value = "0")]
        quota: String,
        /// Active devices allowed (0 = any number).
        #[arg(long, default_value_t = 0)]
        devices: i64,
        /// When usage goes back to zero.
        #[arg(long, default_value = "no_reset", value_parser = ["no_reset", "day", "week", "month", "year", "month_rolling", "day_of_month"])]
        reset: String,
        /// With `--reset day_of_month`: the day, 1–31 (clamped to the month's last day).
        #[arg(long)]
        reset_day: Option<i64>,
        /// Price in Telegram Stars (0 = not for sale).
        #[arg(long, default_value_t = 0)]
        price: i64,
    },
    /// List plans.
    List {
        /// Include archived plans.
        #[arg(long)]
        archived: bool,
        /// `table` for people, `json` (the API's objects) for scripts.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
    /// Archive a plan (by id or name): no new assignments; users on it keep their terms.
    Archive { plan: String },
}

#[derive(Subcommand)]
enum InviteCmd {
    /// Print a one-time join link (last line of stdout).
    Create {
        /// How long the link works: 30s, 15m, 2h, 1d (at most 7d).
        #[arg(long)]
        ttl: Option<String>,
    },
}

#[derive(Subcommand)]
enum NodeCmd {
    /// One line per member: id, name, role, online|offline, last contact.
    List,
    /// Remove a node from the cluster (it stops serving; the last voter cannot be removed).
    Remove { id: u64 },
    /// Mark a node draining: it gets no new devices (its devices stay).
    Drain { id: u64 },
    /// Take the draining mark off a node.
    Undrain { id: u64 },
}

#[derive(Subcommand)]
enum CertCmd {
    /// Issue this node a new key and certificate from the cluster CA (restart to use it).
    Rotate,
    /// Replace the cluster CA (every node stopped; then copy cluster-ca.crt and
    /// cluster-ca.key to every other node and start them all: see docs/cluster.md).
    NewCa,
}

/// How list verbs print.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum OutputFormat {
    Table,
    Json,
}

#[derive(Subcommand)]
pub(crate) enum BackupCmd {
    /// Take a sealed backup of the running node's replicated state (online, consistent)
    /// and write it 0600; prints the file's path.
    Create {
        /// Where to write it (default: ./vpnkeeper-<cluster id>-<unix ms>.vkbackup).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Seal with this passphrase (first line of the file, 8+ characters) instead of
        /// the cluster's key, so the backup restores without the old cluster.
        #[arg(long)]
        passphrase_file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub(crate) enum ImportCmd {
    /// From Marzban's SQLite database: names, expiry, data limit, used traffic, status and
    /// VLESS UUIDs; old `/sub/{token}` URLs keep working.
    Marzban {
        /// Marzban's database (usually /var/lib/marzban/db.sqlite3); opened read-only.
        #[arg(long, required_unless_present = "url", conflicts_with = "url")]
        db: Option<PathBuf>,
        /// The secret Marzban signs subscription tokens with (default: its `jwt` table;
        /// over the REST API, only from here).
        #[arg(long)]
        secret: Option<String>,
        /// Import over the running panel's REST API instead (e.g. https://panel:8000).
        #[arg(long, requires_all = ["username", "password_file"])]
        url: Option<String>,
        /// A Marzban sudo admin, for --url.
        #[arg(long, requires = "url")]
        username: Option<String>,
        /// A file (mode 0600) holding that admin's password, for --url.
        #[arg(long, requires = "url")]
        password_file: Option<PathBuf>,
    },
    /// From an Amnezia self-hosted container's wg0.conf and clientsTable: peers keep their
    /// keys, addresses and names; the node takes over the server key and AmneziaWG params.
    Amnezia {
        /// The server's config (in the container: /opt/amnezia/awg/wg0.conf).
        #[arg(long)]
        wg_conf: PathBuf,
        /// Client names (in the container: /opt/amnezia/awg/clientsTable).
        #[arg(long)]
        clients_table: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub(crate) enum UserCmd {
    /// Create a user and print its id.
    Add {
        name: String,
        /// The user's Telegram id (a positive number).
        #[arg(long, allow_negative_numbers = true)]
        telegram_id: Option<i64>,
    },
    /// List users.
    List {
        #[arg(long)]
        search: Option<String>,
        /// `table` for people, `json` (the API's objects) for scripts.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
    /// Disable a user (their devices stop working).
    Disable { user: String },
    /// Enable a user again.
    Enable { user: String },
}

#[derive(Subcommand)]
pub(crate) enum DeviceCmd {
    /// Issue a device for a user: the device id goes to stderr, the client config to stdout.
    Add {
        /// User id or name.
        user: String,
        #[arg(long = "type", value_parser = ["phone", "laptop", "router"])]
        device_type: String,
        /// Default: what the node serves (awg on an AmneziaWG node, wireguard on a plain
        /// WireGuard one).
        #[arg(long, value_parser = ["awg", "wireguard", "vless"])]
        protocol: Option<String>,
        /// Device name (default: the type, so asking again returns the same device).
        #[arg(long)]
        name: Option<String>,
    },
    /// List devices, optionally of one user.
    List {
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        include_revoked: bool,
        /// `table` for people, `json` (the API's objects) for scripts.
        #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
        output: OutputFormat,
    },
    /// Revoke a device by id or UUID.
    Revoke { device: String },
}

/// glibc malloc tuned for a long-running node whose periodic full passes allocate and free
/// a few large buffers (the 20,000 peers of an interface dump are one 7 MB `Vec`):
/// - at most two arenas instead of eight per core: each tokio or SQLite thread that
///   allocates during startup's full passes otherwise keeps an arena of its own, and the
///   freed memory in them stays resident (idle RSS 65 → 61 MB with 20,000 peers);
/// - a fixed mmap threshold of 128 KiB. glibc raises its threshold to the size of any
///   mmapped block that is freed, so after the first pass those big buffers came from the
///   heap and left it fragmented: idle RSS climbed ~1.5 MB per 10 s pass to 67 MB and more
///   (`vpnkeeper bench`, 10k users / 20k devices); with the threshold fixed it levels off.
///
/// Allocation is not this node's bottleneck (SQLite's single writer is).
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only tunes the allocator; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

fn main() -> ExitCode {
    // Everything vpnkeeper writes (databases with API-key hashes and subscription tokens,
    // snapshots, configs, the Xray config with user ids) is for this user only.
    // SAFETY: umask only changes this process's file-creation mask; no threads exist yet.
    unsafe {
        libc::umask(0o077);
    }
    tune_malloc();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` joins the error chain on one line: "what failed: because".
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load(place: &Place) -> Result<(Location, Config)> {
    Ok(Location::from_args(place.data_dir.clone(), place.config.clone()).load()?)
}

/// A client of the local API of the node at `place`.
fn api_client(place: &Place) -> Result<ApiClient> {
    let (location, config) = load(place)?;
    ApiClient::new(&location, &config)
}

/// Runs one verb. Verb groups with their own module get the whole command; the API clients
/// that fit on a line stay here.
async fn dispatch(cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::Init { .. } | Cmd::Run { .. } | Cmd::Restore { .. } | Cmd::Join { .. } => {
            node_verbs::dispatch(cmd).await
        }
        Cmd::Invite { .. } | Cmd::Node { .. } | Cmd::Cert { .. } => {
            fleet_verbs::dispatch(cmd).await
        }
        Cmd::Bench { .. } | Cmd::BenchXray { .. } | Cmd::BenchBackup { .. } => {
            bench_dispatch(cmd).await
        }
        Cmd::User { command, place } => verbs::user_cmd(&api_client(&place)?, command).await,
        Cmd::Device { command, place } => verbs::device_cmd(&api_client(&place)?, command).await,
        Cmd::Status { place } => verbs::status_cmd(&api_client(&place)?).await,
        Cmd::Plan { command, place } => plan_verbs::plan_cmd(&api_client(&place)?, command).await,
        Cmd::Promo { command, place } => {
            promo_verbs::promo_cmd(&api_client(&place)?, command).await
        }
        Cmd::Balance { command, place } => {
            promo_verbs::balance_cmd(&api_client(&place)?, command).await
        }
        Cmd::Backup { command, place } => {
            let (location, config) = load(&place)?;
            let api = ApiClient::new(&location, &config)?;
            match command {
                BackupCmd::Create {
                    out,
                    passphrase_file,
                } => {
                    backup::create(&api, &location.data_dir, out, passphrase_file.as_deref()).await
                }
            }
        }
        Cmd::Import {
            source,
            dry_run,
            place,
        } => import_verb(source, dry_run, &place).await,
        Cmd::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "vpnkeeper", &mut std::io::stdout());
            Ok(())
        }
        Cmd::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            clap_mangen::Man::new(cmd)
                .render(&mut std::io::stdout())
                .map_err(|e| anyhow::anyhow!("writing the man page: {e}"))
        }
        // Converting a model reads ~150 MB and runs whisper.cpp: off the async runtime.
        Cmd::Voice { command } => tokio::task::spawn_blocking(|| voice_cli::run(command)).await?,
    }
}

/// `import`: reads the other panel's data (before asking the local API anything), then
/// submits it.
async fn import_verb(source: ImportCmd, dry_run: bool, place: &Place) -> Result<()> {
    let (location, config) = load(place)?;
    let plan = match source {
        ImportCmd::Marzban {
            db: Some(db),
            secret,
            ..
        } => import::marzban::read(&db, secret)?,
        ImportCmd::Marzban {
            url: Some(url),
            username: Some(username),
            password_file: Some(password_file),
            secret,
            ..
        } => {
            let password = secret_files::read_secret(&password_file)?;
            let panel = import::marzban_api::Panel {
                url: &url,
                username: &username,
                password: password.lines().next().unwrap_or(""),
            };
            import::marzban_api::read(&panel, secret).await?
        }
        ImportCmd::Marzban { .. } => anyhow::bail!(
            "give Marzban's database with --db, or its panel with --url, --username and --password-file"
        ),
        ImportCmd::Amnezia {
            wg_conf,
            clients_table,
        } => import::amnezia::read(&wg_conf, clients_table.as_deref(), &config)?,
    };
    let api = ApiClient::new(&location, &config)?;
    import::submit(&api, plan, dry_run).await
}

/// The benchmarks: `bench`, `bench-xray`, `bench-backup`.
async fn bench_dispatch(cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::Bench {
            clients,
            requests,
            users,
            devices,
            skip_rss,
            sub_seconds,
            sub_connections,
            sub_only,
            xray_command,
            skip_xray,
        } => {
            bench::run(bench::BenchArgs {
                clients,
                requests,
                users,
                devices,
                skip_rss,
                sub_seconds,
                sub_connections,
                sub_only,
                xray_command,
                skip_xray,
            })
            .await
        }
        Cmd::BenchXray {
            users,
            clients,
            seconds,
            singles,
            xray_command,
            node_exe,
        } => bench_xray::run(bench_xray::XrayBenchArgs {
            users,
            clients,
            seconds,
            singles,
            xray_command,
            node_exe,
        })
        .await
        .map(|_| ()),
        Cmd::BenchBackup { users, devices } => {
            bench_backup::run(bench_backup::BenchBackupArgs { users, devices }).await
        }
        _ => unreachable!("only the benchmarks are routed to bench_dispatch"),
    }
}

//! `vpnkeeper init`: a brand-new one-node cluster in an empty data directory.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rand::rngs::OsRng;
use vpnkeeper_cluster::Cluster;
use vpnkeeper_domain::secrets::{ClusterSecret, NewApiToken};
use vpnkeeper_domain::{Actor, ApiScope, Command};
use vpnkeeper_store::NodeAddr;

use crate::config::{Config, CONFIG_FILE};
use crate::secret_files::{write_new_secret, ADMIN_TOKEN_FILE, CLUSTER_KEY_FILE};

/// Files whose presence means "this directory already holds a node".
const MARKERS: [&str; 4] = [CONFIG_FILE, CLUSTER_KEY_FILE, "raft-log.db", "state.db"];

pub fn ensure_uninitialised(dir: &Path) -> Result<()> {
    for marker in MARKERS {
        let path = dir.join(marker);
        if path.exists() {
            bail!(
                "{} is already initialised (found {}); run it with `vpnkeeper run --data-dir {}`, or choose an empty directory",
                dir.display(),
                path.display(),
                dir.display()
            );
        }
    }
    Ok(())
}

/// Removes what a failed `init` wrote into `dir` (never anything else).
pub fn remove_partial_node(dir: &Path) {
    for file in [
        CLUSTER_KEY_FILE,
        ADMIN_TOKEN_FILE,
        "raft-log.db",
        "raft-log.db-wal",
        "raft-log.db-shm",
        "state.db",
        "state.db-wal",
        "state.db-shm",
        vpnkeeper_cluster::tls::CA_CERT_FILE,
        vpnkeeper_cluster::tls::CA_KEY_FILE,
        vpnkeeper_cluster::tls::NODE_CERT_FILE,
        vpnkeeper_cluster::tls::NODE_KEY_FILE,
    ] {
        let _ = fs::remove_file(dir.join(file));
    }
    let _ = fs::remove_dir_all(dir.join("snapshots"));
}

/// Creates the node in `dir` from `config` and returns the admin token.
pub async fn init(dir: &Path, config: &Config) -> Result<String> {
    ensure_uninitialised(dir)?;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create data directory {}", dir.display()))?;
    // `mode` above does not apply to a directory that already existed (an empty one is
    // accepted): the data directory holds the cluster key, so it is private either way.
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot make {} private (0700)", dir.display()))?;

    let secret = ClusterSecret::generate(&mut OsRng);
    write_new_secret(&dir.join(CLUSTER_KEY_FILE), &secret.to_hex())?;

    let started = match vpnkeeper_cluster::Pki::ensure(dir, config.node.id, &secret) {
        Ok(pki) => Cluster::start(config.node.id, dir, pki, config.raft.timing())
            .await
            .map_err(anyhow::Error::from),
        Err(e) => Err(e.into()),
    };
    let result = match started {
        Ok(cluster) => {
            let result = bootstrap(&cluster, config, &secret).await;
            cluster.shutdown().await;
            result
        }
        Err(e) => Err(e),
    };
    let token = match result {
        Ok(token) => token,
        Err(e) => {
            // A half-made directory would count as "already initialised" and could never
            // run: take back what this init created so the same command can be retried.
            remove_partial_node(dir);
            return Err(e);
        }
    };

    write_new_secret(&dir.join(ADMIN_TOKEN_FILE), &format!("{token}\n"))?;
    // The config is written last: it is what `run` looks for.
    write_config(dir, config)?;
    Ok(token)
}

/// Writes `DIR/vpnkeeper.toml`.
pub fn write_config(dir: &Path, config: &Config) -> Result<()> {
    let toml = toml::to_string_pretty(config).context("serialising the node config")?;
    let header = "# vpnkeeper node config. Every key can be overridden by an env var:\n# VPNKEEPER_<SECTION>__<KEY>, e.g. VPNKEEPER_API__LISTEN=127.0.0.1:9000\n\n";
    fs::write(dir.join(CONFIG_FILE), format!("{header}{toml}"))
        .with_context(|| format!("cannot write {}", dir.join(CONFIG_FILE).display()))
}

/// Creates `dir` (or accepts an existing empty one), private (0700).
pub fn make_private_dir(dir: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create data directory {}", dir.display()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot make {} private (0700)", dir.display()))
}

async fn bootstrap(cluster: &Cluster, config: &Config, secret: &ClusterSecret) -> Result<String> {
    cluster
        .initialize_single(NodeAddr {
            raft_addr: config.raft.advertised(),
            api_addr: config.api.listen.to_string(),
        })
        .await?;
    cluster.wait_for_leader(Duration::from_secs(10)).await?;
    crate::register::ensure_registered(cluster, config, &secret.sealer()).await?;

    let token = NewApiToken::generate(&mut OsRng);
    let outcome = cluster
        .submit(
            Actor::System {
                node_id: config.node.id,
            },
            Command::CreateApiKey {
                key_id: token.key_id.clone(),
                name: "admin".into(),
                scope: ApiScope::Admin,
                secret_hash: token.hash(),
            },
        )
        .await?;
    outcome.map_err(|e| anyhow::anyhow!("creating the admin key was refused: {e}"))?;
    Ok(token.token)
}

/// What `init` puts in `[wireguard] backend` on this machine, and the one line that says
/// so: `embedded` (the AmneziaWG data plane inside vpnkeeper) when a TUN device can be made
/// here, else `none` with what is missing.
pub fn default_wg_backend(interface: &str, port: u16) -> (crate::config::WgBackendKind, String) {
    use crate::config::WgBackendKind;
    let mut missing = Vec::new();
    if let Err(e) = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
    {
        missing.push(format!("/dev/net/tun ({e})"));
    }
    if !has_cap_net_admin() {
        missing.push("CAP_NET_ADMIN (run as root or grant the capability)".to_string());
    }
    if missing.is_empty() {
        let line = format!(
            "wireguard backend: embedded (vpnkeeper serves AmneziaWG itself on {interface}, UDP {port}; see docs/data-planes.md for firewall/NAT)"
        );
        (WgBackendKind::Embedded, line)
    } else {
        let line = format!(
            "warning: wireguard backend: none, missing {}; configs are issued but nothing serves them until [wireguard] backend is set",
            missing.join(" and ")
        );
        (WgBackendKind::None, line)
    }
}

/// CAP_NET_ADMIN (bit 12) in this process's effective capabilities.
fn has_cap_net_admin() -> bool {
    const CAP_NET_ADMIN: u32 = 12;
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1 << CAP_NET_ADMIN) != 0)
}

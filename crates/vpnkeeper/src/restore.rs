//! `vpnkeeper restore`: a new one-node cluster in an empty directory from a backup file.
//!
//! Everything that can be refused is checked before anything is written: the directory is
//! empty, the file opens with the key given (passphrase or the old `cluster.key`) and its
//! checksum holds. Then, like `init`: the cluster secret of the backup (device and node keys
//! in the state are sealed with it), a one-voter Raft cluster with this node's addresses,
//! the backup's state installed through the state machine's snapshot install (the same
//! path a follower takes), the node's row updated to its new name and addresses (keeping
//! its WireGuard key and AmneziaWG parameters) and a new admin key. A failure removes what
//! was written.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use openraft::storage::RaftStateMachine;
use rand::rngs::OsRng;
use vpnkeeper_cluster::Cluster;
use vpnkeeper_domain::backup::{self, BackupKey, Sealing};
use vpnkeeper_domain::secrets::{ClusterSecret, NewApiToken};
use vpnkeeper_domain::{Actor, ApiScope, Command};
use vpnkeeper_store::NodeAddr;

use crate::config::{Config, CONFIG_FILE};
use crate::secret_files::{read_secret, write_new_secret, ADMIN_TOKEN_FILE, CLUSTER_KEY_FILE};

/// Where the backup comes from and how to open it.
pub struct RestoreFrom {
    pub file: PathBuf,
    pub passphrase_file: Option<PathBuf>,
    pub cluster_key: Option<PathBuf>,
}

/// Opens the backup: the state to install and the cluster secret it was sealed under.
pub fn open(from: &RestoreFrom) -> Result<(Vec<u8>, ClusterSecret)> {
    let file = std::fs::read(&from.file)
        .with_context(|| format!("cannot read {}", from.file.display()))?;
    let fail = |e: backup::BackupError| anyhow!("{}: {e}", from.file.display());
    let (manifest, _, _) = backup::read_manifest(&file).map_err(fail)?;
    let given = match &from.cluster_key {
        Some(p) => Some(
            ClusterSecret::from_hex(&read_secret(p)?)
                .map_err(|e| anyhow!("{}: {e}", p.display()))?,
        ),
        None => None,
    };
    let (contents, secret) = match (&manifest.sealing, &from.passphrase_file, given) {
        (Sealing::Passphrase { .. }, Some(p), _) => {
            let passphrase = crate::backup::read_passphrase(p)?;
            let (_, c) = backup::open(&file, BackupKey::Passphrase(&passphrase)).map_err(fail)?;
            let secret = c
                .cluster_secret
                .as_deref()
                .and_then(|s| ClusterSecret::from_hex(s).ok())
                .ok_or_else(|| {
                    anyhow!(
                        "{}: the backup carries no cluster secret",
                        from.file.display()
                    )
                })?;
            (c, secret)
        }
        (Sealing::Cluster, _, Some(secret)) => {
            let (_, c) = backup::open(&file, BackupKey::Cluster(&secret)).map_err(fail)?;
            (c, secret)
        }
        (Sealing::Passphrase { .. }, None, _) => {
            return Err(fail(backup::BackupError::NeedsPassphrase))
        }
        (Sealing::Cluster, _, None) => return Err(fail(backup::BackupError::NeedsClusterKey)),
    };
    Ok((contents.state_db, secret))
}

/// Restores into `dir` (which must not hold a node) and returns the new admin token.
pub async fn restore(
    dir: &Path,
    config: &Config,
    state_db: Vec<u8>,
    secret: ClusterSecret,
) -> Result<String> {
    crate::init::ensure_uninitialised(dir)?;
    let existed = dir.exists();
    let result = restore_inner(dir, config, state_db, &secret).await;
    if result.is_err() {
        // Take back what this restore wrote: the directory was empty (or absent) before.
        if existed {
            if let Ok(entries) = std::fs::read_dir(dir) {
                for e in entries.flatten() {
                    let p = e.path();
                    let _ = if p.is_dir() {
                        std::fs::remove_dir_all(&p)
                    } else {
                        std::fs::remove_file(&p)
                    };
                }
            }
        } else {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    result
}

async fn restore_inner(
    dir: &Path,
    config: &Config,
    state_db: Vec<u8>,
    secret: &ClusterSecret,
) -> Result<String> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create data directory {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    write_new_secret(&dir.join(CLUSTER_KEY_FILE), &secret.to_hex())?;
    // A new cluster CA: the backup holds the replicated state, not the old nodes' keys.
    let pki = vpnkeeper_cluster::Pki::ensure(dir, config.node.id, secret)?;

    // 1. A one-voter cluster with this node's addresses.
    let cluster = Cluster::start(config.node.id, dir, pki.clone(), config.raft.timing()).await?;
    let started = async {
        cluster
            .initialize_single(NodeAddr {
                raft_addr: config.raft.advertised(),
                api_addr: config.api.listen.to_string(),
            })
            .await?;
        cluster.wait_for_leader(Duration::from_secs(10)).await?;
        // The leader's election entries must be applied before the shutdown: the snapshot
        // is placed at the applied position, which is empty until then (a race under load).
        cluster.wait_caught_up(Duration::from_secs(10)).await?;
        anyhow::Ok(())
    }
    .await;
    cluster.shutdown().await;
    started?;

    // 2. The backup's state, installed as a snapshot at the log position just made.
    install(dir, state_db).await?;

    // 3. This node's row (new name/addresses, same keys) and an admin key.
    let cluster = Cluster::start(config.node.id, dir, pki.clone(), config.raft.timing()).await?;
    let token = async {
        cluster.wait_for_leader(Duration::from_secs(10)).await?;
        crate::register::ensure_registered(&cluster, config, &secret.sealer()).await?;
        let token = NewApiToken::generate(&mut OsRng);
        cluster
            .submit(
                Actor::System {
                    node_id: config.node.id,
                },
                Command::CreateApiKey {
                    key_id: token.key_id.clone(),
                    name: "admin (restored)".into(),
                    scope: ApiScope::Admin,
                    secret_hash: token.hash(),
                },
            )
            .await?
            .map_err(|e| anyhow!("creating the admin key was refused: {e}"))?;
        anyhow::Ok(token.token)
    }
    .await;
    cluster.shutdown().await;
    let token = token?;

    write_new_secret(&dir.join(ADMIN_TOKEN_FILE), &format!("{token}\n"))?;
    let toml = toml::to_string_pretty(config).context("serialising the node config")?;
    let header = "# vpnkeeper node config (restored from a backup). Every key can be overridden by an env var:\n# VPNKEEPER_<SECTION>__<KEY>, e.g. VPNKEEPER_API__LISTEN=127.0.0.1:9000\n\n";
    std::fs::write(dir.join(CONFIG_FILE), format!("{header}{toml}"))
        .with_context(|| format!("cannot write {}", dir.join(CONFIG_FILE).display()))?;
    Ok(token)
}

/// Replaces the state with the backup's through the state machine's snapshot install, at
/// the log position and membership the new cluster already has (so log and state agree).
async fn install(dir: &Path, state_db: Vec<u8>) -> Result<()> {
    let (log, mut sm, read) = vpnkeeper_store::open(dir).await?;
    let result = async {
        let (last_log_id, last_membership) = sm
            .applied_state()
            .await
            .map_err(|e| anyhow!("reading the new cluster's state: {e}"))?;
        if last_log_id.is_none() {
            bail!("the new cluster applied no log entry before the install; run the restore again");
        }
        let meta = vpnkeeper_store::raft_types::SnapshotMeta {
            last_log_id,
            last_membership,
            snapshot_id: format!("restore-{}", vpnkeeper_store::now_ms()),
        };
        sm.install_snapshot(&meta, Box::new(Cursor::new(state_db)))
            .await
            .map_err(|e| {
                anyhow!("installing the backup's state failed (is it from a newer vpnkeeper?): {e}")
            })
    }
    .await;
    read.close().await;
    drop((log, sm));
    result
}

//! `vpnkeeper backup create`: asks the running node for a sealed copy of the replicated
//! state (`GET /api/v1/backup`, the state machine's snapshot path, taken while it serves)
//! and writes it 0600. With `--passphrase-file` the file is re-sealed here with a key from
//! the passphrase and carries the cluster secret, so it restores without the old cluster.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use rand::rngs::OsRng;
use vpnkeeper_domain::backup::{self, BackupKey, Manifest};

use crate::client::ApiClient;
use crate::secret_files::{read_cluster_secret, read_secret};

pub async fn create(
    api: &ApiClient,
    data_dir: &Path,
    out: Option<PathBuf>,
    passphrase_file: Option<&Path>,
) -> Result<()> {
    // Read the passphrase before asking the node for anything: a bad file costs nothing.
    let passphrase = passphrase_file.map(read_passphrase).transpose()?;
    let file = api.get_bytes("/api/v1/backup").await?;
    let file = match &passphrase {
        None => file,
        Some(p) => {
            let secret = read_cluster_secret(data_dir)?;
            let (manifest, mut contents) = backup::open(&file, BackupKey::Cluster(&secret))
                .context(
                    "the node's backup does not open with this data directory's cluster.key",
                )?;
            contents.cluster_secret = Some(secret.to_hex());
            backup::seal(&mut OsRng, BackupKey::Passphrase(p), manifest, &contents)
        }
    };
    let (manifest, _, _) = backup::read_manifest(&file)?;
    let out = out.unwrap_or_else(|| default_name(&manifest));
    write_private(&out, &file)?;
    eprintln!(
        "backup of cluster {} at log index {} ({} bytes, sha256 {}): {}",
        manifest.cluster_id,
        manifest.last_log_index,
        file.len(),
        &manifest.sha256[..16],
        manifest.counts
    );
    println!("{}", out.display());
    Ok(())
}

/// `vpnkeeper-<cluster>-<unix ms>.vkbackup` in the current directory.
pub(crate) fn default_name(m: &Manifest) -> PathBuf {
    PathBuf::from(format!(
        "vpnkeeper-{}-{}.vkbackup",
        m.cluster_id, m.created_at_ms
    ))
}

/// A passphrase file: its first line, at least 8 characters, private to its owner.
pub fn read_passphrase(path: &Path) -> Result<String> {
    let text = read_secret(path)?;
    let line = text.lines().next().unwrap_or("").to_string();
    if line.chars().count() < 8 {
        bail!(
            "{}: the passphrase must be at least 8 characters",
            path.display()
        );
    }
    Ok(line)
}

/// Writes `bytes` to `path` with mode 0600 through a temporary file and a rename, so a
/// crash never leaves a half-written backup under the final name.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("partial");
    let result = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        bail!("cannot write {}: {e}", path.display());
    }
    Ok(())
}

/// Failed scheduled backups, for alerting (`/metrics`); a failure is also logged as an error.
const BACKUP_FAILURES: &str = "vpnkeeper_backup_failures_total";
/// Scheduled backups written.
const BACKUPS_WRITTEN: &str = "vpnkeeper_backups_total";

/// Starts the `[backup]` schedule: every `interval_secs`, a cluster-sealed backup into the
/// backup directory, keeping the newest `keep`. Never silent: each failure is an error line
/// and a count on `/metrics`.
pub fn spawn_scheduled(
    read: vpnkeeper_store::ReadStore,
    config: &crate::config::Config,
    data_dir: &Path,
    secret: vpnkeeper_domain::secrets::ClusterSecret,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Option<tokio::task::JoinHandle<()>> {
    let section = config.backup.clone();
    if section.interval_secs == 0 {
        return None;
    }
    metrics::describe_counter!(BACKUP_FAILURES, "Scheduled backups that failed");
    metrics::describe_counter!(BACKUPS_WRITTEN, "Scheduled backups written");
    let dir = section
        .dir
        .clone()
        .unwrap_or_else(|| data_dir.join("backups"));
    let source = vpnkeeper_api::state::BackupSource {
        secret,
        scratch_dir: data_dir.join("snapshots"),
    };
    let every = std::time::Duration::from_secs(section.interval_secs);
    Some(tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            match scheduled_once(&read, &source, &dir, section.keep).await {
                Ok(path) => {
                    metrics::counter!(BACKUPS_WRITTEN).increment(1);
                    tracing::info!(path = %path.display(), "scheduled backup written");
                }
                Err(e) => {
                    metrics::counter!(BACKUP_FAILURES).increment(1);
                    tracing::error!(error = %format!("{e:#}"), dir = %dir.display(), "scheduled backup FAILED");
                }
            }
        }
    }))
}

async fn scheduled_once(
    read: &vpnkeeper_store::ReadStore,
    source: &vpnkeeper_api::state::BackupSource,
    dir: &Path,
    keep: u32,
) -> Result<PathBuf> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let file = vpnkeeper_api::make_backup_file(read, source).await?;
    let (manifest, _, _) = backup::read_manifest(&file)?;
    let path = dir.join(default_name(&manifest));
    write_private(&path, &file)?;
    prune(dir, keep as usize)?;
    Ok(path)
}

/// Removes all but the newest `keep` backups (names sort by time: `…-<unix ms>.vkbackup`).
fn prune(dir: &Path, keep: usize) -> Result<()> {
    let mut files: Vec<(i64, PathBuf)> = std::fs::read_dir(dir)?
        .flatten()
        .map(|e| e.path())
        .filter_map(|p| {
            let stem = p
                .file_name()?
                .to_str()?
                .strip_suffix(".vkbackup")?
                .to_string();
            let ms = stem.rsplit('-').next()?.parse::<i64>().ok()?;
            stem.starts_with("vpnkeeper-").then_some((ms, p))
        })
        .collect();
    files.sort();
    let excess = files.len().saturating_sub(keep);
    for (_, p) in files.into_iter().take(excess) {
        std::fs::remove_file(&p).with_context(|| format!("removing old backup {}", p.display()))?;
    }
    Ok(())
}

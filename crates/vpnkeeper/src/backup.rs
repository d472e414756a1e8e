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
fn default_name(m: &Manifest) -> PathBuf {
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

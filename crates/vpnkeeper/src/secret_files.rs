//! Secret files in the data directory: created 0600, written whole, never logged.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, Result};
use vpnkeeper_domain::secrets::ClusterSecret;

pub const CLUSTER_KEY_FILE: &str = "cluster.key";
pub const ADMIN_TOKEN_FILE: &str = "admin.token";

/// Creates `path` with mode 0600 (never overwriting) and writes `contents` durably.
pub fn write_new_secret(path: &Path, contents: &str) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(contents.as_bytes())
        .and_then(|_| f.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Reads a secret file, refusing one that other users can read.
pub fn read_secret(path: &Path) -> Result<String> {
    let meta = fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        anyhow::bail!(
            "{} is readable by other users; run `chmod 600 {}`",
            path.display(),
            path.display()
        );
    }
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(text.trim().to_string())
}

pub fn read_cluster_secret(data_dir: &Path) -> Result<ClusterSecret> {
    let path = data_dir.join(CLUSTER_KEY_FILE);
    let text = read_secret(&path)?;
    ClusterSecret::from_hex(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

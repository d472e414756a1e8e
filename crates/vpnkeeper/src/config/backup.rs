//! `[backup]`: scheduled backups to a local directory (`interval_secs = 0` turns them off)
//! and, when the Telegram bot runs, to its admins as a document.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{invalid, ConfigError};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BackupSection {
    /// Seconds between scheduled backups; 0 = none.
    pub interval_secs: u64,
    /// Newest backups kept in `dir`; older ones are removed after each new one.
    pub keep: u32,
    /// Where they go; unset = DATA_DIR/backups.
    pub dir: Option<PathBuf>,
    /// Also send each slot's backup (cluster-sealed) to `telegram.admin_ids` through the
    /// bot, on the leader, at every multiple of `interval_secs` since the epoch (UTC).
    pub send_to_admins: bool,
}

impl Default for BackupSection {
    fn default() -> Self {
        BackupSection {
            interval_secs: 0,
            keep: 7,
            dir: None,
            send_to_admins: true,
        }
    }
}

impl BackupSection {
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if self.interval_secs > 0 && self.keep == 0 {
            return Err(invalid(
                "backup.keep",
                "must be at least 1 when backup.interval_secs is set",
            ));
        }
        if self.dir.as_ref().is_some_and(|d| d.is_relative()) {
            return Err(invalid("backup.dir", "must be an absolute path"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_zero_and_relative_dirs_are_refused_with_the_key() {
        assert!(BackupSection::default().check().is_ok());
        let s = BackupSection {
            interval_secs: 60,
            keep: 0,
            dir: None,
            send_to_admins: true,
        };
        assert!(s.check().unwrap_err().0.contains("backup.keep"));
        let s = BackupSection {
            interval_secs: 60,
            keep: 2,
            dir: Some("rel".into()),
            send_to_admins: false,
        };
        assert!(s.check().unwrap_err().0.contains("backup.dir"));
    }
}

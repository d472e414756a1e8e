//! Backups: the replicated state as the state machine snapshots it (`VACUUM INTO` from one
//! read transaction, like `StateMachine`'s snapshot builder), taken while the node serves.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::queries::ReadStore;

/// What a backup holds, counted in the very copy it is made of.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupCounts {
    pub users: i64,
    pub devices: i64,
    pub nodes: i64,
    pub api_keys: i64,
}

/// A consistent copy of `state.db`.
pub struct StateCopy {
    pub bytes: Vec<u8>,
    /// The last applied log index the copy reflects.
    pub last_log_index: u64,
    pub counts: BackupCounts,
}

impl ReadStore {
    /// Copies the replicated state as of one read transaction into `scratch` (a directory
    /// private to the node) and returns it; the scratch file is removed.
    pub async fn state_copy(&self, scratch: &Path) -> Result<StateCopy, std::io::Error> {
        let tmp = scratch.join(format!(
            "backup-{}-{}.db",
            std::process::id(),
            crate::now_ms()
        ));
        let _ = tokio::fs::remove_file(&tmp).await;
        let result = self.copy_into(&tmp).await;
        let _ = tokio::fs::remove_file(&tmp).await;
        result
    }

    async fn copy_into(&self, tmp: &Path) -> Result<StateCopy, std::io::Error> {
        let io = |e: &dyn std::fmt::Display| std::io::Error::other(e.to_string());
        sqlx::query("VACUUM INTO ?")
            .bind(tmp.display().to_string())
            .execute(self.pool())
            .await
            .map_err(|e| io(&e))?;
        let path = tmp.to_path_buf();
        let (last_log_index, counts) = tokio::task::spawn_blocking(move || read_copy(&path))
            .await
            .map_err(|e| io(&e))?
            .map_err(|e| io(&e))?;
        let bytes = tokio::fs::read(tmp).await?;
        Ok(StateCopy {
            bytes,
            last_log_index,
            counts,
        })
    }
}

fn read_copy(path: &Path) -> Result<(u64, BackupCounts), rusqlite::Error> {
    let c =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let last: Option<String> = c
        .query_row(
            "SELECT value FROM sm_meta WHERE key = 'last_applied'",
            [],
            |r| r.get(0),
        )
        .ok();
    let index = last
        .and_then(|j| serde_json::from_str::<serde_json::Value>(&j).ok())
        .and_then(|v| v["index"].as_u64())
        .unwrap_or(0);
    let count = |table: &str| -> Result<i64, rusqlite::Error> {
        c.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
    };
    let counts = BackupCounts {
        users: count("users")?,
        devices: count("devices WHERE revoked_at IS NULL")?,
        nodes: count("nodes")?,
        api_keys: count("api_keys WHERE revoked_at IS NULL")?,
    };
    Ok((index, counts))
}

impl ReadStore {
    /// The latest backup schedule slot queued to the bot's admins (`TelegramBackupDue`).
    pub async fn backup_telegram_last_slot(&self) -> Result<Option<i64>, sqlx::Error> {
        sqlx::query_scalar("SELECT last_slot_ms FROM backup_telegram WHERE id = 1")
            .fetch_optional(self.pool())
            .await
    }
}

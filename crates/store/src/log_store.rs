//! The Raft log store: entries and vote in `raft-log.db`.
//!
//! Every append is one SQLite transaction committed with `synchronous=FULL`, so when openraft
//! is told the entries are flushed they are on disk. openraft hands over whole batches of
//! entries, so under concurrent load many client commands share one fsync (group commit).
//! The newest entries are also kept in memory ([`LogCache`]): openraft reads each one back
//! right after writing it, to replicate and to apply it.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, OptionalSend, RaftLogReader};
use sqlx::sqlite::SqliteSynchronous;
use sqlx::{Row, SqlitePool};
use tokio::sync::watch;

use crate::db::{io_err, options, pool};
use crate::log_cache::LogCache;
use crate::raft_types::{Entry, LogId, StorageError, TypeConfig, Vote};
use crate::StoreError;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/raftlog");

/// Cheap to clone: clones share the connection pool. openraft uses a clone as its log reader
/// for replication.
#[derive(Clone)]
pub struct LogStore {
    /// `synchronous=FULL`: entries and votes are on disk when a write returns.
    pool: SqlitePool,
    /// `synchronous=NORMAL`, for the committed index only. openraft treats it as optional
    /// (a lost value means re-applying from the last applied id, which state.db keeps), so
    /// it must not cost an fsync per commit on the critical path. In WAL mode the next FULL
    /// append flushes it to disk anyway.
    lazy: SqlitePool,
    /// The newest committed id handed to `save_committed` (`None`: none yet in this
    /// process). A background task writes it to `lazy`, so openraft's core task, which
    /// awaits `save_committed` before it applies anything, does not wait for SQLite on each
    /// commit; consecutive values coalesce into one write.
    committed: Arc<watch::Sender<Option<Option<LogId>>>>,
    /// The newest entries as stored, so that reading them back needs no query or decode.
    recent: LogCache,
}

impl LogStore {
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let pool = pool(options(path, SqliteSynchronous::Full), 2, path).await?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate {
                path: path.display().to_string(),
                source,
            })?;
        let lazy = crate::db::pool(options(path, SqliteSynchronous::Normal), 1, path).await?;
        Ok(Self {
            committed: Arc::new(spawn_committed_writer(lazy.clone())),
            pool,
            lazy,
            recent: LogCache::default(),
        })
    }

    async fn read_meta<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, StorageError> {
        let row = sqlx::query("SELECT value FROM meta WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| io_err(ErrorSubject::Store, ErrorVerb::Read, e))?;
        match row {
            None => Ok(None),
            Some(row) => {
                let text: String = row.get(0);
                serde_json::from_str(&text)
                    .map(Some)
                    .map_err(|e| io_err(ErrorSubject::Store, ErrorVerb::Read, e))
            }
        }
    }

    async fn write_meta<T: serde::Serialize>(
        &self,
        key: &str,
        value: &T,
    ) -> Result<(), StorageError> {
        write_meta_on(&self.pool, key, value).await
    }

    /// Number of entries currently held (for status and metrics).
    pub async fn entry_count(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT COUNT(*) FROM log")
            .fetch_one(&self.pool)
            .await
    }

    pub async fn close(&self) {
        self.lazy.close().await;
        self.pool.close().await;
    }
}

async fn write_meta_on<T: serde::Serialize>(
    pool: &SqlitePool,
    key: &str,
    value: &T,
) -> Result<(), StorageError> {
    let text = serde_json::to_string(value)
        .map_err(|e| io_err(ErrorSubject::Store, ErrorVerb::Write, e))?;
    sqlx::query("INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
        .bind(key)
        .bind(text)
        .execute(pool)
        .await
        .map_err(|e| io_err(ErrorSubject::Store, ErrorVerb::Write, e))?;
    Ok(())
}

/// Writes each new value of the returned channel's committed id to `lazy`, newest only,
/// until every sender is gone. Runs after the entries it names were flushed (openraft
/// commits only flushed entries), so in the WAL it never lands before them.
fn spawn_committed_writer(lazy: SqlitePool) -> watch::Sender<Option<Option<LogId>>> {
    let (tx, mut rx) = watch::channel(None);
    tokio::spawn(async move {
        while rx.changed().await.is_ok() {
            let Some(committed) = *rx.borrow_and_update() else {
                continue;
            };
            if let Err(e) = write_meta_on(&lazy, "committed", &committed).await {
                // Optional state: the worst a lost value costs is re-applying on restart.
                tracing::warn!(error = %e, "could not record the committed log id");
            }
        }
    });
    tx
}

fn decode_entry(text: &str) -> Result<Entry, StorageError> {
    serde_json::from_str(text).map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Read, e))
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        // SQLite integers are i64; clamp the open ends accordingly.
        let start = match range.start_bound() {
            Bound::Included(&s) => s as i64,
            Bound::Excluded(&s) => s as i64 + 1,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&e) => e.min(i64::MAX as u64) as i64,
            Bound::Excluded(&e) => (e.min(i64::MAX as u64) as i64) - 1,
            Bound::Unbounded => i64::MAX,
        };
        if end >= start {
            if let Some(cached) = self.recent.get(start as u64, end as u64) {
                return Ok(cached);
            }
        }
        let rows = sqlx::query("SELECT entry FROM log WHERE idx >= ? AND idx <= ? ORDER BY idx")
            .bind(start)
            .bind(end)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Read, e))?;
        rows.iter()
            .map(|r| decode_entry(r.get::<&str, _>(0)))
            .collect()
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged: Option<LogId> = self.read_meta("last_purged").await?;
        let last = sqlx::query("SELECT entry FROM log ORDER BY idx DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Read, e))?;
        let last_log_id = match last {
            Some(row) => Some(decode_entry(row.get::<&str, _>(0))?.log_id),
            None => last_purged,
        };
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        self.write_meta("vote", vote).await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        self.read_meta("vote").await
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        self.committed.send_replace(Some(committed));
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        // A value saved by this process may not have reached the table yet.
        if let Some(saved) = *self.committed.borrow() {
            return Ok(saved);
        }
        Ok(self
            .read_meta::<Option<LogId>>("committed")
            .await?
            .flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut written = Vec::new();
        let result = async {
            let mut tx = self.pool.begin().await?;
            for entry in entries {
                let text =
                    serde_json::to_string(&entry).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
                sqlx::query("INSERT OR REPLACE INTO log(idx, entry) VALUES(?, ?)")
                    .bind(entry.log_id.index as i64)
                    .bind(&text)
                    .execute(&mut *tx)
                    .await?;
                // Cached as it decodes from what was stored, the form every reader got
                // from SQLite (and followers from the wire) before there was a cache: apply
                // must see the same value on every node.
                let stored: Entry =
                    serde_json::from_str(&text).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
                written.push((stored, text.len()));
            }
            tx.commit().await
        }
        .await;
        match result {
            Ok(()) => {
                // Only once committed: the cache is never ahead of the disk.
                self.recent.appended(written);
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                let msg = e.to_string();
                callback.log_io_completed(Err(std::io::Error::other(msg)));
                Err(io_err(ErrorSubject::Logs, ErrorVerb::Write, e))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.recent.truncate(log_id.index);
        sqlx::query("DELETE FROM log WHERE idx >= ?")
            .bind(log_id.index as i64)
            .execute(&self.pool)
            .await
            .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Delete, e))?;
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        // Record the purge point first: if we crash between the two statements, the log state
        // still reports a consistent (if conservative) view.
        self.write_meta("last_purged", &log_id).await?;
        self.recent.purge(log_id.index);
        sqlx::query("DELETE FROM log WHERE idx <= ?")
            .bind(log_id.index as i64)
            .execute(&self.pool)
            .await
            .map_err(|e| io_err(ErrorSubject::Logs, ErrorVerb::Delete, e))?;
        Ok(())
    }
}

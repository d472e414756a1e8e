//! The SQLite state machine.
//!
//! Invariants:
//! - Only [`StateMachine::apply`] and snapshot install write `state.db`.
//! - Each log entry is applied in ONE SQLite transaction that also records the entry's log id
//!   as `last_applied` (and the membership, for membership entries). After a crash the database
//!   is therefore at some exact log position, never between two.
//! - Applying is deterministic: it reads only the entry and the current state.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, ErrorSubject, ErrorVerb, OptionalSend, RaftSnapshotBuilder};
use sqlx::sqlite::SqliteSynchronous;
use sqlx::{Connection, Row, SqliteConnection, SqlitePool};
use tokio::sync::{broadcast, watch, Mutex};
use vpnkeeper_domain::{Applied, ApplyOutcome, NodeId};

use crate::apply;
use crate::db::{io_err, options, pool};
use crate::queries::ReadStore;
use crate::raft_types::{
    Entry, LogId, Snapshot, SnapshotMeta, StorageError, StoredMembership, TypeConfig,
};
use crate::StoreError;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/state");

/// What an applied entry touched; reconcilers and the bot subscribe to these to react at once
/// instead of polling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Devices served by this node changed (issued, revoked, user enabled/disabled).
    Devices { node_id: NodeId },
    /// A node's registration or settings changed.
    Node { node_id: NodeId },
    /// Everything may have changed (snapshot installed).
    All,
}

pub struct StateMachine {
    writer: Arc<Mutex<SqliteConnection>>,
    read: SqlitePool,
    snapshot_dir: PathBuf,
    changes: broadcast::Sender<Change>,
    applied: Arc<watch::Sender<Option<LogId>>>,
}

impl StateMachine {
    pub async fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let path = data_dir.join("state.db");
        let opts = options(&path, SqliteSynchronous::Normal);
        {
            // Migrate through a short-lived pool before opening the long-lived connections.
            let p = pool(opts.clone(), 1, &path).await?;
            MIGRATOR
                .run(&p)
                .await
                .map_err(|source| StoreError::Migrate {
                    path: path.display().to_string(),
                    source,
                })?;
            p.close().await;
        }
        let writer = SqliteConnection::connect_with(&opts)
            .await
            .map_err(|source| StoreError::Open {
                path: path.display().to_string(),
                source,
            })?;
        let read = pool(opts.read_only(true), 4, &path).await?;
        let snapshot_dir = data_dir.join("snapshots");
        std::fs::create_dir_all(&snapshot_dir).map_err(|source| StoreError::Dir {
            path: snapshot_dir.display().to_string(),
            source,
        })?;
        let (changes, _) = broadcast::channel(1024);
        let last = read_applied(&read).await?;
        let (applied, _) = watch::channel(last);
        Ok(Self {
            writer: Arc::new(Mutex::new(writer)),
            read,
            snapshot_dir,
            changes,
            applied: Arc::new(applied),
        })
    }

    pub fn read_store(&self) -> ReadStore {
        ReadStore::new(
            self.read.clone(),
            self.applied.subscribe(),
            self.changes.clone(),
        )
    }

    fn snapshot_builder(&self) -> SnapshotBuilder {
        SnapshotBuilder {
            read: self.read.clone(),
            dir: self.snapshot_dir.clone(),
        }
    }
}

async fn read_applied(pool: &SqlitePool) -> Result<Option<LogId>, StoreError> {
    let row = sqlx::query("SELECT value FROM sm_meta WHERE key = 'last_applied'")
        .fetch_optional(pool)
        .await?;
    match row {
        None => Ok(None),
        Some(r) => serde_json::from_str(r.get::<&str, _>(0))
            .map_err(|e| StoreError::Corrupt(format!("sm_meta.last_applied: {e}"))),
    }
}

async fn set_meta<T: serde::Serialize>(
    conn: &mut SqliteConnection,
    key: &str,
    value: &T,
) -> Result<(), sqlx::Error> {
    let text = serde_json::to_string(value).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query("INSERT INTO sm_meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value")
        .bind(key)
        .bind(text)
        .execute(conn)
        .await?;
    Ok(())
}

async fn get_meta<T: serde::de::DeserializeOwned>(
    conn: &mut SqliteConnection,
    key: &str,
) -> Result<Option<T>, StorageError> {
    let row = sqlx::query("SELECT value FROM sm_meta WHERE key = ?")
        .bind(key)
        .fetch_optional(conn)
        .await
        .map_err(|e| io_err(ErrorSubject::StateMachine, ErrorVerb::Read, e))?;
    match row {
        None => Ok(None),
        Some(r) => serde_json::from_str(r.get::<&str, _>(0))
            .map(Some)
            .map_err(|e| io_err(ErrorSubject::StateMachine, ErrorVerb::Read, e)),
    }
}

/// Applies one entry inside one transaction, together with the `last_applied` marker.
async fn apply_entry(
    conn: &mut SqliteConnection,
    entry: &Entry,
    changes: &mut Vec<Change>,
) -> Result<ApplyOutcome, sqlx::Error> {
    let mut tx = conn.begin().await?;
    let outcome = match &entry.payload {
        EntryPayload::Blank => Ok(Applied::Done),
        EntryPayload::Normal(envelope) => apply::apply_envelope(&mut tx, envelope, changes).await?,
        EntryPayload::Membership(m) => {
            let stored = StoredMembership::new(Some(entry.log_id), m.clone());
            set_meta(&mut tx, "membership", &stored).await?;
            Ok(Applied::Done)
        }
    };
    set_meta(&mut tx, "last_applied", &entry.log_id).await?;
    tx.commit().await?;
    Ok(outcome)
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let mut conn = self.writer.lock().await;
        let last: Option<LogId> = get_meta(&mut conn, "last_applied").await?;
        let membership: StoredMembership =
            get_meta(&mut conn, "membership").await?.unwrap_or_default();
        Ok((last, membership))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<ApplyOutcome>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut conn = self.writer.lock().await;
        let mut outcomes = Vec::new();
        let mut changes = Vec::new();
        let mut last = None;
        for entry in entries {
            let outcome = apply_entry(&mut conn, &entry, &mut changes)
                .await
                .map_err(|e| io_err(ErrorSubject::Apply(entry.log_id), ErrorVerb::Write, e))?;
            last = Some(entry.log_id);
            outcomes.push(outcome);
        }
        drop(conn);
        if last.is_some() {
            self.applied.send_replace(last);
        }
        changes.dedup();
        for change in changes {
            // No subscribers is fine (e.g. during `init`).
            let _ = self.changes.send(change);
        }
        Ok(outcomes)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.snapshot_builder()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let bytes = snapshot.into_inner();
        let err = |e: &dyn std::fmt::Display| {
            io_err(
                ErrorSubject::Snapshot(Some(meta.signature())),
                ErrorVerb::Write,
                std::io::Error::other(e.to_string()),
            )
        };
        let incoming = self.snapshot_dir.join("incoming.db");
        tokio::fs::write(&incoming, &bytes)
            .await
            .map_err(|e| err(&e))?;
        {
            let mut conn = self.writer.lock().await;
            install_from_file(&mut conn, &incoming, meta)
                .await
                .map_err(|e| err(&e))?;
        }
        store_current(&self.snapshot_dir, meta, &bytes)
            .await
            .map_err(|e| err(&e))?;
        let _ = tokio::fs::remove_file(&incoming).await;
        self.applied.send_replace(meta.last_log_id);
        let _ = self.changes.send(Change::All);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        load_current(&self.snapshot_dir)
            .await
            .map_err(|e| io_err(ErrorSubject::Snapshot(None), ErrorVerb::Read, e))
    }
}

/// Tables copied by snapshot install, in an order that satisfies foreign keys.
const REPLICATED_TABLES: &[&str] = &[
    "nodes",
    "users",
    "devices",
    "api_keys",
    "invites",
    "audit_log",
    // The Telegram bot's exactly-once state (migration 0003).
    "tg_poll",
    "tg_handled",
    "tg_outbox",
    "tg_chats",
    "tg_access_requests",
    "tg_broadcasts",
];

/// Replaces the whole replicated state with the content of a snapshot file, in one transaction.
async fn install_from_file(
    conn: &mut SqliteConnection,
    file: &Path,
    meta: &SnapshotMeta,
) -> Result<(), sqlx::Error> {
    sqlx::query("ATTACH DATABASE ? AS snap")
        .bind(file.display().to_string())
        .execute(&mut *conn)
        .await?;
    let result = async {
        let mut tx = conn.begin().await?;
        for table in REPLICATED_TABLES.iter().rev() {
            sqlx::query(&format!("DELETE FROM main.{table}"))
                .execute(&mut *tx)
                .await?;
        }
        for table in REPLICATED_TABLES {
            sqlx::query(&format!(
                "INSERT INTO main.{table} SELECT * FROM snap.{table}"
            ))
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("DELETE FROM main.sm_meta")
            .execute(&mut *tx)
            .await?;
        set_meta(&mut tx, "last_applied", &meta.last_log_id).await?;
        set_meta(&mut tx, "membership", &meta.last_membership).await?;
        tx.commit().await
    }
    .await;
    sqlx::query("DETACH DATABASE snap")
        .execute(&mut *conn)
        .await?;
    result
}

#[derive(serde::Serialize, serde::Deserialize)]
struct SnapshotFileMeta {
    meta: SnapshotMeta,
}

async fn store_current(dir: &Path, meta: &SnapshotMeta, bytes: &[u8]) -> std::io::Result<()> {
    // Data first, then the meta file that points at it; each via rename so a crash leaves
    // either the old or the new snapshot, never a torn one.
    let tmp = dir.join("current.db.tmp");
    tokio::fs::write(&tmp, bytes).await?;
    tokio::fs::File::open(&tmp).await?.sync_all().await?;
    tokio::fs::rename(&tmp, dir.join("current.db")).await?;
    let meta_json = serde_json::to_vec(&SnapshotFileMeta { meta: meta.clone() })?;
    let tmp = dir.join("current.meta.json.tmp");
    tokio::fs::write(&tmp, meta_json).await?;
    tokio::fs::File::open(&tmp).await?.sync_all().await?;
    tokio::fs::rename(&tmp, dir.join("current.meta.json")).await?;
    Ok(())
}

async fn load_current(dir: &Path) -> std::io::Result<Option<Snapshot>> {
    let meta_path = dir.join("current.meta.json");
    let meta_bytes = match tokio::fs::read(&meta_path).await {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let file_meta: SnapshotFileMeta = serde_json::from_slice(&meta_bytes)?;
    let data = tokio::fs::read(dir.join("current.db")).await?;
    Ok(Some(Snapshot {
        meta: file_meta.meta,
        snapshot: Box::new(Cursor::new(data)),
    }))
}

/// Builds snapshots from a read connection, so applying continues while it runs.
pub struct SnapshotBuilder {
    read: SqlitePool,
    dir: PathBuf,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        let err = |e: &dyn std::fmt::Display| {
            io_err(
                ErrorSubject::Snapshot(None),
                ErrorVerb::Write,
                std::io::Error::other(e.to_string()),
            )
        };
        let tmp = self.dir.join(format!("building-{}.db", std::process::id()));
        let _ = tokio::fs::remove_file(&tmp).await;
        // VACUUM INTO writes a consistent, compact copy as of one read transaction. The log
        // position it contains is read back from the copy itself, so data and meta agree.
        let mut conn = self.read.acquire().await.map_err(|e| err(&e))?;
        sqlx::query("VACUUM INTO ?")
            .bind(tmp.display().to_string())
            .execute(&mut *conn)
            .await
            .map_err(|e| err(&e))?;
        drop(conn);
        let (last_log_id, last_membership) = {
            let opts = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&tmp)
                .read_only(true);
            let mut c = SqliteConnection::connect_with(&opts)
                .await
                .map_err(|e| err(&e))?;
            let last: Option<LogId> = get_meta(&mut c, "last_applied").await?;
            let membership: StoredMembership =
                get_meta(&mut c, "membership").await?.unwrap_or_default();
            c.close().await.map_err(|e| err(&e))?;
            (last, membership)
        };
        let bytes = tokio::fs::read(&tmp).await.map_err(|e| err(&e))?;
        let _ = tokio::fs::remove_file(&tmp).await;
        let snapshot_id = match &last_log_id {
            Some(id) => format!("{}-{}-{}", id.leader_id.term, id.index, now_ms()),
            None => format!("0-0-{}", now_ms()),
        };
        let meta = SnapshotMeta {
            last_log_id,
            last_membership,
            snapshot_id,
        };
        store_current(&self.dir, &meta, &bytes)
            .await
            .map_err(|e| err(&e))?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

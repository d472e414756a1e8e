//! Scheduled backups to the bot's admins as Telegram documents (issue #18).
//!
//! Two halves, both only where the bot runs:
//! - the **schedule** ([`spawn_schedule`]), a leader-only service: when the current slot
//!   (a multiple of `[backup] interval_secs` since the epoch, so every node agrees on it) is
//!   later than the last one queued, it proposes `TelegramBackupDue { slot, admin chats }`.
//!   Apply queues one outbox row per admin unless that slot was queued already, so a slot
//!   goes out once even when leadership moves (the bot's outbox guarantees: at least once,
//!   a repeat only if the leader dies between Telegram taking the file and the record);
//! - the **maker** ([`Maker`]) the bot's sender calls to make the sealed file (the same
//!   `make_backup_file` as `GET /api/v1/backup`) when it performs such a row. The admins of
//!   one slot share the file while it is being sent.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::{watch, Mutex};
use tokio::task::JoinHandle;
use vpnkeeper_api::state::BackupSource;
use vpnkeeper_bot::backup_doc::{BackupDoc, BackupMaker};
use vpnkeeper_cluster::{now_ms, Cluster};
use vpnkeeper_domain::backup;
use vpnkeeper_domain::command::backup::slot_start;
use vpnkeeper_domain::{Actor, Command};
use vpnkeeper_store::ReadStore;

use crate::config::Config;

/// How often the leader looks at the schedule.
const TICK: Duration = Duration::from_secs(1);
/// Pause after a proposal failed (no quorum, a member too old for the command).
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(60);

/// Starts the schedule when backups are scheduled, sending them is on, and the bot has
/// admins; `None` otherwise.
pub fn spawn_schedule(
    cluster: &Cluster,
    config: &Config,
    stop: watch::Receiver<bool>,
) -> Option<JoinHandle<()>> {
    let section = &config.backup;
    let admins = config.telegram.admin_ids.clone();
    if section.interval_secs == 0 || !section.send_to_admins {
        return None;
    }
    if config.telegram.token.is_none() || admins.is_empty() {
        tracing::info!(
            "scheduled backups are not sent to Telegram: no bot token or no telegram.admin_ids"
        );
        return None;
    }
    let interval_ms = i64::try_from(section.interval_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let c = cluster.clone();
    Some(crate::bot_service::spawn_leader_only(
        cluster,
        "backup schedule",
        stop,
        move |s| session(c.clone(), interval_ms, admins.clone(), s),
    ))
}

/// One leadership: propose each slot that falls due, until this node stops leading.
async fn session(
    cluster: Cluster,
    interval_ms: i64,
    admins: Vec<i64>,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let slot_ms = slot_start(now_ms(), interval_ms);
        match cluster.read().backup_telegram_last_slot().await {
            Ok(Some(last)) if last >= slot_ms => continue,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the backup schedule; retrying");
                continue;
            }
        }
        if let Err(reason) = propose(&cluster, slot_ms, &admins).await {
            tracing::error!(slot_ms, reason = %reason, "scheduled backup for the admins could not be queued; retrying in 60 s");
            tokio::select! {
                _ = tokio::time::sleep(RETRY_AFTER_FAILURE) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }
}

async fn propose(cluster: &Cluster, slot_ms: i64, admins: &[i64]) -> Result<(), String> {
    let actor = Actor::System {
        node_id: cluster.node_id(),
    };
    let command = Command::TelegramBackupDue {
        slot_ms,
        chats: admins.to_vec(),
    };
    match cluster.submit(actor, command).await {
        Ok(Ok(_)) => {
            tracing::info!(
                slot_ms,
                admins = admins.len(),
                "scheduled backup queued for the admins"
            );
            Ok(())
        }
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// A slot's file while some admin's send still holds it: (slot, bytes, its document).
type HeldFile = (i64, Weak<Vec<u8>>, BackupDoc);

/// Makes the sealed backup files the bot sends (cluster-sealed, like `GET /api/v1/backup`).
pub struct Maker {
    read: ReadStore,
    source: BackupSource,
    /// The file of the slot being sent, while some admin's send still holds it.
    last: Mutex<Option<HeldFile>>,
}

impl Maker {
    pub fn new(read: ReadStore, source: BackupSource) -> Arc<Maker> {
        Arc::new(Maker {
            read,
            source,
            last: Mutex::new(None),
        })
    }
}

#[async_trait::async_trait]
impl BackupMaker for Maker {
    async fn make(&self, slot_ms: i64) -> Result<BackupDoc, String> {
        // Held while making: the other admins of the slot wait and share the file.
        let mut last = self.last.lock().await;
        if let Some((slot, weak, doc)) = last.as_ref() {
            if let (true, Some(bytes)) = (*slot == slot_ms, weak.upgrade()) {
                return Ok(BackupDoc {
                    bytes,
                    ..doc.clone()
                });
            }
        }
        let file = vpnkeeper_api::make_backup_file(&self.read, &self.source)
            .await
            .map_err(|e| format!("copying the state failed: {e}"))?;
        let (manifest, _, _) = backup::read_manifest(&file)
            .map_err(|e| format!("the new backup does not read back: {e}"))?;
        let count = |k: &str| manifest.counts[k].as_i64().unwrap_or(0);
        let bytes = Arc::new(file);
        let doc = BackupDoc {
            file_name: crate::backup::default_name(&manifest).display().to_string(),
            bytes: bytes.clone(),
            created_at_ms: manifest.created_at_ms,
            cluster_id: manifest.cluster_id.clone(),
            users: count("users"),
            devices: count("devices"),
            nodes: count("nodes"),
        };
        // Only metadata is kept: the bytes live while a send holds them.
        let kept = BackupDoc {
            bytes: Arc::new(Vec::new()),
            ..doc.clone()
        };
        *last = Some((slot_ms, Arc::downgrade(&bytes), kept));
        Ok(doc)
    }
}

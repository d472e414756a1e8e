//! Scheduled backups sent to the admins as a Telegram document (`Out::Backup`, queued by
//! apply of `TelegramBackupDue`, one row per admin chat and schedule slot).
//!
//! The bot does not know how to make a backup: the binary hands it a [`BackupMaker`]. The
//! file is made when the row is performed, never stored in the log; the admins of one slot
//! share one file (the maker keeps the last one). Whatever goes wrong — the backup cannot be
//! made, it is above Telegram's limit for bots, or Telegram refuses it — the admin gets an
//! alert message instead and an error line is logged: a failed backup is never silent.

use std::sync::Arc;

use crate::texts::{s, tr, Lang};

/// Telegram's limit for a document a bot sends (50 MB); a larger backup is an alert.
pub const TELEGRAM_DOCUMENT_LIMIT: usize = 50 * 1000 * 1000;

/// A sealed backup ready to send.
#[derive(Clone)]
pub struct BackupDoc {
    pub file_name: String,
    pub bytes: Arc<Vec<u8>>,
    pub created_at_ms: i64,
    /// The cluster's public id (not its secret).
    pub cluster_id: String,
    pub users: i64,
    pub devices: i64,
    pub nodes: i64,
}

/// Makes the backup of a schedule slot. An `Err` is shown to the admin as the reason, so it
/// must say what failed and hold no secret.
#[async_trait::async_trait]
pub trait BackupMaker: Send + Sync {
    async fn make(&self, slot_ms: i64) -> Result<BackupDoc, String>;
}

/// What performing a backup row comes to.
pub(crate) enum Prepared {
    /// Send this document with this caption.
    Document {
        file_name: String,
        bytes: Arc<Vec<u8>>,
        caption: String,
    },
    /// Tell the admin it failed, and why.
    Alert(String),
}

/// Makes the slot's backup and decides what to send.
pub(crate) async fn prepare(
    maker: Option<&Arc<dyn BackupMaker>>,
    lang: Lang,
    slot_ms: i64,
) -> Prepared {
    let Some(maker) = maker else {
        return Prepared::Alert(alert(lang, "this node cannot make backups"));
    };
    match maker.make(slot_ms).await {
        Err(reason) => Prepared::Alert(alert(lang, &reason)),
        Ok(doc) => prepared(lang, doc, TELEGRAM_DOCUMENT_LIMIT),
    }
}

/// The document with its caption, or an alert when it is above `limit` bytes.
fn prepared(lang: Lang, doc: BackupDoc, limit: usize) -> Prepared {
    let size = doc.bytes.len();
    if size > limit {
        let reason = format!(
            "the backup is {}, above Telegram's {} limit for bots; take it with `vpnkeeper backup create` instead",
            human_size(size),
            human_size(limit)
        );
        return Prepared::Alert(alert(lang, &reason));
    }
    let caption = tr(
        lang,
        "backup-caption",
        &[
            ("cluster", s(doc.cluster_id.clone())),
            ("time", s(utc(doc.created_at_ms))),
            ("size", s(human_size(size))),
            ("users", s(doc.users.to_string())),
            ("devices", s(doc.devices.to_string())),
            ("nodes", s(doc.nodes.to_string())),
        ],
    );
    Prepared::Document {
        file_name: doc.file_name,
        bytes: doc.bytes,
        caption,
    }
}

/// The alert text for `reason`.
pub(crate) fn alert(lang: Lang, reason: &str) -> String {
    tr(lang, "backup-failed", &[("reason", s(reason.to_string()))])
}

/// "512 B", "3.4 kB", "12.0 MB" (decimal units, as Telegram states its limit).
fn human_size(bytes: usize) -> String {
    let b = bytes as f64;
    if b < 1e3 {
        format!("{bytes} B")
    } else if b < 1e6 {
        format!("{:.1} kB", b / 1e3)
    } else {
        format!("{:.1} MB", b / 1e6)
    }
}

/// "2026-12-04 13:05 UTC".
fn utc(ms: i64) -> String {
    let d = vpnkeeper_domain::reset::civil_from_days(ms.div_euclid(86_400_000));
    let minute = ms.div_euclid(60_000).rem_euclid(1440);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        d.year,
        d.month,
        d.day,
        minute / 60,
        minute % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(size: usize) -> BackupDoc {
        BackupDoc {
            file_name: "b.vkbackup".into(),
            bytes: Arc::new(vec![0; size]),
            created_at_ms: 1_796_389_500_000,
            cluster_id: "abcd".into(),
            users: 12,
            devices: 30,
            nodes: 2,
        }
    }

    #[test]
    fn the_caption_says_size_counts_and_time() {
        let Prepared::Document { caption, .. } = prepared(Lang::En, doc(2_500), 10_000) else {
            panic!("a document");
        };
        for part in ["abcd", "2.5 kB", "12", "30", "UTC"] {
            assert!(caption.contains(part), "{part} in {caption}");
        }
        assert!(caption.contains(&utc(1_796_389_500_000)), "{caption}");
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(86_400_000 + 61_000), "1970-01-02 00:01 UTC");
    }

    #[test]
    fn above_the_limit_is_an_alert_in_both_languages() {
        for lang in [Lang::En, Lang::Ru] {
            let Prepared::Alert(text) = prepared(lang, doc(10_001), 10_000) else {
                panic!("an alert");
            };
            assert!(text.contains("10.0 kB") && text.contains("⚠️"), "{text}");
            assert!(!text.contains("backup-failed"), "translated: {text}");
        }
    }
}

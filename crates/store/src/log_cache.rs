//! The newest Raft log entries, in memory, next to their rows in `raft-log.db`.
//!
//! Why: on every commit openraft reads back the entries it just wrote, once per follower to
//! replicate them and once more (inside its single core task, which blocks meanwhile) to
//! apply them. From SQLite that is a query on sqlx's worker thread plus a JSON decode of
//! every envelope each time; from here it is a clone.
//!
//! Invariants (each holds under the one mutex):
//! - The cache holds a contiguous run of indexes, a suffix of the log as stored: entries
//!   go in only after their transaction committed (so the cache is never ahead of the
//!   disk), a truncate removes the same suffix from both, a purge the same prefix.
//! - It is bounded by entry count and by the size of the entries' stored JSON: the oldest
//!   go first. Anything not here is read from SQLite, so the bound only costs speed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::raft_types::Entry;

/// Entries kept at most: replication and apply read the last few.
const MAX_ENTRIES: usize = 512;
/// Bytes of stored JSON kept at most (a full group-commit entry is ~100 KiB).
const MAX_BYTES: usize = 4 * 1024 * 1024;

#[derive(Default)]
struct Recent {
    /// index → (entry, size of its stored JSON).
    entries: BTreeMap<u64, (Entry, usize)>,
    bytes: usize,
}

impl Recent {
    fn remove_where(&mut self, keep: impl Fn(u64) -> bool) {
        let bytes = &mut self.bytes;
        self.entries.retain(|idx, (_, size)| {
            let k = keep(*idx);
            if !k {
                *bytes -= *size;
            }
            k
        });
    }
}

/// Cheap to clone: clones share the cache.
#[derive(Clone, Default)]
pub(crate) struct LogCache {
    inner: Arc<Mutex<Recent>>,
}

impl LogCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Recent> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records entries that were just committed to SQLite, with the size of each one's JSON.
    pub(crate) fn appended(&self, entries: Vec<(Entry, usize)>) {
        let mut r = self.lock();
        for (entry, size) in entries {
            let idx = entry.log_id.index;
            // Keep the run contiguous: a write that does not extend it (after a snapshot
            // install, or one over existing indexes) starts it again from here.
            let extends = r.entries.last_key_value().map(|(k, _)| *k + 1) == Some(idx);
            if !extends {
                r.entries.clear();
                r.bytes = 0;
            }
            r.bytes += size;
            r.entries.insert(idx, (entry, size));
        }
        while r.entries.len() > MAX_ENTRIES || (r.bytes > MAX_BYTES && r.entries.len() > 1) {
            if let Some((_, (_, size))) = r.entries.pop_first() {
                r.bytes -= size;
            }
        }
    }

    /// Entries `start..=end` when the cache holds the whole range's start (then it holds
    /// every stored entry of the range: it is a suffix of the log); `None` sends the reader
    /// to SQLite.
    pub(crate) fn get(&self, start: u64, end: u64) -> Option<Vec<Entry>> {
        let r = self.lock();
        let first = *r.entries.first_key_value()?.0;
        if start < first || start > end {
            return None;
        }
        Some(
            r.entries
                .range(start..=end)
                .map(|(_, (e, _))| e.clone())
                .collect(),
        )
    }

    /// Forgets entries at `since` and after (a conflicting suffix was deleted).
    pub(crate) fn truncate(&self, since: u64) {
        self.lock().remove_where(|i| i < since);
    }

    /// Forgets entries up to `upto` (purged after a snapshot).
    pub(crate) fn purge(&self, upto: u64) {
        self.lock().remove_where(|i| i > upto);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::{CommittedLeaderId, EntryPayload, LogId};

    fn entry(idx: u64) -> (Entry, usize) {
        let log_id = LogId::new(CommittedLeaderId::new(1, 1), idx);
        (
            Entry {
                log_id,
                payload: EntryPayload::Blank,
            },
            100,
        )
    }

    fn indexes(got: Option<Vec<Entry>>) -> Option<Vec<u64>> {
        got.map(|v| v.iter().map(|e| e.log_id.index).collect())
    }

    #[test]
    fn serves_a_suffix_and_sends_older_reads_to_sqlite() {
        let c = LogCache::default();
        assert_eq!(indexes(c.get(1, 3)), None, "empty: everything from SQLite");
        c.appended((5..=8).map(entry).collect());
        assert_eq!(indexes(c.get(6, 7)), Some(vec![6, 7]));
        assert_eq!(
            indexes(c.get(7, 100)),
            Some(vec![7, 8]),
            "nothing is stored past 8"
        );
        assert_eq!(indexes(c.get(4, 8)), None, "4 is only in SQLite");
    }

    #[test]
    fn truncate_purge_and_a_gap_keep_it_a_contiguous_suffix() {
        let c = LogCache::default();
        c.appended((1..=6).map(entry).collect());
        c.truncate(5);
        assert_eq!(indexes(c.get(1, 10)), Some(vec![1, 2, 3, 4]));
        c.appended(vec![entry(5)]);
        c.purge(2);
        assert_eq!(indexes(c.get(3, 10)), Some(vec![3, 4, 5]));
        assert_eq!(indexes(c.get(2, 10)), None);
        // A write that does not extend the run (after a snapshot) restarts it.
        c.appended(vec![entry(40)]);
        assert_eq!(indexes(c.get(5, 40)), None);
        assert_eq!(indexes(c.get(40, 41)), Some(vec![40]));
    }

    #[test]
    fn bounded_by_count_and_bytes_oldest_first() {
        let c = LogCache::default();
        c.appended((1..=(MAX_ENTRIES as u64 + 10)).map(entry).collect());
        assert_eq!(indexes(c.get(10, 10)), None);
        assert_eq!(indexes(c.get(11, 11)), Some(vec![11]));
        let big = |idx| (entry(idx).0, MAX_BYTES / 2 + 1);
        c.appended(vec![
            big(MAX_ENTRIES as u64 + 11),
            big(MAX_ENTRIES as u64 + 12),
        ]);
        let last = MAX_ENTRIES as u64 + 12;
        assert_eq!(indexes(c.get(last - 1, last)), None);
        assert_eq!(indexes(c.get(last, last)), Some(vec![last]));
    }
}

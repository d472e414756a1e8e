//! Exactly-once usage reports (issue #15): turns a data plane's counters into
//! `RecordCounters` commands.
//!
//! - Each report is keyed by (node, this reporter's boot epoch, sequence); the state refuses
//!   one that is not after the node's last, so a replay or a late retry counts nothing.
//! - Entries carry *absolute* counters and the counter lifetime they belong to; the state
//!   keeps the last-seen totals per device and adds only the growth. A report that fails
//!   is merged into the next one, so nothing is lost either.
//! - A counter lifetime changes when the counters restart at zero: they went down (the
//!   WireGuard daemon restarted) or the peer left the data plane and came back (a limited
//!   user restored). After our own restart we cannot know, so the first entry of a device
//!   says "the lifetime you know" (epoch 0) and the state compares with what it saw.

use std::collections::{HashMap, HashSet};

use vpnkeeper_cluster::Cluster;
use vpnkeeper_domain::command::{CounterEntry, MAX_USAGE_ENTRIES};
use vpnkeeper_domain::{Actor, Command, CommandError};

/// What this run last reported for one device.
#[derive(Debug, Clone, Copy)]
struct Seen {
    epoch: i64,
    rx: u64,
    tx: u64,
}

/// The reporting side of one node's data plane.
pub struct CounterReporter {
    node_id: u64,
    boot_epoch: i64,
    seq: u64,
    seen: HashMap<i64, Seen>,
    /// Devices whose peer left the data plane since last seen: back, they start at zero.
    left: HashSet<i64>,
    /// Entries of reports that did not commit, sent again with the next one.
    pending: HashMap<i64, CounterEntry>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl CounterReporter {
    /// Starts after the node's last applied report (as far as the local state knows; a
    /// refusal later moves it further).
    pub async fn start(cluster: &Cluster, node_id: u64) -> CounterReporter {
        let mut r = CounterReporter::new(node_id, now_ms());
        r.rebase(cluster).await;
        r
    }

    fn new(node_id: u64, boot_epoch: i64) -> CounterReporter {
        CounterReporter {
            node_id,
            boot_epoch: boot_epoch.max(1),
            seq: 0,
            seen: HashMap::new(),
            left: HashSet::new(),
            pending: HashMap::new(),
        }
    }

    async fn rebase(&mut self, cluster: &Cluster) {
        match cluster.read().last_usage_report(self.node_id).await {
            Ok(Some((boot, _))) if boot >= self.boot_epoch => self.boot_epoch = boot + 1,
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "reading the last usage report failed"),
        }
        self.seq = 0;
    }

    /// Devices no longer on the data plane: their counters are gone with their peer.
    pub fn retain(&mut self, on_plane: impl Fn(i64) -> bool) {
        let left = &mut self.left;
        self.seen.retain(|id, _| {
            let keep = on_plane(*id);
            if !keep {
                left.insert(*id);
            }
            keep
        });
    }

    /// A device's absolute counters now; `None` when there is nothing new to say.
    pub fn observe(
        &mut self,
        device_id: i64,
        rx: u64,
        tx: u64,
        last_handshake_ms: Option<i64>,
    ) -> Option<CounterEntry> {
        let epoch = match self.seen.get(&device_id) {
            Some(s) if rx < s.rx || tx < s.tx => fresh_epoch(s.epoch),
            Some(s) if rx == s.rx && tx == s.tx && last_handshake_ms.is_none() => return None,
            Some(s) => s.epoch,
            None if self.left.remove(&device_id) => fresh_epoch(0),
            None => 0,
        };
        self.seen.insert(device_id, Seen { epoch, rx, tx });
        Some(CounterEntry {
            device_id,
            counter_epoch: epoch,
            rx_total: rx,
            tx_total: tx,
            last_handshake_ms,
        })
    }

    /// Counters that reset when read (Xray's stats): accumulated into totals of a lifetime
    /// that began with this run.
    pub fn add(&mut self, device_id: i64, rx_delta: u64, tx_delta: u64) -> CounterEntry {
        let epoch = self.boot_epoch;
        let s = self.seen.entry(device_id).or_insert(Seen {
            epoch,
            rx: 0,
            tx: 0,
        });
        s.rx = s.rx.saturating_add(rx_delta);
        s.tx = s.tx.saturating_add(tx_delta);
        CounterEntry {
            device_id,
            counter_epoch: epoch,
            rx_total: s.rx,
            tx_total: s.tx,
            last_handshake_ms: None,
        }
    }

    /// Proposes `entries` (and whatever failed before) as numbered reports.
    pub async fn submit(&mut self, cluster: &Cluster, entries: Vec<CounterEntry>) {
        for e in entries {
            self.pending.insert(e.device_id, e);
        }
        if self.pending.is_empty() {
            return;
        }
        let mut all: Vec<CounterEntry> = self.pending.values().cloned().collect();
        all.sort_by_key(|e| e.device_id);
        for chunk in all.chunks(MAX_USAGE_ENTRIES) {
            self.seq += 1;
            let command = Command::RecordCounters {
                node_id: self.node_id,
                boot_epoch: self.boot_epoch,
                seq: self.seq,
                entries: chunk.to_vec(),
            };
            match cluster
                .submit(
                    Actor::System {
                        node_id: self.node_id,
                    },
                    command,
                )
                .await
            {
                Ok(Ok(_)) => self.settled(chunk),
                Ok(Err(CommandError::Conflict { field: Some(f), .. })) if f == "seq" => {
                    // Another run of ours got further (or the clock went back): start
                    // after it; the totals go again with the next report.
                    tracing::info!("usage report was behind the node's last; renumbering");
                    self.rebase(cluster).await;
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "usage report refused");
                    self.settled(chunk);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "usage report not committed; sent again with the next")
                }
            }
        }
    }

    /// These entries are counted: drop them from the pending set unless newer ones arrived.
    fn settled(&mut self, chunk: &[CounterEntry]) {
        for e in chunk {
            if self.pending.get(&e.device_id) == Some(e) {
                self.pending.remove(&e.device_id);
            }
        }
    }
}

/// A new counter lifetime: the time now, and always above the previous one.
fn fresh_epoch(previous: i64) -> i64 {
    now_ms().max(previous + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn growth_continues_the_lifetime_and_a_drop_starts_a_new_one() {
        let mut r = CounterReporter::new(1, 1000);
        let first = r.observe(7, 100, 50, None).unwrap();
        assert_eq!(
            first.counter_epoch, 0,
            "first sighting continues the stored lifetime"
        );
        assert!(r.observe(7, 100, 50, None).is_none(), "nothing new");
        assert_eq!(r.observe(7, 150, 50, None).unwrap().counter_epoch, 0);
        let dropped = r.observe(7, 10, 5, None).unwrap();
        assert!(
            dropped.counter_epoch > 0,
            "counters went down: a new lifetime"
        );
        assert_eq!((dropped.rx_total, dropped.tx_total), (10, 5));
        assert_eq!(
            r.observe(7, 20, 5, None).unwrap().counter_epoch,
            dropped.counter_epoch
        );
    }

    #[test]
    fn a_peer_back_on_the_plane_starts_a_new_lifetime() {
        let mut r = CounterReporter::new(1, 1000);
        r.observe(7, 5000, 0, None).unwrap();
        r.retain(|_| false);
        let back = r.observe(7, 6000, 0, None).unwrap();
        assert!(
            back.counter_epoch > 0,
            "even above the old totals, it began at zero"
        );
    }

    #[test]
    fn reset_on_read_counters_accumulate_in_this_runs_lifetime() {
        let mut r = CounterReporter::new(1, 1000);
        assert_eq!(r.add(3, 10, 1).rx_total, 10);
        let e = r.add(3, 5, 1);
        assert_eq!((e.counter_epoch, e.rx_total, e.tx_total), (1000, 15, 2));
    }
}

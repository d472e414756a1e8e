//! Data-plane telemetry: `RecordUsage` (deltas, as earlier nodes reported) and
//! `RecordCounters` (absolute counters keyed by node, reporter boot epoch and sequence:
//! exactly-once across restarts and replays).

use serde::{Deserialize, Serialize};

use crate::entity::DeviceId;
use crate::validate::ValidationError;

/// One device's usage since the previous report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageEntry {
    pub device_id: DeviceId,
    /// Bytes received from the client since the last report.
    pub rx_delta: u64,
    /// Bytes sent to the client since the last report.
    pub tx_delta: u64,
    /// Unix ms of the latest handshake seen (WireGuard), if any.
    pub last_handshake_ms: Option<i64>,
}

/// Most entries one `RecordUsage` may carry, so one log entry stays small.
pub const MAX_USAGE_ENTRIES: usize = 5000;

/// `RecordUsage`: at most [`MAX_USAGE_ENTRIES`] per report.
pub fn validate_record(entries: &[UsageEntry]) -> Result<(), ValidationError> {
    validate_len(entries.len())
}

/// One device's absolute counters as its data plane reports them now (`RecordCounters`).
///
/// Absolute rather than deltas so a report that is lost, retried or replayed cannot lose
/// or add traffic: the replicated state keeps the last-seen totals per device and adds only
/// what is new.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CounterEntry {
    pub device_id: DeviceId,
    /// Which lifetime of the peer's counters these totals belong to. `0`: "the one the
    /// state already knows" (the reporter has seen no reset since it started); any other
    /// value different from the stored one: a new lifetime that started at zero (the data
    /// plane restarted, or the peer was removed and added again).
    #[serde(default)]
    pub counter_epoch: i64,
    /// Bytes received from the client in this counter lifetime.
    pub rx_total: u64,
    /// Bytes sent to the client in this counter lifetime.
    pub tx_total: u64,
    /// Unix ms of the latest handshake seen (WireGuard), if any.
    #[serde(default)]
    pub last_handshake_ms: Option<i64>,
}

/// `RecordCounters`: a sequence number starts at 1, and at most [`MAX_USAGE_ENTRIES`].
pub fn validate_counters(
    boot_epoch: i64,
    seq: u64,
    entries: &[CounterEntry],
) -> Result<(), ValidationError> {
    if boot_epoch <= 0 {
        return Err(ValidationError::new(
            "boot_epoch",
            "must be positive (the reporter's start, unix ms)",
        ));
    }
    if seq == 0 || seq > i64::MAX as u64 {
        return Err(ValidationError::new("seq", "must be between 1 and 2^63-1"));
    }
    validate_len(entries.len())
}

fn validate_len(n: usize) -> Result<(), ValidationError> {
    if n > MAX_USAGE_ENTRIES {
        return Err(ValidationError::new(
            "entries",
            format!("at most {MAX_USAGE_ENTRIES} per report; split the batch"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_reports_need_an_epoch_and_a_sequence() {
        assert!(validate_counters(1, 1, &[]).is_ok());
        assert_eq!(
            validate_counters(0, 1, &[]).unwrap_err().field,
            "boot_epoch"
        );
        assert_eq!(validate_counters(1, 0, &[]).unwrap_err().field, "seq");
        assert_eq!(
            validate_counters(1, u64::MAX, &[]).unwrap_err().field,
            "seq"
        );
    }

    #[test]
    fn an_entry_without_an_epoch_continues_the_stored_one() {
        let e: CounterEntry =
            serde_json::from_str(r#"{"device_id":3,"rx_total":5,"tx_total":7}"#).unwrap();
        assert_eq!(e.counter_epoch, 0);
        assert_eq!(e.last_handshake_ms, None);
    }
}

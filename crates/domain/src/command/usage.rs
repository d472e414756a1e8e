//! Data-plane telemetry: `RecordUsage`.

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
    if entries.len() > MAX_USAGE_ENTRIES {
        return Err(ValidationError::new(
            "entries",
            format!("at most {MAX_USAGE_ENTRIES} per report; split the batch"),
        ));
    }
    Ok(())
}

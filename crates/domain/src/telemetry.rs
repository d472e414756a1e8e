//! A node's own telemetry (issue #14): what its metrics sampler measures, the ranges its
//! series can be read over, and the answer a node gives about itself over the node RPC.
//!
//! Telemetry is NOT replicated state: each node keeps its samples in its own file and other
//! nodes ask it. These are the shapes that cross the wire (node RPC, API, bot).

use serde::{Deserialize, Serialize};

/// One measurement of a node, taken every `node.sample_interval_secs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// When it was taken, unix ms (the node's clock).
    pub at_ms: i64,
    /// Busy share of all CPUs since the previous sample, 0–100.
    pub cpu_pct: f64,
    /// The 1, 5 and 15 minute load averages.
    pub load: [f64; 3],
    pub mem_used_bytes: u64,
    pub mem_total_bytes: u64,
    /// The filesystem of the node's data directory.
    pub disk_used_bytes: u64,
    pub disk_total_bytes: u64,
    /// Received and sent bytes per second since the previous sample, summed over the
    /// public interface(s) and the VPN interfaces (loopback excluded).
    pub net_rx_bps: f64,
    pub net_tx_bps: f64,
    pub uptime_secs: u64,
    /// Resident memory of the vpnkeeper process.
    pub rss_bytes: u64,
    /// Peers per data plane served by this node.
    #[serde(default)]
    pub planes: Vec<PlanePeers>,
}

/// The peers (WireGuard/AmneziaWG) or users (VLESS) of one data plane on a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanePeers {
    /// `awg`, `wireguard` or `vless`.
    pub plane: String,
    /// Devices the node serves on this plane.
    pub configured: u32,
    /// Of those, the ones seen in the last 3 minutes (a handshake or traffic).
    pub active: u32,
}

/// How far back a series goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Range {
    #[serde(rename = "1h")]
    Hour,
    #[serde(rename = "6h")]
    SixHours,
    #[serde(rename = "24h")]
    Day,
}

impl Range {
    pub const ALL: [Range; 3] = [Range::Hour, Range::SixHours, Range::Day];
    /// What `range=` accepts, for error messages.
    pub const FORMS: &'static str = "1h, 6h or 24h";

    pub fn as_str(self) -> &'static str {
        match self {
            Range::Hour => "1h",
            Range::SixHours => "6h",
            Range::Day => "24h",
        }
    }

    pub fn hours(self) -> u32 {
        match self {
            Range::Hour => 1,
            Range::SixHours => 6,
            Range::Day => 24,
        }
    }

    pub fn millis(self) -> i64 {
        i64::from(self.hours()) * 3_600_000
    }

    pub fn parse(s: &str) -> Option<Range> {
        Range::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// By its number of hours (the bot's buttons carry that).
    pub fn from_hours(h: i64) -> Option<Range> {
        Range::ALL.into_iter().find(|r| i64::from(r.hours()) == h)
    }
}

/// Which chart to draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChartMetric {
    Cpu,
    Net,
    Ram,
}

impl ChartMetric {
    pub const ALL: [ChartMetric; 3] = [ChartMetric::Cpu, ChartMetric::Net, ChartMetric::Ram];
    pub const FORMS: &'static str = "cpu, net or ram";

    pub fn as_str(self) -> &'static str {
        match self {
            ChartMetric::Cpu => "cpu",
            ChartMetric::Net => "net",
            ChartMetric::Ram => "ram",
        }
    }

    pub fn parse(s: &str) -> Option<ChartMetric> {
        ChartMetric::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// One point of a series: `[unix_ms, value]` on the wire.
pub type Point = (i64, f64);

/// The series of a node over a range: one point per sample for the last hour, one per
/// minute (the minute's mean) beyond.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub cpu_pct: Vec<Point>,
    pub load1: Vec<Point>,
    pub mem_used_bytes: Vec<Point>,
    pub disk_used_bytes: Vec<Point>,
    pub net_rx_bps: Vec<Point>,
    pub net_tx_bps: Vec<Point>,
    pub rss_bytes: Vec<Point>,
}

impl Series {
    pub fn is_empty(&self) -> bool {
        self.cpu_pct.is_empty()
    }
}

/// What a node answers about itself: its latest sample and, when asked for a range, its
/// series over it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeMetrics {
    pub node_id: u64,
    /// `None` right after start, before the first sample.
    pub current: Option<Sample>,
    /// The range the series covers; `None` when only the current values were asked for.
    pub range: Option<Range>,
    #[serde(default)]
    pub series: Series,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_metrics_parse_only_their_forms() {
        for r in Range::ALL {
            assert_eq!(Range::parse(r.as_str()), Some(r));
            assert_eq!(Range::from_hours(i64::from(r.hours())), Some(r));
            assert_eq!(
                serde_json::to_value(r).unwrap(),
                serde_json::json!(r.as_str())
            );
        }
        for bad in ["", "1", "2h", "1H", "24h ", "week"] {
            assert_eq!(Range::parse(bad), None, "{bad:?}");
        }
        assert_eq!(Range::from_hours(2), None);
        for m in ChartMetric::ALL {
            assert_eq!(ChartMetric::parse(m.as_str()), Some(m));
        }
        assert_eq!(ChartMetric::parse("disk"), None);
    }

    #[test]
    fn points_are_pairs_on_the_wire() {
        let s = Series {
            cpu_pct: vec![(1_700_000_000_000, 12.5)],
            ..Default::default()
        };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(
            v["cpu_pct"],
            serde_json::json!([[1_700_000_000_000i64, 12.5]])
        );
    }
}

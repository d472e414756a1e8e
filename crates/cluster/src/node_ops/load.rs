//! This node's CPU and network load, for placement (`vpnkeeper_domain::placement::NodeLoad`).
//!
//! The figures come from the node's metrics sampler (issue #14 items 1–3) when it has a
//! fresh sample ([`LoadReport::from_sample`]): the same CPU share and traffic the node card
//! and charts show. Without one (no sampler registered, none taken yet, or it fell behind)
//! they are read here from `/proc/stat` and `/proc/net/dev` as the change since the
//! previous reading, so the first reading after start reports 0. Kept in memory only.

use std::sync::Mutex;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use vpnkeeper_domain::placement::NodeLoad;
use vpnkeeper_domain::telemetry::Sample;

/// One node's load as it reports it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    /// CPU busy, 0–100 (all cores together).
    pub cpu_pct: f32,
    /// Network traffic, received + sent on every interface but loopback, in Mbit/s.
    pub net_mbps: f32,
    /// The link's capacity as the operator configured it (`node.bandwidth_mbps`).
    pub bandwidth_mbps: Option<u32>,
}

impl LoadReport {
    /// The load a metrics sample shows: its CPU share, and its received + sent bytes per
    /// second as Mbit/s; `bandwidth_mbps` is the node's configured link capacity.
    pub fn from_sample(sample: &Sample, bandwidth_mbps: Option<u32>) -> LoadReport {
        let mbps = (sample.net_rx_bps + sample.net_tx_bps).max(0.0) * 8.0 / 1e6;
        LoadReport {
            cpu_pct: sample.cpu_pct.clamp(0.0, 100.0) as f32,
            net_mbps: mbps as f32,
            bandwidth_mbps,
        }
    }

    /// The headroom input of placement this report gives.
    pub fn placement_load(&self) -> NodeLoad {
        NodeLoad {
            cpu_pct: self.cpu_pct,
            net_mbps: self.net_mbps,
            bandwidth_mbps: self.bandwidth_mbps,
        }
    }
}

/// This node's load: from the metrics sampler's fresh sample when there is one, else from
/// `fallback` (this module's own `/proc` reading).
pub(super) fn current(
    fresh: Option<&Sample>,
    bandwidth_mbps: Option<u32>,
    fallback: impl FnOnce() -> LoadReport,
) -> LoadReport {
    match fresh {
        Some(sample) => LoadReport::from_sample(sample, bandwidth_mbps),
        None => fallback(),
    }
}

/// Samples closer together than this return the previous figures (deltas over a few
/// milliseconds are noise).
const MIN_INTERVAL_MS: u128 = 1_000;

#[derive(Default)]
pub(super) struct Sampler {
    last: Mutex<Option<Reading>>,
}

#[derive(Clone, Copy)]
struct Reading {
    at: Instant,
    cpu_busy: u64,
    cpu_total: u64,
    net_bytes: u64,
    report: LoadReport,
}

impl Sampler {
    pub(super) fn sample(&self, bandwidth_mbps: Option<u32>) -> LoadReport {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(prev) = *last {
            if prev.at.elapsed().as_millis() < MIN_INTERVAL_MS {
                return LoadReport {
                    bandwidth_mbps,
                    ..prev.report
                };
            }
        }
        let (cpu_busy, cpu_total) = cpu_ticks().unwrap_or((0, 0));
        let net_bytes = net_bytes().unwrap_or(0);
        let at = Instant::now();
        let report = match *last {
            Some(prev) => {
                let total = cpu_total.saturating_sub(prev.cpu_total);
                let busy = cpu_busy.saturating_sub(prev.cpu_busy);
                let cpu_pct = if total == 0 {
                    0.0
                } else {
                    (busy as f64 * 100.0 / total as f64) as f32
                };
                let secs = at.duration_since(prev.at).as_secs_f64().max(0.001);
                let bytes = net_bytes.saturating_sub(prev.net_bytes);
                LoadReport {
                    cpu_pct: cpu_pct.clamp(0.0, 100.0),
                    net_mbps: (bytes as f64 * 8.0 / secs / 1e6) as f32,
                    bandwidth_mbps,
                }
            }
            None => LoadReport {
                cpu_pct: 0.0,
                net_mbps: 0.0,
                bandwidth_mbps,
            },
        };
        *last = Some(Reading {
            at,
            cpu_busy,
            cpu_total,
            net_bytes,
            report,
        });
        report
    }
}

/// (busy, total) jiffies of all CPUs from the first line of `/proc/stat`.
fn cpu_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    parse_cpu_line(stat.lines().next()?)
}

fn parse_cpu_line(line: &str) -> Option<(u64, u64)> {
    let mut fields = line.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    let v: Vec<u64> = fields.filter_map(|f| f.parse().ok()).collect();
    if v.len() < 4 {
        return None;
    }
    // user nice system idle iowait irq softirq steal (guest is already in user).
    let total: u64 = v.iter().take(8).sum();
    let idle = v[3] + v.get(4).copied().unwrap_or(0);
    Some((total.saturating_sub(idle), total))
}

/// Bytes received + sent on every interface but loopback, from `/proc/net/dev`.
fn net_bytes() -> Option<u64> {
    let dev = std::fs::read_to_string("/proc/net/dev").ok()?;
    Some(parse_net_dev(&dev))
}

fn parse_net_dev(text: &str) -> u64 {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(name, _)| name.trim() != "lo")
        .filter_map(|(_, rest)| {
            let f: Vec<u64> = rest
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            // rx_bytes is the 1st field, tx_bytes the 9th.
            Some(f.first()? + f.get(8)?)
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_line_counts_idle_and_iowait_as_not_busy() {
        let (busy, total) = parse_cpu_line("cpu  100 0 50 800 50 0 0 0 0 0").unwrap();
        assert_eq!(total, 1000);
        assert_eq!(busy, 150);
        assert_eq!(parse_cpu_line("cpu0 1 2 3 4"), None);
    }

    #[test]
    fn net_dev_sums_rx_and_tx_without_loopback() {
        let text = "Inter-|   Receive |  Transmit\n face |bytes packets|bytes\n    lo: 999 1 0 0 0 0 0 0 999 1 0 0 0 0 0 0\n  eth0: 1000 5 0 0 0 0 0 0 200 3 0 0 0 0 0 0\n";
        assert_eq!(parse_net_dev(text), 1200);
    }

    fn sample(cpu_pct: f64, rx_bps: f64, tx_bps: f64) -> Sample {
        Sample {
            at_ms: 1_700_000_000_000,
            cpu_pct,
            load: [0.0; 3],
            mem_used_bytes: 0,
            mem_total_bytes: 0,
            disk_used_bytes: 0,
            disk_total_bytes: 0,
            net_rx_bps: rx_bps,
            net_tx_bps: tx_bps,
            uptime_secs: 0,
            rss_bytes: 0,
            planes: Vec::new(),
        }
    }

    fn idle() -> LoadReport {
        LoadReport {
            cpu_pct: 1.0,
            net_mbps: 0.5,
            bandwidth_mbps: Some(100),
        }
    }

    #[test]
    fn a_sample_gives_cpu_and_megabits() {
        // 5 MB/s in + 7.5 MB/s out = 100 Mbit/s.
        let r = LoadReport::from_sample(&sample(42.5, 5e6, 7.5e6), Some(1000));
        assert_eq!(r.cpu_pct, 42.5);
        assert!((r.net_mbps - 100.0).abs() < 1e-3, "{}", r.net_mbps);
        assert_eq!(r.bandwidth_mbps, Some(1000));
        // Out-of-range figures do not leak into placement.
        let r = LoadReport::from_sample(&sample(130.0, -1.0, 0.0), None);
        assert_eq!((r.cpu_pct, r.net_mbps), (100.0, 0.0));
    }

    #[test]
    fn placement_sees_the_sampled_load_and_falls_back_without_one() {
        use vpnkeeper_domain::placement::{shortlist, Candidate};
        let node = |id, load: LoadReport| Candidate {
            id,
            active_devices: 0,
            capacity: None,
            online: true,
            serves: true,
            draining: false,
            load: Some(load.placement_load()),
        };
        // The /proc reading says idle, the sampler says CPU 97 %: the sample wins, so the
        // node is saturated and the other node is the only eligible one.
        let hot = sample(97.0, 0.0, 0.0);
        let sampled = current(Some(&hot), Some(100), idle);
        assert!(sampled.placement_load().saturated());
        assert_eq!(shortlist(&[node(1, sampled), node(2, idle())]), vec![2]);
        // 12 MB/s of traffic on a 100 Mbit/s link (96 %): saturated by the network alone.
        let busy_link = current(Some(&sample(5.0, 6e6, 6e6)), Some(100), idle);
        assert!(busy_link.placement_load().saturated());
        // No fresh sample: the /proc reading is what placement gets.
        let fallback = current(None, Some(100), idle);
        assert_eq!(fallback, idle());
        assert_eq!(shortlist(&[node(1, fallback), node(2, idle())]), vec![1, 2]);
    }

    #[test]
    fn samples_on_this_machine_are_sane() {
        let s = Sampler::default();
        let first = s.sample(Some(100));
        assert_eq!(first.cpu_pct, 0.0);
        assert_eq!(first.bandwidth_mbps, Some(100));
        // Within a second: the same figures.
        assert_eq!(s.sample(Some(100)), first);
    }
}

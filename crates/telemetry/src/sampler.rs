//! The sampler: one [`Sample`] of the machine and this process from `/proc`, with the rates
//! (CPU busy share, network bytes per second) measured since the previous sample.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

use vpnkeeper_domain::telemetry::{PlanePeers, Sample};

use crate::procfs::{self, CpuTimes};

/// Which interfaces count for the network rates.
#[derive(Debug, Clone, Default)]
pub struct Interfaces {
    /// The VPN interfaces of this node (e.g. the WireGuard interface), counted besides the
    /// public one. The public interface is the one holding the default route; without one
    /// (a network namespace, a host without a default route) every interface but loopback
    /// counts.
    pub vpn: Vec<String>,
}

impl Interfaces {
    fn counted(&self) -> Option<BTreeSet<String>> {
        let public = procfs::default_route_ifaces();
        if public.is_empty() {
            return None;
        }
        Some(public.into_iter().chain(self.vpn.iter().cloned()).collect())
    }
}

/// Takes samples; keeps the previous counters so rates cover the time between two samples.
pub struct Sampler {
    data_dir: PathBuf,
    interfaces: Interfaces,
    prev_cpu: Option<CpuTimes>,
    prev_net: Option<(Instant, u64, u64)>,
}

impl Sampler {
    /// A sampler for a node whose data lives in `data_dir` (its filesystem is the disk that
    /// is reported). Reads the counters once, so the first sample already has rates.
    pub fn new(data_dir: PathBuf, interfaces: Interfaces) -> Sampler {
        let mut s = Sampler {
            data_dir,
            interfaces,
            prev_cpu: procfs::cpu_times(),
            prev_net: None,
        };
        let (rx, tx) = s.net_totals();
        s.prev_net = Some((Instant::now(), rx, tx));
        s
    }

    fn net_totals(&self) -> (u64, u64) {
        let counted = self.interfaces.counted();
        procfs::net_dev()
            .into_iter()
            .filter(|(name, _, _)| match &counted {
                Some(set) => set.contains(name),
                None => name != "lo",
            })
            .fold((0, 0), |(rx, tx), (_, r, t)| {
                (rx.saturating_add(r), tx.saturating_add(t))
            })
    }

    /// Busy share since the previous call.
    fn cpu_pct(&mut self) -> f64 {
        let now = procfs::cpu_times();
        let pct = match (now, self.prev_cpu) {
            (Some(now), Some(prev)) => now.busy_pct_since(prev),
            _ => 0.0,
        };
        if now.is_some() {
            self.prev_cpu = now;
        }
        pct.clamp(0.0, 100.0)
    }

    /// Bytes per second received and sent since the previous call. A counter that went
    /// down (an interface recreated) counts as zero for this interval.
    fn net_rates(&mut self) -> (f64, f64) {
        let (rx, tx) = self.net_totals();
        let now = Instant::now();
        let rates = match self.prev_net {
            Some((at, prx, ptx)) => {
                let secs = now.duration_since(at).as_secs_f64();
                if secs <= 0.0 {
                    (0.0, 0.0)
                } else {
                    (
                        rx.saturating_sub(prx) as f64 / secs,
                        tx.saturating_sub(ptx) as f64 / secs,
                    )
                }
            }
            None => (0.0, 0.0),
        };
        self.prev_net = Some((now, rx, tx));
        rates
    }

    /// One sample at `at_ms`, with the data planes' peer counts the caller gathered.
    pub fn sample(&mut self, at_ms: i64, planes: Vec<PlanePeers>) -> Sample {
        let (mem_total, mem_available) = procfs::meminfo().unwrap_or((0, 0));
        let (disk_used, disk_total) = procfs::disk_usage(&self.data_dir).unwrap_or((0, 0));
        let (net_rx_bps, net_tx_bps) = self.net_rates();
        Sample {
            at_ms,
            cpu_pct: self.cpu_pct(),
            load: procfs::loadavg().unwrap_or([0.0; 3]),
            mem_used_bytes: mem_total.saturating_sub(mem_available),
            mem_total_bytes: mem_total,
            disk_used_bytes: disk_used,
            disk_total_bytes: disk_total,
            net_rx_bps,
            net_tx_bps,
            uptime_secs: procfs::uptime_secs().unwrap_or(0),
            rss_bytes: procfs::rss_bytes().unwrap_or(0),
            planes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MemTotal straight from the file, parsed independently of `procfs::parse_meminfo`.
    fn meminfo_total_bytes() -> u64 {
        let text = std::fs::read_to_string("/proc/meminfo").unwrap();
        let line = text.lines().find(|l| l.starts_with("MemTotal:")).unwrap();
        let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kb * 1024
    }

    #[test]
    fn samples_of_this_machine_are_sane() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Sampler::new(dir.path().to_path_buf(), Interfaces::default());
        // Some work between the two reads, so the CPU share is measured over real time.
        let mut x = 0u64;
        let start = Instant::now();
        while start.elapsed().as_millis() < 200 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        for _ in 0..3 {
            let sample = s.sample(1, vec![]);
            assert!(
                (0.0..=100.0).contains(&sample.cpu_pct),
                "cpu {}",
                sample.cpu_pct
            );
            assert_eq!(sample.mem_total_bytes, meminfo_total_bytes());
            assert!(sample.mem_used_bytes > 0 && sample.mem_used_bytes < sample.mem_total_bytes);
            assert!(sample.disk_total_bytes > 0);
            assert!(sample.disk_used_bytes <= sample.disk_total_bytes);
            assert!(sample.load.iter().all(|l| *l >= 0.0));
            assert!(sample.uptime_secs > 0);
            // This test process itself is resident: at least a megabyte, below the RAM.
            assert!(sample.rss_bytes > 1 << 20 && sample.rss_bytes < sample.mem_total_bytes);
            assert!(sample.net_rx_bps >= 0.0 && sample.net_tx_bps >= 0.0);
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    #[test]
    fn loopback_traffic_is_not_counted_but_other_traffic_is_a_rate() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Sampler::new(dir.path().to_path_buf(), Interfaces::default());
        s.sample(1, vec![]);
        // Traffic on loopback only: the rates stay at what other interfaces did meanwhile
        // (on a quiet test machine, close to nothing), never the megabytes sent here.
        let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        let reader = std::thread::spawn(move || {
            use std::io::Read;
            let (mut c, _) = server.accept().unwrap();
            let mut buf = vec![0u8; 1 << 16];
            while c.read(&mut buf).unwrap() > 0 {}
        });
        {
            use std::io::Write;
            let mut c = std::net::TcpStream::connect(addr).unwrap();
            let chunk = vec![7u8; 1 << 20];
            for _ in 0..64 {
                c.write_all(&chunk).unwrap();
            }
        }
        reader.join().unwrap();
        let sample = s.sample(2, vec![]);
        assert!(
            sample.net_tx_bps < 16.0 * 1024.0 * 1024.0,
            "64 MiB over loopback counted: {} B/s",
            sample.net_tx_bps
        );
    }
}

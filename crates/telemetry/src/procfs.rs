//! Readers of the Linux `/proc` files the sampler uses. Parsing is split from reading so
//! the parsers are tested on fixed text; each reader returns `None` when its file is
//! missing or odd (a sample then carries zero for that value rather than failing whole).

use std::path::Path;

/// Jiffies from the aggregate `cpu` line of `/proc/stat`: the busy part and the total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CpuTimes {
    pub busy: u64,
    pub total: u64,
}

impl CpuTimes {
    /// Busy share between `earlier` and `self`, 0–100 (0 when no time passed).
    pub fn busy_pct_since(self, earlier: CpuTimes) -> f64 {
        let total = self.total.saturating_sub(earlier.total);
        if total == 0 {
            return 0.0;
        }
        let busy = self.busy.saturating_sub(earlier.busy).min(total);
        busy as f64 * 100.0 / total as f64
    }
}

/// `cpu  user nice system idle iowait irq softirq steal guest guest_nice`: idle time is
/// `idle + iowait`; guest time is already inside `user`/`nice`, so it is not added again.
pub fn parse_stat(text: &str) -> Option<CpuTimes> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    if fields.len() < 4 {
        return None;
    }
    let total: u64 = fields.iter().sum();
    let idle = fields[3] + fields.get(4).copied().unwrap_or(0);
    Some(CpuTimes {
        busy: total.saturating_sub(idle),
        total,
    })
}

/// `MemTotal` and `MemAvailable` of `/proc/meminfo`, in bytes.
pub fn parse_meminfo(text: &str) -> Option<(u64, u64)> {
    let field = |name: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        let kb: u64 = line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb * 1024)
    };
    let total = field("MemTotal:")?;
    // Kernels before 3.14 lack MemAvailable; free memory is the closest we have there.
    let available = field("MemAvailable:").or_else(|| field("MemFree:"))?;
    Some((total, available.min(total)))
}

/// The three load averages of `/proc/loadavg`.
pub fn parse_loadavg(text: &str) -> Option<[f64; 3]> {
    let mut it = text.split_whitespace().map(|f| f.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

/// Seconds since boot, from `/proc/uptime`.
pub fn parse_uptime(text: &str) -> Option<u64> {
    let secs: f64 = text.split_whitespace().next()?.parse().ok()?;
    Some(secs as u64)
}

/// Received and sent bytes per interface, from `/proc/net/dev`.
pub fn parse_net_dev(text: &str) -> Vec<(String, u64, u64)> {
    text.lines()
        .skip(2)
        .filter_map(|line| {
            let (name, rest) = line.split_once(':')?;
            let f: Vec<u64> = rest
                .split_whitespace()
                .map(|x| x.parse().unwrap_or(0))
                .collect();
            // rx: bytes packets errs drop fifo frame compressed multicast; then tx bytes.
            Some((name.trim().to_string(), *f.first()?, *f.get(8)?))
        })
        .collect()
}

/// Interfaces holding a default route, from `/proc/net/route` (destination `00000000`).
pub fn parse_default_route_ifaces(text: &str) -> Vec<String> {
    let mut out: Vec<String> = text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let iface = f.next()?;
            (f.next()? == "00000000").then(|| iface.to_string())
        })
        .collect();
    out.dedup();
    out
}

/// Resident pages of this process, from `/proc/self/statm` (second field).
pub fn parse_statm_resident_pages(text: &str) -> Option<u64> {
    text.split_whitespace().nth(1)?.parse().ok()
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

pub fn cpu_times() -> Option<CpuTimes> {
    parse_stat(&read("/proc/stat")?)
}

pub fn meminfo() -> Option<(u64, u64)> {
    parse_meminfo(&read("/proc/meminfo")?)
}

pub fn loadavg() -> Option<[f64; 3]> {
    parse_loadavg(&read("/proc/loadavg")?)
}

pub fn uptime_secs() -> Option<u64> {
    parse_uptime(&read("/proc/uptime")?)
}

pub fn net_dev() -> Vec<(String, u64, u64)> {
    read("/proc/net/dev")
        .map(|t| parse_net_dev(&t))
        .unwrap_or_default()
}

pub fn default_route_ifaces() -> Vec<String> {
    read("/proc/net/route")
        .map(|t| parse_default_route_ifaces(&t))
        .unwrap_or_default()
}

/// Resident memory of this process in bytes.
pub fn rss_bytes() -> Option<u64> {
    let pages = parse_statm_resident_pages(&read("/proc/self/statm")?)?;
    // SAFETY: sysconf has no preconditions; it only reads a constant of the system.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok().filter(|p| *p > 0)?)
}

/// Used and total bytes of the filesystem holding `path`.
// statvfs field widths differ between targets; the casts are no-ops on some.
#[allow(clippy::unnecessary_cast)]
pub fn disk_usage(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized out-parameter.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    let frsize = st.f_frsize as u64;
    let total = st.f_blocks as u64 * frsize;
    let free = st.f_bfree as u64 * frsize;
    Some((total.saturating_sub(free), total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_counts_iowait_as_idle() {
        let text = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3 4\nintr 1\n";
        let t = parse_stat(text).unwrap();
        assert_eq!(t.total, 1000);
        assert_eq!(t.busy, 150);
        let later = CpuTimes {
            busy: 250,
            total: 1200,
        };
        assert!((later.busy_pct_since(t) - 50.0).abs() < 1e-9);
        assert_eq!(t.busy_pct_since(t), 0.0);
        assert_eq!(parse_stat("intr 1\n"), None);
    }

    #[test]
    fn meminfo_in_bytes() {
        let text = "MemTotal:       16314584 kB\nMemFree:  100 kB\nMemAvailable:   8000000 kB\n";
        assert_eq!(
            parse_meminfo(text),
            Some((16_314_584 * 1024, 8_000_000 * 1024))
        );
        let old = "MemTotal: 1000 kB\nMemFree: 10 kB\n";
        assert_eq!(parse_meminfo(old), Some((1_024_000, 10_240)));
    }

    #[test]
    fn loadavg_uptime_statm() {
        assert_eq!(
            parse_loadavg("0.52 0.58 0.59 1/1262 1234\n"),
            Some([0.52, 0.58, 0.59])
        );
        assert_eq!(parse_loadavg("x"), None);
        assert_eq!(parse_uptime("12345.67 2000.1\n"), Some(12345));
        assert_eq!(
            parse_statm_resident_pages("1000 250 30 1 0 100 0\n"),
            Some(250)
        );
    }

    #[test]
    fn net_dev_and_routes() {
        let dev = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo: 5000 10 0 0 0 0 0 0 5000 10 0 0 0 0 0 0\n  eth0: 123456 100 0 0 0 0 0 0 654321 90 0 0 0 0 0 0\n";
        assert_eq!(
            parse_net_dev(dev),
            vec![
                ("lo".to_string(), 5000, 5000),
                ("eth0".to_string(), 123_456, 654_321)
            ]
        );
        let route = "Iface\tDestination\tGateway\tFlags\nens3\t00000000\t0101A8C0\t0003\nens3\t0001A8C0\t00000000\t0001\n";
        assert_eq!(parse_default_route_ifaces(route), vec!["ens3".to_string()]);
    }
}

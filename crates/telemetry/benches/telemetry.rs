//! `cargo bench -p vpnkeeper-telemetry --bench telemetry`: the cost of node telemetry.
//!
//! - sampler: CPU time (user + system, this process) and wall time per sample;
//! - series: RSS added by opening and filling a full 24 h series (8640 samples, 10 s apart),
//!   the cost of one `record`, and of reading the 24 h series back;
//! - charts: render time per PNG (goal < 50 ms), for the bot's two-panel chart over 1 h and
//!   over 24 h.
//!
//! Figures on a loaded machine are noisy: report them with the load average.

use std::time::{Duration, Instant};

use vpnkeeper_domain::telemetry::{ChartMetric, PlanePeers, Range};
use vpnkeeper_telemetry::{chart, procfs, Interfaces, Sampler, SeriesStore, Words};

fn cpu_time() -> Duration {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn bench_sampler(dir: &std::path::Path) {
    let mut s = Sampler::new(dir.to_path_buf(), Interfaces::default());
    let n = 500;
    let planes = || {
        vec![PlanePeers {
            plane: "awg".into(),
            configured: 100,
            active: 40,
        }]
    };
    let (cpu0, wall0) = (cpu_time(), Instant::now());
    for i in 0..n {
        std::hint::black_box(s.sample(i, planes()));
    }
    let (cpu, wall) = (cpu_time() - cpu0, wall0.elapsed());
    println!(
        "sampler: {n} samples; CPU time {:.1} µs/sample; wall {:.1} µs/sample",
        cpu.as_secs_f64() * 1e6 / n as f64,
        wall.as_secs_f64() * 1e6 / n as f64
    );
}

fn bench_series(dir: &std::path::Path) -> SeriesStore {
    let mut s = Sampler::new(dir.to_path_buf(), Interfaces::default());
    let template = s.sample(0, vec![]);
    let rss0 = procfs::rss_bytes().unwrap_or(0);
    let mut store = SeriesStore::open(&dir.join("metrics.db")).unwrap();
    let t0 = 1_700_000_000_000i64;
    let n = 24 * 360;
    let start = Instant::now();
    for i in 0..n {
        let mut x = template.clone();
        x.at_ms = t0 + i * 10_000;
        x.cpu_pct = (i % 100) as f64;
        store.record(&x).unwrap();
    }
    let per_record = start.elapsed() / n as u32;
    let rss1 = procfs::rss_bytes().unwrap_or(0);
    let now = t0 + (n - 1) * 10_000;
    let start = Instant::now();
    let day = store.series(Range::Day, now).unwrap();
    let read_day = start.elapsed();
    let rss2 = procfs::rss_bytes().unwrap_or(0);
    let file = std::fs::metadata(dir.join("metrics.db")).map_or(0, |m| m.len())
        + std::fs::metadata(dir.join("metrics.db-wal")).map_or(0, |m| m.len());
    println!(
        "series: {n} samples (24 h at 10 s): record {:.0} µs each; 24 h read ({} points) {:.2} ms; RSS +{:.2} MiB after filling, +{:.2} MiB after reading; file {:.2} MiB",
        per_record.as_secs_f64() * 1e6,
        day.cpu_pct.len(),
        read_day.as_secs_f64() * 1e3,
        mib(rss1.saturating_sub(rss0)),
        mib(rss2.saturating_sub(rss0)),
        mib(file),
    );
    store
}

fn bench_charts(store: &SeriesStore) {
    let words = Words::english();
    let now = 1_700_000_000_000i64 + (24 * 360 - 1) * 10_000;
    for range in [Range::Hour, Range::Day] {
        let series = store.series(range, now).unwrap();
        let panels = [
            chart::panel(ChartMetric::Cpu, &series, &words, "node-1"),
            chart::panel(ChartMetric::Net, &series, &words, "node-1"),
        ];
        let from = now - range.millis();
        // The first render registers the font; not counted.
        let png = chart::render_png(&panels, from, now, &words).unwrap();
        let n = 20;
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            let start = Instant::now();
            std::hint::black_box(chart::render_png(&panels, from, now, &words).unwrap());
            times.push(start.elapsed());
        }
        times.sort();
        println!(
            "chart {}: {} points/line, {} KiB PNG; render median {:.1} ms, min {:.1} ms, max {:.1} ms (goal < 50 ms)",
            range.as_str(),
            series.cpu_pct.len(),
            png.len() / 1024,
            times[n / 2].as_secs_f64() * 1e3,
            times[0].as_secs_f64() * 1e3,
            times[n - 1].as_secs_f64() * 1e3,
        );
    }
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    bench_sampler(dir.path());
    let store = bench_series(dir.path());
    bench_charts(&store);
}

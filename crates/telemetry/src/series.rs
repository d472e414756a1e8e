//! The node's local time series, in its own SQLite file (`DATA/metrics.db`), apart from the
//! replicated state: telemetry must not bloat the Raft log, and losing it loses nothing
//! that matters.
//!
//! Two tables, both keyed by time:
//! - `fine`: every sample of the last hour, whole (the latest row is also the current
//!   values after a restart);
//! - `minute`: the running mean of each minute's samples, for 24 hours.
//!
//! Every write is one short transaction (insert, fold into the minute, prune), so a crash
//! loses at most the sample being written.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};
use vpnkeeper_domain::telemetry::{Point, Range, Sample, Series};

/// How long each table keeps its rows.
pub const FINE_KEEP_MS: i64 = 3_600_000;
pub const MINUTE_KEEP_MS: i64 = 24 * 3_600_000;
const MINUTE_MS: i64 = 60_000;

#[derive(Debug, thiserror::Error)]
#[error("metrics store {path}: {source}")]
pub struct SeriesError {
    path: String,
    source: rusqlite::Error,
}

/// The series file of this node.
pub struct SeriesStore {
    conn: Connection,
    path: String,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS fine (
    at_ms INTEGER PRIMARY KEY,
    sample TEXT NOT NULL,
    cpu REAL NOT NULL, load1 REAL NOT NULL, mem_used REAL NOT NULL, disk_used REAL NOT NULL,
    rx REAL NOT NULL, tx REAL NOT NULL, rss REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS minute (
    at_ms INTEGER PRIMARY KEY,
    n INTEGER NOT NULL,
    cpu REAL NOT NULL, load1 REAL NOT NULL, mem_used REAL NOT NULL, disk_used REAL NOT NULL,
    rx REAL NOT NULL, tx REAL NOT NULL, rss REAL NOT NULL
);
";

/// The numeric columns both tables share, in [`Series`] field order.
const COLUMNS: [&str; 7] = ["cpu", "load1", "mem_used", "disk_used", "rx", "tx", "rss"];

impl SeriesStore {
    /// Opens (creating if needed) the series file at `path`.
    pub fn open(path: &Path) -> Result<SeriesStore, SeriesError> {
        let name = path.display().to_string();
        let err = |source| SeriesError {
            path: name.clone(),
            source,
        };
        let conn = Connection::open(path).map_err(err)?;
        // Telemetry: a lost last sample after a power cut is fine; an fsync per sample
        // on a busy VPN node is not worth it.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -512;",
        )
        .map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        Ok(SeriesStore { conn, path: name })
    }

    fn err(&self, source: rusqlite::Error) -> SeriesError {
        SeriesError {
            path: self.path.clone(),
            source,
        }
    }

    /// Stores `s`: into the last hour whole, into its minute's mean, and forgets what has
    /// aged out of either.
    pub fn record(&mut self, s: &Sample) -> Result<(), SeriesError> {
        let path = &self.path;
        let err = |source| SeriesError {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        write(&tx, s).and_then(|()| tx.commit()).map_err(err)
    }

    /// The newest stored sample (the current values after a restart, until the next one).
    pub fn latest(&self) -> Result<Option<Sample>, SeriesError> {
        let json: Option<String> = self
            .conn
            .query_row(
                "SELECT sample FROM fine ORDER BY at_ms DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
    }

    /// The series over `range` up to `now_ms`: every sample for the last hour, minute means
    /// for longer ranges.
    pub fn series(&self, range: Range, now_ms: i64) -> Result<Series, SeriesError> {
        let table = if range == Range::Hour {
            "fine"
        } else {
            "minute"
        };
        let sql = format!(
            "SELECT at_ms, {} FROM {table} WHERE at_ms >= ?1 ORDER BY at_ms",
            COLUMNS.join(", ")
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let mut out = Series::default();
        let rows = stmt
            .query_map([now_ms - range.millis()], |r| {
                let mut v = [0f64; 7];
                for (i, slot) in v.iter_mut().enumerate() {
                    *slot = r.get(i + 1)?;
                }
                Ok((r.get::<_, i64>(0)?, v))
            })
            .map_err(|e| self.err(e))?;
        for row in rows {
            let (at, v) = row.map_err(|e| self.err(e))?;
            push(&mut out, at, v);
        }
        Ok(out)
    }
}

/// One sample's statements, inside the caller's transaction.
fn write(tx: &rusqlite::Transaction<'_>, s: &Sample) -> rusqlite::Result<()> {
    let json = serde_json::to_string(s).unwrap_or_default();
    let v = values(s);
    let minute = s.at_ms - s.at_ms.rem_euclid(MINUTE_MS);
    tx.prepare_cached(
        "INSERT OR REPLACE INTO fine (at_ms, sample, cpu, load1, mem_used, disk_used, rx, tx, rss)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        s.at_ms, json, v[0], v[1], v[2], v[3], v[4], v[5], v[6]
    ])?;
    // The minute's running mean: mean' = (mean * n + x) / (n + 1).
    tx.prepare_cached(
        "INSERT INTO minute (at_ms, n, cpu, load1, mem_used, disk_used, rx, tx, rss)
         VALUES (?1, 1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT(at_ms) DO UPDATE SET
           cpu = (cpu * n + excluded.cpu) / (n + 1),
           load1 = (load1 * n + excluded.load1) / (n + 1),
           mem_used = (mem_used * n + excluded.mem_used) / (n + 1),
           disk_used = (disk_used * n + excluded.disk_used) / (n + 1),
           rx = (rx * n + excluded.rx) / (n + 1),
           tx = (tx * n + excluded.tx) / (n + 1),
           rss = (rss * n + excluded.rss) / (n + 1),
           n = n + 1",
    )?
    .execute(params![minute, v[0], v[1], v[2], v[3], v[4], v[5], v[6]])?;
    tx.prepare_cached("DELETE FROM fine WHERE at_ms < ?1")?
        .execute([s.at_ms - FINE_KEEP_MS])?;
    tx.prepare_cached("DELETE FROM minute WHERE at_ms < ?1")?
        .execute([minute - MINUTE_KEEP_MS])?;
    Ok(())
}

fn values(s: &Sample) -> [f64; 7] {
    [
        s.cpu_pct,
        s.load[0],
        s.mem_used_bytes as f64,
        s.disk_used_bytes as f64,
        s.net_rx_bps,
        s.net_tx_bps,
        s.rss_bytes as f64,
    ]
}

fn push(out: &mut Series, at: i64, v: [f64; 7]) {
    let fields: [&mut Vec<Point>; 7] = [
        &mut out.cpu_pct,
        &mut out.load1,
        &mut out.mem_used_bytes,
        &mut out.disk_used_bytes,
        &mut out.net_rx_bps,
        &mut out.net_tx_bps,
        &mut out.rss_bytes,
    ];
    for (f, x) in fields.into_iter().zip(v) {
        f.push((at, x));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at_ms: i64, cpu: f64) -> Sample {
        Sample {
            at_ms,
            cpu_pct: cpu,
            load: [0.5, 0.4, 0.3],
            mem_used_bytes: 1 << 30,
            mem_total_bytes: 4 << 30,
            disk_used_bytes: 10 << 30,
            disk_total_bytes: 40 << 30,
            net_rx_bps: 1000.0,
            net_tx_bps: 2000.0,
            uptime_secs: 100,
            rss_bytes: 50 << 20,
            planes: vec![vpnkeeper_domain::telemetry::PlanePeers {
                plane: "awg".into(),
                configured: 3,
                active: 1,
            }],
        }
    }

    const T0: i64 = 1_700_000_000_000 - 1_700_000_000_000 % 60_000;

    #[test]
    fn a_series_survives_reopening_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.db");
        {
            let mut store = SeriesStore::open(&path).unwrap();
            for i in 0..12 {
                store.record(&sample(T0 + i * 10_000, i as f64)).unwrap();
            }
        }
        // A new process would do exactly this: open the file again.
        let store = SeriesStore::open(&path).unwrap();
        let latest = store.latest().unwrap().unwrap();
        assert_eq!(latest, sample(T0 + 110_000, 11.0));
        let hour = store.series(Range::Hour, T0 + 120_000).unwrap();
        assert_eq!(hour.cpu_pct.len(), 12);
        assert_eq!(hour.cpu_pct[3], (T0 + 30_000, 3.0));
        // Minute means: samples 0..=5 in the first minute, 6..=11 in the second.
        let day = store.series(Range::Day, T0 + 120_000).unwrap();
        assert_eq!(day.cpu_pct, vec![(T0, 2.5), (T0 + 60_000, 8.5)]);
        assert_eq!(day.net_tx_bps, vec![(T0, 2000.0), (T0 + 60_000, 2000.0)]);
    }

    #[test]
    fn old_rows_age_out_and_ranges_cut() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SeriesStore::open(&dir.path().join("m.db")).unwrap();
        // One sample a minute for 30 hours.
        let n = 30 * 60;
        for i in 0..n {
            store.record(&sample(T0 + i * 60_000, 1.0)).unwrap();
        }
        let now = T0 + (n - 1) * 60_000;
        let day = store.series(Range::Day, now).unwrap();
        assert!(
            (1440..=1441).contains(&day.cpu_pct.len()),
            "{}",
            day.cpu_pct.len()
        );
        let six = store.series(Range::SixHours, now).unwrap();
        assert_eq!(six.cpu_pct.len(), 361);
        let hour = store.series(Range::Hour, now).unwrap();
        assert_eq!(hour.cpu_pct.len(), 61);
        let fine: i64 = store
            .conn
            .query_row("SELECT COUNT(*) FROM fine", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fine, 61, "the fine table keeps one hour");
    }
}

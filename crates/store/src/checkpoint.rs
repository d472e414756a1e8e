//! WAL checkpoints of state.db on a thread of their own, off the writer's path.
//!
//! SQLite's default checkpoints inside the commit that crosses 1,000 WAL pages: on the one
//! writer thread every write waits for, so a burst of `device add` paid ~8% of the node's
//! CPU and a latency spike on that commit (`vpnkeeper bench`, perf). Here the writer never
//! checkpoints (`wal_autocheckpoint = 0`); this thread runs a PASSIVE checkpoint every
//! [`INTERVAL`] on its own connection. PASSIVE never waits for the writer or readers: what
//! it cannot copy now it copies next time, and a burst rewriting the same pages over and
//! over is copied once per interval instead of once per 1,000 pages.
//!
//! PASSIVE alone never lets the WAL start over under sustained writes: SQLite rewinds the
//! WAL only when a write begins after *every* frame was copied, and by the time a pass has
//! copied a second of writes the writer has appended more. A 3-node `fleet_bench` run grew
//! a follower's WAL to 1.4 GB (35 MB database). So once the WAL holds more than
//! [`RESTART_FRAMES`], the pass is followed by a RESTART checkpoint: it holds writers off
//! only while it copies what the PASSIVE pass left (the last moments of writes) and waits
//! for readers on older snapshots, up to [`RESTART_WAIT`]; the next write then starts the
//! WAL from its beginning, and the writer's `journal_size_limit` trims the file.

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::Duration;

use crate::sql::{self, Conn};

/// Time between checkpoints: the WAL holds at most about this long of writes.
const INTERVAL: Duration = Duration::from_secs(1);
/// WAL frames (pages) past which a pass also restarts the WAL: 16 MiB of 4 KiB pages.
const RESTART_FRAMES: i64 = 4096;
/// How long a restart waits for the writer and for readers before giving up until the next
/// interval (the writer waits for it meanwhile, so this bounds a write's extra latency).
const RESTART_WAIT: Duration = Duration::from_millis(100);

/// Runs checkpoints until dropped (dropping closes the channel the thread waits on).
pub(crate) struct Checkpointer {
    _stop: Sender<()>,
}

impl Checkpointer {
    pub(crate) fn start(path: &Path) -> Result<Checkpointer, sql::Error> {
        Self::start_with(path, RESTART_FRAMES)
    }

    /// [`Checkpointer::start`], restarting the WAL past `restart_frames`.
    fn start_with(path: &Path, restart_frames: i64) -> Result<Checkpointer, sql::Error> {
        let conn = Conn::open(path)?;
        conn.busy_timeout(RESTART_WAIT)?;
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("state-checkpoint".into())
            .spawn(move || loop {
                match stopped.recv_timeout(INTERVAL) {
                    Err(RecvTimeoutError::Timeout) => checkpoint(&conn, restart_frames),
                    // The state machine is gone: a last checkpoint, then stop.
                    _ => return checkpoint(&conn, restart_frames),
                }
            })
            .map_err(|e| sql::Error::ToSqlConversionFailure(Box::new(e)))?;
        Ok(Checkpointer { _stop: stop })
    }
}

fn checkpoint(conn: &Conn, restart_frames: i64) {
    match run(conn, "PASSIVE") {
        Ok((_, frames, _)) if frames > restart_frames => {
            if let Err(e) = run(conn, "RESTART") {
                tracing::debug!(error = %e, "state.db WAL restart failed; retrying in a second");
            }
        }
        Ok(_) => {}
        Err(e) => tracing::debug!(error = %e, "state.db checkpoint failed; retrying in a second"),
    }
}

/// One checkpoint in `mode`: (busy, WAL frames, frames copied). A busy or partial pass is
/// retried next interval.
fn run(conn: &Conn, mode: &str) -> Result<(i64, i64, i64), sql::Error> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes with autocheckpoint off leave frames in the WAL; the checkpointer copies them
    /// into the database file within an interval or two.
    #[test]
    fn checkpoints_the_wal_in_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let writer = Conn::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
                 CREATE TABLE t(x BLOB); INSERT INTO t VALUES(zeroblob(100000));",
            )
            .unwrap();
        let db_len = || std::fs::metadata(&path).unwrap().len();
        assert!(db_len() < 50_000, "nothing is checkpointed yet");
        let _c = Checkpointer::start(&path).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while db_len() < 100_000 {
            assert!(
                std::time::Instant::now() < deadline,
                "the WAL was never checkpointed"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Under writes that never pause (and a reader alongside), the WAL still starts over:
    /// PASSIVE passes alone let it grow by everything written.
    #[test]
    fn sustained_writes_do_not_grow_the_wal_without_bound() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let writer = Conn::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; PRAGMA synchronous = OFF;
                 PRAGMA journal_size_limit = 1048576; CREATE TABLE t(k INTEGER PRIMARY KEY, x BLOB);",
            )
            .unwrap();
        writer.busy_timeout(Duration::from_secs(10)).unwrap();
        let reader = Conn::open(&path).unwrap();
        let _c = Checkpointer::start_with(&path, 64).unwrap();
        let wal = dir.path().join("state.db-wal");
        let (mut written, mut largest) = (0u64, 0u64);
        // At least 32 MB over eight checkpoint intervals, rewriting the same 500 rows. The
        // WAL may hold an interval or two of writes; without restarts it holds them all.
        let started = std::time::Instant::now();
        for k in 0.. {
            if written >= 32 << 20 && started.elapsed() > 8 * INTERVAL {
                break;
            }
            writer
                .execute(
                    "INSERT OR REPLACE INTO t VALUES(?, zeroblob(8000))",
                    [k % 500],
                )
                .unwrap();
            let _: i64 = reader
                .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
                .unwrap();
            written += 8000;
            largest = largest.max(std::fs::metadata(&wal).unwrap().len());
        }
        assert!(
            largest < written / 2,
            "the WAL reached {largest} bytes for {written} bytes written"
        );
    }
}

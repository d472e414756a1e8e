//! WAL checkpoints of state.db on a thread of their own, off the writer's path.
//!
//! SQLite's default checkpoints inside the commit that crosses 1,000 WAL pages: on the one
//! writer thread every write waits for, so a burst of `device add` paid ~8% of the node's
//! CPU and a latency spike on that commit (`vpnkeeper bench`, perf). Here the writer never
//! checkpoints (`wal_autocheckpoint = 0`); this thread runs a PASSIVE checkpoint every
//! [`INTERVAL`] on its own connection. PASSIVE never waits for the writer or readers: what
//! it cannot copy now it copies next time, and a burst rewriting the same pages over and
//! over is copied once per interval instead of once per 1,000 pages.

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::Duration;

use crate::sql::{self, Conn};

/// Time between checkpoints: the WAL holds at most about this long of writes.
const INTERVAL: Duration = Duration::from_secs(1);

/// Runs checkpoints until dropped (dropping closes the channel the thread waits on).
pub(crate) struct Checkpointer {
    _stop: Sender<()>,
}

impl Checkpointer {
    pub(crate) fn start(path: &Path) -> Result<Checkpointer, sql::Error> {
        let conn = Conn::open(path)?;
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("state-checkpoint".into())
            .spawn(move || loop {
                match stopped.recv_timeout(INTERVAL) {
                    Err(RecvTimeoutError::Timeout) => checkpoint(&conn),
                    // The state machine is gone: a last checkpoint, then stop.
                    _ => return checkpoint(&conn),
                }
            })
            .map_err(|e| sql::Error::ToSqlConversionFailure(Box::new(e)))?;
        Ok(Checkpointer { _stop: stop })
    }
}

fn checkpoint(conn: &Conn) {
    // (busy, WAL frames, frames copied); a busy or partial pass is retried next interval.
    let r = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, i64>(1)?,
            row.get::<_, i64>(2)?,
        ))
    });
    if let Err(e) = r {
        tracing::debug!(error = %e, "state.db checkpoint failed; retrying in a second");
    }
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
}

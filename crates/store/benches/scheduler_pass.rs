//! The lifecycle scheduler's pass over 100,000 users (issue #15; goal < 50 ms): what
//! `vpnkeeper`'s `scheduler::pass` does before it proposes anything — read the users whose
//! status can change by time (`ReadStore::lifecycle_rows`), then `domain::schedule::
//! due_events` at "now". Proposing the few due events is one Raft write per batch and is
//! measured by the write-path benchmarks, not here.
//!
//! `cargo bench -p vpnkeeper-store --bench scheduler_pass`. Prints figures; never fails on
//! timing. `VPNKEEPER_BENCH_USERS=N` changes the user count.
//!
//! The users are a realistic mix written straight into a fresh state database: everyone on
//! a plan with an expiry within 30 days; resets by month, day of month, month_rolling,
//! week and none; 1% expired and not yet marked; 2% on hold; 1% whose period is due.

use std::time::{Duration, Instant};

use vpnkeeper_domain::schedule::due_events;

const DAY_MS: i64 = 86_400_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The users in one transaction, shaped as `AssignPlan` would leave them.
fn populate(db: &std::path::Path, users: i64, now: i64) {
    let mut conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    let tx = conn.transaction().unwrap();
    {
        let mut stmt = tx
            .prepare(
                "INSERT INTO users (id, name, sub_token, created_at, updated_at, status, expires_at,
                    plan_id, plan_started_at, reset_strategy, reset_day, period_start,
                    on_hold_days, on_hold_timeout, traffic_limit_bytes)
                 VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, 1, ?7, ?8, ?9, ?10, ?11, ?12, 10737418240)",
            )
            .unwrap();
        for id in 1..=users {
            let started = now - (id % 30) * DAY_MS;
            let (strategy, day) = match id % 5 {
                0 => ("month", None),
                1 => ("day_of_month", Some(1 + id % 31)),
                2 => ("month_rolling", None),
                3 => ("week", None),
                _ => ("no_reset", None),
            };
            // The current period began within the hour (its reset was applied), except for
            // 1% whose reset is due.
            let period = if id % 100 == 7 {
                started - 40 * DAY_MS
            } else {
                now - 3_600_000
            };
            let (status, expires, hold_days, hold_timeout) = match id % 100 {
                // Expired a minute ago, not yet marked.
                0 => ("active", Some(now - 60_000), None, None),
                1 | 2 => ("on_hold", None, Some(30), Some(now + (id % 7) * DAY_MS)),
                _ => ("active", Some(started + 30 * DAY_MS), None, None),
            };
            stmt.execute(rusqlite::params![
                id,
                format!("user{id}"),
                format!("token-{id:012}"),
                started,
                status,
                expires,
                started,
                strategy,
                day,
                period,
                hold_days,
                hold_timeout,
            ])
            .unwrap();
        }
    }
    tx.commit().unwrap();
}

fn main() {
    let users: i64 = std::env::var("VPNKEEPER_BENCH_USERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let (_log, _sm, read) = vpnkeeper_store::open(dir.path()).await.unwrap();
        let now = now_ms();
        populate(&dir.path().join("state.db"), users, now);

        let mut times = Vec::new();
        let mut reads = Vec::new();
        let mut rows_seen = 0;
        let mut due = 0;
        for _ in 0..21 {
            let t = Instant::now();
            let rows = read.lifecycle_rows().await.unwrap();
            reads.push(t.elapsed());
            let events = due_events(&rows, now_ms());
            times.push(t.elapsed());
            rows_seen = rows.len();
            due = events.len();
        }
        reads.sort();
        // The first pass warms SQLite's page cache; the scheduler's steady state is warm.
        let cold = times.remove(0);
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "scheduler pass over {users} users ({rows_seen} rows read, {due} events due): \
             cold {:.1} ms; warm p50 {:.1} ms, max {:.1} ms over {} passes (goal < 50 ms)",
            ms(cold),
            ms(times[times.len() / 2]),
            ms(*times.last().unwrap()),
            times.len()
        );
        println!(
            "  of which reading the rows: p50 {:.1} ms; due_events: the rest",
            ms(reads[reads.len() / 2])
        );
        read.close().await;
    });
}

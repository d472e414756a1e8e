//! The lifecycle scheduler's pass over 100,000 users (issue #15; goal < 50 ms): what
//! `vpnkeeper`'s `scheduler::pass` does before it proposes anything — read the users whose
//! next due time has come (`ReadStore::due_rows`, a range on the partial index of
//! `users.next_due_ms`), then `domain::schedule::plan_pass` at "now". Proposing the few due
//! events is one Raft write per batch and is measured by the write-path benchmarks, not here.
//!
//! `cargo bench -p vpnkeeper-store --bench scheduler_pass`. Prints figures; never fails on
//! timing. `VPNKEEPER_BENCH_USERS=N` changes the user count.
//!
//! The users are a realistic mix written straight into a fresh state database: everyone on
//! a plan with an expiry within 30 days; resets by month, day of month, month_rolling,
//! week and none; 1% expired and not yet marked; 2% on hold; 1% whose period is due; every
//! user has a Telegram chat and a 10 GiB quota. `next_due_ms` is what apply would store
//! (`domain::schedule::next_due_ms`).

use std::time::{Duration, Instant};

use vpnkeeper_domain::command::reminder::{due_reminders, Reminded};
use vpnkeeper_domain::reset::ResetStrategy;
use vpnkeeper_domain::schedule::{next_due_ms, plan_pass, LifecycleRow};

const DAY_MS: i64 = 86_400_000;
const QUOTA: i64 = 10 << 30;

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
                    on_hold_days, on_hold_timeout, traffic_limit_bytes, telegram_id, next_due_ms)
                 VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, 1, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            )
            .unwrap();
        let mut sent = tx
            .prepare(
                "INSERT INTO user_reminders (user_id, kind, period, sent_at) VALUES (?1, ?2, ?3, ?4)",
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
            let mut row = LifecycleRow {
                user_id: id,
                status: status.into(),
                expires_at_ms: expires,
                on_hold_timeout_ms: hold_timeout,
                reset_strategy: ResetStrategy::parse(strategy).unwrap(),
                reset_day: day.map(|d| d as u8),
                plan_started_at_ms: Some(started),
                period_start_ms: period,
                telegram: true,
                traffic_limit_bytes: Some(QUOTA),
                used_bytes: 0,
                reminded: Reminded::default(),
            };
            // Steady state: the reminders whose window is open went out already (recorded
            // after the user row, which they reference).
            let sent_now = due_reminders(id, &row.reminder_inputs(), now);
            for r in &sent_now {
                row.reminded.set(r.kind, r.period_ms);
            }
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
                QUOTA,
                1_000_000_000 + id,
                next_due_ms(&row, now),
            ])
            .unwrap();
            for r in sent_now {
                sent.execute(rusqlite::params![id, r.kind.as_str(), r.period_ms, now])
                    .unwrap();
            }
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
            let now = now_ms();
            let rows = read.due_rows(now).await.unwrap();
            reads.push(t.elapsed());
            let pass = plan_pass(&rows, now);
            times.push(t.elapsed());
            rows_seen = rows.len();
            due = pass.events.len() + pass.reminders.len();
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
            "  of which reading the rows: p50 {:.1} ms; plan_pass: the rest",
            ms(reads[reads.len() / 2])
        );
        read.close().await;
    });
}

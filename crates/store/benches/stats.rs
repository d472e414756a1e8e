//! The admin stats (`ReadStore::admin_stats`, behind `GET /api/v1/stats` and the bot's stats
//! screen) over 100,000 users and 200,000 devices (issue #15; goal < 5 ms p50).
//!
//! `cargo bench -p vpnkeeper-store --bench stats`. Prints figures; never fails on timing.
//! `VPNKEEPER_BENCH_USERS=N` changes the user count (devices are twice as many).
//!
//! The state is written straight into a fresh state database, so migration 0036's triggers
//! keep the aggregates as apply's writes would. A realistic mix: users created over a year
//! (about 2% in the last week), 72% active, 12% expired, 5% limited, 3% on hold, 8%
//! disabled; two devices each over 5 nodes, 10% revoked; 35% of devices with a handshake in
//! the last 24 hours; 60 days of per-node traffic. Before timing, the figures are checked
//! against full scans of the same rows (the triggers must agree with the data).

use std::time::{Duration, Instant};

use vpnkeeper_store::stats_queries::{today_and_month_start, AdminStats};

const DAY_MS: i64 = 86_400_000;
const NODES: i64 = 5;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn status_of(id: i64) -> &'static str {
    match id % 100 {
        0..=71 => "active",
        72..=83 => "expired",
        84..=88 => "limited",
        89..=91 => "on_hold",
        _ => "disabled",
    }
}

fn populate(db: &std::path::Path, users: i64, now: i64) {
    let mut conn = rusqlite::Connection::open(db).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    let tx = conn.transaction().unwrap();
    for n in 1..=NODES {
        tx.execute(
            "INSERT INTO nodes (id, name, raft_addr, api_addr, public_host, created_at, updated_at, online)
             VALUES (?1, ?2, '', '', ?2, ?3, ?3, ?4)",
            rusqlite::params![n, format!("node{n}"), now, (n != NODES) as i64],
        )
        .unwrap();
    }
    {
        let mut user = tx
            .prepare(
                "INSERT INTO users (id, name, sub_token, created_at, updated_at, status, enabled)
                 VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6)",
            )
            .unwrap();
        let mut device = tx
            .prepare(
                "INSERT INTO devices (id, uuid, user_id, node_id, name, device_type, protocol,
                    created_at, revoked_at, last_handshake_at, rx_bytes, tx_bytes)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'phone', 'awg', ?6, ?7, ?8, 1000, 2000)",
            )
            .unwrap();
        for id in 1..=users {
            // Spread over a year; the hash-like stride avoids lining up with the status mix.
            let created = now - ((id * 7_919) % 365) * DAY_MS - (id % 1000) * 1000;
            let status = status_of(id);
            user.execute(rusqlite::params![
                id,
                format!("user{id}"),
                format!("token-{id:012}"),
                created,
                status,
                (status != "disabled") as i64,
            ])
            .unwrap();
            for k in 0..2 {
                let dev = id * 2 + k;
                let revoked = (dev % 10 == 3).then_some(now - DAY_MS);
                let handshake = match dev % 20 {
                    0..=6 => Some(now - (dev % 23) * 3_600_000),
                    7..=15 => Some(now - (2 + dev % 30) * DAY_MS),
                    _ => None,
                };
                device
                    .execute(rusqlite::params![
                        dev,
                        format!("00000000-0000-4000-8000-{dev:012}"),
                        id,
                        1 + dev % NODES,
                        format!("d{k}"),
                        created,
                        revoked,
                        handshake,
                    ])
                    .unwrap();
            }
        }
    }
    let (today, _) = today_and_month_start(now);
    for n in 1..=NODES {
        for day in today - 59..=today {
            tx.execute(
                "INSERT INTO node_usage_daily (node_id, day, rx_bytes, tx_bytes) VALUES (?1, ?2, ?3, ?4)",
                rusqlite::params![n, day, 1_000_000_000 * n + day, 3_000_000_000 * n + day],
            )
            .unwrap();
        }
    }
    tx.commit().unwrap();
}

/// The same figures by full scans: what the aggregates must equal.
fn check(db: &std::path::Path, now: i64, s: &AdminStats) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let one = |sql: &str, p: i64| -> i64 { conn.query_row(sql, [p], |r| r.get(0)).unwrap() };
    for (status, n) in &s.users_by_status {
        let scanned: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM users WHERE status = ?1",
                [status.as_str()],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(*n, scanned, "{status:?}");
    }
    assert_eq!(s.users_total, one("SELECT COUNT(*) + ?1 FROM users", 0));
    let active = one(
        "SELECT COUNT(DISTINCT user_id) FROM devices WHERE last_handshake_at >= ?1",
        now - DAY_MS,
    );
    assert_eq!(s.active_users_24h, active);
    let created = |since: i64| one("SELECT COUNT(*) FROM users WHERE created_at >= ?1", since);
    assert_eq!(s.new_users_24h, created(now - DAY_MS));
    assert_eq!(s.new_users_7d, created(now - 7 * DAY_MS));
    for node in &s.nodes {
        let devices = one(
            "SELECT COUNT(*) FROM devices WHERE node_id = ?1 AND revoked_at IS NULL",
            node.node_id as i64,
        );
        assert_eq!(node.devices, devices, "node {}", node.node_id);
    }
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
        let db = dir.path().join("state.db");
        populate(&db, users, now);

        let first = read.admin_stats(now).await.unwrap();
        check(&db, now, &first);

        let mut times = Vec::new();
        for _ in 0..51 {
            let t = Instant::now();
            let stats = read.admin_stats(now_ms()).await.unwrap();
            times.push(t.elapsed());
            std::hint::black_box(stats);
        }
        // The first read warms SQLite's page cache; stats are read again and again.
        let cold = times.remove(0);
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "admin stats over {users} users / {} devices / {NODES} nodes: cold {:.2} ms; \
             warm p50 {:.2} ms, p90 {:.2} ms, max {:.2} ms over {} reads (goal < 5 ms p50)",
            users * 2,
            ms(cold),
            ms(times[times.len() / 2]),
            ms(times[times.len() * 9 / 10]),
            ms(*times.last().unwrap()),
            times.len()
        );
        println!(
            "  figures: {} users ({:?}), {} new in 24 h, {} in 7 d, {} active in 24 h",
            first.users_total,
            first.users_by_status,
            first.new_users_24h,
            first.new_users_7d,
            first.active_users_24h
        );
        read.close().await;
    });
}

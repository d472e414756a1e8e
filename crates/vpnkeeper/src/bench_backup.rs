//! `vpnkeeper bench-backup`: backup and restore time and file size at 100,000 users and
//! 200,000 devices (issue #18's benchmark), on the real code paths:
//! - a node directory made by `init`, then users and devices written straight into its
//!   state database in one transaction, shaped as `CreateUser`/`IssueDevice` leave them (one
//!   WireGuard device with sealed keys and an address, one VLESS device per user), because
//!   proposing 300,000 commands would measure the write path instead;
//! - **backup**: `make_backup_file` (the state machine's `VACUUM INTO` copy, counted and
//!   sealed with the cluster key: what `GET /api/v1/backup` and the scheduled backups run)
//!   and the 0600 write;
//! - **restore**: `restore::open` (read, decrypt, checksum) and `restore::restore` (a new
//!   one-voter cluster, the snapshot install, the node's registration, an admin key) into a
//!   new directory, then the restored counts are checked.
//!
//! Prints figures; never fails on timing. Timing on a shared machine is noisy: say so.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::config::Config;

pub struct BenchBackupArgs {
    pub users: usize,
    pub devices: usize,
}

fn free_addr() -> Result<std::net::SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// A node config for the bench: no data plane, a pool wide enough for every device.
fn bench_config(name: &str) -> Result<Config> {
    let mut config = Config::default();
    config.node.name = name.to_string();
    config.wireguard.backend = "none"
        .parse()
        .map_err(|e| anyhow::anyhow!("backend: {e}"))?;
    config.wireguard.address_pool = "10.64.0.0/13".parse()?;
    config.api.listen = free_addr()?;
    config.raft.listen = free_addr()?;
    config.check_all()?;
    Ok(config)
}

pub async fn run(args: BenchBackupArgs) -> Result<()> {
    if args.devices > args.users * 2 || args.users == 0 {
        bail!("--devices must be at most twice --users (one WireGuard and one VLESS device each)");
    }
    // Under the current directory, not /tmp (a tmpfs would flatter the figures).
    let dir = tempfile::Builder::new()
        .prefix("vpnkeeper-bench-backup-")
        .tempdir_in(".")?;
    let data = dir.path().join("data");
    crate::init::init(&data, &bench_config("bench-source")?).await?;
    let t = Instant::now();
    populate(&data.join("state.db"), args.users, args.devices)?;
    let state_mb = mb(std::fs::metadata(data.join("state.db"))?.len());
    println!(
        "seeded {} users and {} devices in {:.1} s (state.db {state_mb:.1} MB)",
        args.users,
        args.devices,
        t.elapsed().as_secs_f64()
    );

    let file = dir.path().join("bench.vkbackup");
    let backup_time = backup(&data, &file).await?;
    let size = std::fs::metadata(&file)?.len();
    println!(
        "backup: {:.2} s, file {:.1} MB ({} bytes; state copy, count, seal, 0600 write)",
        backup_time.as_secs_f64(),
        mb(size),
        size
    );

    let target = dir.path().join("restored");
    let (open_time, restore_time) = restore(&data, &file, &target).await?;
    let (users, devices) = counts(&target.join("state.db"))?;
    if users != args.users as i64 || devices != args.devices as i64 {
        bail!("the restored node has {users} users and {devices} devices, not what was backed up");
    }
    println!(
        "restore: {:.2} s in all (open + decrypt + checksum {:.2} s; new cluster, snapshot install, registration {:.2} s); {users} users and {devices} devices restored",
        (open_time + restore_time).as_secs_f64(),
        open_time.as_secs_f64(),
        restore_time.as_secs_f64()
    );
    Ok(())
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

/// Users `user-N`, each with a WireGuard device (address, public key, sealed private key
/// and preshared key) and, up to `devices`, a VLESS device.
fn populate(db: &Path, users: usize, devices: usize) -> Result<()> {
    let mut conn = rusqlite::Connection::open(db)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let tx = conn.transaction()?;
    let now = vpnkeeper_store::now_ms();
    tx.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
         INSERT INTO users (name, sub_token, created_at, updated_at, traffic_limit_bytes, expires_at)
         SELECT 'user-' || i, lower(hex(randomblob(16))), ?2, ?2, 107374182400, ?2 + 2592000000 FROM n",
        rusqlite::params![users as i64, now],
    )?;
    let wg = users.min(devices);
    // 10.64.0.2 on: one address each, as the pool cursor hands them out.
    tx.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
         INSERT INTO devices (uuid, user_id, node_id, name, device_type, protocol, wg_public_key,
                              wg_private_key, wg_psk, address_v4, created_at, rx_bytes, tx_bytes)
         SELECT lower(hex(randomblob(16))), u.id, 1, 'laptop', 'laptop', 'wireguard',
                substr(hex(randomblob(32)), 1, 43) || '=',
                'v1.' || hex(randomblob(36)), 'v1.' || hex(randomblob(36)),
                ?2 + i, ?3, i * 1000, i * 100
         FROM n JOIN users u ON u.name = 'user-' || n.i",
        rusqlite::params![wg as i64, 0x0A40_0001_i64, now],
    )?;
    tx.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
         INSERT INTO devices (uuid, user_id, node_id, name, device_type, protocol, created_at)
         SELECT lower(hex(randomblob(16))), u.id, 1, 'phone', 'phone', 'vless', ?2
         FROM n JOIN users u ON u.name = 'user-' || n.i",
        rusqlite::params![(devices - wg) as i64, now],
    )?;
    tx.commit()?;
    Ok(())
}

/// The scheduled backups' path: copy, count and seal the state, write the file 0600.
async fn backup(data: &Path, out: &Path) -> Result<Duration> {
    let secret = crate::secret_files::read_cluster_secret(data)?;
    let (log, sm, read) = vpnkeeper_store::open(data).await?;
    let source = vpnkeeper_api::state::BackupSource {
        secret,
        scratch_dir: data.join("snapshots"),
    };
    let t = Instant::now();
    let file = vpnkeeper_api::make_backup_file(&read, &source)
        .await
        .context("making the backup")?;
    crate::backup::write_private(out, &file)?;
    let took = t.elapsed();
    read.close().await;
    drop((log, sm));
    Ok(took)
}

/// `vpnkeeper restore` in-process: (open time, restore time).
async fn restore(data: &Path, file: &Path, target: &Path) -> Result<(Duration, Duration)> {
    let t = Instant::now();
    let (state_db, secret) = crate::restore::open(&crate::restore::RestoreFrom {
        file: file.to_path_buf(),
        passphrase_file: None,
        cluster_key: Some(data.join(crate::secret_files::CLUSTER_KEY_FILE)),
    })?;
    let opened = t.elapsed();
    let config = bench_config("bench-restored")?;
    let t = Instant::now();
    crate::restore::restore(target, &config, state_db, secret).await?;
    Ok((opened, t.elapsed()))
}

fn counts(db: &Path) -> Result<(i64, i64)> {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let users = c.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?;
    let devices = c.query_row(
        "SELECT COUNT(*) FROM devices WHERE revoked_at IS NULL",
        [],
        |r| r.get(0),
    )?;
    Ok((users, devices))
}

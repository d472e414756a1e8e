//! Reads a Marzban SQLite database (`/var/lib/marzban/db.sqlite3`), read-only.
//!
//! Schema as in Gozargah/Marzban `app/db/models.py`: `users(id, username, status,
//! used_traffic, data_limit, expire, sub_revoked_at, …)` (status is the enum's name:
//! active, disabled, limited, expired, on_hold; expire in unix seconds; 0/NULL = never),
//! `proxies(user_id, type, settings)` (type `VLESS`, settings JSON with the client `id`),
//! and `jwt(secret_key)`, the secret subscription tokens are signed with.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use rusqlite::{Connection, OpenFlags};
use serde_json::{json, Value};

use super::{usable_name, ImportPlan};

/// One Marzban user with what carries over (from its database or its REST API).
pub(super) struct MarzbanUser {
    pub username: String,
    /// The status enum's name: active, disabled, limited, expired, on_hold.
    pub status: String,
    pub used_traffic: i64,
    /// Bytes; 0 or absent = unlimited.
    pub data_limit: Option<i64>,
    /// Unix seconds; 0 or absent = never.
    pub expire: Option<i64>,
    /// When the user's subscription URLs were last revoked (SQLAlchemy DateTime text).
    pub sub_revoked_at: Option<String>,
}

pub fn read(db: &Path, secret: Option<String>) -> Result<ImportPlan> {
    if !db.is_file() {
        bail!("{}: no such file; give Marzban's database with --db (usually /var/lib/marzban/db.sqlite3)", db.display());
    }
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("opening {}", db.display()))?;
    let not_marzban = |e: rusqlite::Error| {
        anyhow::anyhow!(
            "{} does not look like a Marzban database ({e}); give the panel's db.sqlite3",
            db.display()
        )
    };
    let mut notes = Vec::new();
    let legacy_secret = match secret {
        Some(s) => Some(s),
        None => match conn.query_row("SELECT secret_key FROM jwt LIMIT 1", [], |r| r.get(0)) {
            Ok(s) => Some(s),
            Err(_) => {
                notes.push("no jwt.secret_key in the database and no --secret: old subscription URLs will not be accepted".into());
                None
            }
        },
    };
    let mut uuids = vless_uuids(&conn).map_err(not_marzban)?;
    let users = users(&conn).map_err(not_marzban)?;
    let users = users
        .into_iter()
        .map(|u| {
            let uuid = uuids.remove(&u.username);
            (u, uuid)
        })
        .collect();
    Ok(plan(users, legacy_secret, notes))
}

/// The import of Marzban users (each with its VLESS client UUID, if any): the one mapping
/// both the database and the REST API readers use.
pub(super) fn plan(
    users: Vec<(MarzbanUser, Option<String>)>,
    legacy_secret: Option<String>,
    mut notes: Vec<String>,
) -> ImportPlan {
    let mut out = Vec::with_capacity(users.len());
    for (u, uuid) in &users {
        out.push(user_json(u, uuid.as_ref(), &mut notes));
    }
    ImportPlan {
        source: "marzban",
        legacy_secret,
        server: None,
        users: out,
        notes,
    }
}

fn users(conn: &Connection) -> rusqlite::Result<Vec<MarzbanUser>> {
    let mut stmt = conn.prepare(
        "SELECT username, status, COALESCE(used_traffic, 0), data_limit, expire, sub_revoked_at FROM users ORDER BY id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(MarzbanUser {
            username: r.get(0)?,
            status: r.get(1)?,
            used_traffic: r.get(2)?,
            data_limit: r.get(3)?,
            expire: r.get(4)?,
            sub_revoked_at: r.get(5)?,
        })
    })?;
    rows.collect()
}

/// Username → VLESS client UUID.
fn vless_uuids(conn: &Connection) -> rusqlite::Result<HashMap<String, String>> {
    let mut stmt = conn.prepare(
        "SELECT u.username, p.settings FROM proxies p JOIN users u ON u.id = p.user_id WHERE upper(p.type) = 'VLESS'",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut out = HashMap::new();
    for row in rows {
        let (user, settings) = row?;
        let id = serde_json::from_str::<Value>(&settings)
            .ok()
            .and_then(|v| v["id"].as_str().map(str::to_string));
        if let Some(id) = id {
            out.insert(user, id);
        }
    }
    Ok(out)
}

fn user_json(u: &MarzbanUser, uuid: Option<&String>, notes: &mut Vec<String>) -> Value {
    let name = usable_name("marzban", &u.username);
    if name != u.username {
        notes.push(format!(
            "user `{}` is imported as `{name}` (vpnkeeper names cannot be plain numbers)",
            u.username
        ));
    }
    let devices = match uuid {
        Some(id) => vec![json!({
            "name": "vless",
            "protocol": "vless",
            "uuid": id,
            "rx_bytes": u.used_traffic.max(0),
        })],
        None => {
            notes.push(format!(
                "user `{}` has no VLESS proxy: imported without devices (used traffic not carried)",
                u.username
            ));
            vec![]
        }
    };
    json!({
        "name": name,
        // `limited` and `expired` follow from the quota and expiry; only `disabled` is a switch.
        "enabled": u.status != "disabled",
        "expires_at_ms": u.expire.filter(|e| *e > 0).map(|e| e * 1000),
        "traffic_limit_bytes": u.data_limit.filter(|l| *l > 0),
        "legacy_name": u.username,
        "legacy_revoked_before_ms": u.sub_revoked_at.as_deref().and_then(datetime_ms),
        "devices": devices,
    })
}

/// SQLAlchemy's SQLite DateTime text (`YYYY-MM-DD HH:MM:SS[.ffffff]`, UTC) as unix ms.
pub fn datetime_ms(text: &str) -> Option<i64> {
    let (date, time) = text.trim().split_once([' ', 'T'])?;
    let mut d = date.split('-').map(|p| p.parse::<i64>());
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':').map(|p| p.parse::<i64>());
    let (h, min, s) = (t.next()?.ok()?, t.next()?.ok()?, t.next()?.ok()?);
    let ms: i64 = format!("{:0<3}", &frac[..frac.len().min(3)]).parse().ok()?;
    Some(((days_from_civil(y, m, day) * 24 + h) * 60 + min) * 60_000 + s * 1000 + ms)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlalchemy_datetimes_read_as_unix_ms() {
        assert_eq!(datetime_ms("1970-01-01 00:00:00"), Some(0));
        assert_eq!(datetime_ms("2023-11-14 22:13:20"), Some(1_700_000_000_000));
        assert_eq!(
            datetime_ms("2023-11-14 22:13:20.250000"),
            Some(1_700_000_000_250)
        );
        assert_eq!(datetime_ms("garbage"), None);
    }
}

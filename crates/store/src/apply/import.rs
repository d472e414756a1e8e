//! Imports from other panels: users with their devices, the old panel's subscription secret,
//! the old server's WireGuard identity. Every apply is an upsert keyed by what the customer's
//! client already holds (user name, VLESS UUID, WireGuard public key), so re-running an
//! import changes nothing.

use std::net::Ipv4Addr;

use vpnkeeper_domain::command::import::{
    ImportSource, ImportedDevice, ImportedServerKey, ImportedUser,
};
use vpnkeeper_domain::secrets::Sealed;
use vpnkeeper_domain::{Applied, CommandError, NodeId, NodeWireguard};

use super::{refuse_at, Applying, Effect, Failure};
use crate::change::Change;
use crate::sql::{self, Conn};

/// Creates the user or brings them in line with the source, then their devices.
pub(super) fn user(conn: &Conn, at: i64, u: &ImportedUser, changes: &mut Vec<Change>) -> Applying {
    let id = upsert_user(conn, at, u)?;
    let target = Some(format!("user:{id}"));
    if let Some(legacy) = &u.legacy_name {
        sql::query(
            "INSERT INTO legacy_sub_users(source, legacy_name, user_id, sub_token, revoked_before)
             VALUES(?, ?, ?, (SELECT sub_token FROM users WHERE id = ?), ?)
             ON CONFLICT(source, legacy_name) DO UPDATE SET user_id = excluded.user_id,
               sub_token = excluded.sub_token, revoked_before = excluded.revoked_before",
        )
        .bind(u.source.as_str())
        .bind(legacy)
        .bind(id)
        .bind(id)
        .bind(u.legacy_revoked_before_ms)
        .execute(conn)?;
    }
    for d in &u.devices {
        device(conn, at, id, d, changes).map_err(|f| match f {
            Failure::Refused { error, .. } => refuse_at(&target, error),
            other => other,
        })?;
    }
    // Enabled, expiry and quota decide whether the user's peers belong on the data planes.
    let nodes: Vec<i64> = sql::query_scalar(
        "SELECT DISTINCT node_id FROM devices WHERE user_id = ? AND revoked_at IS NULL",
    )
    .bind(id)
    .fetch_all(conn)?;
    changes.extend(nodes.into_iter().map(|n| Change::Devices {
        node_id: n as NodeId,
    }));
    Ok(Effect::new(Applied::User { id }, target))
}

/// The user's id; their row is created or updated only where it differs from the source.
fn upsert_user(conn: &Conn, at: i64, u: &ImportedUser) -> Result<i64, Failure> {
    let existing: Option<i64> = sql::query_scalar("SELECT id FROM users WHERE name = ?")
        .bind(&u.name)
        .fetch_optional(conn)?;
    let id = match existing {
        Some(id) => id,
        None => {
            let token_taken: Option<i64> =
                sql::query_scalar("SELECT id FROM users WHERE sub_token = ?")
                    .bind(&u.sub_token)
                    .fetch_optional(conn)?;
            if token_taken.is_some() {
                return Err(super::refuse(CommandError::conflict(
                    Some("sub_token"),
                    "subscription token already in use; retry the import",
                )));
            }
            sql::query_scalar(
                "INSERT INTO users(name, enabled, sub_token, created_at, updated_at) VALUES(?, ?, ?, ?, ?) RETURNING id",
            )
            .bind(&u.name)
            .bind(u.enabled)
            .bind(&u.sub_token)
            .bind(at)
            .bind(at)
            .fetch_one(conn)?
        }
    };
    sql::query(
        "UPDATE users SET enabled = ?, expires_at = ?, traffic_limit_bytes = ?, updated_at = ?
         WHERE id = ? AND (enabled IS NOT ? OR expires_at IS NOT ? OR traffic_limit_bytes IS NOT ?)",
    )
    .bind(u.enabled)
    .bind(u.expires_at_ms)
    .bind(u.traffic_limit_bytes)
    .bind(at)
    .bind(id)
    .bind(u.enabled)
    .bind(u.expires_at_ms)
    .bind(u.traffic_limit_bytes)
    .execute(conn)?;
    // The expiry and quota feed the scheduler's due index (remind, migration 0032).
    super::reminder::refresh_next_due(conn, at, id)?;
    Ok(id)
}

/// Inserts one device unless the user already has it (same UUID or WireGuard key).
fn device(
    conn: &Conn,
    at: i64,
    user_id: i64,
    d: &ImportedDevice,
    changes: &mut Vec<Change>,
) -> Result<(), Failure> {
    let owner: Option<i64> = match &d.wg {
        Some(wg) => sql::query_scalar(
            "SELECT user_id FROM devices WHERE wg_public_key = ? AND revoked_at IS NULL",
        )
        .bind(&wg.public_key)
        .fetch_optional(conn)?,
        None => sql::query_scalar("SELECT user_id FROM devices WHERE uuid = ?")
            .bind(d.uuid.to_string())
            .fetch_optional(conn)?,
    };
    match owner {
        Some(o) if o == user_id => return Ok(()),
        Some(o) => {
            return Err(super::refuse(CommandError::conflict(
                Some("devices"),
                format!(
                    "device `{}` (same UUID or WireGuard key) already belongs to user {o}",
                    d.name
                ),
            )))
        }
        None => {}
    }
    let address = node_accepts(conn, d)?;
    let name = free_device_name(conn, user_id, d)?;
    sql::query(
        "INSERT INTO devices(uuid, user_id, node_id, name, device_type, protocol, wg_public_key, wg_private_key, wg_psk, address_v4, created_at, rx_bytes, tx_bytes)
         VALUES(?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?, ?)",
    )
    .bind(d.uuid.to_string())
    .bind(user_id)
    .bind(d.node_id as i64)
    .bind(&name)
    .bind(d.device_type.as_str())
    .bind(d.protocol.as_str())
    .bind(d.wg.as_ref().map(|w| w.public_key.as_str()))
    .bind(d.wg.as_ref().and_then(|w| w.preshared_key.as_ref().map(Sealed::as_str)))
    .bind(address.map(|a| u32::from(a) as i64))
    .bind(at)
    .bind(d.rx_bytes)
    .bind(d.tx_bytes)
    .execute(conn)?;
    changes.push(Change::Devices { node_id: d.node_id });
    Ok(())
}

/// A device name not yet used by the user's active devices of that protocol: the source's
/// name, or the name with ` 2`, ` 3`… appended (old panels allow duplicates).
fn free_device_name(conn: &Conn, user_id: i64, d: &ImportedDevice) -> Result<String, Failure> {
    for n in 1..1000 {
        let name = if n == 1 {
            d.name.clone()
        } else {
            let base: String = d.name.chars().take(58).collect();
            format!("{base} {n}")
        };
        let taken: Option<i64> = sql::query_scalar(
            "SELECT id FROM devices WHERE user_id = ? AND name = ? AND protocol = ? AND revoked_at IS NULL",
        )
        .bind(user_id)
        .bind(&name)
        .bind(d.protocol.as_str())
        .fetch_optional(conn)?;
        if taken.is_none() {
            return Ok(name);
        }
    }
    Err(super::refuse(CommandError::conflict(
        Some("devices.name"),
        format!("too many devices named `{}`", d.name),
    )))
}

/// Checks that the node serves the device's protocol; a WireGuard-family device keeps its
/// address, which must lie in the node's pool and be free.
fn node_accepts(conn: &Conn, d: &ImportedDevice) -> Result<Option<Ipv4Addr>, Failure> {
    let node: Option<(Option<String>, Option<String>)> =
        sql::query_as("SELECT wireguard, xray FROM nodes WHERE id = ?")
            .bind(d.node_id as i64)
            .fetch_optional(conn)?;
    let Some((wg_json, xray)) = node else {
        return Err(super::refuse(CommandError::not_found(format!(
            "node {}",
            d.node_id
        ))));
    };
    let Some(wg) = &d.wg else {
        if xray.is_none() {
            return Err(super::refuse(CommandError::invalid(
                "protocol",
                format!(
                    "node {} does not serve VLESS; enable [xray] on it before importing VLESS users",
                    d.node_id
                ),
            )));
        }
        return Ok(None);
    };
    let node_wg = wg_json.and_then(|j| serde_json::from_str::<NodeWireguard>(&j).ok());
    let Some(node_wg) = node_wg else {
        return Err(super::refuse(CommandError::invalid(
            "protocol",
            format!("node {} does not serve WireGuard/AmneziaWG", d.node_id),
        )));
    };
    let pool = node_wg.address_pool;
    let first_host = pool.hosts().next();
    if !pool.contains(&wg.address_v4) || Some(wg.address_v4) == first_host {
        return Err(super::refuse(CommandError::invalid(
            "devices.wg.address_v4",
            format!(
                "{} is not a client address of node {}'s pool {pool}; set [wireguard] address_pool to the old server's subnet",
                wg.address_v4, d.node_id
            ),
        )));
    }
    let used: Option<i64> = sql::query_scalar(
        "SELECT id FROM devices WHERE node_id = ? AND address_v4 = ? AND revoked_at IS NULL",
    )
    .bind(d.node_id as i64)
    .bind(u32::from(wg.address_v4) as i64)
    .fetch_optional(conn)?;
    if let Some(other) = used {
        return Err(super::refuse(CommandError::conflict(
            Some("devices.wg.address_v4"),
            format!("{} is already used by device {other}", wg.address_v4),
        )));
    }
    Ok(Some(wg.address_v4))
}

/// Stores (or replaces) the secret an old panel signed its subscription tokens with.
pub(super) fn legacy_secret(
    conn: &Conn,
    at: i64,
    source: ImportSource,
    secret: &Sealed,
) -> Applying {
    sql::query(
        "INSERT INTO legacy_sub_secrets(source, secret, updated_at) VALUES(?, ?, ?)
         ON CONFLICT(source) DO UPDATE SET secret = excluded.secret, updated_at = excluded.updated_at",
    )
    .bind(source.as_str())
    .bind(secret.as_str())
    .bind(at)
    .execute(conn)?;
    Ok(Effect::new(
        Applied::Done,
        format!("legacy:{}", source.as_str()),
    ))
}

/// Gives a node the old server's key and AmneziaWG parameters (pool and port stay as the
/// node's config says; the importer checks they match the old server's).
pub(super) fn server_key(
    conn: &Conn,
    at: i64,
    k: &ImportedServerKey,
    changes: &mut Vec<Change>,
) -> Applying {
    let target = Some(format!("node:{}", k.node_id));
    let wg_json: Option<Option<String>> =
        sql::query_scalar("SELECT wireguard FROM nodes WHERE id = ?")
            .bind(k.node_id as i64)
            .fetch_optional(conn)?;
    let Some(mut wg) = wg_json
        .flatten()
        .and_then(|j| serde_json::from_str::<NodeWireguard>(&j).ok())
    else {
        return Err(refuse_at(
            &target,
            CommandError::invalid(
                "node_id",
                format!("node {} does not serve WireGuard/AmneziaWG", k.node_id),
            ),
        ));
    };
    wg.public_key = k.public_key.clone();
    wg.private_key = Some(k.private_key.clone());
    wg.awg = k.awg.clone();
    let json =
        serde_json::to_string(&wg).map_err(|e| sql::Error::ToSqlConversionFailure(Box::new(e)))?;
    sql::query("UPDATE nodes SET wireguard = ?, updated_at = ? WHERE id = ?")
        .bind(json)
        .bind(at)
        .bind(k.node_id as i64)
        .execute(conn)?;
    changes.push(Change::Node { node_id: k.node_id });
    changes.push(Change::Devices { node_id: k.node_id });
    Ok(Effect::new(Applied::Node { id: k.node_id }, target))
}

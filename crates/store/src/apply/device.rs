//! Devices: issue (with address allocation) and revoke.

use vpnkeeper_domain::command::WgMaterial;
use vpnkeeper_domain::{
    Applied, Command, CommandError, Device, DeviceRef, DeviceType, NodeId, NodeWireguard, Protocol,
    UserRef,
};

use super::{refuse, refuse_at, user, Applying, Effect, Failure};
use crate::change::Change;
use crate::sql::{self, Conn};

/// The fields of an `IssueDevice`, borrowed.
struct Issue<'a> {
    user: &'a UserRef,
    node_id: NodeId,
    name: &'a str,
    device_type: DeviceType,
    protocol: Protocol,
    uuid: &'a uuid::Uuid,
    wg: Option<&'a WgMaterial>,
}

impl<'a> Issue<'a> {
    fn of(command: &'a Command) -> Option<Issue<'a>> {
        match command {
            Command::IssueDevice {
                user,
                node_id,
                name,
                device_type,
                protocol,
                uuid,
                wg,
            } => Some(Issue {
                user,
                node_id: *node_id,
                name,
                device_type: *device_type,
                protocol: *protocol,
                uuid,
                wg: wg.as_ref(),
            }),
            _ => None,
        }
    }
}

/// Issues a device, or returns the existing active one with the same user, name and
/// protocol ("asking again returns the same config").
pub(super) fn issue(
    conn: &Conn,
    at: i64,
    command: &Command,
    changes: &mut Vec<Change>,
) -> Applying {
    let a = Issue::of(command).expect("dispatched on IssueDevice");
    let (user_id, enabled) = user::existing(conn, a.user)?;
    let existing: Option<i64> = sql::query_scalar(
        "SELECT id FROM devices WHERE user_id = ? AND name = ? AND protocol = ? AND revoked_at IS NULL",
    )
    .bind(user_id)
    .bind(a.name)
    .bind(a.protocol.as_str())
    .fetch_optional(conn)?;
    if let Some(id) = existing {
        let applied = Applied::Device {
            id,
            created: false,
            device: None,
        };
        return Ok(Effect::new(applied, format!("device:{id}")));
    }
    if !enabled {
        return Err(refuse_at(
            &Some(format!("user:{user_id}")),
            CommandError::conflict(
                Some("user"),
                format!("user {user_id} is disabled; enable the user before issuing devices"),
            ),
        ));
    }
    super::plan::check_device_limit(conn, user_id)?;
    let address = node_serves(conn, &a)?;
    let uuid_taken: Option<i64> = sql::query_scalar("SELECT id FROM devices WHERE uuid = ?")
        .bind(a.uuid.to_string())
        .fetch_optional(conn)?;
    if uuid_taken.is_some() {
        return Err(refuse(CommandError::conflict(
            Some("uuid"),
            "device UUID already in use; retry the request",
        )));
    }
    let id: i64 = sql::query_scalar(
        "INSERT INTO devices(uuid, user_id, node_id, name, device_type, protocol, wg_public_key, wg_private_key, wg_psk, address_v4, created_at)
         VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(a.uuid.to_string())
    .bind(user_id)
    .bind(a.node_id as i64)
    .bind(a.name)
    .bind(a.device_type.as_str())
    .bind(a.protocol.as_str())
    .bind(a.wg.map(|w| w.public_key.as_str()))
    .bind(a.wg.map(|w| w.private_key.as_str()))
    .bind(a.wg.map(|w| w.preshared_key.as_str()))
    .bind(address.map(|a| a as i64))
    .bind(at)
    .fetch_one(conn)?;
    changes.push(Change::Device {
        node_id: a.node_id,
        device_id: id,
    });
    let device = written(&a, id, user_id, address, at);
    let applied = Applied::Device {
        id,
        created: true,
        device: Some(Box::new(device)),
    };
    Ok(Effect::new(applied, format!("device:{id}")))
}

/// The row just inserted, as readers would see it (no read back).
fn written(a: &Issue<'_>, id: i64, user_id: i64, address: Option<u32>, at: i64) -> Device {
    Device {
        id,
        uuid: *a.uuid,
        user_id,
        node_id: a.node_id,
        name: a.name.to_string(),
        device_type: a.device_type,
        protocol: a.protocol,
        wg_public_key: a.wg.map(|w| w.public_key.clone()),
        wg_private_key: a.wg.map(|w| w.private_key.clone()),
        wg_psk: a.wg.map(|w| w.preshared_key.clone()),
        address_v4: address.map(|a| format!("{}/32", std::net::Ipv4Addr::from(a))),
        created_at_ms: at,
        revoked_at_ms: None,
        last_handshake_ms: None,
        rx_bytes: 0,
        tx_bytes: 0,
    }
}

/// Checks that the node exists and serves the protocol; for WireGuard-family devices,
/// allocates the tunnel address (and moves the pool cursor).
fn node_serves(conn: &Conn, a: &Issue<'_>) -> Result<Option<u32>, Failure> {
    let node: Option<(Option<String>, i64)> =
        sql::query_as("SELECT wireguard, pool_cursor FROM nodes WHERE id = ?")
            .bind(a.node_id as i64)
            .fetch_optional(conn)?;
    let Some((wg_json, cursor)) = node else {
        return Err(refuse(CommandError::not_found(format!(
            "node {}",
            a.node_id
        ))));
    };
    let mut address = None;
    if a.protocol.is_wireguard_family() {
        let wg = wg_json.and_then(|j| serde_json::from_str::<NodeWireguard>(&j).ok());
        let pool = wireguard_pool(a, wg)?;
        let Some((addr, next_cursor)) = allocate_address(conn, a.node_id, &pool, cursor)? else {
            return Err(refuse(CommandError::PoolExhausted {
                node_id: a.node_id,
                pool: pool.to_string(),
            }));
        };
        address = Some(addr);
        sql::query("UPDATE nodes SET pool_cursor = ? WHERE id = ?")
            .bind(next_cursor as i64)
            .bind(a.node_id as i64)
            .execute(conn)?;
    }
    if a.protocol == Protocol::Vless {
        let xray: Option<Option<String>> = sql::query_scalar("SELECT xray FROM nodes WHERE id = ?")
            .bind(a.node_id as i64)
            .fetch_optional(conn)?;
        if xray.flatten().is_none() {
            return Err(refuse(CommandError::invalid(
                "protocol",
                format!(
                    "node {} does not serve VLESS; enable [xray] on it or choose protocol `awg`",
                    a.node_id
                ),
            )));
        }
    }
    Ok(address)
}

/// The node's address pool, when the node serves the device's WireGuard flavour.
fn wireguard_pool(a: &Issue<'_>, wg: Option<NodeWireguard>) -> Result<ipnet::Ipv4Net, Failure> {
    let node_id = a.node_id;
    let Some(wg) = wg else {
        return Err(refuse(CommandError::invalid(
            "protocol",
            format!("node {node_id} does not serve WireGuard/AmneziaWG (no [wireguard] settings)"),
        )));
    };
    if a.protocol == Protocol::Wireguard && wg.awg.is_some() {
        // An AmneziaWG interface drops plain WireGuard handshakes (other magic headers),
        // so a `wireguard` config for it would never connect.
        return Err(refuse(CommandError::invalid(
            "protocol",
            format!("node {node_id} serves AmneziaWG; plain WireGuard clients cannot connect to it, use protocol `awg`"),
        )));
    }
    if a.protocol == Protocol::Awg && wg.awg.is_none() {
        return Err(refuse(CommandError::invalid(
            "protocol",
            format!("node {node_id} serves plain WireGuard only; use protocol `wireguard`"),
        )));
    }
    if a.wg.is_none() {
        return Err(refuse(CommandError::invalid(
            "wg",
            "awg/wireguard devices need key material",
        )));
    }
    Ok(wg.address_pool)
}

/// Picks the next free host address of a node's pool, starting at the pool cursor.
///
/// The server takes the first host address; clients get the rest, excluding the broadcast
/// address. Starting from a moving cursor (instead of always the lowest free address) makes
/// allocation O(1) amortised and avoids handing a just-revoked address to the next device.
/// Returns the address and the next cursor, or `None` when the pool is full.
fn allocate_address(
    conn: &Conn,
    node_id: NodeId,
    pool: &ipnet::Ipv4Net,
    cursor: i64,
) -> Result<Option<(u32, u64)>, sql::Error> {
    let Some((first, size)) = client_range(pool) else {
        return Ok(None);
    };
    let start = (cursor.max(0) as u64) % size;
    for step in 0..size {
        // The cursor moves past every address it hands out, so its first candidate is
        // almost always free. Only after a collision is the pool counted (an index range
        // scan, O(devices)) to tell "full" from "keep looking".
        if step == 1 {
            let used: i64 = sql::query_scalar(
                "SELECT COUNT(*) FROM devices WHERE node_id = ? AND revoked_at IS NULL AND address_v4 BETWEEN ? AND ?",
            )
            .bind(node_id as i64)
            .bind(first as i64)
            .bind((first as u64 + size - 1) as i64)
            .fetch_one(conn)?;
            if used as u64 >= size {
                return Ok(None);
            }
        }
        let offset = (start + step) % size;
        let candidate = first + offset as u32;
        let taken: Option<i64> = sql::query_scalar(
            "SELECT 1 FROM devices WHERE node_id = ? AND address_v4 = ? AND revoked_at IS NULL",
        )
        .bind(node_id as i64)
        .bind(candidate as i64)
        .fetch_optional(conn)?;
        if taken.is_none() {
            return Ok(Some((candidate, (offset + 1) % size)));
        }
    }
    Ok(None)
}

/// The first client address and the number of client addresses of a pool.
pub(crate) fn client_range(pool: &ipnet::Ipv4Net) -> Option<(u32, u64)> {
    let network = u32::from(pool.network());
    let broadcast = u32::from(pool.broadcast());
    let first = network.checked_add(2)?;
    let last = broadcast.checked_sub(1)?;
    if last < first {
        return None;
    }
    Some((first, (last - first) as u64 + 1))
}

pub(super) fn revoke(
    conn: &Conn,
    at: i64,
    device: &DeviceRef,
    changes: &mut Vec<Change>,
) -> Applying {
    let row = match device {
        DeviceRef::Id(id) => sql::query("SELECT id, node_id, revoked_at FROM devices WHERE id = ?")
            .bind(id)
            .fetch_optional(conn)?,
        DeviceRef::Uuid(u) => {
            sql::query("SELECT id, node_id, revoked_at FROM devices WHERE uuid = ?")
                .bind(u.to_string())
                .fetch_optional(conn)?
        }
    };
    let Some(row) = row else {
        return Err(refuse(CommandError::not_found(format!("device {device}"))));
    };
    let id: i64 = row.get(0);
    let node_id: i64 = row.get(1);
    let revoked: Option<i64> = row.get(2);
    if revoked.is_none() {
        sql::query("UPDATE devices SET revoked_at = ? WHERE id = ?")
            .bind(at)
            .bind(id)
            .execute(conn)?;
        changes.push(Change::Device {
            node_id: node_id as NodeId,
            device_id: id,
        });
    }
    // Revoking twice is not an error: the device is revoked either way.
    let applied = Applied::Device {
        id,
        created: false,
        device: None,
    };
    Ok(Effect::new(applied, format!("device:{id}")))
}

#[cfg(test)]
mod tests {
    use super::client_range;

    #[test]
    fn client_ranges() {
        let p: ipnet::Ipv4Net = "10.8.0.0/24".parse().unwrap();
        let (first, size) = client_range(&p).unwrap();
        assert_eq!(
            std::net::Ipv4Addr::from(first),
            std::net::Ipv4Addr::new(10, 8, 0, 2)
        );
        assert_eq!(size, 253);
        let p: ipnet::Ipv4Net = "10.8.0.0/30".parse().unwrap();
        assert_eq!(client_range(&p).unwrap().1, 1);
        let p: ipnet::Ipv4Net = "10.8.0.0/31".parse().unwrap();
        assert!(client_range(&p).is_none());
    }
}

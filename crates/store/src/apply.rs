//! Deterministic application of command envelopes to the SQLite state.
//!
//! Each function runs inside the entry's transaction. State-dependent refusals return
//! `Ok(Err(CommandError))` and leave no effect (the nested transaction is rolled back); only
//! database failures return `Err(sql::Error)`, which openraft treats as fatal for the node.

use crate::sql::{self, Conn};
use vpnkeeper_domain::command::{NodeSpec, Update, WgMaterial};
use vpnkeeper_domain::{
    Applied, ApplyOutcome, Command, CommandError, DeviceRef, DeviceType, Envelope, NodeId,
    NodeWireguard, Protocol, UserRef,
};

use crate::state_machine::Change;

pub(crate) fn apply_envelope(
    conn: &Conn,
    env: &Envelope,
    changes: &mut Vec<Change>,
) -> Result<ApplyOutcome, sql::Error> {
    // A savepoint, so a refusal half-way through leaves nothing behind.
    let sp = sql::savepoint(conn)?;
    let mut local_changes = Vec::new();
    let (outcome, target) = run(&sp, env, &mut local_changes)?;
    match &outcome {
        Ok(_) => {
            if env.command.is_audited() {
                audit(&sp, env, target.as_deref(), None)?;
            }
            sp.commit()?;
            changes.extend(local_changes);
        }
        Err(e) => {
            sp.rollback()?;
            // Refusals are audited too: an operator wants to see failed admin actions.
            audit(conn, env, target.as_deref(), Some(&format!("refused: {e}")))?;
        }
    }
    Ok(outcome)
}

pub(crate) fn audit(
    conn: &Conn,
    env: &Envelope,
    target: Option<&str>,
    detail: Option<&str>,
) -> Result<(), sql::Error> {
    sql::query("INSERT INTO audit_log(at, actor, action, target, detail) VALUES(?, ?, ?, ?, ?)")
        .bind(env.at_ms)
        .bind(env.actor.to_string())
        .bind(env.command.action())
        .bind(target)
        .bind(detail)
        .execute(conn)?;
    Ok(())
}

pub(crate) type Step = (ApplyOutcome, Option<String>);

pub(crate) fn run(
    conn: &Conn,
    env: &Envelope,
    changes: &mut Vec<Change>,
) -> Result<Step, sql::Error> {
    let at = env.at_ms;
    match &env.command {
        Command::UpsertNode { node } => upsert_node(conn, at, node, changes),
        Command::CreateUser {
            name,
            telegram_id,
            sub_token,
        } => create_user(conn, at, name, *telegram_id, sub_token),
        Command::SetUserEnabled { user, enabled } => {
            set_user_enabled(conn, at, user, *enabled, changes)
        }
        Command::IssueDevice {
            user,
            node_id,
            name,
            device_type,
            protocol,
            uuid,
            wg,
        } => issue_device(
            conn,
            at,
            IssueArgs {
                user,
                node_id: *node_id,
                name,
                device_type: *device_type,
                protocol: *protocol,
                uuid,
                wg: wg.as_ref(),
            },
            changes,
        ),
        Command::RevokeDevice { device } => revoke_device(conn, at, device, changes),
        Command::RecordUsage { node_id, entries } => record_usage(conn, *node_id, entries),
        Command::TelegramUpdate {
            update_id,
            offset,
            commands,
            outbox,
        } => crate::apply_telegram::telegram_update(
            conn, env, *update_id, *offset, commands, outbox, changes,
        ),
        Command::TelegramDelivered { delivered } => {
            crate::apply_telegram::delivered(conn, at, delivered)
        }
        Command::TelegramChat {
            telegram_id,
            change,
        } => crate::apply_telegram::chat(conn, at, *telegram_id, change),
        Command::TelegramAccessRequest {
            telegram_id,
            display,
        } => crate::apply_telegram::access_request(conn, at, *telegram_id, display),
        Command::TelegramAccessDecision {
            telegram_id,
            approve,
        } => crate::apply_telegram::access_decision(conn, env, *telegram_id, *approve),
        Command::RequestNodeReboot { node_id } => {
            crate::apply_telegram::request_reboot(conn, *node_id)
        }
        Command::StartBroadcast {
            broadcast_id,
            text,
            admin_chat,
        } => crate::apply_telegram::start_broadcast(conn, at, broadcast_id, text, *admin_chat),
        Command::BroadcastProgress {
            broadcast_id,
            cursor,
            sent,
            failed,
            finished,
            notify,
        } => crate::apply_telegram::broadcast_progress(
            conn,
            at,
            crate::apply_telegram::Progress {
                id: broadcast_id,
                cursor: *cursor,
                sent: *sent,
                failed: *failed,
                finished: *finished,
                notify,
            },
        ),
        Command::UpdateUser {
            user,
            name,
            telegram_id,
            expires_at_ms,
            traffic_limit_bytes,
        } => update_user(
            conn,
            at,
            user,
            UserPatch {
                name: name.as_deref(),
                telegram_id: telegram_id.as_ref(),
                expires_at_ms: expires_at_ms.as_ref(),
                traffic_limit_bytes: traffic_limit_bytes.as_ref(),
            },
            changes,
        ),
        Command::DeleteUser { user } => delete_user(conn, user, changes),
        Command::RotateSubToken { user, sub_token } => rotate_sub_token(conn, at, user, sub_token),
        Command::CreateApiKey {
            key_id,
            name,
            scope,
            secret_hash,
        } => {
            let exists: Option<i64> = sql::query_scalar("SELECT 1 FROM api_keys WHERE id = ?")
                .bind(key_id)
                .fetch_optional(conn)?;
            if exists.is_some() {
                return Ok((
                    Err(CommandError::Conflict {
                        field: Some("key_id".into()),
                        message: format!("API key {key_id} already exists"),
                    }),
                    Some(format!("api_key:{key_id}")),
                ));
            }
            sql::query("INSERT INTO api_keys(id, name, scope, secret_hash, created_at) VALUES(?, ?, ?, ?, ?)")
                .bind(key_id)
                .bind(name)
                .bind(scope.as_str())
                .bind(secret_hash)
                .bind(at)
                .execute(conn)?;
            Ok((Ok(Applied::Done), Some(format!("api_key:{key_id}"))))
        }
        Command::RevokeApiKey { key_id } => {
            let n = sql::query(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            )
            .bind(at)
            .bind(key_id)
            .execute(conn)?
            .rows_affected();
            let outcome = if n == 0 {
                Err(CommandError::NotFound {
                    what: format!("active API key {key_id}"),
                })
            } else {
                Ok(Applied::Done)
            };
            Ok((outcome, Some(format!("api_key:{key_id}"))))
        }
        Command::CreateInvite {
            invite_id,
            token_hash,
            expires_at_ms,
        } => {
            sql::query("INSERT OR IGNORE INTO invites(id, token_hash, created_at, expires_at) VALUES(?, ?, ?, ?)")
                .bind(invite_id)
                .bind(token_hash)
                .bind(at)
                .bind(expires_at_ms)
                .execute(conn)?;
            Ok((Ok(Applied::Done), Some(format!("invite:{invite_id}"))))
        }
    }
}

fn upsert_node(
    conn: &Conn,
    at: i64,
    node: &NodeSpec,
    changes: &mut Vec<Change>,
) -> Result<Step, sql::Error> {
    let target = Some(format!("node:{}", node.id));
    let clash: Option<i64> = sql::query_scalar("SELECT id FROM nodes WHERE name = ? AND id != ?")
        .bind(&node.name)
        .bind(node.id as i64)
        .fetch_optional(conn)?;
    if let Some(other) = clash {
        return Ok((
            Err(CommandError::Conflict {
                field: Some("name".into()),
                message: format!("node name `{}` is already used by node {other}", node.name),
            }),
            target,
        ));
    }
    let wg = node
        .wireguard
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| sql::Error::ToSqlConversionFailure(Box::new(e)))?;
    let xray = node.xray.as_ref().map(|v| v.to_string());
    let old_pool: Option<Option<String>> =
        sql::query_scalar("SELECT wireguard FROM nodes WHERE id = ?")
            .bind(node.id as i64)
            .fetch_optional(conn)?;
    let pool_changed = match (&old_pool, &node.wireguard) {
        (Some(Some(old)), Some(new)) => serde_json::from_str::<NodeWireguard>(old)
            .map(|o| o.address_pool != new.address_pool)
            .unwrap_or(true),
        _ => true,
    };
    sql::query(
        "INSERT INTO nodes(id, name, raft_addr, api_addr, public_host, wireguard, xray, pool_cursor, created_at, updated_at)
         VALUES(?, ?, ?, ?, ?, ?, ?, 0, ?, ?)
         ON CONFLICT(id) DO UPDATE SET name = excluded.name, raft_addr = excluded.raft_addr,
           api_addr = excluded.api_addr, public_host = excluded.public_host,
           wireguard = excluded.wireguard, xray = excluded.xray, updated_at = excluded.updated_at,
           pool_cursor = CASE WHEN ? THEN 0 ELSE pool_cursor END",
    )
    .bind(node.id as i64)
    .bind(&node.name)
    .bind(&node.raft_addr)
    .bind(&node.api_addr)
    .bind(&node.public_host)
    .bind(wg)
    .bind(xray)
    .bind(at)
    .bind(at)
    .bind(pool_changed)
    .execute(conn)?;
    changes.push(Change::Node { node_id: node.id });
    changes.push(Change::Devices { node_id: node.id });
    Ok((Ok(Applied::Node { id: node.id }), target))
}

fn create_user(
    conn: &Conn,
    at: i64,
    name: &str,
    telegram_id: Option<i64>,
    sub_token: &str,
) -> Result<Step, sql::Error> {
    let taken: Option<i64> = sql::query_scalar("SELECT id FROM users WHERE name = ?")
        .bind(name)
        .fetch_optional(conn)?;
    if let Some(id) = taken {
        return Ok((
            Err(CommandError::Conflict {
                field: Some("name".into()),
                message: format!("user name `{name}` is already taken by user {id}"),
            }),
            None,
        ));
    }
    if let Some(tg) = telegram_id {
        let taken: Option<i64> = sql::query_scalar("SELECT id FROM users WHERE telegram_id = ?")
            .bind(tg)
            .fetch_optional(conn)?;
        if let Some(id) = taken {
            return Ok((
                Err(CommandError::Conflict {
                    field: Some("telegram_id".into()),
                    message: format!("Telegram id {tg} already belongs to user {id}"),
                }),
                None,
            ));
        }
    }
    let id: i64 = sql::query_scalar(
        "INSERT INTO users(name, telegram_id, enabled, sub_token, created_at, updated_at) VALUES(?, ?, 1, ?, ?, ?) RETURNING id",
    )
    .bind(name)
    .bind(telegram_id)
    .bind(sub_token)
    .bind(at)
    .bind(at)
    .fetch_one(conn)?;
    Ok((Ok(Applied::User { id }), Some(format!("user:{id}"))))
}

/// Resolves a user reference to `(id, enabled)` inside the transaction.
pub(crate) fn resolve_user(conn: &Conn, user: &UserRef) -> Result<Option<(i64, bool)>, sql::Error> {
    let row = match user {
        UserRef::Id(id) => sql::query("SELECT id, enabled FROM users WHERE id = ?")
            .bind(id)
            .fetch_optional(conn)?,
        UserRef::Name(name) => sql::query("SELECT id, enabled FROM users WHERE name = ?")
            .bind(name)
            .fetch_optional(conn)?,
        UserRef::TelegramId(tg) => {
            sql::query("SELECT id, enabled FROM users WHERE telegram_id = ?")
                .bind(tg)
                .fetch_optional(conn)?
        }
    };
    Ok(row.map(|r| (r.get::<i64, _>(0), r.get::<i64, _>(1) != 0)))
}

fn set_user_enabled(
    conn: &Conn,
    at: i64,
    user: &UserRef,
    enabled: bool,
    changes: &mut Vec<Change>,
) -> Result<Step, sql::Error> {
    let Some((id, _)) = resolve_user(conn, user)? else {
        return Ok((not_found_user(user), None));
    };
    sql::query("UPDATE users SET enabled = ?, updated_at = ? WHERE id = ?")
        .bind(enabled)
        .bind(at)
        .bind(id)
        .execute(conn)?;
    // Enabling or disabling a user changes the desired peers of every node serving them.
    let nodes: Vec<i64> = sql::query_scalar(
        "SELECT DISTINCT node_id FROM devices WHERE user_id = ? AND revoked_at IS NULL",
    )
    .bind(id)
    .fetch_all(conn)?;
    changes.extend(nodes.into_iter().map(|n| Change::Devices {
        node_id: n as NodeId,
    }));
    Ok((Ok(Applied::User { id }), Some(format!("user:{id}"))))
}

struct UserPatch<'a> {
    name: Option<&'a str>,
    telegram_id: Option<&'a Update<i64>>,
    expires_at_ms: Option<&'a Update<i64>>,
    traffic_limit_bytes: Option<&'a Update<i64>>,
}

fn update_user(
    conn: &Conn,
    at: i64,
    user: &UserRef,
    patch: UserPatch<'_>,
    changes: &mut Vec<Change>,
) -> Result<Step, sql::Error> {
    let Some((id, _)) = resolve_user(conn, user)? else {
        return Ok((not_found_user(user), None));
    };
    let target = Some(format!("user:{id}"));
    if let Some(name) = patch.name {
        let taken: Option<i64> =
            sql::query_scalar("SELECT id FROM users WHERE name = ? AND id != ?")
                .bind(name)
                .bind(id)
                .fetch_optional(conn)?;
        if let Some(other) = taken {
            return Ok((
                Err(CommandError::Conflict {
                    field: Some("name".into()),
                    message: format!("user name `{name}` is already taken by user {other}"),
                }),
                target,
            ));
        }
        sql::query("UPDATE users SET name = ? WHERE id = ?")
            .bind(name)
            .bind(id)
            .execute(conn)?;
    }
    if let Some(tg) = patch.telegram_id {
        if let Update::Set(t) = tg {
            let taken: Option<i64> =
                sql::query_scalar("SELECT id FROM users WHERE telegram_id = ? AND id != ?")
                    .bind(t)
                    .bind(id)
                    .fetch_optional(conn)?;
            if let Some(other) = taken {
                return Ok((
                    Err(CommandError::Conflict {
                        field: Some("telegram_id".into()),
                        message: format!("Telegram id {t} already belongs to user {other}"),
                    }),
                    target,
                ));
            }
        }
        sql::query("UPDATE users SET telegram_id = ? WHERE id = ?")
            .bind(tg.value())
            .bind(id)
            .execute(conn)?;
    }
    if let Some(e) = patch.expires_at_ms {
        sql::query("UPDATE users SET expires_at = ? WHERE id = ?")
            .bind(e.value())
            .bind(id)
            .execute(conn)?;
    }
    if let Some(l) = patch.traffic_limit_bytes {
        sql::query("UPDATE users SET traffic_limit_bytes = ? WHERE id = ?")
            .bind(l.value())
            .bind(id)
            .execute(conn)?;
    }
    sql::query("UPDATE users SET updated_at = ? WHERE id = ?")
        .bind(at)
        .bind(id)
        .execute(conn)?;
    // Expiry and quota can change whether the user's peers belong on the data planes.
    if patch.expires_at_ms.is_some() || patch.traffic_limit_bytes.is_some() {
        push_user_nodes(conn, id, changes)?;
    }
    Ok((Ok(Applied::User { id }), target))
}

/// Marks every node serving one of the user's active devices as changed.
fn push_user_nodes(conn: &Conn, user_id: i64, changes: &mut Vec<Change>) -> Result<(), sql::Error> {
    let nodes: Vec<i64> = sql::query_scalar(
        "SELECT DISTINCT node_id FROM devices WHERE user_id = ? AND revoked_at IS NULL",
    )
    .bind(user_id)
    .fetch_all(conn)?;
    changes.extend(nodes.into_iter().map(|n| Change::Devices {
        node_id: n as NodeId,
    }));
    Ok(())
}

/// Hard delete: the user row and all of their device rows go, so their peers leave the data
/// planes on the next reconcile. A table added later that references `users` makes the
/// delete fail with a foreign-key error; that is turned into a refusal (same state, same
/// outcome on every node) instead of a fatal storage error.
fn delete_user(conn: &Conn, user: &UserRef, changes: &mut Vec<Change>) -> Result<Step, sql::Error> {
    let Some((id, _)) = resolve_user(conn, user)? else {
        return Ok((not_found_user(user), None));
    };
    let target = Some(format!("user:{id}"));
    let mut local = Vec::new();
    push_user_nodes(conn, id, &mut local)?;
    let deleted = (|| {
        sql::query("DELETE FROM devices WHERE user_id = ?")
            .bind(id)
            .execute(conn)?;
        sql::query("DELETE FROM users WHERE id = ?")
            .bind(id)
            .execute(conn)
    })();
    match deleted {
        Ok(_) => {
            changes.extend(local);
            Ok((Ok(Applied::User { id }), target))
        }
        Err(sql::Error::SqliteFailure(e, _))
            if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY =>
        {
            Ok((
            Err(CommandError::Conflict {
                field: Some("user".into()),
                message: format!(
                    "user {id} is still referenced by other records (payments, referrals…); disable the user instead"
                ),
            }),
            target,
        ))
        }
        Err(e) => Err(e),
    }
}

fn rotate_sub_token(
    conn: &Conn,
    at: i64,
    user: &UserRef,
    sub_token: &str,
) -> Result<Step, sql::Error> {
    let Some((id, _)) = resolve_user(conn, user)? else {
        return Ok((not_found_user(user), None));
    };
    let target = Some(format!("user:{id}"));
    let taken: Option<i64> = sql::query_scalar("SELECT id FROM users WHERE sub_token = ?")
        .bind(sub_token)
        .fetch_optional(conn)?;
    if taken.is_some() {
        return Ok((
            Err(CommandError::Conflict {
                field: Some("sub_token".into()),
                message: "subscription token already in use; retry the request".into(),
            }),
            target,
        ));
    }
    sql::query("UPDATE users SET sub_token = ?, updated_at = ? WHERE id = ?")
        .bind(sub_token)
        .bind(at)
        .bind(id)
        .execute(conn)?;
    Ok((Ok(Applied::User { id }), target))
}

fn not_found_user(user: &UserRef) -> ApplyOutcome {
    Err(CommandError::NotFound {
        what: format!("user {user}"),
    })
}

struct IssueArgs<'a> {
    user: &'a UserRef,
    node_id: NodeId,
    name: &'a str,
    device_type: DeviceType,
    protocol: Protocol,
    uuid: &'a uuid::Uuid,
    wg: Option<&'a WgMaterial>,
}

fn issue_device(
    conn: &Conn,
    at: i64,
    a: IssueArgs<'_>,
    changes: &mut Vec<Change>,
) -> Result<Step, sql::Error> {
    let Some((user_id, enabled)) = resolve_user(conn, a.user)? else {
        return Ok((not_found_user(a.user), None));
    };
    let existing: Option<i64> = sql::query_scalar(
        "SELECT id FROM devices WHERE user_id = ? AND name = ? AND protocol = ? AND revoked_at IS NULL",
    )
    .bind(user_id)
    .bind(a.name)
    .bind(a.protocol.as_str())
    .fetch_optional(conn)?;
    if let Some(id) = existing {
        return Ok((
            Ok(Applied::Device { id, created: false }),
            Some(format!("device:{id}")),
        ));
    }
    if !enabled {
        return Ok((
            Err(CommandError::Conflict {
                field: Some("user".into()),
                message: format!(
                    "user {user_id} is disabled; enable the user before issuing devices"
                ),
            }),
            Some(format!("user:{user_id}")),
        ));
    }
    let node: Option<(Option<String>, i64)> =
        sql::query_as("SELECT wireguard, pool_cursor FROM nodes WHERE id = ?")
            .bind(a.node_id as i64)
            .fetch_optional(conn)?;
    let Some((wg_json, cursor)) = node else {
        return Ok((
            Err(CommandError::NotFound {
                what: format!("node {}", a.node_id),
            }),
            None,
        ));
    };
    let mut address: Option<i64> = None;
    if a.protocol.is_wireguard_family() {
        let Some(wg) = wg_json.and_then(|j| serde_json::from_str::<NodeWireguard>(&j).ok()) else {
            return Ok((
                Err(CommandError::Invalid {
                    field: "protocol".into(),
                    message: format!(
                        "node {} does not serve WireGuard/AmneziaWG (no [wireguard] settings)",
                        a.node_id
                    ),
                }),
                None,
            ));
        };
        if a.protocol == Protocol::Wireguard && wg.awg.is_some() {
            // An AmneziaWG interface drops plain WireGuard handshakes (other magic headers),
            // so a `wireguard` config for it would never connect.
            return Ok((
                Err(CommandError::Invalid {
                    field: "protocol".into(),
                    message: format!(
                        "node {} serves AmneziaWG; plain WireGuard clients cannot connect to it, use protocol `awg`",
                        a.node_id
                    ),
                }),
                None,
            ));
        }
        if a.protocol == Protocol::Awg && wg.awg.is_none() {
            return Ok((
                Err(CommandError::Invalid {
                    field: "protocol".into(),
                    message: format!(
                        "node {} serves plain WireGuard only; use protocol `wireguard`",
                        a.node_id
                    ),
                }),
                None,
            ));
        }
        if a.wg.is_none() {
            return Ok((
                Err(CommandError::Invalid {
                    field: "wg".into(),
                    message: "awg/wireguard devices need key material".into(),
                }),
                None,
            ));
        }
        match allocate_address(conn, a.node_id, &wg.address_pool, cursor)? {
            Some((addr, next_cursor)) => {
                address = Some(addr as i64);
                sql::query("UPDATE nodes SET pool_cursor = ? WHERE id = ?")
                    .bind(next_cursor as i64)
                    .bind(a.node_id as i64)
                    .execute(conn)?;
            }
            None => {
                return Ok((
                    Err(CommandError::PoolExhausted {
                        node_id: a.node_id,
                        pool: wg.address_pool.to_string(),
                    }),
                    None,
                ))
            }
        }
    }
    if a.protocol == Protocol::Vless {
        let xray: Option<Option<String>> = sql::query_scalar("SELECT xray FROM nodes WHERE id = ?")
            .bind(a.node_id as i64)
            .fetch_optional(conn)?;
        if xray.flatten().is_none() {
            return Ok((
                Err(CommandError::Invalid {
                    field: "protocol".into(),
                    message: format!(
                        "node {} does not serve VLESS; enable [xray] on it or choose protocol `awg`",
                        a.node_id
                    ),
                }),
                None,
            ));
        }
    }
    let uuid_taken: Option<i64> = sql::query_scalar("SELECT id FROM devices WHERE uuid = ?")
        .bind(a.uuid.to_string())
        .fetch_optional(conn)?;
    if uuid_taken.is_some() {
        return Ok((
            Err(CommandError::Conflict {
                field: Some("uuid".into()),
                message: "device UUID already in use; retry the request".into(),
            }),
            None,
        ));
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
    .bind(address)
    .bind(at)
    .fetch_one(conn)?;
    changes.push(Change::Devices { node_id: a.node_id });
    Ok((
        Ok(Applied::Device { id, created: true }),
        Some(format!("device:{id}")),
    ))
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
pub fn client_range(pool: &ipnet::Ipv4Net) -> Option<(u32, u64)> {
    let network = u32::from(pool.network());
    let broadcast = u32::from(pool.broadcast());
    let first = network.checked_add(2)?;
    let last = broadcast.checked_sub(1)?;
    if last < first {
        return None;
    }
    Some((first, (last - first) as u64 + 1))
}

/// Adds traffic deltas and moves last-handshake forward. Devices that no longer exist or
/// belong to another node are skipped: a report can race with a revoke or a move.
fn record_usage(
    conn: &Conn,
    node_id: NodeId,
    entries: &[vpnkeeper_domain::command::UsageEntry],
) -> Result<Step, sql::Error> {
    for e in entries {
        sql::query(
            "UPDATE devices SET rx_bytes = rx_bytes + ?1, tx_bytes = tx_bytes + ?2, \
             last_handshake_at = CASE WHEN ?3 IS NULL THEN last_handshake_at \
                                      ELSE MAX(COALESCE(last_handshake_at, 0), ?3) END \
             WHERE id = ?4 AND node_id = ?5",
        )
        .bind(i64::try_from(e.rx_delta).unwrap_or(i64::MAX))
        .bind(i64::try_from(e.tx_delta).unwrap_or(i64::MAX))
        .bind(e.last_handshake_ms)
        .bind(e.device_id)
        .bind(node_id as i64)
        .execute(conn)?;
    }
    Ok((Ok(Applied::Done), Some(format!("node:{node_id}"))))
}

fn revoke_device(
    conn: &Conn,
    at: i64,
    device: &DeviceRef,
    changes: &mut Vec<Change>,
) -> Result<Step, sql::Error> {
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
        return Ok((
            Err(CommandError::NotFound {
                what: format!("device {device}"),
            }),
            None,
        ));
    };
    let id: i64 = row.get(0);
    let node_id: i64 = row.get(1);
    let revoked: Option<i64> = row.get(2);
    if revoked.is_none() {
        sql::query("UPDATE devices SET revoked_at = ? WHERE id = ?")
            .bind(at)
            .bind(id)
            .execute(conn)?;
        changes.push(Change::Devices {
            node_id: node_id as NodeId,
        });
    }
    // Revoking twice is not an error: the device is revoked either way.
    Ok((
        Ok(Applied::Device { id, created: false }),
        Some(format!("device:{id}")),
    ))
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

//! API keys and join invites.

use vpnkeeper_domain::{ApiScope, Applied, CommandError};

use super::{refuse_at, Applying, Effect};
use crate::sql::{self, Conn};

pub(super) fn create(
    conn: &Conn,
    at: i64,
    key_id: &str,
    name: &str,
    scope: ApiScope,
    secret_hash: &str,
) -> Applying {
    let target = Some(format!("api_key:{key_id}"));
    let exists: Option<i64> = sql::query_scalar("SELECT 1 FROM api_keys WHERE id = ?")
        .bind(key_id)
        .fetch_optional(conn)?;
    if exists.is_some() {
        return Err(refuse_at(
            &target,
            CommandError::conflict(Some("key_id"), format!("API key {key_id} already exists")),
        ));
    }
    sql::query(
        "INSERT INTO api_keys(id, name, scope, secret_hash, created_at) VALUES(?, ?, ?, ?, ?)",
    )
    .bind(key_id)
    .bind(name)
    .bind(scope.as_str())
    .bind(secret_hash)
    .bind(at)
    .execute(conn)?;
    Ok(Effect::new(Applied::Done, target))
}

pub(super) fn revoke(conn: &Conn, at: i64, key_id: &str) -> Applying {
    let target = Some(format!("api_key:{key_id}"));
    let n = sql::query("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
        .bind(at)
        .bind(key_id)
        .execute(conn)?
        .rows_affected();
    if n == 0 {
        return Err(refuse_at(
            &target,
            CommandError::not_found(format!("active API key {key_id}")),
        ));
    }
    Ok(Effect::new(Applied::Done, target))
}

pub(super) fn create_invite(
    conn: &Conn,
    at: i64,
    invite_id: &str,
    token_hash: &str,
    expires_at_ms: i64,
) -> Applying {
    sql::query(
        "INSERT OR IGNORE INTO invites(id, token_hash, created_at, expires_at) VALUES(?, ?, ?, ?)",
    )
    .bind(invite_id)
    .bind(token_hash)
    .bind(at)
    .bind(expires_at_ms)
    .execute(conn)?;
    Ok(Effect::new(Applied::Done, format!("invite:{invite_id}")))
}

/// Spends an invite for `node_id`: once, and only before it expires.
pub(super) fn redeem_invite(conn: &Conn, at: i64, token_hash: &str, node_id: u64) -> Applying {
    let row: Option<(String, i64, Option<i64>)> =
        sql::query_as("SELECT id, expires_at, used_at FROM invites WHERE token_hash = ?")
            .bind(token_hash)
            .fetch_optional(conn)?;
    let Some((invite_id, expires_at, used_at)) = row else {
        return Err(refuse_at(
            &None,
            CommandError::not_found("invite (the link is not one this cluster issued)"),
        ));
    };
    let target = Some(format!("invite:{invite_id}"));
    if used_at.is_some() {
        return Err(refuse_at(
            &target,
            CommandError::conflict(Some("token"), "invite already used; ask for a new one"),
        ));
    }
    if expires_at <= at {
        return Err(refuse_at(
            &target,
            CommandError::conflict(Some("token"), "invite expired; ask for a new one"),
        ));
    }
    sql::query("UPDATE invites SET used_at = ?, used_by_node = ? WHERE id = ?")
        .bind(at)
        .bind(node_id as i64)
        .bind(&invite_id)
        .execute(conn)?;
    Ok(Effect::new(Applied::Done, target))
}

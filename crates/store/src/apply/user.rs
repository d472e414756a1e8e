//! Users: create, enable/disable, update, delete, rotate the subscription token.

use vpnkeeper_domain::command::{Update, UserPatch};
use vpnkeeper_domain::{Applied, CommandError, NodeId, UserRef};

use super::{refuse, refuse_at, Applying, Effect, Failure};
use crate::change::Change;
use crate::sql::{self, Conn};

pub(super) fn create(
    conn: &Conn,
    at: i64,
    name: &str,
    telegram_id: Option<i64>,
    sub_token: &str,
) -> Applying {
    let taken: Option<i64> = sql::query_scalar("SELECT id FROM users WHERE name = ?")
        .bind(name)
        .fetch_optional(conn)?;
    if let Some(id) = taken {
        return Err(refuse(CommandError::conflict(
            Some("name"),
            format!("user name `{name}` is already taken by user {id}"),
        )));
    }
    if let Some(tg) = telegram_id {
        let taken: Option<i64> = sql::query_scalar("SELECT id FROM users WHERE telegram_id = ?")
            .bind(tg)
            .fetch_optional(conn)?;
        if let Some(id) = taken {
            return Err(refuse(CommandError::conflict(
                Some("telegram_id"),
                format!("Telegram id {tg} already belongs to user {id}"),
            )));
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
    Ok(Effect::new(Applied::User { id }, format!("user:{id}")))
}

/// Resolves a user reference to `(id, enabled)` inside the transaction.
pub(super) fn resolve(conn: &Conn, user: &UserRef) -> Result<Option<(i64, bool)>, sql::Error> {
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

/// The user's `(id, enabled)`, or a not-found refusal naming the reference.
pub(super) fn existing(conn: &Conn, user: &UserRef) -> Result<(i64, bool), Failure> {
    resolve(conn, user)?.ok_or_else(|| refuse(CommandError::not_found(format!("user {user}"))))
}

pub(super) fn set_enabled(
    conn: &Conn,
    at: i64,
    user: &UserRef,
    enabled: bool,
    changes: &mut Vec<Change>,
) -> Applying {
    let (id, _) = existing(conn, user)?;
    sql::query("UPDATE users SET enabled = ?, updated_at = ? WHERE id = ?")
        .bind(enabled)
        .bind(at)
        .bind(id)
        .execute(conn)?;
    // Enabling or disabling a user changes the desired peers of every node serving them.
    push_user_nodes(conn, id, changes)?;
    super::plan::refresh_status(conn, at, id, changes)?;
    Ok(Effect::new(Applied::User { id }, format!("user:{id}")))
}

pub(super) fn update(
    conn: &Conn,
    at: i64,
    user: &UserRef,
    patch: UserPatch<'_>,
    changes: &mut Vec<Change>,
) -> Applying {
    let (id, _) = existing(conn, user)?;
    let target = Some(format!("user:{id}"));
    if let Some(name) = patch.name {
        let taken: Option<i64> =
            sql::query_scalar("SELECT id FROM users WHERE name = ? AND id != ?")
                .bind(name)
                .bind(id)
                .fetch_optional(conn)?;
        if let Some(other) = taken {
            return Err(refuse_at(
                &target,
                CommandError::conflict(
                    Some("name"),
                    format!("user name `{name}` is already taken by user {other}"),
                ),
            ));
        }
        set_column(conn, "name", name, id)?;
    }
    if let Some(tg) = patch.telegram_id {
        if let Update::Set(t) = tg {
            let taken: Option<i64> =
                sql::query_scalar("SELECT id FROM users WHERE telegram_id = ? AND id != ?")
                    .bind(t)
                    .bind(id)
                    .fetch_optional(conn)?;
            if let Some(other) = taken {
                return Err(refuse_at(
                    &target,
                    CommandError::conflict(
                        Some("telegram_id"),
                        format!("Telegram id {t} already belongs to user {other}"),
                    ),
                ));
            }
        }
        set_column(conn, "telegram_id", tg.value(), id)?;
    }
    if let Some(e) = patch.expires_at_ms {
        set_column(conn, "expires_at", e.value(), id)?;
    }
    if let Some(l) = patch.traffic_limit_bytes {
        set_column(conn, "traffic_limit_bytes", l.value(), id)?;
    }
    set_column(conn, "updated_at", at, id)?;
    // Expiry and quota can change whether the user's peers belong on the data planes.
    if patch.expires_at_ms.is_some() || patch.traffic_limit_bytes.is_some() {
        push_user_nodes(conn, id, changes)?;
        super::plan::refresh_status(conn, at, id, changes)?;
    } else if patch.telegram_id.is_some() {
        // Reminders go to the Telegram chat: a user who gains or loses one may have some due.
        super::reminder::refresh_next_due(conn, at, id)?;
    }
    Ok(Effect::new(Applied::User { id }, target))
}

/// `UPDATE users SET {column} = value WHERE id = ?` for a column named in this module.
fn set_column<T: rusqlite::ToSql>(
    conn: &Conn,
    column: &'static str,
    value: T,
    id: i64,
) -> Result<(), sql::Error> {
    sql::query(&format!("UPDATE users SET {column} = ? WHERE id = ?"))
        .bind(value)
        .bind(id)
        .execute(conn)?;
    Ok(())
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
pub(super) fn delete(conn: &Conn, user: &UserRef, changes: &mut Vec<Change>) -> Applying {
    let (id, _) = existing(conn, user)?;
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
            Ok(Effect::new(Applied::User { id }, target))
        }
        Err(sql::Error::SqliteFailure(e, _))
            if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY =>
        {
            Err(refuse_at(
                &target,
                CommandError::conflict(
                    Some("user"),
                    format!("user {id} is still referenced by other records (payments, referrals…); disable the user instead"),
                ),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) fn rotate_sub_token(conn: &Conn, at: i64, user: &UserRef, sub_token: &str) -> Applying {
    let (id, _) = existing(conn, user)?;
    let target = Some(format!("user:{id}"));
    let taken: Option<i64> = sql::query_scalar("SELECT id FROM users WHERE sub_token = ?")
        .bind(sub_token)
        .fetch_optional(conn)?;
    if taken.is_some() {
        return Err(refuse_at(
            &target,
            CommandError::conflict(
                Some("sub_token"),
                "subscription token already in use; retry the request",
            ),
        ));
    }
    sql::query("UPDATE users SET sub_token = ?, updated_at = ? WHERE id = ?")
        .bind(sub_token)
        .bind(at)
        .bind(id)
        .execute(conn)?;
    Ok(Effect::new(Applied::User { id }, target))
}

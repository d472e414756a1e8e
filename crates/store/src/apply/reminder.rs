//! Reminders to end users and the per-user next-due time (issue #15, migration 0032).
//!
//! `RemindUsers` re-checks each reminder against the row at the envelope's clock (the same
//! pure `due_reminders` the scheduler used), records it in `user_reminders` keyed by
//! (user, kind) with its period, and queues the message in the bot's outbox in the same
//! transaction: a reminder proposed twice (a failover mid-pass) is sent once.
//!
//! [`refresh_next_due`] keeps `users.next_due_ms`, which lets the leader's pass read only
//! the users due (`WHERE next_due_ms <= now`). It runs after every change of what the
//! schedule depends on: `plan::refresh_status` calls it (every lifecycle, usage-threshold,
//! enable and plan change goes through there), and so do Telegram-id changes and imports.

use vpnkeeper_domain::command::reminder::{due_reminders, Reminded, Reminder, ReminderKind};
use vpnkeeper_domain::reset::ResetStrategy;
use vpnkeeper_domain::schedule::{next_due_ms, LifecycleRow};
use vpnkeeper_domain::telegram::OutboxItem;
use vpnkeeper_domain::{Applied, UserId};

use super::telegram::insert_outbox;
use super::{Applying, Effect};
use crate::sql::{self, Conn};

/// The columns of `users` a [`LifecycleRow`] is made of, in [`row_from`]'s order. Shared
/// with the read side (`plan_queries.rs`).
pub(crate) const LIFECYCLE_COLS: &str = "id, status, expires_at, on_hold_timeout, reset_strategy, reset_day, plan_started_at, period_start, telegram_id, traffic_limit_bytes, used_bytes";

/// A lifecycle row from its columns (as [`LIFECYCLE_COLS`] lists them); `reminded` is
/// filled separately.
#[allow(clippy::type_complexity)]
pub(crate) fn row_from(
    (id, status, expires, hold, strategy, day, started, period, telegram, limit, used): (
        i64,
        String,
        Option<i64>,
        Option<i64>,
        String,
        Option<i64>,
        Option<i64>,
        i64,
        Option<i64>,
        Option<i64>,
        i64,
    ),
) -> LifecycleRow {
    LifecycleRow {
        user_id: id,
        status,
        expires_at_ms: expires,
        on_hold_timeout_ms: hold,
        reset_strategy: ResetStrategy::parse(&strategy).unwrap_or_default(),
        reset_day: day.map(|d| d as u8),
        plan_started_at_ms: started,
        period_start_ms: period,
        telegram: telegram.is_some(),
        traffic_limit_bytes: limit,
        used_bytes: used,
        reminded: Reminded::default(),
    }
}

/// The user's lifecycle row with the reminders already sent; `None` when the user is gone.
fn load(conn: &Conn, user_id: UserId) -> Result<Option<LifecycleRow>, sql::Error> {
    let sql = format!("SELECT {LIFECYCLE_COLS} FROM users WHERE id = ?");
    let Some(r) = sql::query(&sql).bind(user_id).fetch_optional(conn)? else {
        return Ok(None);
    };
    let mut row = row_from((
        r.get(0),
        r.get(1),
        r.get(2),
        r.get(3),
        r.get(4),
        r.get(5),
        r.get(6),
        r.get(7),
        r.get(8),
        r.get(9),
        r.get(10),
    ));
    let sent = sql::query("SELECT kind, period FROM user_reminders WHERE user_id = ?")
        .bind(user_id)
        .fetch_all(conn)?;
    for s in sent {
        if let Some(kind) = ReminderKind::parse(&s.get::<String, _>(0)) {
            row.reminded.set(kind, s.get(1));
        }
    }
    Ok(Some(row))
}

/// Recomputes when the user next needs the scheduler, as seen at `at`.
pub(crate) fn refresh_next_due(conn: &Conn, at: i64, user_id: UserId) -> Result<(), sql::Error> {
    let Some(row) = load(conn, user_id)? else {
        return Ok(());
    };
    sql::query("UPDATE users SET next_due_ms = ? WHERE id = ?")
        .bind(next_due_ms(&row, at))
        .bind(user_id)
        .execute(conn)?;
    Ok(())
}

/// The outbox payload of a reminder, in the bot's `Out::Notice` format
/// (`crates/bot/src/outbox.rs`, `Notice::Reminder`): the store writes it, the bot renders it.
fn payload(lang: &str, r: &Reminder, row: &LifecycleRow) -> serde_json::Value {
    serde_json::json!({
        "do": "notice",
        "lang": lang,
        "notice": {
            "notice": "reminder",
            "kind": r.kind.as_str(),
            "expires_at_ms": row.expires_at_ms,
            "traffic_limit_bytes": row.traffic_limit_bytes,
        },
    })
}

/// The chat's stored language (`ru`/`en`), English when it has none.
fn chat_lang(conn: &Conn, telegram_id: i64) -> Result<String, sql::Error> {
    let lang: Option<Option<String>> =
        sql::query_scalar("SELECT lang FROM tg_chats WHERE telegram_id = ?")
            .bind(telegram_id)
            .fetch_optional(conn)?;
    Ok(match lang.flatten().as_deref() {
        Some("ru") => "ru".into(),
        _ => "en".into(),
    })
}

/// Sends each reminder still due at `at`, once per (user, kind, period); skips the rest (a
/// stale or repeated proposal, a user renewed or deleted meanwhile).
pub(super) fn remind(conn: &Conn, at: i64, reminders: &[Reminder]) -> Applying {
    for r in reminders {
        let Some(row) = load(conn, r.user_id)? else {
            continue;
        };
        if !due_reminders(r.user_id, &row.reminder_inputs(), at).contains(r) {
            continue;
        }
        let telegram_id: i64 = sql::query_scalar("SELECT telegram_id FROM users WHERE id = ?")
            .bind(r.user_id)
            .fetch_one(conn)?;
        sql::query(
            "INSERT INTO user_reminders (user_id, kind, period, sent_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (user_id, kind) DO UPDATE SET period = ?3, sent_at = ?4",
        )
        .bind(r.user_id)
        .bind(r.kind.as_str())
        .bind(r.period_ms)
        .bind(at)
        .execute(conn)?;
        let item = OutboxItem {
            chat_id: telegram_id,
            payload: payload(&chat_lang(conn, telegram_id)?, r, &row),
        };
        insert_outbox(conn, at, None, &[item], &[])?;
        refresh_next_due(conn, at, r.user_id)?;
    }
    Ok(Effect::new(Applied::Done, None))
}

/// Recomputes the next-due time of users the scheduler found with nothing due.
pub(super) fn recheck_due(conn: &Conn, at: i64, user_ids: &[UserId]) -> Applying {
    for &id in user_ids {
        refresh_next_due(conn, at, id)?;
    }
    Ok(Effect::new(Applied::Done, None))
}

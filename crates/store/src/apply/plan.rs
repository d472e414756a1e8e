//! Plans and the user lifecycle: plan CRUD, assign/extend, usage resets, the scheduler's
//! events, and [`refresh_status`], the one place a user's `status` column is written.

use vpnkeeper_domain::command::plan::{
    derive_status, LifecycleEvent, PlanId, PlanSpec, StatusInputs, UserStatus,
};
use vpnkeeper_domain::reset::{period_start, ResetStrategy};
use vpnkeeper_domain::{Applied, CommandError, NodeId, UserRef};

use super::{refuse, refuse_at, user, Applying, Effect, Failure};
use crate::change::Change;
use crate::sql::{self, Conn};

const DAY_MS: i64 = 86_400_000;

fn plan_target(id: PlanId) -> Option<String> {
    Some(format!("plan:{id}"))
}

fn name_taken(conn: &Conn, name: &str, except: PlanId) -> Result<(), Failure> {
    let taken: Option<i64> = sql::query_scalar("SELECT id FROM plans WHERE name = ? AND id != ?")
        .bind(name)
        .bind(except)
        .fetch_optional(conn)?;
    match taken {
        Some(other) => Err(refuse(CommandError::conflict(
            Some("name"),
            format!("plan name `{name}` is already taken by plan {other}"),
        ))),
        None => Ok(()),
    }
}

pub(super) fn create(conn: &Conn, at: i64, p: &PlanSpec) -> Applying {
    name_taken(conn, &p.name, -1)?;
    let id: i64 = sql::query_scalar(
        "INSERT INTO plans(name, duration_days, traffic_limit_bytes, device_limit, reset_strategy, reset_day, price_stars, created_at, updated_at)
         VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(&p.name)
    .bind(p.duration_days)
    .bind(p.traffic_limit_bytes)
    .bind(p.device_limit)
    .bind(p.reset_strategy.as_str())
    .bind(p.reset_day.map(i64::from))
    .bind(p.price_stars)
    .bind(at)
    .bind(at)
    .fetch_one(conn)?;
    Ok(Effect::new(Applied::Plan { id }, plan_target(id)))
}

/// The plan's `archived` flag, or a not-found refusal.
fn existing(conn: &Conn, id: PlanId) -> Result<bool, Failure> {
    let archived: Option<i64> = sql::query_scalar("SELECT archived FROM plans WHERE id = ?")
        .bind(id)
        .fetch_optional(conn)?;
    archived
        .map(|a| a != 0)
        .ok_or_else(|| refuse(CommandError::not_found(format!("plan {id}"))))
}

pub(super) fn update(conn: &Conn, at: i64, id: PlanId, p: &PlanSpec) -> Applying {
    existing(conn, id)?;
    name_taken(conn, &p.name, id)?;
    sql::query(
        "UPDATE plans SET name = ?, duration_days = ?, traffic_limit_bytes = ?, device_limit = ?, reset_strategy = ?, reset_day = ?, price_stars = ?, updated_at = ? WHERE id = ?",
    )
    .bind(&p.name)
    .bind(p.duration_days)
    .bind(p.traffic_limit_bytes)
    .bind(p.device_limit)
    .bind(p.reset_strategy.as_str())
    .bind(p.reset_day.map(i64::from))
    .bind(p.price_stars)
    .bind(at)
    .bind(id)
    .execute(conn)?;
    Ok(Effect::new(Applied::Plan { id }, plan_target(id)))
}

pub(super) fn archive(conn: &Conn, at: i64, id: PlanId) -> Applying {
    existing(conn, id)?;
    sql::query("UPDATE plans SET archived = 1, updated_at = ? WHERE id = ?")
        .bind(at)
        .bind(id)
        .execute(conn)?;
    Ok(Effect::new(Applied::Plan { id }, plan_target(id)))
}

/// What `AssignPlan` asks for, borrowed from the command.
pub(crate) struct Assign<'a> {
    pub user: &'a UserRef,
    pub plan_id: PlanId,
    pub on_hold: bool,
    pub on_hold_timeout_ms: Option<i64>,
    /// Deliver the plan even when it is archived: set only for a paid order, whose plan was
    /// on sale when its pre-checkout was accepted (the user has paid; Telegram expects it).
    pub archived_ok: bool,
}

/// Assigns or extends a plan: the duration is added to the expiry if it is still ahead,
/// else to `at`; the period usage starts from zero (a renewal restores a limited user).
pub(super) fn assign(conn: &Conn, at: i64, a: Assign<'_>, changes: &mut Vec<Change>) -> Applying {
    let (uid, _) = user::existing(conn, a.user)?;
    let target = Some(format!("user:{uid}"));
    let row = sql::query(
        "SELECT duration_days, traffic_limit_bytes, device_limit, reset_strategy, reset_day, archived FROM plans WHERE id = ?",
    )
    .bind(a.plan_id)
    .fetch_optional(conn)?
    .ok_or_else(|| refuse_at(&target, CommandError::not_found(format!("plan {}", a.plan_id))))?;
    if row.get::<i64, _>(5) != 0 && !a.archived_ok {
        return Err(refuse_at(
            &target,
            CommandError::invalid(
                "plan",
                format!("plan {} is archived; pick an active plan", a.plan_id),
            ),
        ));
    }
    let days: i64 = row.get(0);
    let quota: i64 = row.get(1);
    let strategy: String = row.get(3);
    let reset_day: Option<i64> = row.get(4);
    let (expires, on_hold_days, timeout) = if a.on_hold {
        (None, Some(days), a.on_hold_timeout_ms)
    } else {
        let current: Option<i64> = sql::query_scalar("SELECT expires_at FROM users WHERE id = ?")
            .bind(uid)
            .fetch_one(conn)?;
        let base = current.filter(|e| *e > at).unwrap_or(at);
        (Some(base.saturating_add(days * DAY_MS)), None, None)
    };
    let anchor = at;
    let strategy_parsed = ResetStrategy::parse(&strategy).unwrap_or_default();
    let period =
        period_start(strategy_parsed, reset_day.map(|d| d as u8), anchor, at).unwrap_or(at);
    sql::query(
        "UPDATE users SET plan_id = ?, plan_started_at = ?, expires_at = ?, traffic_limit_bytes = ?, device_limit = ?,
            reset_strategy = ?, reset_day = ?, used_bytes = 0, period_start = ?, on_hold_days = ?, on_hold_timeout = ?, updated_at = ?
         WHERE id = ?",
    )
    .bind(a.plan_id)
    .bind(anchor)
    .bind(expires)
    .bind((quota > 0).then_some(quota))
    .bind(row.get::<i64, _>(2))
    .bind(&strategy)
    .bind(reset_day)
    .bind(period)
    .bind(on_hold_days)
    .bind(timeout)
    .bind(at)
    .bind(uid)
    .execute(conn)?;
    refresh_status(conn, at, uid, changes)?;
    Ok(Effect::new(Applied::User { id: uid }, target))
}

/// Zeroes the period usage (by hand: the period itself does not move).
pub(super) fn reset_usage(
    conn: &Conn,
    at: i64,
    user: &UserRef,
    changes: &mut Vec<Change>,
) -> Applying {
    let (uid, _) = user::existing(conn, user)?;
    sql::query("UPDATE users SET used_bytes = 0, updated_at = ? WHERE id = ?")
        .bind(at)
        .bind(uid)
        .execute(conn)?;
    refresh_status(conn, at, uid, changes)?;
    Ok(Effect::new(
        Applied::User { id: uid },
        format!("user:{uid}"),
    ))
}

/// The scheduler's events. Each is re-checked against the row at `at`, so a stale, replayed
/// or duplicated event changes nothing; a user deleted meanwhile is skipped.
pub(super) fn lifecycle(
    conn: &Conn,
    at: i64,
    events: &[LifecycleEvent],
    changes: &mut Vec<Change>,
) -> Applying {
    for e in events {
        match *e {
            LifecycleEvent::Expire { user_id } => {
                refresh_status(conn, at, user_id, changes)?;
            }
            LifecycleEvent::Reset {
                user_id,
                period_start_ms,
            } => {
                // Keyed by the period: only a later period than the stored one resets.
                let reset = sql::query(
                    "UPDATE users SET used_bytes = 0, period_start = ?1 WHERE id = ?2 AND period_start < ?1 AND ?1 <= ?3",
                )
                .bind(period_start_ms)
                .bind(user_id)
                .bind(at);
                if_changed_refresh(conn, at, user_id, reset, changes)?;
            }
            LifecycleEvent::OnHoldTimeout { user_id } => {
                // The clock starts at the timeout, not at when the scheduler noticed it.
                let start = sql::query(
                    "UPDATE users SET expires_at = on_hold_timeout + on_hold_days * ?, on_hold_days = NULL, on_hold_timeout = NULL
                     WHERE id = ? AND on_hold_days IS NOT NULL AND expires_at IS NULL AND on_hold_timeout <= ?",
                )
                .bind(DAY_MS)
                .bind(user_id)
                .bind(at);
                if_changed_refresh(conn, at, user_id, start, changes)?;
            }
        }
    }
    Ok(Effect::new(Applied::Done, None))
}

/// Runs a guarded update of one user's row (its `WHERE` re-checks the event against the
/// state) and re-derives the status only when it changed the row: the one shape of every
/// time-driven lifecycle change (reset, on-hold timeout, first handshake).
fn if_changed_refresh(
    conn: &Conn,
    at: i64,
    user_id: i64,
    update: sql::Query,
    changes: &mut Vec<Change>,
) -> Result<(), sql::Error> {
    if update.execute(conn)?.rows_affected() > 0 {
        refresh_status(conn, at, user_id, changes)?;
    }
    Ok(())
}

/// The first observed handshake of an on-hold user starts their term at that moment.
pub(super) fn first_handshake(
    conn: &Conn,
    at: i64,
    user_id: i64,
    handshake_ms: i64,
    changes: &mut Vec<Change>,
) -> Result<(), sql::Error> {
    let start = sql::query(
        "UPDATE users SET expires_at = ?1 + on_hold_days * ?2, on_hold_days = NULL, on_hold_timeout = NULL
         WHERE id = ?3 AND on_hold_days IS NOT NULL AND expires_at IS NULL AND enabled = 1
           AND ?1 >= COALESCE(plan_started_at, 0)",
    )
    .bind(handshake_ms)
    .bind(DAY_MS)
    .bind(user_id);
    if_changed_refresh(conn, at, user_id, start, changes)
}

/// Re-derives the user's status at `at` and writes it (see [`write_status`]), then the
/// user's next due time for the scheduler.
pub(crate) fn refresh_status(
    conn: &Conn,
    at: i64,
    user_id: i64,
    changes: &mut Vec<Change>,
) -> Result<(), sql::Error> {
    let Some(r) = sql::query(
        "SELECT enabled, expires_at, traffic_limit_bytes, used_bytes, on_hold_days, status FROM users WHERE id = ?",
    )
    .bind(user_id)
    .fetch_optional(conn)?
    else {
        return Ok(());
    };
    let inputs = StatusInputs {
        enabled: r.get::<i64, _>(0) != 0,
        expires_at_ms: r.get(1),
        traffic_limit_bytes: r.get(2),
        used_bytes: r.get(3),
        on_hold_days: r.get(4),
    };
    let old: String = r.get(5);
    let new = derive_status(&inputs, at);
    if old != new.as_str() {
        write_status(conn, user_id, &old, new, changes)?;
    }
    // Whatever led here (expiry, usage, a plan, a reset) may move the next due time.
    super::reminder::refresh_next_due(conn, at, user_id)
}

/// Writes a changed status; when it changes whether the data planes serve the user, every
/// node holding one of their devices is told.
fn write_status(
    conn: &Conn,
    user_id: i64,
    old: &str,
    new: UserStatus,
    changes: &mut Vec<Change>,
) -> Result<(), sql::Error> {
    sql::query("UPDATE users SET status = ? WHERE id = ?")
        .bind(new.as_str())
        .bind(user_id)
        .execute(conn)?;
    let was_served = UserStatus::parse(old).is_some_and(UserStatus::is_served);
    if was_served != new.is_served() {
        let nodes: Vec<i64> = sql::query_scalar(
            "SELECT DISTINCT node_id FROM devices WHERE user_id = ? AND revoked_at IS NULL",
        )
        .bind(user_id)
        .fetch_all(conn)?;
        changes.extend(nodes.into_iter().map(|n| Change::Devices {
            node_id: n as NodeId,
        }));
    }
    Ok(())
}

/// `IssueDevice` of a new device: refused when the user already holds their plan's limit.
pub(super) fn check_device_limit(conn: &Conn, user_id: i64) -> Result<(), Failure> {
    let limit: i64 = sql::query_scalar("SELECT device_limit FROM users WHERE id = ?")
        .bind(user_id)
        .fetch_one(conn)?;
    if limit <= 0 {
        return Ok(());
    }
    // Count at most `limit` rows, through the partial index of active devices: the cost is
    // O(limit), not O(devices the user ever had). Counting them all (the planner picks
    // `devices_user` and reads every row for `revoked_at`) made each issue O(n) and was
    // 39% of the node's CPU with a few hundred devices per user (`vpnkeeper bench`).
    let active: i64 = sql::query_scalar(
        "SELECT COUNT(*) FROM (SELECT 1 FROM devices INDEXED BY devices_active_name
          WHERE user_id = ? AND revoked_at IS NULL LIMIT ?)",
    )
    .bind(user_id)
    .bind(limit)
    .fetch_one(conn)?;
    if active >= limit {
        return Err(refuse_at(
            &Some(format!("user:{user_id}")),
            CommandError::conflict(
                Some("device_limit"),
                format!("user {user_id} already has {active} active devices, the plan's limit of {limit}; revoke one first"),
            ),
        ));
    }
    Ok(())
}

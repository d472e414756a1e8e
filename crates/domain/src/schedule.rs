//! The leader's scheduler, as pure functions: given the users' lifecycle rows and "now",
//! which [`LifecycleEvent`]s and [`Reminder`]s are due, and when a user next needs a look
//! ([`next_due_ms`], kept per user by apply so a pass reads only the users due). Apply
//! re-checks each event, so a pass that runs twice (a failover mid-pass, a slow commit)
//! changes nothing the second time; a reset is keyed by its period start, so downtime across
//! several periods still resets once; a reminder is keyed by (user, kind, period).

use crate::command::plan::LifecycleEvent;
use crate::command::reminder::{
    due_reminders, next_reminder_ms, Reminded, Reminder, ReminderInputs,
};
use crate::entity::UserId;
use crate::reset::{next_reset, period_start, ResetStrategy};

/// What the scheduler reads of one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleRow {
    pub user_id: UserId,
    pub status: String,
    pub expires_at_ms: Option<i64>,
    pub on_hold_timeout_ms: Option<i64>,
    pub reset_strategy: ResetStrategy,
    pub reset_day: Option<u8>,
    /// Anchor of `month_rolling`: when the plan term began.
    pub plan_started_at_ms: Option<i64>,
    /// Start of the period the stored usage belongs to.
    pub period_start_ms: i64,
    /// Whether the user has a Telegram id (reminders go to that chat).
    pub telegram: bool,
    pub traffic_limit_bytes: Option<i64>,
    pub used_bytes: i64,
    /// The period each reminder kind was last sent for.
    pub reminded: Reminded,
}

impl LifecycleRow {
    pub fn reminder_inputs(&self) -> ReminderInputs<'_> {
        ReminderInputs {
            status: &self.status,
            telegram: self.telegram,
            expires_at_ms: self.expires_at_ms,
            plan_started_at_ms: self.plan_started_at_ms,
            traffic_limit_bytes: self.traffic_limit_bytes,
            used_bytes: self.used_bytes,
            period_start_ms: self.period_start_ms,
            reminded: self.reminded,
        }
    }

    fn live(&self) -> bool {
        matches!(self.status.as_str(), "active" | "limited")
    }

    fn anchor(&self) -> i64 {
        self.plan_started_at_ms.unwrap_or(0)
    }
}

/// The lifecycle events of one user due at `now`.
fn events_of(r: &LifecycleRow, now_ms: i64, out: &mut Vec<LifecycleEvent>) {
    let user_id = r.user_id;
    if r.status == "disabled" {
        return;
    }
    if r.live() && r.expires_at_ms.is_some_and(|e| e <= now_ms) {
        out.push(LifecycleEvent::Expire { user_id });
    }
    if r.status == "on_hold" && r.on_hold_timeout_ms.is_some_and(|t| t <= now_ms) {
        out.push(LifecycleEvent::OnHoldTimeout { user_id });
    }
    if let Some(p) = period_start(r.reset_strategy, r.reset_day, r.anchor(), now_ms) {
        if p > r.period_start_ms {
            out.push(LifecycleEvent::Reset {
                user_id,
                period_start_ms: p,
            });
        }
    }
}

pub fn due_events(rows: &[LifecycleRow], now_ms: i64) -> Vec<LifecycleEvent> {
    let mut out = Vec::new();
    for r in rows {
        events_of(r, now_ms, &mut out);
    }
    out
}

/// The earliest moment at or after which something may be due for this user, as seen at
/// `at` (apply's clock); `None` when nothing time-driven is pending. A lower bound: a pass
/// that finds the user with nothing due has apply recompute it (`RecheckDue`).
pub fn next_due_ms(r: &LifecycleRow, at: i64) -> Option<i64> {
    if r.status == "disabled" {
        return None;
    }
    let expire = r.expires_at_ms.filter(|_| r.live());
    let hold = r.on_hold_timeout_ms.filter(|_| r.status == "on_hold");
    let reset = next_reset(r.reset_strategy, r.reset_day, r.anchor(), r.period_start_ms);
    let remind = next_reminder_ms(&r.reminder_inputs(), at);
    [expire, hold, reset, remind].into_iter().flatten().min()
}

/// What one scheduler pass proposes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pass {
    pub events: Vec<LifecycleEvent>,
    pub reminders: Vec<Reminder>,
    /// Users read as due with nothing due now: apply recomputes their next-due time.
    pub idle: Vec<UserId>,
}

/// The pass over the users read as due at `now`.
pub fn plan_pass(rows: &[LifecycleRow], now_ms: i64) -> Pass {
    let mut pass = Pass::default();
    for r in rows {
        let (events, reminders) = (pass.events.len(), pass.reminders.len());
        events_of(r, now_ms, &mut pass.events);
        if r.status != "disabled" {
            pass.reminders
                .extend(due_reminders(r.user_id, &r.reminder_inputs(), now_ms));
        }
        if pass.events.len() == events && pass.reminders.len() == reminders {
            pass.idle.push(r.user_id);
        }
    }
    pass
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reset::days_from_civil;

    const DAY: i64 = 86_400_000;

    fn row(id: i64) -> LifecycleRow {
        LifecycleRow {
            user_id: id,
            status: "active".into(),
            expires_at_ms: None,
            on_hold_timeout_ms: None,
            reset_strategy: ResetStrategy::Month,
            reset_day: None,
            plan_started_at_ms: Some(0),
            period_start_ms: days_from_civil(2026, 11, 1) * DAY,
            telegram: false,
            traffic_limit_bytes: None,
            used_bytes: 0,
            reminded: Reminded::default(),
        }
    }

    #[test]
    fn missed_resets_happen_once_keyed_by_the_latest_period() {
        // Down from November to February: three boundaries passed, one reset, for February.
        let now = days_from_civil(2027, 2, 10) * DAY;
        let feb = days_from_civil(2027, 2, 1) * DAY;
        let ev = due_events(&[row(1)], now);
        assert_eq!(
            ev,
            vec![LifecycleEvent::Reset {
                user_id: 1,
                period_start_ms: feb
            }]
        );
        // After it applied, the same pass finds nothing.
        let mut done = row(1);
        done.period_start_ms = feb;
        assert!(due_events(&[done], now).is_empty());
    }

    #[test]
    fn expiry_and_on_hold_timeout() {
        let now = 1_000_000;
        let mut a = row(1);
        a.reset_strategy = ResetStrategy::NoReset;
        a.expires_at_ms = Some(now);
        let mut b = a.clone();
        b.user_id = 2;
        b.status = "expired".into();
        let mut c = a.clone();
        c.user_id = 3;
        c.status = "on_hold".into();
        c.expires_at_ms = None;
        c.on_hold_timeout_ms = Some(now - 1);
        let ev = due_events(&[a, b, c], now);
        assert_eq!(
            ev,
            vec![
                LifecycleEvent::Expire { user_id: 1 },
                LifecycleEvent::OnHoldTimeout { user_id: 3 }
            ]
        );
    }

    #[test]
    fn next_due_is_the_earliest_of_expiry_reset_hold_and_reminders() {
        let nov = days_from_civil(2026, 11, 1) * DAY;
        let dec = days_from_civil(2026, 12, 1) * DAY;
        let mut r = row(1);
        // Monthly reset: the next boundary after the stored period.
        assert_eq!(next_due_ms(&r, nov + DAY), Some(dec));
        // An expiry before it wins; with a chat, its 3-day reminder comes first.
        r.expires_at_ms = Some(nov + 20 * DAY);
        assert_eq!(next_due_ms(&r, nov + DAY), Some(nov + 20 * DAY));
        r.telegram = true;
        assert_eq!(next_due_ms(&r, nov + DAY), Some(nov + 17 * DAY));
        // Disabled: nothing, whatever the row says.
        r.status = "disabled".into();
        assert_eq!(next_due_ms(&r, nov + DAY), None);
        // On hold: the timeout (expiry is not set while on hold).
        let mut h = row(2);
        h.reset_strategy = ResetStrategy::NoReset;
        h.status = "on_hold".into();
        h.on_hold_timeout_ms = Some(nov + 5 * DAY);
        assert_eq!(next_due_ms(&h, nov), Some(nov + 5 * DAY));
        h.on_hold_timeout_ms = None;
        assert_eq!(next_due_ms(&h, nov), None);
    }

    #[test]
    fn a_pass_splits_due_work_from_idle_rows() {
        let nov = days_from_civil(2026, 11, 1) * DAY;
        let now = nov + 10 * DAY;
        let mut expiring = row(1);
        expiring.reset_strategy = ResetStrategy::NoReset;
        expiring.telegram = true;
        expiring.expires_at_ms = Some(now + DAY / 2);
        let mut quota = row(2);
        quota.reset_strategy = ResetStrategy::NoReset;
        quota.telegram = true;
        quota.traffic_limit_bytes = Some(100);
        quota.used_bytes = 100;
        quota.status = "limited".into();
        let mut idle = row(3);
        idle.reset_strategy = ResetStrategy::NoReset;
        let pass = plan_pass(&[expiring, quota, idle], now);
        assert!(pass.events.is_empty());
        let got: Vec<_> = pass.reminders.iter().map(|r| (r.user_id, r.kind)).collect();
        use crate::command::reminder::ReminderKind as K;
        assert_eq!(got, vec![(1, K::Expires1d), (2, K::Quota100)]);
        assert_eq!(pass.idle, vec![3]);
    }
}

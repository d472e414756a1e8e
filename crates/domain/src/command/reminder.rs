//! Reminders to end users (issue #15 item 7): expiry in 3 days, in 1 day, expired; 80% and
//! 100% of the period's quota.
//!
//! The leader's scheduler finds what is due ([`due_reminders`], pure) and proposes it as
//! `Command::RemindUsers`; apply re-checks each reminder at the envelope's clock with the
//! same function, records it per (user, kind) with its period, and queues the message in
//! the bot's outbox in the same transaction. "Sent once" therefore lives in replicated
//! state: a pass repeated across a failover finds the reminder recorded and proposes
//! nothing, and the outbox sends what was queued exactly once.
//!
//! A reminder's *period* is what re-arms it: the expiry date for the expiry kinds (a
//! renewal gives a new date), the start of the usage period for the quota kinds (a reset or
//! a new plan gives a new one).

use serde::{Deserialize, Serialize};

use crate::entity::UserId;
use crate::validate::ValidationError;

const DAY_MS: i64 = 86_400_000;

/// How long after the expiry the "expired" reminder may still go out. Past it (a leader
/// down for days, or users who expired before reminders existed) it is skipped, not sent
/// late.
pub const EXPIRED_GRACE_MS: i64 = 3 * DAY_MS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReminderKind {
    #[serde(rename = "expires_3d")]
    Expires3d,
    #[serde(rename = "expires_1d")]
    Expires1d,
    Expired,
    #[serde(rename = "quota_80")]
    Quota80,
    #[serde(rename = "quota_100")]
    Quota100,
}

impl ReminderKind {
    pub const ALL: [ReminderKind; 5] = [
        ReminderKind::Expires3d,
        ReminderKind::Expires1d,
        ReminderKind::Expired,
        ReminderKind::Quota80,
        ReminderKind::Quota100,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReminderKind::Expires3d => "expires_3d",
            ReminderKind::Expires1d => "expires_1d",
            ReminderKind::Expired => "expired",
            ReminderKind::Quota80 => "quota_80",
            ReminderKind::Quota100 => "quota_100",
        }
    }

    pub fn parse(s: &str) -> Option<ReminderKind> {
        ReminderKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One reminder, keyed by (user, kind, period).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reminder {
    pub user_id: UserId,
    pub kind: ReminderKind,
    /// The expiry (unix ms) for the expiry kinds; the usage period's start for the quota kinds.
    pub period_ms: i64,
}

/// The period each kind was last sent for (`None`: never).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reminded([Option<i64>; 5]);

impl Reminded {
    pub fn get(&self, kind: ReminderKind) -> Option<i64> {
        self.0[kind.index()]
    }

    pub fn set(&mut self, kind: ReminderKind, period_ms: i64) {
        self.0[kind.index()] = Some(period_ms);
    }

    fn sent(&self, kind: ReminderKind, period_ms: i64) -> bool {
        self.get(kind) == Some(period_ms)
    }
}

/// What deciding a user's reminders reads of their row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReminderInputs<'a> {
    pub status: &'a str,
    /// Whether the user has a Telegram id (no chat, no reminder).
    pub telegram: bool,
    pub expires_at_ms: Option<i64>,
    /// When the current plan term began: a stage that began before it is not sent (a
    /// one-day plan does not get "1 day left" at purchase).
    pub plan_started_at_ms: Option<i64>,
    pub traffic_limit_bytes: Option<i64>,
    pub used_bytes: i64,
    pub period_start_ms: i64,
    pub reminded: Reminded,
}

/// An expiry stage: its kind and the window `[start, end)` in which it may go out.
fn expiry_stages(e: i64) -> [(ReminderKind, i64, i64); 3] {
    [
        (ReminderKind::Expires3d, e - 3 * DAY_MS, e - DAY_MS),
        (ReminderKind::Expires1d, e - DAY_MS, e),
        (ReminderKind::Expired, e, e.saturating_add(EXPIRED_GRACE_MS)),
    ]
}

/// Statuses whose users hear about their expiry and quota (not disabled, not on hold).
fn reminds(r: &ReminderInputs<'_>) -> bool {
    r.telegram && matches!(r.status, "active" | "limited" | "expired")
}

/// Whether an expiry stage applies to this term at all.
fn stage_applies(r: &ReminderInputs<'_>, kind: ReminderKind, start: i64) -> bool {
    kind == ReminderKind::Expired || r.plan_started_at_ms.is_none_or(|p| start >= p)
}

/// The quota stage reached by the period's usage, if any (the most specific one only).
fn quota_stage(r: &ReminderInputs<'_>) -> Option<ReminderKind> {
    let limit = r.traffic_limit_bytes.filter(|l| *l > 0)?;
    if r.status == "expired" {
        return None;
    }
    let (used, limit) = (i128::from(r.used_bytes), i128::from(limit));
    if used >= limit {
        Some(ReminderKind::Quota100)
    } else if used * 5 >= limit * 4 {
        Some(ReminderKind::Quota80)
    } else {
        None
    }
}

/// The reminders of one user due at `now`: at most one expiry stage (the one whose window
/// holds `now`) and one quota stage (the highest reached), each unless already sent for
/// its period.
pub fn due_reminders(user_id: UserId, r: &ReminderInputs<'_>, now_ms: i64) -> Vec<Reminder> {
    let mut out = Vec::new();
    if !reminds(r) {
        return out;
    }
    if let Some(e) = r.expires_at_ms {
        let stage = expiry_stages(e)
            .into_iter()
            .find(|(_, start, end)| *start <= now_ms && now_ms < *end);
        if let Some((kind, start, _)) = stage {
            if stage_applies(r, kind, start) && !r.reminded.sent(kind, e) {
                out.push(Reminder {
                    user_id,
                    kind,
                    period_ms: e,
                });
            }
        }
    }
    if let Some(kind) = quota_stage(r) {
        if !r.reminded.sent(kind, r.period_start_ms) {
            out.push(Reminder {
                user_id,
                kind,
                period_ms: r.period_start_ms,
            });
        }
    }
    out
}

/// When the next reminder of this user can become due, seen at `at`: the start of the first
/// expiry stage not yet sent whose window has not closed, or `at` when a quota stage is
/// reached and unsent. Quota stages reached later are noticed by apply of the usage that
/// crosses them.
pub fn next_reminder_ms(r: &ReminderInputs<'_>, at: i64) -> Option<i64> {
    if !reminds(r) {
        return None;
    }
    let expiry = r.expires_at_ms.and_then(|e| {
        expiry_stages(e)
            .into_iter()
            .filter(|(kind, start, end)| {
                *end > at && stage_applies(r, *kind, *start) && !r.reminded.sent(*kind, e)
            })
            .map(|(_, start, _)| start)
            .min()
    });
    let quota = quota_stage(r)
        .filter(|k| !r.reminded.sent(*k, r.period_start_ms))
        .map(|_| at);
    expiry.into_iter().chain(quota).min()
}

/// Most reminders (or users) one command may carry, so one log entry stays small.
pub const MAX_REMINDERS: usize = 2000;

pub fn validate_reminders(reminders: &[Reminder]) -> Result<(), ValidationError> {
    validate_batch("reminders", reminders.len())?;
    if reminders.iter().any(|r| r.user_id <= 0) {
        return Err(ValidationError::new(
            "reminders",
            "user ids are positive; this reminder names none",
        ));
    }
    Ok(())
}

pub fn validate_recheck(user_ids: &[UserId]) -> Result<(), ValidationError> {
    validate_batch("user_ids", user_ids.len())
}

fn validate_batch(field: &str, len: usize) -> Result<(), ValidationError> {
    if len > MAX_REMINDERS {
        return Err(ValidationError::new(
            field,
            format!("at most {MAX_REMINDERS} per command; split the batch"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const E: i64 = 1_800_000_000_000;

    fn inputs() -> ReminderInputs<'static> {
        ReminderInputs {
            status: "active",
            telegram: true,
            expires_at_ms: Some(E),
            plan_started_at_ms: Some(E - 30 * DAY_MS),
            traffic_limit_bytes: None,
            used_bytes: 0,
            period_start_ms: E - 30 * DAY_MS,
            reminded: Reminded::default(),
        }
    }

    fn kinds(r: &ReminderInputs<'_>, now: i64) -> Vec<(ReminderKind, i64)> {
        due_reminders(7, r, now)
            .into_iter()
            .map(|r| (r.kind, r.period_ms))
            .collect()
    }

    #[test]
    fn expiry_stages_follow_the_clock_and_each_goes_once() {
        let mut r = inputs();
        assert_eq!(kinds(&r, E - 3 * DAY_MS - 1), vec![]);
        assert_eq!(next_reminder_ms(&r, E - 10 * DAY_MS), Some(E - 3 * DAY_MS));
        assert_eq!(
            kinds(&r, E - 3 * DAY_MS),
            vec![(ReminderKind::Expires3d, E)]
        );
        r.reminded.set(ReminderKind::Expires3d, E);
        assert_eq!(kinds(&r, E - 2 * DAY_MS), vec![]);
        assert_eq!(next_reminder_ms(&r, E - 2 * DAY_MS), Some(E - DAY_MS));
        assert_eq!(kinds(&r, E - 1), vec![(ReminderKind::Expires1d, E)]);
        r.reminded.set(ReminderKind::Expires1d, E);
        assert_eq!(next_reminder_ms(&r, E - 1), Some(E));
        r.status = "expired";
        assert_eq!(kinds(&r, E + 1000), vec![(ReminderKind::Expired, E)]);
        r.reminded.set(ReminderKind::Expired, E);
        assert_eq!(kinds(&r, E + 1000), vec![]);
        assert_eq!(next_reminder_ms(&r, E + 1000), None);
    }

    #[test]
    fn a_new_expiry_re_arms_and_a_missed_window_is_skipped() {
        let mut r = inputs();
        r.reminded.set(ReminderKind::Expires3d, E);
        r.reminded.set(ReminderKind::Expires1d, E);
        // Renewed: 30 more days. The stages of the new date are due again.
        let e2 = E + 30 * DAY_MS;
        r.expires_at_ms = Some(e2);
        assert_eq!(next_reminder_ms(&r, E), Some(e2 - 3 * DAY_MS));
        // The leader was down through the 3-day window: only the 1-day one goes.
        assert_eq!(kinds(&r, e2 - 5000), vec![(ReminderKind::Expires1d, e2)]);
        // Long expired (before reminders existed, or a long outage): nothing, and nothing
        // more to wait for.
        r.status = "expired";
        let late = e2 + EXPIRED_GRACE_MS;
        assert_eq!(kinds(&r, late), vec![]);
        assert_eq!(next_reminder_ms(&r, late), None);
    }

    #[test]
    fn a_short_term_skips_stages_that_began_before_it() {
        let mut r = inputs();
        r.plan_started_at_ms = Some(E - DAY_MS / 2);
        assert_eq!(kinds(&r, E - DAY_MS / 2), vec![]);
        assert_eq!(next_reminder_ms(&r, E - DAY_MS / 2), Some(E));
    }

    #[test]
    fn quota_stages_per_period() {
        let mut r = inputs();
        r.expires_at_ms = None;
        r.traffic_limit_bytes = Some(1000);
        r.used_bytes = 799;
        let now = E;
        assert_eq!(kinds(&r, now), vec![]);
        assert_eq!(next_reminder_ms(&r, now), None);
        r.used_bytes = 800;
        let p = r.period_start_ms;
        assert_eq!(kinds(&r, now), vec![(ReminderKind::Quota80, p)]);
        assert_eq!(next_reminder_ms(&r, now), Some(now));
        r.reminded.set(ReminderKind::Quota80, p);
        assert_eq!(kinds(&r, now), vec![]);
        assert_eq!(next_reminder_ms(&r, now), None);
        r.used_bytes = 1000;
        r.status = "limited";
        assert_eq!(kinds(&r, now), vec![(ReminderKind::Quota100, p)]);
        r.reminded.set(ReminderKind::Quota100, p);
        assert_eq!(kinds(&r, now), vec![]);
        // A new period re-arms both.
        r.period_start_ms = p + 30 * DAY_MS;
        r.used_bytes = 900;
        r.status = "active";
        assert_eq!(
            kinds(&r, now),
            vec![(ReminderKind::Quota80, p + 30 * DAY_MS)]
        );
        // Huge numbers do not overflow.
        r.traffic_limit_bytes = Some(i64::MAX);
        r.used_bytes = i64::MAX;
        assert_eq!(kinds(&r, now)[0].0, ReminderKind::Quota100);
    }

    #[test]
    fn no_chat_disabled_or_on_hold_hear_nothing() {
        for (status, telegram) in [("active", false), ("disabled", true), ("on_hold", true)] {
            let mut r = inputs();
            r.status = status;
            r.telegram = telegram;
            r.traffic_limit_bytes = Some(10);
            r.used_bytes = 10;
            assert_eq!(kinds(&r, E - DAY_MS), vec![], "{status} {telegram}");
            assert_eq!(next_reminder_ms(&r, E - DAY_MS), None);
        }
    }

    #[test]
    fn kinds_round_trip() {
        for k in ReminderKind::ALL {
            assert_eq!(ReminderKind::parse(k.as_str()), Some(k));
            let json = serde_json::to_value(k).unwrap();
            assert_eq!(json, serde_json::json!(k.as_str()));
        }
        let bad = [Reminder {
            user_id: 0,
            kind: ReminderKind::Expired,
            period_ms: 1,
        }];
        assert!(validate_reminders(&bad).is_err());
        assert!(validate_recheck(&vec![1; MAX_REMINDERS + 1]).is_err());
    }
}

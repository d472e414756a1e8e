//! The leader's scheduler, as a pure function: given the users' lifecycle rows and "now",
//! which [`LifecycleEvent`]s are due. Apply re-checks each, so a pass that runs twice (a
//! failover mid-pass, a slow commit) changes nothing the second time; a reset is keyed by its
//! period start, so downtime across several periods still resets once.

use crate::command::plan::LifecycleEvent;
use crate::entity::UserId;
use crate::reset::{period_start, ResetStrategy};

/// What the scheduler reads of one user (statuses that can still change by time alone).
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
}

pub fn due_events(rows: &[LifecycleRow], now_ms: i64) -> Vec<LifecycleEvent> {
    let mut out = Vec::new();
    for r in rows {
        let user_id = r.user_id;
        let live = matches!(r.status.as_str(), "active" | "limited");
        if live && r.expires_at_ms.is_some_and(|e| e <= now_ms) {
            out.push(LifecycleEvent::Expire { user_id });
        }
        if r.status == "on_hold" && r.on_hold_timeout_ms.is_some_and(|t| t <= now_ms) {
            out.push(LifecycleEvent::OnHoldTimeout { user_id });
        }
        let anchor = r.plan_started_at_ms.unwrap_or(0);
        if let Some(p) = period_start(r.reset_strategy, r.reset_day, anchor, now_ms) {
            if p > r.period_start_ms {
                out.push(LifecycleEvent::Reset {
                    user_id,
                    period_start_ms: p,
                });
            }
        }
    }
    out
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
}

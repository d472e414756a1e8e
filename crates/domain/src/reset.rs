//! Reset strategies of a plan's traffic quota, as pure date math over unix milliseconds (UTC).
//!
//! Every boundary is 00:00 UTC of a calendar day. The scheduler asks [`period_start`] for the
//! start of the period that contains "now" and keys a reset by it, so a reset missed while no
//! leader ran happens once (one key per period), never twice and never not at all.

use serde::{Deserialize, Serialize};

use crate::validate::ValidationError;

const DAY_MS: i64 = 86_400_000;

/// When a user's period usage goes back to zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ResetStrategy {
    #[default]
    NoReset,
    /// Every day at 00:00 UTC.
    Day,
    /// Every Monday at 00:00 UTC.
    Week,
    /// On the 1st of every month.
    Month,
    /// On January 1st.
    Year,
    /// On the day of the month the plan started (clamped to the month's last day).
    MonthRolling,
    /// On `reset_day` (1–31) of every month, clamped to the month's last day.
    DayOfMonth,
}

impl ResetStrategy {
    pub fn as_str(self) -> &'static str {
        match self {
            ResetStrategy::NoReset => "no_reset",
            ResetStrategy::Day => "day",
            ResetStrategy::Week => "week",
            ResetStrategy::Month => "month",
            ResetStrategy::Year => "year",
            ResetStrategy::MonthRolling => "month_rolling",
            ResetStrategy::DayOfMonth => "day_of_month",
        }
    }

    pub fn parse(s: &str) -> Option<ResetStrategy> {
        [
            ResetStrategy::NoReset,
            ResetStrategy::Day,
            ResetStrategy::Week,
            ResetStrategy::Month,
            ResetStrategy::Year,
            ResetStrategy::MonthRolling,
            ResetStrategy::DayOfMonth,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// `reset_day` must be given (1–31) with `day_of_month`, and only then.
pub fn validate_reset(
    strategy: ResetStrategy,
    reset_day: Option<u8>,
) -> Result<(), ValidationError> {
    match (strategy, reset_day) {
        (ResetStrategy::DayOfMonth, Some(1..=31)) => Ok(()),
        (ResetStrategy::DayOfMonth, None) => Err(ValidationError::new(
            "reset_day",
            "is required with reset_strategy `day_of_month`: a day 1–31",
        )),
        (ResetStrategy::DayOfMonth, Some(_)) => Err(ValidationError::new(
            "reset_day",
            "must be a day of the month, 1–31 (31 means the month's last day in shorter months)",
        )),
        (_, Some(_)) => Err(ValidationError::new(
            "reset_day",
            "is only used with reset_strategy `day_of_month`; leave it out",
        )),
        (_, None) => Ok(()),
    }
}

/// A calendar date (proleptic Gregorian, UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    pub year: i64,
    pub month: u32,
    pub day: u32,
}

/// Days since 1970-01-01 of a civil date (H. Hinnant's `days_from_civil`).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> Date {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Date { year, month, day }
}

pub fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// 00:00 UTC of `day` (clamped to the month's last day) in `year`/`month`, in days.
fn clamped_day(year: i64, month: u32, day: u32) -> i64 {
    days_from_civil(year, month, day.min(days_in_month(year, month)))
}

fn prev_month(year: i64, month: u32) -> (i64, u32) {
    if month == 1 {
        (year - 1, 12)
    } else {
        (year, month - 1)
    }
}

/// The latest monthly boundary on `day` (clamped) at or before `today` (in days).
fn monthly_start(today: i64, day: u32) -> i64 {
    let d = civil_from_days(today);
    let this = clamped_day(d.year, d.month, day);
    if this <= today {
        this
    } else {
        let (y, m) = prev_month(d.year, d.month);
        clamped_day(y, m, day)
    }
}

/// Start (unix ms, 00:00 UTC) of the reset period that contains `now_ms`; `None` for
/// `no_reset`. `anchor_ms` is when the plan started (used by `month_rolling`); `reset_day`
/// by `day_of_month`.
pub fn period_start(
    strategy: ResetStrategy,
    reset_day: Option<u8>,
    anchor_ms: i64,
    now_ms: i64,
) -> Option<i64> {
    let today = now_ms.div_euclid(DAY_MS);
    let start_day = match strategy {
        ResetStrategy::NoReset => return None,
        ResetStrategy::Day => today,
        // 1970-01-01 was a Thursday: day 4 (mod 7) is a Monday.
        ResetStrategy::Week => today - (today - 4).rem_euclid(7),
        ResetStrategy::Month => monthly_start(today, 1),
        ResetStrategy::Year => days_from_civil(civil_from_days(today).year, 1, 1),
        ResetStrategy::MonthRolling => {
            monthly_start(today, civil_from_days(anchor_ms.div_euclid(DAY_MS)).day)
        }
        ResetStrategy::DayOfMonth => monthly_start(today, u32::from(reset_day?.clamp(1, 31))),
    };
    Some(start_day * DAY_MS)
}

/// The first reset boundary strictly after `now_ms`, for "next reset" in views.
pub fn next_reset(
    strategy: ResetStrategy,
    reset_day: Option<u8>,
    anchor_ms: i64,
    now_ms: i64,
) -> Option<i64> {
    let current = period_start(strategy, reset_day, anchor_ms, now_ms)?;
    // A period is at most 366 days: probe forward day by day past the current start.
    let mut probe = current + DAY_MS;
    loop {
        let p = period_start(strategy, reset_day, anchor_ms, probe)?;
        if p > current {
            return Some(p);
        }
        probe += DAY_MS;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(y: i64, m: u32, d: u32) -> i64 {
        days_from_civil(y, m, d) * DAY_MS
    }

    fn at(y: i64, m: u32, d: u32, h: i64) -> i64 {
        ms(y, m, d) + h * 3_600_000
    }

    #[test]
    fn civil_round_trip() {
        for days in -800_000..800_000 {
            let d = civil_from_days(days);
            assert_eq!(days_from_civil(d.year, d.month, d.day), days);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn no_reset_has_no_period() {
        assert_eq!(
            period_start(ResetStrategy::NoReset, None, 0, at(2026, 5, 5, 3)),
            None
        );
        assert_eq!(
            next_reset(ResetStrategy::NoReset, None, 0, at(2026, 5, 5, 3)),
            None
        );
    }

    #[test]
    fn day_week_month_year() {
        let now = at(2026, 12, 4, 11); // a Friday
        let s = |r| period_start(r, None, 0, now).unwrap();
        assert_eq!(s(ResetStrategy::Day), ms(2026, 12, 4));
        assert_eq!(s(ResetStrategy::Week), ms(2026, 11, 30)); // Monday
        assert_eq!(s(ResetStrategy::Month), ms(2026, 12, 1));
        assert_eq!(s(ResetStrategy::Year), ms(2026, 1, 1));
        let n = |r| next_reset(r, None, 0, now).unwrap();
        assert_eq!(n(ResetStrategy::Day), ms(2026, 12, 5));
        assert_eq!(n(ResetStrategy::Week), ms(2026, 12, 7));
        assert_eq!(n(ResetStrategy::Month), ms(2027, 1, 1));
        assert_eq!(n(ResetStrategy::Year), ms(2027, 1, 1));
        // A boundary belongs to the period it starts.
        assert_eq!(
            period_start(ResetStrategy::Week, None, 0, ms(2026, 12, 7)),
            Some(ms(2026, 12, 7))
        );
    }

    #[test]
    fn reset_day_31_clamps_to_february_end() {
        let r = ResetStrategy::DayOfMonth;
        // Not a leap year: February's boundary is the 28th.
        assert_eq!(
            next_reset(r, Some(31), 0, at(2027, 1, 31, 1)),
            Some(ms(2027, 2, 28))
        );
        assert_eq!(
            period_start(r, Some(31), 0, at(2027, 2, 27, 1)),
            Some(ms(2027, 1, 31))
        );
        assert_eq!(
            period_start(r, Some(31), 0, at(2027, 2, 28, 1)),
            Some(ms(2027, 2, 28))
        );
        assert_eq!(
            next_reset(r, Some(31), 0, at(2027, 2, 28, 1)),
            Some(ms(2027, 3, 31))
        );
        // 30-day month.
        assert_eq!(
            period_start(r, Some(31), 0, at(2027, 4, 30, 5)),
            Some(ms(2027, 4, 30))
        );
    }

    #[test]
    fn leap_year_february() {
        let r = ResetStrategy::DayOfMonth;
        assert_eq!(
            next_reset(r, Some(31), 0, at(2028, 1, 31, 1)),
            Some(ms(2028, 2, 29))
        );
        assert_eq!(
            period_start(r, Some(30), 0, at(2028, 2, 29, 0)),
            Some(ms(2028, 2, 29))
        );
        assert_eq!(
            period_start(r, Some(29), 0, at(2028, 2, 28, 0)),
            Some(ms(2028, 1, 29))
        );
        // 2100 is not a leap year, 2000 was.
        assert!(!is_leap(2100) && is_leap(2000) && is_leap(2028));
        assert_eq!(
            next_reset(r, Some(30), 0, at(2100, 2, 1, 0)),
            Some(ms(2100, 2, 28))
        );
    }

    #[test]
    fn month_rolling_follows_the_plan_start_day() {
        let r = ResetStrategy::MonthRolling;
        let anchor = at(2027, 1, 31, 15);
        assert_eq!(
            period_start(r, None, anchor, at(2027, 2, 10, 0)),
            Some(ms(2027, 1, 31))
        );
        assert_eq!(
            next_reset(r, None, anchor, at(2027, 2, 10, 0)),
            Some(ms(2027, 2, 28))
        );
        assert_eq!(
            next_reset(r, None, anchor, at(2027, 2, 28, 1)),
            Some(ms(2027, 3, 31))
        );
        let anchor = at(2026, 3, 15, 9);
        assert_eq!(
            period_start(r, None, anchor, at(2026, 12, 4, 0)),
            Some(ms(2026, 11, 15))
        );
        assert_eq!(
            period_start(r, None, anchor, at(2027, 1, 14, 0)),
            Some(ms(2026, 12, 15))
        );
        assert_eq!(
            period_start(r, None, anchor, at(2027, 1, 15, 0)),
            Some(ms(2027, 1, 15))
        );
    }

    #[test]
    fn reset_day_validation() {
        assert!(validate_reset(ResetStrategy::DayOfMonth, Some(1)).is_ok());
        assert!(validate_reset(ResetStrategy::DayOfMonth, Some(31)).is_ok());
        assert!(validate_reset(ResetStrategy::Month, None).is_ok());
        for bad in [Some(0), Some(32), None] {
            let e = validate_reset(ResetStrategy::DayOfMonth, bad).unwrap_err();
            assert!(e.to_string().contains("reset_day"), "{e}");
        }
        assert!(validate_reset(ResetStrategy::Month, Some(3)).is_err());
    }
}

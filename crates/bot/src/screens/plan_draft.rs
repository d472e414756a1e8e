//! Creating or editing a plan from the bot (admin; issue #15 item 1), step by step: name,
//! duration, traffic quota, reset strategy (and day), device limit, then a check screen
//! where any field can be changed again before saving.
//!
//! The draft lives in the chat's pending input (`{"kind": "plan_draft", ...}`), so every
//! step is one update and a restart or leader change loses nothing. Each step offers only
//! valid values as buttons, and typed values go through the same checks: bad input gets a
//! one-line refusal and the draft stays as it was. The plan is written only by the final
//! `CreatePlan`/`UpdatePlan`, checked with `PlanSpec::validate` first, so an update is never
//! refused as a whole at the front door.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use vpnkeeper_domain::command::plan::{
    PlanSpec, MAX_DEVICE_LIMIT, MAX_DURATION_DAYS, MAX_QUOTA_BYTES,
};
use vpnkeeper_domain::reset::ResetStrategy;
use vpnkeeper_domain::{validate, Command};
use vpnkeeper_store::plan_queries::Plan;
use vpnkeeper_store::ReadError;

use super::{btn, kb, Rendered, View};
use crate::callback::Cb;
use crate::decide::Turn;
use crate::outbox::{CommandRef, Notice, Outcomes, Screen};
use crate::texts::{html, num, s, t, tr, Lang};
use crate::Ctx;

/// The pending-input kind of a draft.
pub(crate) const KIND: &str = "plan_draft";

const GIB: i64 = 1 << 30;
/// Choices offered as buttons (anything in range may be typed).
const DAY_CHOICES: [i64; 4] = [7, 30, 90, 365];
const QUOTA_GIB_CHOICES: [i64; 4] = [10, 50, 100, 500];
const DEVICE_CHOICES: [i64; 5] = [1, 2, 3, 5, 10];
const RESETS: [ResetStrategy; 7] = [
    ResetStrategy::NoReset,
    ResetStrategy::Day,
    ResetStrategy::Week,
    ResetStrategy::Month,
    ResetStrategy::Year,
    ResetStrategy::MonthRolling,
    ResetStrategy::DayOfMonth,
];

/// What the draft asks for next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    #[default]
    Name,
    Days,
    Quota,
    Reset,
    ResetDay,
    Devices,
    /// Every field is set: check and save.
    Confirm,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Name => "name",
            Step::Days => "days",
            Step::Quota => "quota",
            Step::Reset => "reset",
            Step::ResetDay => "reset_day",
            Step::Devices => "devices",
            Step::Confirm => "confirm",
        }
    }

    pub fn parse(s: &str) -> Option<Step> {
        [
            Step::Name,
            Step::Days,
            Step::Quota,
            Step::Reset,
            Step::ResetDay,
            Step::Devices,
            Step::Confirm,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

/// A plan being created (`plan_id` none) or edited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Draft {
    #[serde(default)]
    pub step: Step,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset: Option<ResetStrategy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reset_day: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<i64>,
    /// Kept from the edited plan (prices are set through the API for now).
    #[serde(default)]
    pub price_stars: i64,
}

/// One value for the draft's current step: typed, or from a button.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Input<'a> {
    Text(&'a str),
    Days(i64),
    QuotaGib(i64),
    Reset(ResetStrategy),
    ResetDay(i64),
    Devices(i64),
}

impl Draft {
    pub fn from_pending(pending: Option<&Value>) -> Option<Draft> {
        let p = pending?;
        if p.get("kind")?.as_str()? != KIND {
            return None;
        }
        serde_json::from_value(p.clone()).ok()
    }

    fn to_pending(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(o) = v.as_object_mut() {
            o.insert("kind".into(), Value::from(KIND));
        }
        v
    }

    /// A draft of an existing plan, at the check screen.
    pub fn of_plan(p: &Plan) -> Draft {
        Draft {
            step: Step::Confirm,
            plan_id: Some(p.id),
            name: Some(p.spec.name.clone()),
            days: Some(p.spec.duration_days),
            quota: Some(p.spec.traffic_limit_bytes),
            reset: Some(p.spec.reset_strategy),
            reset_day: p.spec.reset_day,
            devices: Some(p.spec.device_limit),
            price_stars: p.spec.price_stars,
        }
    }

    /// The first step still missing a value, or the check screen.
    pub fn next_step(&self) -> Step {
        if self.name.is_none() {
            Step::Name
        } else if self.days.is_none() {
            Step::Days
        } else if self.quota.is_none() {
            Step::Quota
        } else if self.reset.is_none() {
            Step::Reset
        } else if self.reset == Some(ResetStrategy::DayOfMonth) && self.reset_day.is_none() {
            Step::ResetDay
        } else if self.devices.is_none() {
            Step::Devices
        } else {
            Step::Confirm
        }
    }

    /// The plan's fields, once every step is done and they pass the command's checks.
    pub fn spec(&self) -> Option<PlanSpec> {
        let spec = PlanSpec {
            name: self.name.clone()?,
            duration_days: self.days?,
            traffic_limit_bytes: self.quota?,
            device_limit: self.devices?,
            reset_strategy: self.reset?,
            reset_day: self.reset_day,
            price_stars: self.price_stars,
        };
        spec.validate().ok().map(|_| spec)
    }

    /// Sets the current step's value. `taken` says whether a plan name belongs to another
    /// plan. On a refusal the draft is unchanged.
    pub fn set(&mut self, input: Input<'_>, taken: impl Fn(&str) -> bool) -> Result<(), Notice> {
        let step = self.step;
        let bad = || Notice::PlanBadInput { step };
        match (step, input) {
            (Step::Name, Input::Text(text)) => {
                let name = text.trim();
                validate::name("name", name).map_err(|_| bad())?;
                if taken(name) {
                    return Err(Notice::PlanNameTaken);
                }
                self.name = Some(name.to_string());
            }
            (Step::Days, Input::Days(d)) => {
                self.days = Some(in_range(d, 1, MAX_DURATION_DAYS).ok_or_else(bad)?)
            }
            (Step::Days, Input::Text(t)) => {
                self.days = Some(
                    whole(t)
                        .and_then(|d| in_range(d, 1, MAX_DURATION_DAYS))
                        .ok_or_else(bad)?,
                )
            }
            (Step::Quota, Input::QuotaGib(g)) => {
                let bytes = g.checked_mul(GIB).ok_or_else(bad)?;
                self.quota = Some(in_range(bytes, 0, MAX_QUOTA_BYTES).ok_or_else(bad)?)
            }
            (Step::Quota, Input::Text(t)) => {
                self.quota = Some(
                    parse_size(t)
                        .and_then(|b| in_range(b, 0, MAX_QUOTA_BYTES))
                        .ok_or_else(bad)?,
                )
            }
            (Step::Reset, Input::Reset(r)) => {
                self.reset = Some(r);
                if r != ResetStrategy::DayOfMonth {
                    self.reset_day = None;
                }
            }
            (Step::ResetDay, Input::ResetDay(d)) => self.reset_day = Some(day(d).ok_or_else(bad)?),
            (Step::ResetDay, Input::Text(t)) => {
                self.reset_day = Some(whole(t).and_then(day).ok_or_else(bad)?)
            }
            (Step::Devices, Input::Devices(n)) => {
                self.devices = Some(in_range(n, 0, MAX_DEVICE_LIMIT).ok_or_else(bad)?)
            }
            (Step::Devices, Input::Text(t)) => {
                self.devices = Some(
                    whole(t)
                        .and_then(|n| in_range(n, 0, MAX_DEVICE_LIMIT))
                        .ok_or_else(bad)?,
                )
            }
            // Text where only buttons fit (reset strategy, the check screen).
            (Step::Reset | Step::Confirm, Input::Text(_)) => return Err(Notice::PlanUseButtons),
            _ => return Err(Notice::Outdated),
        }
        self.step = self.next_step();
        Ok(())
    }
}

fn in_range(v: i64, lo: i64, hi: i64) -> Option<i64> {
    (lo..=hi).contains(&v).then_some(v)
}

fn day(d: i64) -> Option<u8> {
    in_range(d, 1, 31).map(|d| d as u8)
}

/// A whole number, digits only ("30", not "+30" or "30.5").
fn whole(t: &str) -> Option<i64> {
    let t = t.trim();
    if t.is_empty() || t.len() > 18 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    t.parse().ok()
}

/// Bytes, or a size like `500M`, `50G`, `1.5T` (binary units, as `vpnkeeper plan add
/// --quota`); `0` and `unlimited` mean no quota.
pub(crate) fn parse_size(t: &str) -> Option<i64> {
    vpnkeeper_domain::size::parse_size(t).ok()
}

// ---- decide ----

/// "➕ New plan": an empty draft at its first step.
pub(crate) fn start(turn: &mut Turn<'_>) {
    turn.set_pending(Draft::default().to_pending());
    turn.ok(Screen::PlanDraft);
}

/// "✏️ Edit" on an active plan's card: its draft at the check screen.
pub(crate) fn edit(turn: &mut Turn<'_>, id: i64) {
    let Some(plan) = turn
        .snap
        .plan
        .as_ref()
        .filter(|p| p.id == id && !p.archived)
    else {
        turn.answer(Some(Notice::PlanUnavailable), true);
        turn.show(Screen::Plans);
        return;
    };
    let draft = Draft::of_plan(plan);
    turn.set_pending(draft.to_pending());
    turn.ok(Screen::PlanDraft);
}

/// A value for `step`, from a button or typed text.
pub(crate) fn input(turn: &mut Turn<'_>, step: Step, value: Input<'_>) {
    let Some(mut draft) = Draft::from_pending(turn.snap.pending()) else {
        turn.outdated();
        return;
    };
    if draft.step != step {
        // A button of a step already answered (or of another draft).
        turn.outdated();
        return;
    }
    let own = draft.plan_id;
    let snap = turn.snap;
    let names = &snap.plan_names;
    let taken = |name: &str| names.iter().any(|(id, n)| n == name && Some(*id) != own);
    match draft.set(value, taken) {
        Ok(()) => {
            turn.set_pending(draft.to_pending());
            turn.answer(None, false);
            turn.show(Screen::PlanDraft);
        }
        Err(notice) => turn.refuse(notice),
    }
}

/// Typed text while a draft waits: the value of its current step.
pub(crate) fn text(turn: &mut Turn<'_>, text: &str) {
    let step = Draft::from_pending(turn.snap.pending()).map_or(Step::Name, |d| d.step);
    input(turn, step, Input::Text(text));
}

/// "✏️ <field>" on the check screen: ask for that field again.
pub(crate) fn goto(turn: &mut Turn<'_>, step: Step) {
    let Some(mut draft) = Draft::from_pending(turn.snap.pending()) else {
        turn.outdated();
        return;
    };
    let reachable = match step {
        Step::Confirm => false,
        Step::ResetDay => draft.reset == Some(ResetStrategy::DayOfMonth),
        _ => true,
    };
    if draft.step != Step::Confirm || !reachable {
        turn.outdated();
        return;
    }
    draft.step = step;
    turn.set_pending(draft.to_pending());
    turn.ok(Screen::PlanDraft);
}

/// "✅ Save": `CreatePlan` or `UpdatePlan`, and the plans with the outcome.
pub(crate) fn save(turn: &mut Turn<'_>) {
    let draft = Draft::from_pending(turn.snap.pending()).filter(|d| d.step == Step::Confirm);
    let Some((draft, spec)) = draft.and_then(|d| d.spec().map(|s| (d, s))) else {
        turn.outdated();
        return;
    };
    let command = match draft.plan_id {
        None => Command::CreatePlan { plan: spec },
        Some(plan_id) => Command::UpdatePlan {
            plan_id,
            plan: spec,
        },
    };
    let outcome = turn.plan.command(command);
    turn.clear_pending();
    turn.ok(Screen::PlanSaved { outcome });
}

pub(crate) fn cancel(turn: &mut Turn<'_>) {
    turn.clear_pending();
    turn.answer(Some(Notice::Cancelled), false);
    turn.show(Screen::Plans);
}

// ---- load ----

pub(super) async fn load(
    ctx: &Ctx,
    chat: i64,
    screen: &Screen,
    view: &mut View,
) -> Result<(), ReadError> {
    let read = ctx.read();
    match screen {
        Screen::PlanDraft => {
            let pending = read.tg_chat(chat).await?.and_then(|c| c.pending);
            view.plan_draft = Draft::from_pending(pending.as_ref());
        }
        Screen::PlanSaved { .. } => view.plans = read.plans(false).await?,
        _ => {}
    }
    Ok(())
}

// ---- render ----

pub(crate) fn reset_label(lang: Lang, r: ResetStrategy, day: Option<u8>) -> String {
    let key = match r {
        ResetStrategy::NoReset => "reset-no-reset",
        ResetStrategy::Day => "reset-day",
        ResetStrategy::Week => "reset-week",
        ResetStrategy::Month => "reset-month",
        ResetStrategy::Year => "reset-year",
        ResetStrategy::MonthRolling => "reset-month-rolling",
        ResetStrategy::DayOfMonth => {
            return match day {
                Some(d) => tr(lang, "reset-on-day", &[("day", num(i64::from(d)))]),
                None => t(lang, "reset-day-of-month"),
            }
        }
    };
    t(lang, key)
}

/// The one-line refusal of a bad value for `step`.
pub(crate) fn bad_input_key(step: Step) -> &'static str {
    match step {
        Step::Name => "plan-bad-name",
        Step::Days => "plan-bad-days",
        Step::Quota => "plan-bad-quota",
        Step::ResetDay => "plan-bad-reset-day",
        Step::Devices => "plan-bad-devices",
        Step::Reset | Step::Confirm => "plan-use-buttons",
    }
}

fn days_label(lang: Lang, days: i64) -> String {
    tr(lang, "btn-days", &[("days", num(days))])
}

/// The buttons of one step, then Cancel.
fn step_rows(lang: Lang, draft: &Draft) -> Vec<Vec<teloxide::types::InlineKeyboardButton>> {
    let mut rows = match draft.step {
        Step::Name => Vec::new(),
        Step::Days => vec![DAY_CHOICES
            .iter()
            .map(|d| btn(days_label(lang, *d), Cb::PlanDays(*d)))
            .collect()],
        Step::Quota => vec![
            vec![btn(t(lang, "btn-unlimited"), Cb::PlanQuota(0))],
            QUOTA_GIB_CHOICES
                .iter()
                .map(|g| btn(format!("{g} GiB"), Cb::PlanQuota(*g)))
                .collect(),
        ],
        Step::Reset => RESETS
            .iter()
            .map(|r| vec![btn(reset_label(lang, *r, None), Cb::PlanReset(*r))])
            .collect(),
        Step::ResetDay => (1..=31)
            .collect::<Vec<i64>>()
            .chunks(7)
            .map(|week| {
                week.iter()
                    .map(|d| btn(d.to_string(), Cb::PlanResetDay(*d)))
                    .collect()
            })
            .collect(),
        Step::Devices => vec![
            vec![btn(t(lang, "btn-unlimited"), Cb::PlanDevices(0))],
            DEVICE_CHOICES
                .iter()
                .map(|n| btn(n.to_string(), Cb::PlanDevices(*n)))
                .collect(),
        ],
        Step::Confirm => confirm_rows(lang, draft),
    };
    rows.push(vec![btn(t(lang, "btn-cancel"), Cb::PlanCancel)]);
    rows
}

fn confirm_rows(lang: Lang, draft: &Draft) -> Vec<Vec<teloxide::types::InlineKeyboardButton>> {
    let edit = |key: &str, step: Step| btn(t(lang, key), Cb::PlanStep(step));
    let mut second = vec![
        edit("btn-edit-quota", Step::Quota),
        edit("btn-edit-reset", Step::Reset),
    ];
    if draft.reset == Some(ResetStrategy::DayOfMonth) {
        second.push(edit("btn-edit-reset-day", Step::ResetDay));
    }
    vec![
        vec![
            edit("btn-edit-name", Step::Name),
            edit("btn-edit-days", Step::Days),
        ],
        second,
        vec![edit("btn-edit-devices", Step::Devices)],
        vec![btn(t(lang, "btn-plan-save"), Cb::PlanSave)],
    ]
}

/// The draft's fields in one message (unset ones as "—").
fn summary(lang: Lang, d: &Draft) -> String {
    let or_dash = |v: Option<String>| v.unwrap_or_else(|| "—".into());
    let limit = |v: i64, f: &dyn Fn(i64) -> String| {
        if v == 0 {
            t(lang, "plan-unlimited")
        } else {
            f(v)
        }
    };
    tr(
        lang,
        "plan-draft",
        &[
            ("name", s(or_dash(d.name.as_deref().map(html)))),
            ("days", s(or_dash(d.days.map(|v| days_label(lang, v))))),
            (
                "quota",
                s(or_dash(d.quota.map(|v| limit(v, &crate::texts::bytes)))),
            ),
            (
                "reset",
                s(or_dash(d.reset.map(|r| reset_label(lang, r, d.reset_day)))),
            ),
            (
                "devices",
                s(or_dash(d.devices.map(|v| limit(v, &|n| n.to_string())))),
            ),
        ],
    )
}

pub(super) fn draft_screen(lang: Lang, view: &View) -> Rendered {
    let Some(d) = &view.plan_draft else {
        return (
            t(lang, "outdated"),
            kb(vec![vec![btn(t(lang, "btn-back"), Cb::Plans)]]),
        );
    };
    let title = match d.plan_id {
        None => t(lang, "plan-new-title"),
        Some(id) => tr(lang, "plan-edit-title", &[("id", num(id))]),
    };
    let ask = match d.step {
        Step::Name => "plan-ask-name",
        Step::Days => "plan-ask-days",
        Step::Quota => "plan-ask-quota",
        Step::Reset => "plan-ask-reset",
        Step::ResetDay => "plan-ask-reset-day",
        Step::Devices => "plan-ask-devices",
        Step::Confirm => "plan-confirm",
    };
    let text = format!("{title}\n{}\n\n{}", summary(lang, d), t(lang, ask));
    (text, kb(step_rows(lang, d)))
}

/// After "✅ Save": the outcome in one line, then the active plans.
pub(super) fn saved_screen(
    lang: Lang,
    view: &View,
    outcomes: Outcomes<'_>,
    outcome: CommandRef,
) -> Rendered {
    let (list, keyboard) = super::plans::list_screen(lang, view);
    let head = match outcomes.of(outcome) {
        Some(Err(e)) => super::error_text(lang, e),
        Some(Ok(_)) => t(lang, "plan-saved"),
        // The update was refused as a whole: nothing was saved.
        None => t(lang, "outdated"),
    };
    (format!("{head}\n\n{list}"), keyboard)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never(_: &str) -> bool {
        false
    }

    #[test]
    fn sizes_parse_like_the_cli() {
        assert_eq!(parse_size("0"), Some(0));
        assert_eq!(parse_size("unlimited"), Some(0));
        assert_eq!(parse_size("2048"), Some(2048));
        assert_eq!(parse_size("500M"), Some(500 << 20));
        assert_eq!(parse_size("50 GB"), Some(50 << 30));
        assert_eq!(parse_size("1.5T"), Some(3 << 39));
        for bad in ["", "-5", "5X", "G", "1e9", "99999999999T"] {
            assert_eq!(parse_size(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn steps_follow_in_order_and_day_of_month_asks_the_day() {
        let mut d = Draft::default();
        d.set(Input::Text(" weekly "), never).unwrap();
        assert_eq!((d.step, d.name.as_deref()), (Step::Days, Some("weekly")));
        d.set(Input::Days(7), never).unwrap();
        d.set(Input::Text("50G"), never).unwrap();
        assert_eq!((d.step, d.quota), (Step::Reset, Some(50 << 30)));
        d.set(Input::Reset(ResetStrategy::DayOfMonth), never)
            .unwrap();
        assert_eq!(d.step, Step::ResetDay);
        d.set(Input::Text("31"), never).unwrap();
        d.set(Input::Devices(3), never).unwrap();
        assert_eq!(d.step, Step::Confirm);
        let spec = d.spec().unwrap();
        assert_eq!(spec.reset_day, Some(31));
        assert_eq!(spec.device_limit, 3);
        // Changing the strategy away from day_of_month drops the day.
        d.step = Step::Reset;
        d.set(Input::Reset(ResetStrategy::Week), never).unwrap();
        assert_eq!((d.step, d.reset_day), (Step::Confirm, None));
        assert!(d.spec().is_some());
    }

    #[test]
    fn bad_values_are_refused_and_change_nothing() {
        let cases: Vec<(Step, Input<'static>)> = vec![
            (Step::Name, Input::Text("")),
            (Step::Name, Input::Text("12345")),
            (Step::Name, Input::Text("x\u{7}")),
            (Step::Days, Input::Text("0")),
            (Step::Days, Input::Text("36501")),
            (Step::Days, Input::Text("-3")),
            (Step::Days, Input::Text("30.5")),
            (Step::Days, Input::Days(0)),
            (Step::Quota, Input::Text("-1")),
            (Step::Quota, Input::Text("2E")),
            (Step::Quota, Input::QuotaGib(i64::MAX)),
            (Step::ResetDay, Input::Text("32")),
            (Step::ResetDay, Input::Text("0")),
            (Step::ResetDay, Input::ResetDay(40)),
            (Step::Devices, Input::Text("10001")),
            (Step::Devices, Input::Devices(-1)),
        ];
        for (step, input) in cases {
            let mut d = Draft {
                step,
                ..Draft::default()
            };
            let before = d.clone();
            assert_eq!(
                d.set(input, never),
                Err(Notice::PlanBadInput { step }),
                "{step:?} {input:?}"
            );
            assert_eq!(d, before);
        }
        let mut d = Draft::default();
        assert_eq!(
            d.set(Input::Text("monthly"), |n| n == "monthly"),
            Err(Notice::PlanNameTaken)
        );
        let mut d = Draft {
            step: Step::Reset,
            ..Draft::default()
        };
        assert_eq!(
            d.set(Input::Text("month"), never),
            Err(Notice::PlanUseButtons)
        );
        // A value of another step (a forged or stale button).
        assert_eq!(d.set(Input::Days(30), never), Err(Notice::Outdated));
    }

    #[test]
    fn the_pending_form_round_trips_and_other_kinds_are_not_drafts() {
        let d = Draft {
            step: Step::Quota,
            name: Some("m".into()),
            days: Some(30),
            ..Draft::default()
        };
        let p = d.to_pending();
        assert_eq!(p["kind"], KIND);
        assert_eq!(Draft::from_pending(Some(&p)), Some(d));
        let other = serde_json::json!({"kind": "await_broadcast"});
        assert_eq!(Draft::from_pending(Some(&other)), None);
        assert_eq!(Draft::from_pending(None), None);
    }
}

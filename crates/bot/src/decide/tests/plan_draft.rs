//! Creating and editing a plan from the bot (issue #15 item 1): each step's buttons and typed
//! values, one-line refusals that change nothing, stale buttons, save, edit and cancel.

use vpnkeeper_domain::command::plan::PlanSpec;
use vpnkeeper_domain::reset::ResetStrategy;
use vpnkeeper_store::plan_queries::Plan as StoredPlan;

use super::*;
use crate::screens::plan_draft::{Draft, Step, KIND};

fn pending_of(draft: &Draft) -> serde_json::Value {
    let mut v = serde_json::to_value(draft).unwrap();
    v.as_object_mut()
        .unwrap()
        .insert("kind".into(), serde_json::json!(KIND));
    v
}

fn draft_set(draft: &Draft) -> Command {
    Command::TelegramChat {
        telegram_id: ADMIN,
        change: ChatChange {
            lang: None,
            pending: Some(Some(pending_of(draft))),
        },
    }
}

/// Root with `draft` waiting, and the plan names `taken`.
fn drafting(draft: &Draft, taken: &[(i64, &str)]) -> Snapshot {
    let mut snap = admin();
    snap.chat = Some(chat(ADMIN, None, Some(pending_of(draft))));
    snap.plan_names = taken.iter().map(|(id, n)| (*id, n.to_string())).collect();
    snap
}

fn complete(plan_id: Option<i64>) -> Draft {
    Draft {
        step: Step::Confirm,
        plan_id,
        name: Some("monthly".into()),
        days: Some(30),
        quota: Some(50 << 30),
        reset: Some(ResetStrategy::DayOfMonth),
        reset_day: Some(31),
        devices: Some(3),
        price_stars: 100,
    }
}

fn stored(id: i64, archived: bool) -> StoredPlan {
    let d = complete(Some(id));
    StoredPlan {
        id,
        spec: d.spec().unwrap(),
        archived,
        created_at_ms: 0,
        updated_at_ms: 0,
    }
}

#[test]
fn new_plan_starts_an_empty_draft() {
    assert_eq!(
        admin_press(&admin(), Cb::PlanNew),
        plan(
            vec![draft_set(&Draft::default())],
            vec![ack_admin(), edit(ADMIN, Screen::PlanDraft)]
        )
    );
}

#[test]
fn typed_values_advance_the_draft() {
    let start = Draft::default();
    let named = Draft {
        step: Step::Days,
        name: Some("weekly".into()),
        ..Draft::default()
    };
    assert_eq!(
        say_as(&root(), &drafting(&start, &[(1, "monthly")]), "weekly"),
        plan(
            vec![draft_set(&named)],
            vec![fresh(ADMIN, Screen::PlanDraft)]
        )
    );
    let timed = Draft {
        step: Step::Quota,
        days: Some(7),
        ..named.clone()
    };
    assert_eq!(
        say_as(&root(), &drafting(&named, &[]), " 7 "),
        plan(
            vec![draft_set(&timed)],
            vec![fresh(ADMIN, Screen::PlanDraft)]
        )
    );
    let quota = Draft {
        step: Step::Reset,
        quota: Some(500 << 20),
        ..timed.clone()
    };
    assert_eq!(
        say_as(&root(), &drafting(&timed, &[]), "500M"),
        plan(
            vec![draft_set(&quota)],
            vec![fresh(ADMIN, Screen::PlanDraft)]
        )
    );
}

#[test]
fn bad_typed_values_get_one_line_and_change_nothing() {
    let at = |step| Draft {
        step,
        name: Some("x".into()),
        ..Draft::default()
    };
    for (step, text) in [
        (Step::Name, "123"),
        (Step::Days, "0"),
        (Step::Days, "forever"),
        (Step::Quota, "-1G"),
        (Step::ResetDay, "32"),
        (Step::Devices, "10001"),
    ] {
        assert_eq!(
            say_as(&root(), &drafting(&at(step), &[]), text),
            plan(
                vec![],
                vec![notice_to(ADMIN, Lang::En, Notice::PlanBadInput { step })]
            ),
            "{step:?} {text:?}"
        );
    }
    // A name another plan has (archived ones too).
    assert_eq!(
        say_as(
            &root(),
            &drafting(&Draft::default(), &[(4, "monthly")]),
            "monthly"
        ),
        plan(
            vec![],
            vec![notice_to(ADMIN, Lang::En, Notice::PlanNameTaken)]
        )
    );
    // Text where only buttons fit.
    assert_eq!(
        say_as(&root(), &drafting(&at(Step::Reset), &[]), "month"),
        plan(
            vec![],
            vec![notice_to(ADMIN, Lang::En, Notice::PlanUseButtons)]
        )
    );
}

#[test]
fn buttons_set_their_step_only() {
    let at_reset = Draft {
        step: Step::Reset,
        name: Some("m".into()),
        days: Some(30),
        quota: Some(0),
        ..Draft::default()
    };
    let day_of_month = Draft {
        step: Step::ResetDay,
        reset: Some(ResetStrategy::DayOfMonth),
        ..at_reset.clone()
    };
    assert_eq!(
        admin_press(
            &drafting(&at_reset, &[]),
            Cb::PlanReset(ResetStrategy::DayOfMonth)
        ),
        plan(
            vec![draft_set(&day_of_month)],
            vec![ack_admin(), edit(ADMIN, Screen::PlanDraft)]
        )
    );
    // A stale button of an answered step, a button without a draft: outdated, no change.
    assert_eq!(
        admin_press(&drafting(&day_of_month, &[]), Cb::PlanDays(30)),
        plan(vec![], vec![alert(ADMIN, Notice::Outdated)])
    );
    assert_eq!(
        admin_press(&admin(), Cb::PlanDevices(3)),
        plan(vec![], vec![alert(ADMIN, Notice::Outdated)])
    );
    // A forged value out of range: the step's refusal as an alert.
    assert_eq!(
        admin_press(&drafting(&day_of_month, &[]), Cb::PlanResetDay(40)),
        plan(
            vec![],
            vec![alert(
                ADMIN,
                Notice::PlanBadInput {
                    step: Step::ResetDay
                }
            )]
        )
    );
}

#[test]
fn save_creates_or_updates_the_plan() {
    let spec: PlanSpec = complete(None).spec().unwrap();
    assert_eq!(
        admin_press(&drafting(&complete(None), &[]), Cb::PlanSave),
        plan(
            vec![
                Command::CreatePlan { plan: spec.clone() },
                pending_cleared(ADMIN)
            ],
            vec![
                ack_admin(),
                edit(
                    ADMIN,
                    Screen::PlanSaved {
                        outcome: CommandRef(0)
                    }
                )
            ]
        )
    );
    assert_eq!(
        admin_press(&drafting(&complete(Some(7)), &[]), Cb::PlanSave),
        plan(
            vec![
                Command::UpdatePlan {
                    plan_id: 7,
                    plan: spec
                },
                pending_cleared(ADMIN)
            ],
            vec![
                ack_admin(),
                edit(
                    ADMIN,
                    Screen::PlanSaved {
                        outcome: CommandRef(0)
                    }
                )
            ]
        )
    );
    // Not at the check screen yet: nothing is saved.
    let half = Draft {
        step: Step::Devices,
        devices: None,
        ..complete(None)
    };
    assert_eq!(
        admin_press(&drafting(&half, &[]), Cb::PlanSave),
        plan(vec![], vec![alert(ADMIN, Notice::Outdated)])
    );
}

#[test]
fn edit_goto_and_cancel() {
    let mut snap = admin();
    snap.plan = Some(stored(7, false));
    assert_eq!(
        admin_press(&snap, Cb::PlanEdit(7)),
        plan(
            vec![draft_set(&complete(Some(7)))],
            vec![ack_admin(), edit(ADMIN, Screen::PlanDraft)]
        )
    );
    snap.plan = Some(stored(7, true));
    assert_eq!(
        admin_press(&snap, Cb::PlanEdit(7)),
        plan(
            vec![],
            vec![
                alert(ADMIN, Notice::PlanUnavailable),
                edit(ADMIN, Screen::Plans)
            ]
        )
    );
    let quota_again = Draft {
        step: Step::Quota,
        ..complete(Some(7))
    };
    assert_eq!(
        admin_press(
            &drafting(&complete(Some(7)), &[]),
            Cb::PlanStep(Step::Quota)
        ),
        plan(
            vec![draft_set(&quota_again)],
            vec![ack_admin(), edit(ADMIN, Screen::PlanDraft)]
        )
    );
    // The reset day of a plan that does not reset on a day of the month: not offered.
    let weekly = Draft {
        reset: Some(ResetStrategy::Week),
        reset_day: None,
        ..complete(None)
    };
    assert_eq!(
        admin_press(&drafting(&weekly, &[]), Cb::PlanStep(Step::ResetDay)),
        plan(vec![], vec![alert(ADMIN, Notice::Outdated)])
    );
    assert_eq!(
        admin_press(&drafting(&weekly, &[]), Cb::PlanCancel),
        plan(
            vec![pending_cleared(ADMIN)],
            vec![toast(ADMIN, Notice::Cancelled), edit(ADMIN, Screen::Plans)]
        )
    );
}

#[test]
fn members_cannot_draft_plans() {
    for cb in [Cb::PlanNew, Cb::PlanSave, Cb::PlanDays(30), Cb::PlanEdit(1)] {
        assert_eq!(
            press(&member(), cb),
            plan(vec![], vec![alert(ME, Notice::AdminsOnly)])
        );
    }
}

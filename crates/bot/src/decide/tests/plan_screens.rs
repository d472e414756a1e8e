//! The admin's plan screens (issue #15): list, card, archive, assign/extend for a user, and
//! the polite refusal of a stale plan button.

use vpnkeeper_domain::command::plan::PlanSpec;
use vpnkeeper_domain::reset::ResetStrategy;
use vpnkeeper_store::plan_queries::Plan as StoredPlan;

use super::*;

fn stored_plan(id: i64, archived: bool) -> StoredPlan {
    StoredPlan {
        id,
        spec: PlanSpec {
            name: format!("plan{id}"),
            duration_days: 30,
            traffic_limit_bytes: 0,
            device_limit: 2,
            reset_strategy: ResetStrategy::parse("month").unwrap(),
            reset_day: None,
            price_stars: 100,
        },
        archived,
        created_at_ms: 0,
        updated_at_ms: 0,
    }
}

fn with(user_id: Option<i64>, plan: Option<StoredPlan>) -> Snapshot {
    let mut snap = admin();
    snap.target_user = user_id.map(|id| user(id, "bob", APPLICANT, true));
    snap.plan = plan;
    snap
}

#[test]
fn plans_list_and_card() {
    assert_eq!(
        admin_press(&admin(), Cb::Plans),
        plan(vec![], vec![ack_admin(), edit(ADMIN, Screen::Plans)])
    );
    assert_eq!(
        admin_press(&with(None, Some(stored_plan(3, false))), Cb::PlanCard(3)),
        plan(
            vec![],
            vec![ack_admin(), edit(ADMIN, Screen::PlanCard { id: 3 })]
        )
    );
    // A plan gone from the store: outdated, and the list again.
    assert_eq!(
        admin_press(&with(None, None), Cb::PlanCard(3)),
        plan(
            vec![],
            vec![alert(ADMIN, Notice::Outdated), edit(ADMIN, Screen::Plans)]
        )
    );
}

#[test]
fn archive_proposes_the_command_once() {
    assert_eq!(
        admin_press(&with(None, Some(stored_plan(3, false))), Cb::PlanArchive(3)),
        plan(
            vec![Command::ArchivePlan { plan_id: 3 }],
            vec![
                toast(ADMIN, Notice::UserDone),
                edit(ADMIN, Screen::PlanCard { id: 3 })
            ]
        )
    );
    // Already archived (a second press): a polite refusal, no command.
    assert_eq!(
        admin_press(&with(None, Some(stored_plan(3, true))), Cb::PlanArchive(3)),
        plan(
            vec![],
            vec![
                alert(ADMIN, Notice::PlanUnavailable),
                edit(ADMIN, Screen::Plans)
            ]
        )
    );
}

#[test]
fn user_plan_choices_and_assign() {
    assert_eq!(
        admin_press(&with(Some(4), None), Cb::UserPlans(4)),
        plan(
            vec![],
            vec![ack_admin(), edit(ADMIN, Screen::UserPlans { id: 4 })]
        )
    );
    assert_eq!(
        admin_press(
            &with(Some(4), Some(stored_plan(3, false))),
            Cb::AssignPlan(4, 3)
        ),
        plan(
            vec![Command::AssignPlan {
                user: UserRef::Id(4),
                plan_id: 3,
                on_hold: false,
                on_hold_timeout_ms: None,
            }],
            vec![
                toast(ADMIN, Notice::UserDone),
                edit(ADMIN, Screen::User { id: 4 })
            ]
        )
    );
}

#[test]
fn a_stale_extend_button_is_refused_politely() {
    // "Extend" on a plan archived since the choices were shown.
    for stale in [Some(stored_plan(3, true)), None] {
        assert_eq!(
            admin_press(&with(Some(4), stale), Cb::AssignPlan(4, 3)),
            plan(
                vec![],
                vec![
                    alert(ADMIN, Notice::PlanUnavailable),
                    edit(ADMIN, Screen::UserPlans { id: 4 })
                ]
            )
        );
    }
    // The user is gone: outdated, nothing proposed.
    assert_eq!(
        admin_press(
            &with(None, Some(stored_plan(3, false))),
            Cb::AssignPlan(4, 3)
        ),
        plan(vec![], vec![alert(ADMIN, Notice::Outdated)])
    );
}

#[test]
fn members_cannot_press_plan_buttons() {
    for cb in [Cb::Plans, Cb::PlanArchive(3), Cb::AssignPlan(MY_USER, 3)] {
        assert_eq!(
            press(&member(), cb),
            plan(vec![], vec![alert(ME, Notice::AdminsOnly)])
        );
    }
}

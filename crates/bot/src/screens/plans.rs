//! The admin's plans (issue #15): the active plans, a plan's card and archiving it (creating
//! and editing one is `plan_draft.rs`), and
//! putting a user on a plan (assign, or extend when it is their current one). Only active
//! plans are offered; a button naming a plan archived since it was shown gets a polite
//! refusal and the fresh list of valid choices.

use vpnkeeper_domain::command::UserRef;
use vpnkeeper_domain::Command;
use vpnkeeper_store::plan_queries::Plan;
use vpnkeeper_store::ReadError;

use super::{back_admin, btn, failed_text, kb, Rendered, View};
use crate::callback::Cb;
use crate::decide::Turn;
use crate::outbox::{Notice, Outcomes, Screen};
use crate::texts::{bytes, html, num, s, t, tr, Lang};
use crate::Ctx;

/// Telegram keyboards stay usable up to a few dozen buttons; a fleet sells a handful of plans.
const MAX_PLAN_BUTTONS: usize = 24;

// ---- decide ----

pub(crate) fn list(turn: &mut Turn<'_>) {
    turn.ok(Screen::Plans);
}

pub(crate) fn card(turn: &mut Turn<'_>, id: i64) {
    if plan_exists(turn, id) {
        turn.ok(Screen::PlanCard { id });
    }
}

pub(crate) fn archive(turn: &mut Turn<'_>, id: i64) {
    if !plan_exists(turn, id) {
        return;
    }
    if turn.snap.plan.as_ref().is_some_and(|p| p.archived) {
        // Pressed twice, or archived elsewhere meanwhile: nothing to do.
        turn.answer(Some(Notice::PlanUnavailable), true);
        turn.show(Screen::Plans);
        return;
    }
    turn.plan.command(Command::ArchivePlan { plan_id: id });
    turn.answer(Some(Notice::UserDone), false);
    turn.show(Screen::PlanCard { id });
}

pub(crate) fn user_plans(turn: &mut Turn<'_>, user: i64) {
    if user_exists(turn, user) {
        turn.ok(Screen::UserPlans { id: user });
    }
}

/// Assigns `plan` to `user`, or extends it: apply adds the duration to the current expiry
/// when the user is still on it, else starts from now.
pub(crate) fn assign(turn: &mut Turn<'_>, user: i64, plan: i64) {
    if !user_exists(turn, user) {
        return;
    }
    let usable = turn
        .snap
        .plan
        .as_ref()
        .is_some_and(|p| p.id == plan && !p.archived);
    if !usable {
        turn.answer(Some(Notice::PlanUnavailable), true);
        turn.show(Screen::UserPlans { id: user });
        return;
    }
    turn.plan.command(Command::AssignPlan {
        user: UserRef::Id(user),
        plan_id: plan,
        on_hold: false,
        on_hold_timeout_ms: None,
    });
    turn.answer(Some(Notice::UserDone), false);
    turn.show(Screen::User { id: user });
}

/// The plan a button names exists; else the press is outdated and the list shown.
fn plan_exists(turn: &mut Turn<'_>, id: i64) -> bool {
    let exists = turn.snap.plan.as_ref().is_some_and(|p| p.id == id);
    if !exists {
        turn.outdated();
        turn.show(Screen::Plans);
    }
    exists
}

fn user_exists(turn: &mut Turn<'_>, id: i64) -> bool {
    let exists = turn.snap.target_user.as_ref().is_some_and(|u| u.id == id);
    if !exists {
        turn.outdated();
    }
    exists
}

// ---- load ----

pub(super) async fn load(ctx: &Ctx, screen: &Screen, view: &mut View) -> Result<(), ReadError> {
    let read = ctx.read();
    match screen {
        Screen::Plans => view.plans = read.plans(false).await?,
        Screen::PlanCard { id } => view.plan = read.plan(*id).await?,
        Screen::UserPlans { id } => {
            view.target = read.user(&UserRef::Id(*id)).await?;
            view.plans = read.plans(false).await?;
        }
        _ => {}
    }
    Ok(())
}

// ---- render ----

pub(super) fn list_screen(lang: Lang, view: &View) -> Rendered {
    let text = if view.plans.is_empty() {
        t(lang, "plans-empty")
    } else {
        tr(
            lang,
            "plans-title",
            &[("count", num(view.plans.len() as i64))],
        )
    };
    let mut rows: Vec<_> = view
        .plans
        .iter()
        .take(MAX_PLAN_BUTTONS)
        .map(|p| vec![btn(format!("📦 {}", p.spec.name), Cb::PlanCard(p.id))])
        .collect();
    rows.push(vec![btn(t(lang, "btn-plan-new"), Cb::PlanNew)]);
    rows.push(back_admin(lang));
    (text, kb(rows))
}

/// A plan's terms in one message.
fn terms(lang: Lang, p: &Plan) -> String {
    let quota = match p.spec.traffic_limit_bytes {
        0 => t(lang, "plan-unlimited"),
        b => bytes(b),
    };
    let devices = match p.spec.device_limit {
        0 => t(lang, "plan-unlimited"),
        n => n.to_string(),
    };
    tr(
        lang,
        "plan-card",
        &[
            ("name", s(html(&p.spec.name))),
            ("id", num(p.id)),
            ("days", num(p.spec.duration_days)),
            ("quota", s(quota)),
            ("devices", s(devices)),
            (
                "reset",
                s(super::plan_draft::reset_label(
                    lang,
                    p.spec.reset_strategy,
                    p.spec.reset_day,
                )),
            ),
            ("stars", num(p.spec.price_stars)),
        ],
    )
}

pub(super) fn card_screen(lang: Lang, view: &View, outcomes: Outcomes<'_>) -> Rendered {
    let back = vec![btn(t(lang, "btn-back"), Cb::Plans)];
    let Some(p) = &view.plan else {
        return (t(lang, "outdated"), kb(vec![back]));
    };
    let mut text = terms(lang, p);
    if p.archived {
        text = format!("{text}\n{}", t(lang, "plan-archived"));
    }
    if let Some(f) = failed_text(lang, outcomes) {
        text = format!("{f}\n\n{text}");
    }
    let mut rows = Vec::new();
    if !p.archived {
        rows.push(vec![
            btn(t(lang, "btn-plan-edit"), Cb::PlanEdit(p.id)),
            btn(t(lang, "btn-plan-archive"), Cb::PlanArchive(p.id)),
        ]);
    }
    rows.push(back);
    (text, kb(rows))
}

/// The active plans as choices for a user; nothing archived is offered.
pub(super) fn user_plans_screen(lang: Lang, view: &View) -> Rendered {
    let Some(u) = &view.target else {
        return (t(lang, "outdated"), kb(vec![back_admin(lang)]));
    };
    let back = vec![btn(t(lang, "btn-back"), Cb::User(u.id))];
    if view.plans.is_empty() {
        return (t(lang, "plans-empty"), kb(vec![back]));
    }
    let text = tr(lang, "user-plans-title", &[("name", s(html(&u.name)))]);
    let mut rows: Vec<_> = view
        .plans
        .iter()
        .take(MAX_PLAN_BUTTONS)
        .map(|p| {
            let label = tr(
                lang,
                "btn-plan-choice",
                &[
                    ("name", s(p.spec.name.clone())),
                    ("days", num(p.spec.duration_days)),
                ],
            );
            vec![btn(label, Cb::AssignPlan(u.id, p.id))]
        })
        .collect();
    rows.push(back);
    (text, kb(rows))
}

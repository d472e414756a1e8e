//! The admin's users: the paged list, a user's card, enabling/disabling and revoking all of
//! a user's devices.

use vpnkeeper_domain::command::UserRef;
use vpnkeeper_domain::telegram::MAX_UPDATE_COMMANDS;
use vpnkeeper_domain::{Command, DeviceRef};
use vpnkeeper_store::{Page, ReadError};

use super::{back_admin, btn, failed_text, kb, nav, paged, Rendered, View};
use crate::callback::Cb;
use crate::decide::Turn;
use crate::outbox::{Notice, Outcomes, Screen};
use crate::texts::{html, num, s, t, tr, Lang};
use crate::Ctx;

const USERS_PER_PAGE: i64 = 8;

// ---- decide ----

pub(crate) fn list(turn: &mut Turn<'_>, page: i64) {
    turn.ok(Screen::Users { page });
}

pub(crate) fn card(turn: &mut Turn<'_>, id: i64) {
    if exists(turn, id) {
        turn.ok(Screen::User { id });
    }
}

/// Asks before revoking every device of the user.
pub(crate) fn revoke_all(turn: &mut Turn<'_>, id: i64) {
    if exists(turn, id) {
        turn.ok(Screen::ConfirmUserRevoke { id });
    }
}

pub(crate) fn set_enabled(turn: &mut Turn<'_>, id: i64, enabled: bool) {
    turn.plan.command(Command::SetUserEnabled {
        user: UserRef::Id(id),
        enabled,
    });
    turn.answer(Some(Notice::UserDone), false);
    turn.show(Screen::User { id });
}

pub(crate) fn revoke_all_yes(turn: &mut Turn<'_>, id: i64) {
    for d in turn.snap.target_devices.iter().take(MAX_UPDATE_COMMANDS) {
        turn.plan.command(Command::RevokeDevice {
            device: DeviceRef::Id(d.id),
        });
    }
    turn.answer(Some(Notice::UserDone), false);
    turn.show(Screen::User { id });
}

/// The user a button names still exists (else the press is answered as outdated).
fn exists(turn: &mut Turn<'_>, id: i64) -> bool {
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
        Screen::Users { page } => {
            view.users_total = read.counts().await?.users;
            let (page, _) = paged(*page, view.users_total, USERS_PER_PAGE);
            let page = Page {
                limit: USERS_PER_PAGE,
                offset: page * USERS_PER_PAGE,
            };
            view.users = read.users(page, None).await?;
        }
        Screen::User { id } | Screen::ConfirmUserRevoke { id } => {
            view.target = read.user(&UserRef::Id(*id)).await?;
            if let Some(u) = &view.target {
                view.devices = read.devices_of_user(u.id, false).await?;
            }
        }
        _ => {}
    }
    Ok(())
}

// ---- render ----

pub(super) fn list_screen(lang: Lang, page: i64, view: &View) -> Rendered {
    let total = view.users_total;
    let (page, pages) = paged(page, total, USERS_PER_PAGE);
    let text = if total == 0 {
        t(lang, "users-empty")
    } else {
        tr(
            lang,
            "users-title",
            &[
                ("total", num(total)),
                ("page", num(page + 1)),
                ("pages", num(pages)),
            ],
        )
    };
    let mut rows: Vec<_> = view
        .users
        .iter()
        .map(|u| {
            let mark = if u.enabled { "✅" } else { "🚫" };
            vec![btn(format!("{mark} {}", u.name), Cb::User(u.id))]
        })
        .collect();
    rows.push(nav(lang, page, pages, Cb::Users));
    rows.push(back_admin(lang));
    (text, kb(rows))
}

/// A user's card (with the first refusal of the update above it), or the question whether
/// to revoke all their devices (`confirm`).
pub(super) fn card_screen(
    lang: Lang,
    view: &View,
    confirm: bool,
    outcomes: Outcomes<'_>,
) -> Rendered {
    let Some(u) = &view.target else {
        return (t(lang, "outdated"), kb(vec![back_admin(lang)]));
    };
    let devices = view.devices.len() as i64;
    if confirm {
        return (
            tr(
                lang,
                "user-revoke-confirm",
                &[("count", num(devices)), ("name", s(html(&u.name)))],
            ),
            kb(vec![vec![
                btn(t(lang, "btn-yes-revoke"), Cb::UserRevokeYes(u.id)),
                btn(t(lang, "btn-cancel"), Cb::User(u.id)),
            ]]),
        );
    }
    let status = if u.enabled {
        "user-enabled"
    } else {
        "user-disabled"
    };
    let tg = u.telegram_id.map(|t| t.to_string()).unwrap_or("—".into());
    let mut text = tr(
        lang,
        "user-card",
        &[
            ("name", s(html(&u.name))),
            ("id", num(u.id)),
            ("tg", s(tg)),
            ("status", s(t(lang, status))),
            ("devices", num(devices)),
        ],
    );
    if let Some(f) = failed_text(lang, outcomes) {
        text = format!("{f}\n\n{text}");
    }
    let toggle = if u.enabled {
        btn(t(lang, "btn-disable"), Cb::UserDisable(u.id))
    } else {
        btn(t(lang, "btn-enable"), Cb::UserEnable(u.id))
    };
    let mut row = vec![toggle];
    if devices > 0 {
        row.push(btn(t(lang, "btn-revoke-all"), Cb::UserRevoke(u.id)));
    }
    (
        text,
        kb(vec![
            row,
            vec![btn(t(lang, "btn-user-plan"), Cb::UserPlans(u.id))],
            vec![btn(t(lang, "btn-back"), Cb::Users(0))],
        ]),
    )
}

//! Who gets in: new users from the allowlist or open mode, access requests in approval
//! mode, and the admin's list of pending requests with approve/deny.

use vpnkeeper_domain::command::UserRef;
use vpnkeeper_domain::telegram::{AccessStatus, ChatChange};
use vpnkeeper_domain::Command;
use vpnkeeper_store::{Page, ReadError};

use super::{back_admin, btn, kb, nav, paged, Rendered, View};
use crate::callback::Cb;
use crate::decide::Turn;
use crate::outbox::{Notice, Out, Outcomes, Screen};
use crate::snapshot::{name_candidates, username_of, Snapshot};
use crate::texts::{html, num, s, t, tr, Lang};
use crate::Ctx;

const REQUESTS_PER_PAGE: i64 = 6;

// ---- decide ----

/// Plans the user row of the person asking (allowlisted, open mode, or an admin).
pub(crate) fn create_user(turn: &mut Turn<'_>) {
    let tg = turn.tg();
    let name = free_name(turn.snap, turn.inc.from.username.as_deref(), tg);
    let sub_token = turn.entropy.sub_token();
    turn.plan.command(Command::CreateUser {
        name,
        telegram_id: Some(tg),
        sub_token,
    });
}

/// Someone not yet in, in approval mode: ask the admins once, then tell them where it
/// stands.
pub(crate) fn applicant(turn: &mut Turn<'_>) {
    match turn.snap.own_request.as_ref().map(|r| r.status) {
        Some(AccessStatus::Pending) => turn.refuse(Notice::AccessPending),
        Some(AccessStatus::Denied) => turn.refuse(Notice::AccessDenied),
        // Never asked, or approved once and since removed: ask.
        Some(AccessStatus::Approved) | None => request_access(turn),
    }
}

fn request_access(turn: &mut Turn<'_>) {
    let tg = turn.tg();
    let display = display(turn);
    turn.plan.command(Command::TelegramAccessRequest {
        telegram_id: tg,
        display: display.clone(),
    });
    // Remember the language, so the decision reaches them in it.
    turn.plan.command(Command::TelegramChat {
        telegram_id: tg,
        change: ChatChange {
            lang: Some(turn.lang.as_str().into()),
            pending: None,
        },
    });
    turn.refuse(Notice::AccessRequested);
    for &admin in &turn.snap.policy.admin_ids {
        let lang = turn.snap.lang_of(admin);
        turn.plan.out(
            admin,
            Out::Notice {
                lang,
                notice: Notice::AccessRequestAdmin {
                    telegram_id: tg,
                    display: display.clone(),
                },
            },
        );
    }
}

/// How admins see the person asking: name and @username.
fn display(turn: &Turn<'_>) -> String {
    let f = turn.inc.from;
    let mut d = f.first_name.clone();
    if let Some(l) = &f.last_name {
        d.push(' ');
        d.push_str(l);
    }
    if let Some(u) = &f.username {
        d.push_str(" @");
        d.push_str(u);
    }
    d.chars().take(200).collect()
}

pub(crate) fn pending(turn: &mut Turn<'_>, page: i64) {
    turn.ok(Screen::Pending { page });
}

/// An admin's approve or deny of telegram id `tg`'s request.
pub(crate) fn decide(turn: &mut Turn<'_>, tg: i64, approve: bool) {
    let snap = turn.snap;
    let pending = snap
        .request
        .as_ref()
        .filter(|r| r.telegram_id == tg && r.status == AccessStatus::Pending);
    let Some(request) = pending else {
        turn.answer(Some(Notice::AccessDecidedAlready), true);
        turn.show(Screen::Pending { page: 0 });
        return;
    };
    turn.plan.command(Command::TelegramAccessDecision {
        telegram_id: tg,
        approve,
    });
    if approve {
        match &snap.requester {
            Some(u) if !u.enabled => {
                turn.plan.command(Command::SetUserEnabled {
                    user: UserRef::Id(u.id),
                    enabled: true,
                });
            }
            Some(_) => {}
            None => {
                let name = free_name(snap, username_of(request), tg);
                let sub_token = turn.entropy.sub_token();
                turn.plan.command(Command::CreateUser {
                    name,
                    telegram_id: Some(tg),
                    sub_token,
                });
            }
        }
    }
    turn.ok(Screen::AccessDecided {
        telegram_id: tg,
        approved: approve,
    });
    let notice = if approve {
        Notice::AccessApproved
    } else {
        Notice::AccessDenied
    };
    let lang = snap.lang_of(tg);
    turn.plan.out(tg, Out::Notice { lang, notice });
}

/// The first free candidate name; taken four times over, `tg<id>` anyway: apply refuses it
/// with a conflict the person is told about.
fn free_name(snap: &Snapshot, username: Option<&str>, tg: i64) -> String {
    name_candidates(username, tg)
        .into_iter()
        .find(|c| !snap.taken_names.contains(c))
        .unwrap_or_else(|| format!("tg{tg}"))
}

// ---- load ----

pub(super) async fn load(ctx: &Ctx, screen: &Screen, view: &mut View) -> Result<(), ReadError> {
    let read = ctx.read();
    view.pending_total = super::admin::pending_count(ctx).await?;
    match screen {
        Screen::Pending { page } => {
            let (page, _) = paged(*page, view.pending_total, REQUESTS_PER_PAGE);
            let (requests, _) = read
                .tg_pending_requests(Page {
                    limit: REQUESTS_PER_PAGE,
                    offset: page * REQUESTS_PER_PAGE,
                })
                .await?;
            view.requests = requests;
        }
        Screen::AccessDecided { telegram_id, .. } => {
            view.request = read.tg_access_request(*telegram_id).await?;
        }
        _ => {}
    }
    Ok(())
}

// ---- render ----

pub(super) fn pending_screen(lang: Lang, page: i64, view: &View) -> Rendered {
    let total = view.pending_total;
    let (page, pages) = paged(page, total, REQUESTS_PER_PAGE);
    let text = if total == 0 {
        t(lang, "pending-empty")
    } else {
        let mut text = tr(lang, "pending-title", &[("count", num(total))]);
        for r in &view.requests {
            text.push_str(&format!("\n• {} (id {})", html(&r.display), r.telegram_id));
        }
        text
    };
    let mut rows: Vec<_> = view
        .requests
        .iter()
        .map(|r| {
            let who: String = r.display.chars().take(24).collect();
            vec![
                btn(format!("✅ {who}"), Cb::Approve(r.telegram_id)),
                btn("❌", Cb::Deny(r.telegram_id)),
            ]
        })
        .collect();
    rows.push(nav(lang, page, pages, Cb::Pending));
    rows.push(back_admin(lang));
    (text, kb(rows))
}

/// The admin's access-request message after a decision (edited in place).
pub(super) fn decided_screen(
    lang: Lang,
    telegram_id: i64,
    approved: bool,
    view: &View,
    outcomes: Outcomes<'_>,
) -> Rendered {
    let text = if outcomes.any_refused() {
        t(lang, "access-decided-already")
    } else {
        let display = view
            .request
            .as_ref()
            .map(|r| r.display.as_str())
            .unwrap_or_default();
        let key = if approved {
            "access-approved-admin"
        } else {
            "access-denied-admin"
        };
        tr(
            lang,
            key,
            &[
                ("who", s(html(display))),
                ("id", s(telegram_id.to_string())),
            ],
        )
    };
    (
        text,
        kb(vec![vec![btn(
            tr(lang, "btn-pending", &[("count", num(view.pending_total))]),
            Cb::Pending(0),
        )]]),
    )
}

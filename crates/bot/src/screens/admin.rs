//! The admin menu (its stats screen is `stats.rs`).

use vpnkeeper_store::{Page, ReadError};

use super::{back_menu, btn, kb, Rendered, View};
use crate::callback::Cb;
use crate::decide::Turn;
use crate::outbox::Screen;
use crate::texts::{num, t, tr, Lang};
use crate::{Access, Ctx};

// ---- decide ----

pub(crate) fn menu(turn: &mut Turn<'_>) {
    turn.answer(None, false);
    turn.clear_pending();
    turn.show(Screen::Admin);
}

// ---- load ----

pub(super) async fn load(ctx: &Ctx, screen: &Screen, view: &mut View) -> Result<(), ReadError> {
    if let Screen::Admin = screen {
        view.pending_total = pending_count(ctx).await?;
    }
    Ok(())
}

/// How many access requests wait for a decision.
pub(super) async fn pending_count(ctx: &Ctx) -> Result<i64, ReadError> {
    let (_, total) = ctx
        .read()
        .tg_pending_requests(Page {
            limit: 1,
            offset: 0,
        })
        .await?;
    Ok(total)
}

// ---- render ----

pub(super) fn menu_screen(lang: Lang, view: &View) -> Rendered {
    let mut rows = vec![
        vec![
            btn(t(lang, "btn-stats"), Cb::Stats),
            btn(t(lang, "btn-users"), Cb::Users(0)),
        ],
        vec![
            btn(t(lang, "btn-nodes"), Cb::Nodes),
            btn(t(lang, "btn-broadcast"), Cb::Broadcast),
        ],
        vec![btn(t(lang, "btn-plans"), Cb::Plans)],
        vec![btn(t(lang, "btn-payments"), Cb::Payments(0))],
    ];
    if view.pending_total > 0 || view.access == Access::Approval {
        rows.push(vec![btn(
            tr(lang, "btn-pending", &[("count", num(view.pending_total))]),
            Cb::Pending(0),
        )]);
    }
    rows.push(back_menu(lang));
    (t(lang, "admin-title"), kb(rows))
}

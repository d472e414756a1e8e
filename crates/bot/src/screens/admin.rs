//! The admin menu and the stats screen.

use vpnkeeper_store::{Page, ReadError};

use super::{back_admin, back_menu, btn, kb, Rendered, View};
use crate::callback::Cb;
use crate::decide::Turn;
use crate::outbox::Screen;
use crate::texts::{bytes, num, s, t, tr, Lang};
use crate::{Access, Ctx};

// ---- decide ----

pub(crate) fn menu(turn: &mut Turn<'_>) {
    turn.answer(None, false);
    turn.clear_pending();
    turn.show(Screen::Admin);
}

pub(crate) fn stats(turn: &mut Turn<'_>) {
    turn.ok(Screen::Stats);
}

// ---- load ----

pub(super) async fn load(ctx: &Ctx, screen: &Screen, view: &mut View) -> Result<(), ReadError> {
    let read = ctx.read();
    match screen {
        Screen::Admin => view.pending_total = pending_count(ctx).await?,
        Screen::Stats => {
            let since = crate::now_ms() - 24 * 3600 * 1000;
            view.stats = read.bot_stats(since).await?;
        }
        _ => {}
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

pub(super) fn stats_screen(lang: Lang, view: &View) -> Rendered {
    let st = &view.stats;
    (
        tr(
            lang,
            "stats",
            &[
                ("users", num(st.users)),
                ("enabled", num(st.users_enabled)),
                ("devices", num(st.devices_active)),
                ("seen", num(st.devices_seen)),
                ("rx", s(bytes(st.rx_bytes))),
                ("tx", s(bytes(st.tx_bytes))),
            ],
        ),
        kb(vec![back_admin(lang)]),
    )
}

//! The admin's stats screen (issue #15 item 8): the figures of `GET /api/v1/stats` — users
//! by status, new and active users, traffic today and this month, each node's devices,
//! traffic and reachability, and revenue (this month; today, 7 and 30 days).

use vpnkeeper_domain::command::plan::UserStatus;
use vpnkeeper_store::stats_queries::{AdminStats, NodeStats};
use vpnkeeper_store::ReadError;

use super::{back_admin, kb, Rendered, View};
use crate::decide::Turn;
use crate::outbox::Screen;
use crate::texts::{bytes, html, num, s, t, tr, Lang};
use crate::Ctx;

/// Telegram caps a message at 4096 characters; a line per node stays well under it up to
/// this many nodes, the rest are summed up in one line.
const MAX_NODE_LINES: usize = 40;

// ---- decide ----

pub(crate) fn show(turn: &mut Turn<'_>) {
    turn.ok(Screen::Stats);
}

// ---- load ----

pub(super) async fn load(ctx: &Ctx, view: &mut View) -> Result<(), ReadError> {
    let now = crate::now_ms();
    view.admin_stats = ctx.read().admin_stats(now).await?;
    view.revenue = ctx.read().revenue(now).await?;
    Ok(())
}

// ---- render ----

fn count(st: &AdminStats, status: UserStatus) -> i64 {
    st.users_by_status
        .iter()
        .find(|(x, _)| *x == status)
        .map_or(0, |(_, n)| *n)
}

fn node_line(lang: Lang, n: &NodeStats) -> String {
    tr(
        lang,
        "stats-node",
        &[
            (
                "status",
                s(t(
                    lang,
                    if n.online {
                        "node-online"
                    } else {
                        "node-offline"
                    },
                )),
            ),
            ("name", s(html(&n.name))),
            ("devices", num(n.devices)),
            ("today", s(bytes(n.today.total()))),
            ("month", s(bytes(n.month.total()))),
        ],
    )
}

pub(super) fn stats_screen(lang: Lang, view: &View) -> Rendered {
    let st = &view.admin_stats;
    let mut text = tr(
        lang,
        "stats",
        &[
            ("users", num(st.users_total)),
            ("active", num(count(st, UserStatus::Active))),
            ("on_hold", num(count(st, UserStatus::OnHold))),
            ("limited", num(count(st, UserStatus::Limited))),
            ("expired", num(count(st, UserStatus::Expired))),
            ("disabled", num(count(st, UserStatus::Disabled))),
            ("new24", num(st.new_users_24h)),
            ("new7", num(st.new_users_7d)),
            ("active24", num(st.active_users_24h)),
            ("today", s(bytes(st.traffic_today.total()))),
            ("month", s(bytes(st.traffic_month.total()))),
            ("revenue", num(view.revenue.this_month)),
        ],
    );
    text.push('\n');
    text.push_str(&tr(
        lang,
        "stats-revenue",
        &[
            ("today", num(view.revenue.today)),
            ("week", num(view.revenue.last_7d)),
            ("month", num(view.revenue.last_30d)),
        ],
    ));
    text.push_str("\n\n");
    if st.nodes.is_empty() {
        text.push_str(&t(lang, "stats-no-nodes"));
    }
    let lines: Vec<String> = st
        .nodes
        .iter()
        .take(MAX_NODE_LINES)
        .map(|n| node_line(lang, n))
        .collect();
    text.push_str(&lines.join("\n"));
    if st.nodes.len() > MAX_NODE_LINES {
        let more = (st.nodes.len() - MAX_NODE_LINES) as i64;
        text.push('\n');
        text.push_str(&tr(lang, "stats-more-nodes", &[("count", num(more))]));
    }
    (text, kb(vec![back_admin(lang)]))
}

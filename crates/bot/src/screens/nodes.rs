//! The admin's nodes: the list with each node's status, a node's card and rebooting it.

use vpnkeeper_domain::{Command, Node, NodeId};
use vpnkeeper_store::ReadError;

use super::{back_admin, btn, failed_text, kb, Rendered, View};
use crate::callback::Cb;
use crate::decide::Turn;
use crate::outbox::{Notice, Out, Outcomes, Screen};
use crate::texts::{html, num, s, t, tr, Lang};
use crate::Ctx;

// ---- decide ----

pub(crate) fn list(turn: &mut Turn<'_>) {
    turn.ok(Screen::Nodes);
}

pub(crate) fn card(turn: &mut Turn<'_>, id: NodeId) {
    if exists(turn, id) {
        turn.ok(Screen::Node { id });
        super::node_card::first_chart(turn, id);
    }
}

pub(crate) fn reboot(turn: &mut Turn<'_>, id: NodeId) {
    if exists(turn, id) {
        turn.ok(Screen::ConfirmReboot { id });
    }
}

pub(crate) fn reboot_no(turn: &mut Turn<'_>, id: NodeId) {
    if exists(turn, id) {
        turn.answer(Some(Notice::Cancelled), false);
        turn.show(Screen::Node { id });
    }
}

pub(crate) fn reboot_yes(turn: &mut Turn<'_>, id: NodeId) {
    if exists(turn, id) {
        // Audited by apply; performed by the outbox (at most once).
        turn.plan
            .command(Command::RequestNodeReboot { node_id: id });
        turn.ok(Screen::RebootRequested { id });
        let lang = turn.lang;
        turn.out(Out::Reboot { lang, node_id: id });
    }
}

/// The node a button names still exists; else the press is outdated and the list shown.
fn exists(turn: &mut Turn<'_>, id: NodeId) -> bool {
    let exists = turn.snap.node.as_ref().is_some_and(|n| n.id == id);
    if !exists {
        turn.outdated();
        turn.show(Screen::Nodes);
    }
    exists
}

// ---- load ----

/// A node's state as the leader sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NodeStatus {
    Online,
    Offline,
    Absent,
}

impl NodeStatus {
    fn icon(self) -> &'static str {
        match self {
            NodeStatus::Online => "🟢",
            NodeStatus::Offline => "🔴",
            NodeStatus::Absent => "⚪",
        }
    }
    fn key(self) -> &'static str {
        match self {
            NodeStatus::Online => "node-online",
            NodeStatus::Offline => "node-offline",
            NodeStatus::Absent => "node-absent",
        }
    }
}

/// Online when it is this node (the leader) or the leader's replication to it is close to
/// the end of the log; unreachable when it lags; absent when it is not a Raft member.
fn node_status(ctx: &Ctx, id: NodeId) -> NodeStatus {
    let m = ctx.cluster.metrics();
    if id == m.id {
        return NodeStatus::Online;
    }
    let member = m
        .membership_config
        .membership()
        .nodes()
        .any(|(nid, _)| *nid == id);
    if !member {
        return NodeStatus::Absent;
    }
    let last = m.last_log_index.unwrap_or(0);
    let matched = m
        .replication
        .as_ref()
        .and_then(|r| r.get(&id).cloned().flatten())
        .map(|l| l.index);
    match matched {
        Some(i) if last.saturating_sub(i) <= 100 => NodeStatus::Online,
        _ => NodeStatus::Offline,
    }
}

pub(super) async fn load(ctx: &Ctx, screen: &Screen, view: &mut View) -> Result<(), ReadError> {
    let read = ctx.read();
    // The Raft leader as this node knows it (the bot runs on the leader, but say what
    // Raft says rather than assume it).
    view.leader = ctx
        .cluster
        .metrics()
        .current_leader
        .unwrap_or_else(|| ctx.cluster.node_id());
    let nodes = match screen {
        Screen::Nodes => read.nodes().await?,
        Screen::Node { id } | Screen::ConfirmReboot { id } | Screen::RebootRequested { id } => {
            let node: Vec<Node> = read.node(*id).await?.into_iter().collect();
            if let (Screen::Node { .. }, Some(n)) = (screen, node.first()) {
                view.node_devices = read
                    .active_devices_per_node()
                    .await?
                    .into_iter()
                    .find(|(nid, _)| *nid == n.id)
                    .map(|(_, c)| c)
                    .unwrap_or(0);
                super::node_card::load(ctx, n.id, view).await;
            }
            node
        }
        _ => Vec::new(),
    };
    view.nodes = nodes
        .into_iter()
        .map(|n| {
            let status = node_status(ctx, n.id);
            (n, status)
        })
        .collect();
    Ok(())
}

// ---- render ----

pub(super) fn list_screen(lang: Lang, view: &View) -> Rendered {
    let mut text = tr(
        lang,
        "nodes-title",
        &[("count", num(view.nodes.len() as i64))],
    );
    let mut rows = Vec::new();
    for (n, status) in &view.nodes {
        let leader = if n.id == view.leader {
            format!(" · {}", t(lang, "node-leader"))
        } else {
            String::new()
        };
        text.push_str(&format!(
            "\n{} <b>{}</b> ({}){}",
            status.icon(),
            html(&n.name),
            html(&n.public_host),
            leader
        ));
        rows.push(vec![btn(
            format!("{} {}", status.icon(), n.name),
            Cb::Node(n.id),
        )]);
    }
    rows.push(back_admin(lang));
    (text, kb(rows))
}

/// The node screens: its card, the reboot question, and the reboot requested.
pub(super) fn node_screen(
    lang: Lang,
    screen: &Screen,
    view: &View,
    outcomes: Outcomes<'_>,
) -> Rendered {
    let Some((n, status)) = view.nodes.first() else {
        return (t(lang, "outdated"), kb(vec![back_admin(lang)]));
    };
    let name = || s(html(&n.name));
    let back_nodes = vec![btn(t(lang, "btn-back"), Cb::Nodes)];
    match screen {
        Screen::ConfirmReboot { .. } => (
            tr(lang, "reboot-confirm", &[("name", name())]),
            kb(vec![vec![
                btn(t(lang, "btn-yes-reboot"), Cb::RebootYes(n.id)),
                btn(t(lang, "btn-cancel"), Cb::RebootNo(n.id)),
            ]]),
        ),
        Screen::RebootRequested { .. } => (
            failed_text(lang, outcomes)
                .unwrap_or_else(|| tr(lang, "reboot-requested", &[("name", name())])),
            kb(vec![back_nodes]),
        ),
        _ => (
            tr(
                lang,
                "node-card",
                &[
                    ("name", name()),
                    ("id", s(n.id.to_string())),
                    ("host", s(html(&n.public_host))),
                    ("status", s(t(lang, status.key()))),
                    ("devices", num(view.node_devices)),
                ],
            ) + &super::node_card::current_text(lang, view, crate::now_ms()),
            kb(vec![
                vec![btn(t(lang, "btn-reboot"), Cb::Reboot(n.id))],
                back_nodes,
            ]),
        ),
    }
}

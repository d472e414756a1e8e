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

/// How long a reboot confirmation stays valid.
pub(crate) const CONFIRM_TTL_MS: i64 = 60_000;
/// The chat's pending input while a reboot confirmation is shown, and once it is spent
/// (a cleared pending input does not survive the log, so it is overwritten instead).
const CONFIRM_KIND: &str = "confirm_reboot";
const SPENT_KIND: &str = "confirm_spent";

/// Asks for confirmation with a one-time nonce, kept as the admin's pending input with its
/// node and expiry: only a "Yes" carrying it, pressed by this admin in time, reboots.
pub(crate) fn reboot(turn: &mut Turn<'_>, id: NodeId) {
    if exists(turn, id) {
        let nonce = turn.entropy.nonce();
        let pending = serde_json::json!({
            "kind": CONFIRM_KIND,
            "node": id,
            "nonce": nonce,
            "admin": turn.tg(),
            "expires_ms": turn.snap.now_ms + CONFIRM_TTL_MS,
        });
        turn.set_pending(pending);
        turn.ok(Screen::ConfirmReboot { id, nonce });
    }
}

pub(crate) fn reboot_no(turn: &mut Turn<'_>, id: NodeId) {
    if exists(turn, id) {
        spend_confirmation(turn);
        turn.answer(Some(Notice::Cancelled), false);
        turn.show(Screen::Node { id });
    }
}

pub(crate) fn reboot_yes(turn: &mut Turn<'_>, id: NodeId, nonce: &str) {
    if !exists(turn, id) {
        return;
    }
    if let Err(notice) = check_confirmation(turn, id, nonce) {
        // Nothing happens but the admin being told, and the card shown again.
        turn.answer(Some(notice), true);
        turn.show(Screen::Node { id });
        return;
    }
    spend_confirmation(turn);
    // Audited by apply, in the same entry as the row that performs it: before it runs.
    turn.plan
        .command(Command::RequestNodeReboot { node_id: id });
    turn.ok(Screen::RebootRequested { id });
    let lang = turn.lang;
    turn.out(Out::Reboot { lang, node_id: id });
}

/// The pressed "Yes" is the one this admin was shown for this node, within its TTL.
fn check_confirmation(turn: &Turn<'_>, id: NodeId, nonce: &str) -> Result<(), Notice> {
    let pending = turn.snap.pending();
    let field = |k: &str| pending.and_then(|p| p.get(k));
    let spent = field("kind").and_then(|k| k.as_str()) == Some(SPENT_KIND);
    let shown = field("kind").and_then(|k| k.as_str()) == Some(CONFIRM_KIND)
        && field("node").and_then(|n| n.as_u64()) == Some(id)
        && field("admin").and_then(|a| a.as_i64()) == Some(turn.tg());
    let same_nonce = field("nonce")
        .and_then(|n| n.as_str())
        .is_some_and(|n| !nonce.is_empty() && constant_time_eq(n, nonce));
    if !(shown && same_nonce) {
        // A nonce this admin once had but spent reads as expired; anything else is forged.
        return Err(if spent && !nonce.is_empty() {
            Notice::RebootConfirmExpired
        } else {
            Notice::RebootConfirmInvalid
        });
    }
    let expires = field("expires_ms").and_then(|e| e.as_i64()).unwrap_or(0);
    if turn.snap.now_ms > expires {
        return Err(Notice::RebootConfirmExpired);
    }
    Ok(())
}

fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Makes the shown confirmation unusable (pressing it again says it expired).
fn spend_confirmation(turn: &mut Turn<'_>) {
    if turn.pending_kind() == Some(CONFIRM_KIND) {
        turn.set_pending(serde_json::json!({ "kind": SPENT_KIND }));
    }
}

/// Starts a speed test between the leader and the node; the result comes as a message.
pub(crate) fn speed_test(turn: &mut Turn<'_>, id: NodeId) {
    if exists(turn, id) {
        turn.answer(Some(Notice::SpeedTestStarted), false);
        let lang = turn.lang;
        turn.out(Out::SpeedTest { lang, node_id: id });
    }
}

/// Marks the node draining (no new devices; its devices stay) or takes that back, as the
/// API's `POST /api/v1/nodes/{id}/drain|undrain` does (audited as `node.drain|undrain`).
pub(crate) fn set_draining(turn: &mut Turn<'_>, id: NodeId, draining: bool) {
    if exists(turn, id) {
        turn.plan.command(Command::SetNodeDraining {
            node_id: id,
            draining,
        });
        turn.ok(Screen::Node { id });
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
        Screen::Node { id } | Screen::ConfirmReboot { id, .. } | Screen::RebootRequested { id } => {
            let node: Vec<Node> = read.node(*id).await?.into_iter().collect();
            if let (Screen::Node { .. }, Some(n)) = (screen, node.first()) {
                view.node_speed = ctx.node_ops.last_speed_test(n.id);
                view.node_draining = read.draining_node_ids().await?.contains(&n.id);
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
        Screen::ConfirmReboot { nonce, .. } => (
            tr(lang, "reboot-confirm", &[("name", name())]),
            kb(vec![vec![
                btn(
                    t(lang, "btn-yes-reboot"),
                    Cb::RebootYes(n.id, nonce.clone()),
                ),
                btn(t(lang, "btn-cancel"), Cb::RebootNo(n.id)),
            ]]),
        ),
        Screen::RebootRequested { .. } => (
            failed_text(lang, outcomes)
                .unwrap_or_else(|| tr(lang, "reboot-requested", &[("name", name())])),
            kb(vec![back_nodes]),
        ),
        _ => {
            let mut text = tr(
                lang,
                "node-card",
                &[
                    ("name", name()),
                    ("id", s(n.id.to_string())),
                    ("host", s(html(&n.public_host))),
                    ("status", s(t(lang, status.key()))),
                    ("devices", num(view.node_devices)),
                ],
            ) + &super::node_card::current_text(lang, view, crate::now_ms());
            if let Some(r) = &view.node_speed {
                text.push('\n');
                text.push_str(&speed_line(lang, r));
            }
            let drain = if view.node_draining {
                text.push('\n');
                text.push_str(&t(lang, "node-draining"));
                btn(t(lang, "btn-undrain"), Cb::NodeUndrain(n.id))
            } else {
                btn(t(lang, "btn-drain"), Cb::NodeDrain(n.id))
            };
            let ops = vec![
                btn(t(lang, "btn-speedtest"), Cb::SpeedTest(n.id)),
                btn(t(lang, "btn-reboot"), Cb::Reboot(n.id)),
            ];
            (text, kb(vec![ops, vec![drain], back_nodes]))
        }
    }
}

/// One line of a speed test result: down/up Mbit/s, RTT, and the HTTP test when there was
/// one (used on the card and in the result message).
pub(crate) fn speed_line(lang: Lang, r: &vpnkeeper_cluster::node_ops::SpeedResult) -> String {
    let mut line = tr(
        lang,
        "speedtest-line",
        &[
            ("down", s(format!("{:.1}", r.down_mbps))),
            ("up", s(format!("{:.1}", r.up_mbps))),
            ("rtt", s(format!("{:.1}", r.rtt_ms))),
        ],
    );
    if let Some(h) = &r.http {
        line.push('\n');
        line.push_str(&tr(
            lang,
            "speedtest-http",
            &[
                ("url", s(html(&h.url))),
                ("mbps", s(format!("{:.1}", h.mbps))),
            ],
        ));
    }
    if let Some(e) = &r.http_error {
        line.push('\n');
        line.push_str(&tr(
            lang,
            "speedtest-http-failed",
            &[("reason", s(html(e)))],
        ));
    }
    line
}

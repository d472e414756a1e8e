//! Getting a device: the device-type buttons of the menu, the protocol choice, the issue
//! itself and the screen after it.

use vpnkeeper_domain::command::UserRef;
use vpnkeeper_domain::placement::{self, Candidate};
use vpnkeeper_domain::{Command, DeviceType, Node, NodeId, Protocol};
use vpnkeeper_store::{NodeLoad, ReadError};

use super::{
    back_menu, btn, device_label, devices_and_menu, failed_text, kb, protocol_label, reason,
};
use super::{Rendered, View};
use crate::callback::Cb;
use crate::decide::Turn;
use crate::outbox::{CommandRef, DeviceSel, Notice, Out, Outcomes, Screen};
use crate::texts::{s, t, tr, Lang};
use crate::Ctx;

// ---- decide ----

/// A device type pressed in the menu: issue at once when the fleet offers one protocol,
/// else ask which.
pub(crate) fn device(turn: &mut Turn<'_>, device_type: DeviceType) {
    match offered_protocols(&turn.snap.nodes).as_slice() {
        [] => turn.answer(Some(Notice::NoNodes), true),
        [only] => issue(turn, device_type, *only),
        _ => turn.ok(Screen::Protocols { device_type }),
    }
}

/// A protocol chosen for a device type.
pub(crate) fn device_proto(turn: &mut Turn<'_>, device_type: DeviceType, protocol: Protocol) {
    if offered_protocols(&turn.snap.nodes).contains(&protocol) {
        issue(turn, device_type, protocol);
    } else {
        turn.outdated();
    }
}

fn issue(turn: &mut Turn<'_>, device_type: DeviceType, protocol: Protocol) {
    let snap = turn.snap;
    let Some(node_id) = pick_node(&snap.nodes, &snap.load, &snap.headroom, protocol) else {
        turn.answer(Some(Notice::NoNodes), true);
        return;
    };
    let wg = protocol
        .is_wireguard_family()
        .then(|| turn.entropy.wg_material());
    let issued = turn.plan.command(Command::IssueDevice {
        user: UserRef::TelegramId(turn.tg()),
        node_id,
        // Named after the type, so asking again for a phone returns the same device.
        name: device_type.as_str().to_string(),
        device_type,
        protocol,
        uuid: turn.entropy.uuid(),
        wg,
    });
    let lang = turn.lang;
    turn.answer(None, false);
    turn.out(Out::ConfigFile {
        lang,
        device: DeviceSel::Issued(issued),
    });
    turn.out(Out::ConfigQr {
        lang,
        device: DeviceSel::Issued(issued),
    });
    turn.show(Screen::Issued {
        device_type,
        outcome: issued,
        vless: protocol == Protocol::Vless,
    });
}

/// The protocols the fleet serves, in the order offered. Plain WireGuard is offered only
/// where a node has no AmneziaWG parameters: both would be the same interface.
pub(crate) fn offered_protocols(nodes: &[Node]) -> Vec<Protocol> {
    let mut out = Vec::new();
    for node in nodes {
        for p in node_protocols(node) {
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn node_protocols(node: &Node) -> Vec<Protocol> {
    let mut v = Vec::new();
    if let Some(wg) = &node.wireguard {
        v.push(if wg.awg.is_some() {
            Protocol::Awg
        } else {
            Protocol::Wireguard
        });
    }
    if node.xray_settings().is_some() {
        v.push(Protocol::Vless);
    }
    v
}

/// Placement: the least-loaded online node serving `protocol`, load weighted by capacity,
/// skipping draining and saturated nodes (`vpnkeeper_domain::placement`, the API's rule too).
fn pick_node(
    nodes: &[Node],
    load: &[NodeLoad],
    headroom: &[(NodeId, placement::NodeLoad)],
    protocol: Protocol,
) -> Option<NodeId> {
    let candidates: Vec<Candidate> = nodes
        .iter()
        .map(|node| {
            let l = load.iter().find(|l| l.id == node.id);
            Candidate {
                id: node.id,
                active_devices: l.map_or(0, |l| l.active_devices),
                capacity: l.and_then(|l| l.capacity),
                // A node not in the load list registered after it was read: count it online.
                online: l.is_none_or(|l| l.online),
                serves: node_protocols(node).contains(&protocol),
                draining: l.is_some_and(|l| l.draining),
                load: headroom
                    .iter()
                    .find(|(id, _)| *id == node.id)
                    .map(|(_, h)| *h),
            }
        })
        .collect();
    placement::choose(&candidates)
}

// ---- load ----

pub(super) async fn load(ctx: &Ctx, screen: &Screen, view: &mut View) -> Result<(), ReadError> {
    if let Screen::Protocols { .. } = screen {
        view.offered = offered_protocols(&ctx.read().nodes().await?);
    }
    Ok(())
}

// ---- render ----

/// Which protocol for `device_type`.
pub(super) fn protocols(lang: Lang, device_type: DeviceType, view: &View) -> Rendered {
    let text = tr(
        lang,
        "protocol-choose",
        &[("device", s(device_label(lang, device_type)))],
    );
    let mut rows: Vec<_> = view
        .offered
        .iter()
        .map(|p| {
            vec![btn(
                protocol_label(lang, *p),
                Cb::DeviceProto(device_type, *p),
            )]
        })
        .collect();
    rows.push(back_menu(lang));
    (text, kb(rows))
}

/// After an issue: the confirmation, or why apply refused it.
pub(super) fn issued(
    lang: Lang,
    device_type: DeviceType,
    issue: CommandRef,
    vless: bool,
    outcomes: Outcomes<'_>,
) -> Rendered {
    let device = s(device_label(lang, device_type));
    let text = match outcomes.of(issue) {
        Some(Ok(_)) => tr(
            lang,
            if vless { "issued-link" } else { "issued" },
            &[("device", device)],
        ),
        Some(Err(e)) => tr(lang, "issue-failed", &[("reason", s(reason(lang, e)))]),
        None => failed_text(lang, outcomes).unwrap_or_else(|| t(lang, "outdated")),
    };
    (text, devices_and_menu(lang))
}

//! The node card's chart buttons (issue #14): a range press redraws the pressed chart.

use vpnkeeper_domain::telemetry::Range;

use super::*;

fn with_node(id: u64) -> Snapshot {
    let mut snap = admin();
    snap.node = Some(node(id, Some(true), false));
    snap
}

#[test]
fn a_range_button_edits_the_pressed_chart() {
    for range in Range::ALL {
        assert_eq!(
            admin_press(&with_node(2), Cb::NodeChart(2, range)),
            plan(
                vec![],
                vec![
                    ack_admin(),
                    Out::NodeChart {
                        lang: Lang::En,
                        node_id: 2,
                        range,
                        edit: Some(MSG),
                    }
                    .to(ADMIN),
                ]
            )
        );
    }
}

#[test]
fn a_chart_of_a_node_gone_since_is_outdated() {
    assert_eq!(
        admin_press(&with_node(2), Cb::NodeChart(3, Range::SixHours)),
        plan(vec![], vec![alert(ADMIN, Notice::Outdated)])
    );
}

#[test]
fn members_cannot_press_chart_buttons() {
    let p = press(&member(), Cb::NodeChart(1, Range::Day));
    assert_eq!(p.commands, vec![]);
    assert_eq!(p.outbox, vec![alert(ME, Notice::AdminsOnly)]);
}

//! The admin's screens: menu, stats, users, access requests, nodes, broadcast.

use super::*;

fn shows(cb: Cb, screen: Screen) {
    assert_eq!(
        admin_press(&admin(), cb.clone()),
        plan(vec![], vec![ack_admin(), edit(ADMIN, screen)]),
        "{cb:?}"
    );
}

// ---- admin menu, stats ----

#[test]
fn admin_and_stats_buttons() {
    shows(Cb::Admin, Screen::Admin);
    shows(Cb::Stats, Screen::Stats);
    let mut waiting = admin();
    waiting.chat = Some(chat(ADMIN, None, Some(serde_json::json!({"kind": "x"}))));
    assert_eq!(
        admin_press(&waiting, Cb::Admin),
        plan(
            vec![pending_cleared(ADMIN)],
            vec![ack_admin(), edit(ADMIN, Screen::Admin)]
        )
    );
    assert_eq!(
        say_as(&root(), &waiting, "/admin"),
        plan(
            vec![pending_cleared(ADMIN)],
            vec![fresh(ADMIN, Screen::Admin)]
        )
    );
}

// ---- users ----

fn with_target(id: i64) -> Snapshot {
    let mut snap = admin();
    snap.target_user = Some(user(id, "bob", APPLICANT, true));
    snap
}

#[test]
fn users_list_button() {
    shows(Cb::Users(2), Screen::Users { page: 2 });
}

#[test]
fn user_card_and_revoke_all_question() {
    assert_eq!(
        admin_press(&with_target(4), Cb::User(4)),
        plan(
            vec![],
            vec![ack_admin(), edit(ADMIN, Screen::User { id: 4 })]
        )
    );
    assert_eq!(
        admin_press(&with_target(4), Cb::UserRevoke(4)),
        plan(
            vec![],
            vec![
                ack_admin(),
                edit(ADMIN, Screen::ConfirmUserRevoke { id: 4 })
            ]
        )
    );
    // Gone since the list was shown: an alert, the message stays.
    for cb in [Cb::User(4), Cb::UserRevoke(4)] {
        assert_eq!(
            admin_press(&admin(), cb),
            plan(vec![], vec![alert(ADMIN, Notice::Outdated)])
        );
    }
}

#[test]
fn enable_and_disable_buttons() {
    for (cb, enabled) in [(Cb::UserDisable(4), false), (Cb::UserEnable(4), true)] {
        assert_eq!(
            admin_press(&admin(), cb),
            plan(
                vec![Command::SetUserEnabled {
                    user: UserRef::Id(4),
                    enabled
                }],
                vec![
                    toast(ADMIN, Notice::UserDone),
                    edit(ADMIN, Screen::User { id: 4 })
                ]
            )
        );
    }
}

#[test]
fn revoke_all_revokes_each_active_device_up_to_the_update_limit() {
    let mut snap = admin();
    snap.target_devices = vec![device(11, 4), device(12, 4)];
    let revoke = |id| Command::RevokeDevice {
        device: DeviceRef::Id(id),
    };
    let after = vec![
        toast(ADMIN, Notice::UserDone),
        edit(ADMIN, Screen::User { id: 4 }),
    ];
    assert_eq!(
        admin_press(&snap, Cb::UserRevokeYes(4)),
        plan(vec![revoke(11), revoke(12)], after.clone())
    );
    snap.target_devices = (0..MAX_UPDATE_COMMANDS as i64 + 3)
        .map(|i| device(i, 4))
        .collect();
    let p = admin_press(&snap, Cb::UserRevokeYes(4));
    assert_eq!(p.commands.len(), MAX_UPDATE_COMMANDS);
    assert_eq!(p.outbox, after);
}

// ---- access requests ----

#[test]
fn pending_list_button() {
    shows(Cb::Pending(1), Screen::Pending { page: 1 });
}

fn deciding(status: AccessStatus) -> Snapshot {
    let mut snap = admin();
    snap.request = Some(request(APPLICANT, "Bob Lee @bob", status));
    snap
}

fn decided(approved: bool, commands: Vec<Command>, lang: Lang) -> Plan {
    let notice = if approved {
        Notice::AccessApproved
    } else {
        Notice::AccessDenied
    };
    plan(
        commands,
        vec![
            ack_admin(),
            edit(
                ADMIN,
                Screen::AccessDecided {
                    telegram_id: APPLICANT,
                    approved,
                },
            ),
            notice_to(APPLICANT, lang, notice),
        ],
    )
}

fn decision(approve: bool) -> Command {
    Command::TelegramAccessDecision {
        telegram_id: APPLICANT,
        approve,
    }
}

#[test]
fn approve_creates_the_user_under_a_free_name_and_tells_them_in_their_language() {
    let mut snap = deciding(AccessStatus::Pending);
    snap.taken_names = ["bob".to_string()].into();
    snap.chat_langs = [(APPLICANT, Lang::Ru)].into();
    let create = Command::CreateUser {
        name: format!("tg{APPLICANT}"),
        telegram_id: Some(APPLICANT),
        sub_token: "token-1".into(),
    };
    assert_eq!(
        admin_press(&snap, Cb::Approve(APPLICANT)),
        decided(true, vec![decision(true), create], Lang::Ru)
    );
}

#[test]
fn approve_enables_a_disabled_user_and_leaves_an_enabled_one() {
    let mut snap = deciding(AccessStatus::Pending);
    snap.requester = Some(user(4, "bob", APPLICANT, false));
    let enable = Command::SetUserEnabled {
        user: UserRef::Id(4),
        enabled: true,
    };
    assert_eq!(
        admin_press(&snap, Cb::Approve(APPLICANT)),
        decided(true, vec![decision(true), enable], Lang::En)
    );
    snap.requester = Some(user(4, "bob", APPLICANT, true));
    assert_eq!(
        admin_press(&snap, Cb::Approve(APPLICANT)),
        decided(true, vec![decision(true)], Lang::En)
    );
}

#[test]
fn deny_button() {
    assert_eq!(
        admin_press(&deciding(AccessStatus::Pending), Cb::Deny(APPLICANT)),
        decided(false, vec![decision(false)], Lang::En)
    );
}

#[test]
fn a_request_decided_already_is_not_decided_twice() {
    let already = plan(
        vec![],
        vec![
            alert(ADMIN, Notice::AccessDecidedAlready),
            edit(ADMIN, Screen::Pending { page: 0 }),
        ],
    );
    for status in [AccessStatus::Approved, AccessStatus::Denied] {
        assert_eq!(
            admin_press(&deciding(status), Cb::Approve(APPLICANT)),
            already
        );
    }
    assert_eq!(admin_press(&admin(), Cb::Deny(APPLICANT)), already);
}

// ---- nodes ----

fn with_node(id: u64) -> Snapshot {
    let mut snap = admin();
    snap.node = Some(node(id, Some(true), false));
    snap
}

#[test]
fn nodes_button() {
    shows(Cb::Nodes, Screen::Nodes);
}

const NOW: i64 = 1_800_000_000_000;

fn pending_set(tg: i64, pending: serde_json::Value) -> Command {
    Command::TelegramChat {
        telegram_id: tg,
        change: ChatChange {
            lang: None,
            pending: Some(Some(pending)),
        },
    }
}

/// The pending input a reboot confirmation of node `id` leaves (nonce-1 from `Counting`).
fn confirming(id: u64, admin: i64, expires_ms: i64) -> serde_json::Value {
    serde_json::json!({
        "kind": "confirm_reboot",
        "node": id,
        "nonce": "nonce-1",
        "admin": admin,
        "expires_ms": expires_ms,
    })
}

/// Node 2 exists and the admin was shown its confirmation at `NOW - age_ms`.
fn shown_confirmation(age_ms: i64) -> Snapshot {
    let mut snap = with_node(2);
    snap.now_ms = NOW;
    let expires = NOW - age_ms + crate::screens::nodes::CONFIRM_TTL_MS;
    snap.chat = Some(chat(ADMIN, None, Some(confirming(2, ADMIN, expires))));
    snap
}

fn spent() -> Command {
    pending_set(ADMIN, serde_json::json!({ "kind": "confirm_spent" }))
}

/// A refused confirmation: an alert saying why, the card again, nothing else.
fn refused(notice: Notice) -> Plan {
    plan(
        vec![],
        vec![alert(ADMIN, notice), edit(ADMIN, Screen::Node { id: 2 })],
    )
}

#[test]
fn node_card_and_reboot_buttons() {
    let mut snap = with_node(2);
    snap.now_ms = NOW;
    assert_eq!(
        admin_press(&snap, Cb::Node(2)),
        plan(
            vec![],
            vec![
                ack_admin(),
                edit(ADMIN, Screen::Node { id: 2 }),
                // The card's chart photo (issue #14), the last hour, sent new.
                Out::NodeChart {
                    lang: Lang::En,
                    node_id: 2,
                    range: vpnkeeper_domain::telemetry::Range::Hour,
                    edit: None
                }
                .to(ADMIN),
            ]
        )
    );
    // The question carries a fresh nonce, kept with its node, admin and expiry.
    assert_eq!(
        admin_press(&snap, Cb::Reboot(2)),
        plan(
            vec![pending_set(ADMIN, confirming(2, ADMIN, NOW + 60_000))],
            vec![
                ack_admin(),
                edit(
                    ADMIN,
                    Screen::ConfirmReboot {
                        id: 2,
                        nonce: "nonce-1".into()
                    }
                )
            ]
        )
    );
    assert_eq!(
        admin_press(&snap, Cb::RebootNo(2)),
        plan(
            vec![],
            vec![
                toast(ADMIN, Notice::Cancelled),
                edit(ADMIN, Screen::Node { id: 2 })
            ]
        )
    );
    // Cancel spends a shown confirmation.
    assert_eq!(
        admin_press(&shown_confirmation(1_000), Cb::RebootNo(2)),
        plan(
            vec![spent()],
            vec![
                toast(ADMIN, Notice::Cancelled),
                edit(ADMIN, Screen::Node { id: 2 })
            ]
        )
    );
    // The shown "Yes" within the TTL: spent, audited command, the reboot row.
    assert_eq!(
        admin_press(
            &shown_confirmation(59_000),
            Cb::RebootYes(2, "nonce-1".into())
        ),
        plan(
            vec![spent(), Command::RequestNodeReboot { node_id: 2 }],
            vec![
                ack_admin(),
                edit(ADMIN, Screen::RebootRequested { id: 2 }),
                Out::Reboot {
                    lang: Lang::En,
                    node_id: 2
                }
                .to(ADMIN),
            ]
        )
    );
}

#[test]
fn a_forged_or_expired_reboot_confirmation_does_nothing_and_says_so() {
    let yes = |nonce: &str| Cb::RebootYes(2, nonce.into());
    // Hand-made data without a nonce (the old `rby:N`), or a guessed one.
    for cb in [yes(""), yes("nonce-2"), yes("nonce-11")] {
        assert_eq!(
            admin_press(&shown_confirmation(1_000), cb.clone()),
            refused(Notice::RebootConfirmInvalid),
            "{cb:?}"
        );
    }
    // No confirmation was shown at all.
    let mut none = with_node(2);
    none.now_ms = NOW;
    assert_eq!(
        admin_press(&none, yes("nonce-1")),
        refused(Notice::RebootConfirmInvalid)
    );
    // Older than 60 s.
    assert_eq!(
        admin_press(&shown_confirmation(60_001), yes("nonce-1")),
        refused(Notice::RebootConfirmExpired)
    );
    // Already used (or cancelled): the same nonce again.
    let mut used = with_node(2);
    used.now_ms = NOW;
    used.chat = Some(chat(
        ADMIN,
        None,
        Some(serde_json::json!({ "kind": "confirm_spent" })),
    ));
    assert_eq!(
        admin_press(&used, yes("nonce-1")),
        refused(Notice::RebootConfirmExpired)
    );
    // Shown for another node, or bound to another admin.
    let mut other_node = shown_confirmation(1_000);
    other_node.chat = Some(chat(ADMIN, None, Some(confirming(3, ADMIN, NOW + 1))));
    assert_eq!(
        admin_press(&other_node, yes("nonce-1")),
        refused(Notice::RebootConfirmInvalid)
    );
    let mut other_admin = shown_confirmation(1_000);
    other_admin.chat = Some(chat(ADMIN, None, Some(confirming(2, OTHER_ADMIN, NOW + 1))));
    assert_eq!(
        admin_press(&other_admin, yes("nonce-1")),
        refused(Notice::RebootConfirmInvalid)
    );
}

#[test]
fn speed_test_button_starts_a_test() {
    assert_eq!(
        admin_press(&with_node(2), Cb::SpeedTest(2)),
        plan(
            vec![],
            vec![
                toast(ADMIN, Notice::SpeedTestStarted),
                Out::SpeedTest {
                    lang: Lang::En,
                    node_id: 2
                }
                .to(ADMIN),
            ]
        )
    );
}

#[test]
fn drain_buttons_mark_the_node_and_show_its_card_again() {
    for (cb, draining) in [(Cb::NodeDrain(2), true), (Cb::NodeUndrain(2), false)] {
        assert_eq!(
            admin_press(&with_node(2), cb),
            plan(
                vec![Command::SetNodeDraining {
                    node_id: 2,
                    draining
                }],
                vec![ack_admin(), edit(ADMIN, Screen::Node { id: 2 })]
            )
        );
    }
}

#[test]
fn a_node_gone_since_is_outdated() {
    for cb in [
        Cb::Node(3),
        Cb::Reboot(3),
        Cb::RebootYes(3, "nonce-1".into()),
        Cb::RebootNo(3),
        Cb::SpeedTest(3),
        Cb::NodeDrain(3),
        Cb::NodeUndrain(3),
    ] {
        assert_eq!(
            admin_press(&with_node(2), cb),
            plan(
                vec![],
                vec![alert(ADMIN, Notice::Outdated), edit(ADMIN, Screen::Nodes)]
            )
        );
    }
}

// ---- broadcast ----

fn awaiting(kind: serde_json::Value) -> Snapshot {
    let mut snap = admin();
    snap.chat = Some(chat(ADMIN, None, Some(kind)));
    snap
}

#[test]
fn broadcast_button_waits_for_the_text() {
    assert_eq!(
        admin_press(&admin(), Cb::Broadcast),
        plan(
            vec![Command::TelegramChat {
                telegram_id: ADMIN,
                change: ChatChange {
                    lang: None,
                    pending: Some(Some(serde_json::json!({"kind": "await_broadcast"}))),
                },
            }],
            vec![ack_admin(), edit(ADMIN, Screen::BroadcastAsk)]
        )
    );
    let mut running = admin();
    running.broadcast_running = true;
    assert_eq!(
        admin_press(&running, Cb::Broadcast),
        plan(vec![], vec![alert(ADMIN, Notice::BroadcastRunning)])
    );
}

#[test]
fn the_typed_text_becomes_the_draft() {
    let snap = awaiting(serde_json::json!({"kind": "await_broadcast"}));
    assert_eq!(
        say_as(&root(), &snap, "Maintenance at 22:00"),
        plan(
            vec![Command::TelegramChat {
                telegram_id: ADMIN,
                change: ChatChange {
                    lang: None,
                    pending: Some(Some(serde_json::json!({
                        "kind": "broadcast_draft",
                        "text": "Maintenance at 22:00",
                    }))),
                },
            }],
            vec![fresh(ADMIN, Screen::BroadcastPreview)]
        )
    );
    let too_long = "x".repeat(MAX_BROADCAST_CHARS + 1);
    assert_eq!(
        say_as(&root(), &snap, &too_long),
        plan(
            vec![],
            vec![notice_to(ADMIN, Lang::En, Notice::BroadcastTooLong)]
        )
    );
    // Commands still work while waiting.
    assert_eq!(
        say_as(&root(), &snap, "/cancel"),
        plan(
            vec![pending_cleared(ADMIN)],
            vec![notice_to(ADMIN, Lang::En, Notice::Cancelled)]
        )
    );
}

#[test]
fn send_button_starts_the_drafted_broadcast() {
    let snap = awaiting(serde_json::json!({"kind": "broadcast_draft", "text": "Hi all"}));
    assert_eq!(
        admin_press(&snap, Cb::BroadcastSend),
        plan(
            vec![
                Command::StartBroadcast {
                    broadcast_id: Uuid::from_u128(1).to_string(),
                    text: "Hi all".into(),
                    admin_chat: ADMIN,
                },
                pending_cleared(ADMIN),
            ],
            vec![ack_admin(), edit(ADMIN, Screen::BroadcastStarted)]
        )
    );
    let no_draft = awaiting(serde_json::json!({"kind": "await_broadcast"}));
    assert_eq!(
        admin_press(&no_draft, Cb::BroadcastSend),
        plan(vec![], vec![alert(ADMIN, Notice::Outdated)])
    );
}

#[test]
fn cancel_button_drops_the_draft() {
    let snap = awaiting(serde_json::json!({"kind": "broadcast_draft", "text": "Hi"}));
    assert_eq!(
        admin_press(&snap, Cb::BroadcastCancel),
        plan(
            vec![pending_cleared(ADMIN)],
            vec![toast(ADMIN, Notice::Cancelled), edit(ADMIN, Screen::Admin)]
        )
    );
}

// ---- /invite ----

#[test]
fn invite_plans_only_a_row_the_sender_turns_into_a_link() {
    let invite = |ttl_secs| {
        Out::Invite {
            lang: Lang::En,
            ttl_secs,
        }
        .to(ADMIN)
    };
    assert_eq!(
        say_as(&root(), &admin(), "/invite"),
        plan(vec![], vec![invite(900)])
    );
    assert_eq!(
        say_as(&root(), &admin(), "/invite 2h"),
        plan(vec![], vec![invite(7200)])
    );
    assert_eq!(
        say_as(&root(), &admin(), "/invite@vpnkeeper_bot 30s"),
        plan(vec![], vec![invite(30)])
    );
}

#[test]
fn invite_with_a_bad_ttl_says_why_and_creates_nothing() {
    for (text, why) in [
        ("/invite soon", "not a duration"),
        ("/invite 9d", "out of range"),
        ("/invite 5y", "unknown unit"),
    ] {
        let p = say_as(&root(), &admin(), text);
        assert!(p.commands.is_empty(), "{text}");
        assert_eq!(p.outbox.len(), 1, "{text}");
        let out: Out = serde_json::from_value(p.outbox[0].payload.clone()).unwrap();
        match out {
            Out::Notice {
                notice: Notice::InviteBadTtl { reason },
                ..
            } => assert!(reason.contains(why), "{text}: {reason}"),
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[test]
fn invite_is_refused_to_non_admins() {
    assert_eq!(
        say_as(&alice(), &member(), "/invite 1h"),
        plan(vec![], vec![notice_to(ME, Lang::En, Notice::AdminsOnly)])
    );
}

//! The screens every user sees: the menu, typed commands, getting a device, my devices.

use super::*;
use vpnkeeper_store::NodeLoad;

// ---- main menu ----

#[test]
fn main_button_shows_the_menu_and_clears_pending_input() {
    assert_eq!(
        press(&member(), Cb::Main),
        plan(vec![], vec![ack(), edit(ME, main_screen("Alice"))])
    );
    let mut waiting = member();
    waiting.chat = Some(chat(ME, None, Some(serde_json::json!({"kind": "x"}))));
    assert_eq!(
        press(&waiting, Cb::Main),
        plan(
            vec![pending_cleared(ME)],
            vec![ack(), edit(ME, main_screen("Alice"))]
        )
    );
}

#[test]
fn help_button() {
    assert_eq!(
        press(&member(), Cb::Help),
        plan(vec![], vec![ack(), edit(ME, Screen::Help)])
    );
}

#[test]
fn language_button_switches_and_answers_in_the_new_language() {
    let ru_menu = Out::Screen {
        lang: Lang::Ru,
        screen: main_screen("Alice"),
        edit: Some(MSG),
    }
    .to(ME);
    let want = plan(
        vec![lang_set(ME, "ru")],
        vec![answer_to(ME, Lang::Ru, None, false), ru_menu],
    );
    assert_eq!(press(&member(), Cb::Language), want);
    assert_eq!(press(&member(), Cb::SetLang(Lang::Ru)), want);
    // The stored choice wins over the client's language.
    let mut chose_ru = member();
    chose_ru.chat = Some(chat(ME, Some("ru"), None));
    assert_eq!(
        press(&chose_ru, Cb::Language),
        plan(
            vec![lang_set(ME, "en")],
            vec![ack(), edit(ME, main_screen("Alice"))]
        )
    );
}

#[test]
fn typed_commands() {
    let alice = alice();
    let snap = member();
    let say = |text: &str| say_as(&alice, &snap, text);
    let menu = plan(vec![], vec![fresh(ME, main_screen("Alice"))]);
    assert_eq!(say("/start"), menu);
    assert_eq!(say("  /START@vpn_bot hello "), menu);
    assert_eq!(say("/menu"), menu);
    assert_eq!(say("/help"), plan(vec![], vec![fresh(ME, Screen::Help)]));
    assert_eq!(
        say("/devices"),
        plan(vec![], vec![fresh(ME, Screen::Devices)])
    );
    assert_eq!(
        say("/cancel"),
        plan(vec![], vec![notice_to(ME, Lang::En, Notice::Cancelled)])
    );
    let ru_menu = Out::Screen {
        lang: Lang::Ru,
        screen: main_screen("Alice"),
        edit: None,
    }
    .to(ME);
    assert_eq!(say("/lang"), plan(vec![lang_set(ME, "ru")], vec![ru_menu]));
    // `/admin` is an unknown command to a user.
    for unknown in ["/admin", "/nope"] {
        assert_eq!(
            say(unknown),
            plan(
                vec![],
                vec![notice_to(ME, Lang::En, Notice::UnknownCommand)]
            )
        );
    }
    // Plain text outside a flow is no longer a hint to use the buttons: it is a message to
    // support (the ticket flow itself is tested in `support.rs`).
    let hello = say("hello there");
    assert_eq!(
        hello.commands,
        vec![Command::TicketPost {
            telegram_id: ME,
            text: "hello there".into()
        }]
    );
    assert_eq!(
        run(&alice, Kind::Other, &snap),
        plan(
            vec![],
            vec![notice_to(ME, Lang::En, Notice::FilesNotSupported)]
        )
    );
}

#[test]
fn russian_client_gets_russian_replies() {
    let bob = person(ME, "Боб", None, "ru-RU");
    // Bob's support message is acknowledged in Russian.
    let hi = say_as(&bob, &member(), "hi");
    assert_eq!(
        hi.outbox.first(),
        Some(&notice_to(
            ME,
            Lang::Ru,
            Notice::TicketReceived {
                post: CommandRef(0)
            }
        ))
    );
    // The command list is in English for the admins unless they chose otherwise; an
    // unknown command still gets the Russian hint.
    assert_eq!(
        say_as(&bob, &member(), "/nope"),
        plan(
            vec![],
            vec![notice_to(ME, Lang::Ru, Notice::UnknownCommand)]
        )
    );
}

#[test]
fn forged_or_stale_button_data_is_outdated() {
    assert_eq!(
        press_as(&alice(), &member(), "dv:-1"),
        plan(vec![], vec![alert(ME, Notice::Outdated)])
    );
    let no_data = Kind::Callback {
        id: "q1",
        data: None,
        message_id: None,
    };
    assert_eq!(
        run(&alice(), no_data, &member()),
        plan(vec![], vec![alert(ME, Notice::Outdated)])
    );
}

#[test]
fn admin_buttons_are_refused_to_users() {
    for cb in [
        Cb::Admin,
        Cb::Users(0),
        Cb::RebootYes(1, String::new()),
        Cb::BroadcastSend,
    ] {
        assert_eq!(
            press(&member(), cb),
            plan(vec![], vec![alert(ME, Notice::AdminsOnly)])
        );
    }
}

// ---- getting a device ----

fn issued(device_type: DeviceType, protocol: Protocol, node_id: u64, wg: bool) -> Plan {
    let issue = Command::IssueDevice {
        user: UserRef::TelegramId(ME),
        node_id,
        name: device_type.as_str().into(),
        device_type,
        protocol,
        // Keys are drawn first, then the uuid.
        uuid: Uuid::from_u128(if wg { 2 } else { 1 }),
        wg: wg.then(|| material(1)),
    };
    let sel = DeviceSel::Issued(CommandRef(0));
    plan(
        vec![issue],
        vec![
            ack(),
            Out::ConfigFile {
                lang: Lang::En,
                device: sel,
            }
            .to(ME),
            Out::ConfigQr {
                lang: Lang::En,
                device: sel,
            }
            .to(ME),
            edit(
                ME,
                Screen::Issued {
                    device_type,
                    outcome: CommandRef(0),
                    vless: protocol == Protocol::Vless,
                },
            ),
        ],
    )
}

#[test]
fn device_button_issues_on_the_only_protocol() {
    let mut snap = member();
    snap.nodes = vec![node(1, Some(true), false), node(2, Some(true), false)];
    // Node 1 is busier: the device goes to node 2.
    snap.load = vec![load(1, 10, None, true), load(2, 3, None, true)];
    assert_eq!(
        press(&snap, Cb::Device(DeviceType::Phone)),
        issued(DeviceType::Phone, Protocol::Awg, 2, true)
    );
}

fn load(id: u64, active_devices: i64, capacity: Option<u32>, online: bool) -> NodeLoad {
    NodeLoad {
        id,
        active_devices,
        capacity,
        online,
        draining: false,
    }
}

#[test]
fn device_button_places_by_capacity_and_skips_offline_nodes() {
    let mut snap = member();
    snap.nodes = vec![
        node(1, Some(true), false),
        node(2, Some(true), false),
        node(3, Some(true), false),
    ];
    // 10/100 > 15/300: the bigger node 2 takes it although it has more devices; node 3 is
    // empty but offline.
    snap.load = vec![
        load(1, 10, Some(100), true),
        load(2, 15, Some(300), true),
        load(3, 0, None, false),
    ];
    assert_eq!(
        press(&snap, Cb::Device(DeviceType::Phone)),
        issued(DeviceType::Phone, Protocol::Awg, 2, true)
    );
}

#[test]
fn device_button_skips_draining_and_saturated_nodes() {
    let mut snap = member();
    snap.nodes = vec![
        node(1, Some(true), false),
        node(2, Some(true), false),
        node(3, Some(true), false),
    ];
    // Node 1 is the emptiest but draining; node 2 next but its CPU is at 97 %.
    let mut draining = load(1, 0, None, true);
    draining.draining = true;
    snap.load = vec![draining, load(2, 1, None, true), load(3, 50, None, true)];
    let busy = vpnkeeper_domain::placement::NodeLoad {
        cpu_pct: 97.0,
        net_mbps: 1.0,
        bandwidth_mbps: None,
    };
    snap.headroom = vec![(2, busy)];
    assert_eq!(
        press(&snap, Cb::Device(DeviceType::Phone)),
        issued(DeviceType::Phone, Protocol::Awg, 3, true)
    );
    // Every node that is not draining is saturated: the least loaded of them (node 2)
    // still takes it rather than the member being refused.
    snap.headroom = vec![(2, busy), (3, busy)];
    assert_eq!(
        press(&snap, Cb::Device(DeviceType::Phone)),
        issued(DeviceType::Phone, Protocol::Awg, 2, true)
    );
    // Only draining nodes: nothing is issued, the member is told.
    snap.load[1].draining = true;
    snap.load[2].draining = true;
    assert_eq!(
        press(&snap, Cb::Device(DeviceType::Phone)),
        plan(vec![], vec![alert(ME, Notice::NoNodes)])
    );
}

#[test]
fn device_button_asks_which_protocol_when_several() {
    let mut snap = member();
    snap.nodes = vec![node(1, Some(false), true)];
    assert_eq!(
        press(&snap, Cb::Device(DeviceType::Laptop)),
        plan(
            vec![],
            vec![
                ack(),
                edit(
                    ME,
                    Screen::Protocols {
                        device_type: DeviceType::Laptop
                    }
                )
            ]
        )
    );
}

#[test]
fn device_button_without_nodes() {
    assert_eq!(
        press(&member(), Cb::Device(DeviceType::Phone)),
        plan(vec![], vec![alert(ME, Notice::NoNodes)])
    );
}

#[test]
fn protocol_button_issues_or_is_outdated() {
    let mut snap = member();
    // Lowest id wins a tie.
    snap.nodes = vec![
        node(3, None, true),
        node(4, None, true),
        node(5, Some(true), false),
    ];
    assert_eq!(
        press(&snap, Cb::DeviceProto(DeviceType::Router, Protocol::Vless)),
        issued(DeviceType::Router, Protocol::Vless, 3, false)
    );
    // Plain WireGuard is not offered where the node speaks AmneziaWG.
    assert_eq!(
        press(
            &snap,
            Cb::DeviceProto(DeviceType::Router, Protocol::Wireguard)
        ),
        plan(vec![], vec![alert(ME, Notice::Outdated)])
    );
}

// ---- my devices ----

fn owning(id: i64) -> Snapshot {
    let mut snap = member();
    snap.device = Some(device(id, MY_USER));
    snap
}

/// What a press on a device that is not the presser's (any more) gets.
fn not_mine() -> Plan {
    plan(
        vec![],
        vec![alert(ME, Notice::Outdated), edit(ME, Screen::Devices)],
    )
}

#[test]
fn my_devices_button() {
    assert_eq!(
        press(&member(), Cb::MyDevices),
        plan(vec![], vec![ack(), edit(ME, Screen::Devices)])
    );
}

#[test]
fn device_card_button() {
    assert_eq!(
        press(&owning(8), Cb::DeviceCard(8)),
        plan(vec![], vec![ack(), edit(ME, Screen::Device { id: 8 })])
    );
    // Someone else's device, a revoked one, or one that does not exist.
    let mut theirs = member();
    theirs.device = Some(device(8, MY_USER + 1));
    assert_eq!(press(&theirs, Cb::DeviceCard(8)), not_mine());
    let mut revoked = owning(8);
    if let Some(d) = revoked.device.as_mut() {
        d.revoked_at_ms = Some(1);
    }
    assert_eq!(press(&revoked, Cb::DeviceCard(8)), not_mine());
    assert_eq!(press(&member(), Cb::DeviceCard(8)), not_mine());
}

#[test]
fn download_button_sends_the_config_again() {
    let sel = DeviceSel::Id(8);
    assert_eq!(
        press(&owning(8), Cb::Download(8)),
        plan(
            vec![],
            vec![
                ack(),
                Out::ConfigFile {
                    lang: Lang::En,
                    device: sel
                }
                .to(ME),
                Out::ConfigQr {
                    lang: Lang::En,
                    device: sel
                }
                .to(ME),
            ]
        )
    );
    assert_eq!(press(&owning(8), Cb::Download(9)), not_mine());
}

#[test]
fn revoke_buttons() {
    assert_eq!(
        press(&owning(8), Cb::Revoke(8)),
        plan(
            vec![],
            vec![ack(), edit(ME, Screen::ConfirmRevoke { id: 8 })]
        )
    );
    assert_eq!(
        press(&owning(8), Cb::RevokeYes(8)),
        plan(
            vec![Command::RevokeDevice {
                device: DeviceRef::Id(8)
            }],
            vec![ack(), edit(ME, Screen::Revoked { id: 8 })]
        )
    );
    assert_eq!(press(&member(), Cb::Revoke(8)), not_mine());
    assert_eq!(press(&member(), Cb::RevokeYes(8)), not_mine());
}

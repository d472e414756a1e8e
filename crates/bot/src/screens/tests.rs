//! Rendering is a plain function of the screen, the loaded view and the outcomes.

use vpnkeeper_domain::{Applied, ApplyOutcome, CommandError, DeviceType, User};

use super::*;
use crate::outbox::CommandRef;

fn buttons(r: &Rendered) -> Vec<String> {
    let Some(kb) = &r.1 else { return Vec::new() };
    kb.inline_keyboard
        .iter()
        .flatten()
        .filter_map(|b| match &b.kind {
            teloxide::types::InlineKeyboardButtonKind::CallbackData(d) => Some(d.clone()),
            _ => None,
        })
        .collect()
}

fn user(id: i64) -> User {
    User {
        id,
        name: format!("u{id}"),
        telegram_id: Some(100 + id),
        enabled: true,
        sub_token: "tok".into(),
        created_at_ms: 0,
        updated_at_ms: 0,
    }
}

#[test]
fn the_menu_counts_devices_and_offers_admin_only_to_admins() {
    let screen = Screen::Main {
        name: "<Ann>".into(),
    };
    let none: &[ApplyOutcome] = &[];
    let view = View {
        user: Some(user(1)),
        ..View::default()
    };
    let r = render(Lang::En, &screen, &view, Outcomes(none));
    assert!(r.0.starts_with("👋 Hello, &lt;Ann&gt;!"), "{}", r.0);
    assert!(r.0.contains(&tr(
        Lang::En,
        "main-devices",
        &[("count", crate::texts::num(0))]
    )));
    assert!(!buttons(&r).contains(&"a".to_string()));
    let admin = View {
        admin: true,
        ..view
    };
    let r = render(Lang::En, &screen, &admin, Outcomes(none));
    assert!(buttons(&r).contains(&"a".to_string()));
}

#[test]
fn the_issued_screen_reports_its_own_command() {
    let screen = Screen::Issued {
        device_type: DeviceType::Phone,
        outcome: CommandRef(1),
        vless: false,
    };
    let view = View::default();
    let ok: Vec<ApplyOutcome> = vec![
        Ok(Applied::User { id: 1 }),
        Ok(Applied::Device {
            id: 3,
            created: true,
            device: None,
        }),
    ];
    let refused: Vec<ApplyOutcome> = vec![
        Ok(Applied::User { id: 1 }),
        Err(CommandError::PoolExhausted {
            node_id: 1,
            pool: "10.8.0.0/24".into(),
        }),
    ];
    let ok_text = render(Lang::En, &screen, &view, Outcomes(&ok)).0;
    let refused_text = render(Lang::En, &screen, &view, Outcomes(&refused)).0;
    assert_ne!(ok_text, refused_text);
    assert!(
        refused_text.contains(&t(Lang::En, "err-pool")),
        "{refused_text}"
    );
    let dropped = render(Lang::En, &screen, &view, Outcomes(&[])).0;
    assert_eq!(dropped, t(Lang::En, "outdated"));
}

#[test]
fn user_list_pages() {
    let view = View {
        users_total: 20,
        users: (1..=8).map(user).collect(),
        ..View::default()
    };
    let r = render(Lang::En, &Screen::Users { page: 1 }, &view, Outcomes(&[]));
    let b = buttons(&r);
    assert!(
        b.contains(&"au:0".to_string()) && b.contains(&"au:2".to_string()),
        "{b:?}"
    );
    // Past the end: the last page, no "next".
    let r = render(Lang::En, &Screen::Users { page: 9 }, &view, Outcomes(&[]));
    let b = buttons(&r);
    assert!(
        b.contains(&"au:1".to_string()) && !b.contains(&"au:3".to_string()),
        "{b:?}"
    );
    assert_eq!(paged(9, 20, 8), (2, 3));
    assert_eq!(paged(0, 0, 8), (0, 1));
}

#[test]
fn the_devices_list_shows_the_subscription_url_once_there_are_devices() {
    let mut view = View {
        subscription_base: "https://vpn.example/".into(),
        user: Some(user(1)),
        ..View::default()
    };
    let r = render(Lang::En, &Screen::Devices, &view, Outcomes(&[]));
    assert!(!r.0.contains("/sub/"), "{}", r.0);
    view.devices = vec![Device {
        id: 4,
        uuid: Default::default(),
        user_id: 1,
        node_id: 1,
        name: "phone".into(),
        device_type: DeviceType::Phone,
        protocol: Protocol::Vless,
        wg_public_key: None,
        wg_private_key: None,
        wg_psk: None,
        address_v4: None,
        created_at_ms: 0,
        revoked_at_ms: None,
        last_handshake_ms: None,
        rx_bytes: 0,
        tx_bytes: 0,
    }];
    let r = render(Lang::En, &Screen::Devices, &view, Outcomes(&[]));
    assert!(
        r.0.contains("<code>https://vpn.example/sub/tok</code>"),
        "{}",
        r.0
    );
    assert!(buttons(&r).contains(&"dv:4".to_string()));
}

#[test]
fn broadcast_started_tells_a_conflict_apart() {
    let conflict: Vec<ApplyOutcome> = vec![Err(CommandError::Conflict {
        field: None,
        message: "a broadcast is running".into(),
    })];
    let r = render(
        Lang::En,
        &Screen::BroadcastStarted,
        &View::default(),
        Outcomes(&conflict),
    );
    assert_eq!(r.0, t(Lang::En, "broadcast-running"));
    let r = render(
        Lang::En,
        &Screen::BroadcastStarted,
        &View::default(),
        Outcomes(&[]),
    );
    assert_eq!(r.0, t(Lang::En, "broadcast-started"));
}

fn plan_row(id: i64, archived: bool) -> vpnkeeper_store::plan_queries::Plan {
    vpnkeeper_store::plan_queries::Plan {
        id,
        spec: vpnkeeper_domain::command::plan::PlanSpec {
            name: format!("p{id}"),
            duration_days: 30,
            traffic_limit_bytes: 50 << 30,
            device_limit: 0,
            reset_strategy: vpnkeeper_domain::reset::ResetStrategy::parse("month").unwrap(),
            reset_day: None,
            price_stars: 150,
        },
        archived,
        created_at_ms: 0,
        updated_at_ms: 0,
    }
}

#[test]
fn plan_screens_offer_only_valid_choices() {
    let none: &[ApplyOutcome] = &[];
    let view = View {
        target: Some(user(4)),
        plans: vec![plan_row(1, false), plan_row(2, false)],
        ..View::default()
    };
    let r = render(
        Lang::En,
        &Screen::UserPlans { id: 4 },
        &view,
        Outcomes(none),
    );
    assert_eq!(buttons(&r), vec!["ua:4:1", "ua:4:2", "ad:4"]);
    assert!(r.0.contains("u4"), "{}", r.0);

    let card = |archived| View {
        plan: Some(plan_row(7, archived)),
        ..View::default()
    };
    let r = render(
        Lang::En,
        &Screen::PlanCard { id: 7 },
        &card(false),
        Outcomes(none),
    );
    assert!(
        r.0.contains("50.0 GiB") && r.0.contains("unlimited") && r.0.contains("150"),
        "{}",
        r.0
    );
    assert_eq!(buttons(&r), vec!["pe:7", "px:7", "pl"]);
    assert!(r.0.contains("Reset: monthly, on the 1st"), "{}", r.0);
    // An archived plan offers no archive button and says it is archived.
    let r = render(
        Lang::Ru,
        &Screen::PlanCard { id: 7 },
        &card(true),
        Outcomes(none),
    );
    assert_eq!(buttons(&r), vec!["pl"]);
    assert!(r.0.contains("В архиве"), "{}", r.0);
}

#[test]
fn the_device_limit_refusal_names_the_limit_and_points_at_my_devices() {
    let refusal: &[ApplyOutcome] = &[Err(CommandError::conflict(
        Some("device_limit"),
        "user 5 already has 3 active devices, the plan's limit of 3; revoke one first",
    ))];
    let screen = Screen::Issued {
        device_type: DeviceType::Phone,
        outcome: CommandRef(0),
        vless: false,
    };
    let r = render(Lang::En, &screen, &View::default(), Outcomes(refusal));
    assert!(r.0.contains("limit of 3 devices"), "{}", r.0);
    assert!(
        buttons(&r).contains(&Cb::MyDevices.encode()),
        "offers revoking: {:?}",
        buttons(&r)
    );
}

#[test]
fn the_stats_screen_shows_every_figure() {
    use vpnkeeper_domain::command::plan::UserStatus;
    use vpnkeeper_store::stats_queries::{AdminStats, NodeStats, Traffic};
    let mib = |n: i64| Traffic {
        rx_bytes: n * 512 * 1024,
        tx_bytes: n * 512 * 1024,
    };
    let view = View {
        admin_stats: AdminStats {
            users_by_status: vec![
                (UserStatus::Active, 11),
                (UserStatus::OnHold, 2),
                (UserStatus::Limited, 3),
                (UserStatus::Expired, 4),
                (UserStatus::Disabled, 5),
            ],
            users_total: 25,
            new_users_24h: 6,
            new_users_7d: 7,
            active_users_24h: 8,
            traffic_today: mib(3),
            traffic_month: mib(40),
            nodes: vec![
                NodeStats {
                    node_id: 1,
                    name: "<fra>".into(),
                    online: true,
                    devices: 9,
                    today: mib(1),
                    month: mib(10),
                },
                NodeStats {
                    node_id: 2,
                    name: "ams".into(),
                    online: false,
                    devices: 0,
                    today: Traffic::default(),
                    month: mib(30),
                },
            ],
        },
        ..View::default()
    };
    let none: &[ApplyOutcome] = &[];
    let r = render(Lang::En, &Screen::Stats, &view, Outcomes(none));
    for expected in [
        "Users: 25",
        "active 11 · ⏸ on hold 2 · 📉 limited 3 · ⌛ expired 4 · 🚫 disabled 5",
        "New: 6 in 24 h, 7 in 7 days",
        "Active in the last 24 h: 8",
        "Traffic today: 3.0 MiB · this month: 40.0 MiB",
        "Revenue this month: 0 ⭐",
        "🟢 online <b>&lt;fra&gt;</b>: 9 devices · today 1.0 MiB · month 10.0 MiB",
        "🔴 unreachable <b>ams</b>: 0 devices · today 0 B · month 30.0 MiB",
    ] {
        assert!(r.0.contains(expected), "{expected:?} not in {}", r.0);
    }
    assert_eq!(buttons(&r), vec!["a".to_string()]);
    let ru = render(Lang::Ru, &Screen::Stats, &view, Outcomes(none));
    assert!(ru.0.contains("Пользователи: 25"), "{}", ru.0);

    let empty = render(Lang::En, &Screen::Stats, &View::default(), Outcomes(none));
    assert!(empty.0.contains("Users: 0"), "{}", empty.0);
    assert!(empty.0.contains("No nodes yet."), "{}", empty.0);
}

#[test]
fn plan_draft_screens_offer_the_step_s_valid_choices() {
    use crate::screens::plan_draft::{Draft, Step};
    use vpnkeeper_domain::reset::ResetStrategy;
    let none: &[ApplyOutcome] = &[];
    let at = |step, reset| View {
        plan_draft: Some(Draft {
            step,
            name: Some("<m>".into()),
            days: Some(30),
            quota: Some(0),
            reset,
            reset_day: reset
                .and(Some(31))
                .filter(|_| reset == Some(ResetStrategy::DayOfMonth)),
            devices: Some(2),
            ..Draft::default()
        }),
        ..View::default()
    };
    let draw = |v: &View| render(Lang::En, &Screen::PlanDraft, v, Outcomes(none));
    let r = draw(&at(Step::Days, None));
    assert_eq!(
        buttons(&r),
        vec!["pdd:7", "pdd:30", "pdd:90", "pdd:365", "pdn"]
    );
    assert!(
        r.0.contains("Name: &lt;m&gt;") && r.0.contains("Reset: —"),
        "{}",
        r.0
    );
    let r = draw(&at(Step::Reset, None));
    let b = buttons(&r);
    assert_eq!(b.len(), 8, "{b:?}");
    assert!(b.contains(&"pdr:day_of_month".to_string()) && b.contains(&"pdr:no_reset".to_string()));
    let r = draw(&at(Step::ResetDay, Some(ResetStrategy::DayOfMonth)));
    let b = buttons(&r);
    assert_eq!(b.first().map(String::as_str), Some("pdrd:1"));
    assert_eq!(b.len(), 32, "31 days and cancel: {b:?}");
    assert!(!b.contains(&"pdrd:32".to_string()) && !b.contains(&"pdrd:0".to_string()));
    // The check screen: every field can be asked again; the reset day only with day_of_month.
    let r = draw(&at(Step::Confirm, Some(ResetStrategy::DayOfMonth)));
    assert!(
        r.0.contains("monthly, on day 31") && r.0.contains("Traffic: unlimited"),
        "{}",
        r.0
    );
    assert_eq!(
        buttons(&r),
        vec![
            "pds:name",
            "pds:days",
            "pds:quota",
            "pds:reset",
            "pds:reset_day",
            "pds:devices",
            "pdy",
            "pdn"
        ]
    );
    let r = draw(&at(Step::Confirm, Some(ResetStrategy::Week)));
    assert!(!buttons(&r).contains(&"pds:reset_day".to_string()));
    // No draft any more (cancelled meanwhile): outdated, back to the plans.
    let r = draw(&View::default());
    assert_eq!(buttons(&r), vec!["pl"]);

    // After saving: the outcome of the saving command in one line, then the plans.
    let saved = Screen::PlanSaved {
        outcome: CommandRef(0),
    };
    let view = View {
        plans: vec![plan_row(1, false)],
        ..View::default()
    };
    let ok: Vec<ApplyOutcome> = vec![Ok(Applied::Plan { id: 1 })];
    let r = render(Lang::En, &saved, &view, Outcomes(&ok));
    assert!(r.0.starts_with("✅ Plan saved."), "{}", r.0);
    assert_eq!(buttons(&r), vec!["pc:1", "pn", "a"]);
    let taken: Vec<ApplyOutcome> = vec![Err(CommandError::conflict(
        Some("name"),
        "plan name `p1` is already taken by plan 1",
    ))];
    let r = render(Lang::En, &saved, &view, Outcomes(&taken));
    assert!(r.0.contains("already taken"), "{}", r.0);
}

#[test]
fn voice_transcripts_show_the_text_or_the_reason_with_reply_and_close() {
    use vpnkeeper_domain::command::voice::{VoiceFailure, VoiceNote, VoiceResult, VoiceStatus};
    let mut note = VoiceNote {
        message_id: 3,
        ticket_id: 2,
        telegram_id: 2002,
        file_id: "F".into(),
        duration_secs: 9,
        language: Some("ru".into()),
        status: VoiceStatus::Pending,
        result: None,
        created_at_ms: 0,
    };
    assert!(
        support::transcript(Lang::En, &note).is_none(),
        "nothing yet"
    );
    note.result = Some(VoiceResult::Text {
        text: "<b>интернет</b> не работает".into(),
        language: "ru".into(),
    });
    let r = support::transcript(Lang::En, &note).unwrap();
    assert!(r.0.contains("Ticket #2 (id 2002)"), "{}", r.0);
    assert!(
        r.0.contains("&lt;b&gt;интернет&lt;/b&gt; не работает"),
        "escaped: {}",
        r.0
    );
    assert_eq!(buttons(&r), ["tr:2", "tx:2"]);
    note.result = Some(VoiceResult::Failed {
        reason: VoiceFailure::TooLong {
            seconds: 130,
            limit: 120,
        },
    });
    let r = support::transcript(Lang::Ru, &note).unwrap();
    assert!(r.0.contains("Не удалось расшифровать"), "{}", r.0);
    assert!(r.0.contains("130"), "{}", r.0);
}

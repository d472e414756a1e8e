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
    assert_eq!(buttons(&r), vec!["px:7", "pl"]);
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

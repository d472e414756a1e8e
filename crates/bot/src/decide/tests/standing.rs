//! Who gets in: strangers, disabled users, newcomers, applicants, admins without a user.

use super::*;

fn with_access(access: Access, allowlisted: bool) -> Snapshot {
    Snapshot {
        policy: Policy {
            admin: false,
            access,
            allowlisted,
            admin_ids: vec![ADMIN, OTHER_ADMIN],
        },
        ..Snapshot::default()
    }
}

#[test]
fn strangers_are_refused_with_their_id() {
    let snap = with_access(Access::Allowlist, false);
    let refused = Notice::Refused { telegram_id: ME };
    assert_eq!(
        say_as(&alice(), &snap, "/start"),
        plan(vec![], vec![notice_to(ME, Lang::En, refused.clone())])
    );
    assert_eq!(
        press(&snap, Cb::Main),
        plan(vec![], vec![alert(ME, refused)])
    );
}

#[test]
fn disabled_users_are_refused() {
    let mut snap = member();
    snap.user = Some(user(MY_USER, "alice", ME, false));
    assert_eq!(
        press(&snap, Cb::MyDevices),
        plan(vec![], vec![alert(ME, Notice::Disabled)])
    );
}

fn created(name: &str, tg: i64) -> Command {
    Command::CreateUser {
        name: name.into(),
        telegram_id: Some(tg),
        sub_token: "token-1".into(),
    }
}

#[test]
fn newcomers_get_a_user_named_after_their_username_then_the_menu() {
    for access in [Access::Open, Access::Allowlist] {
        let snap = with_access(access, true);
        assert_eq!(
            say_as(&alice(), &snap, "/start"),
            plan(
                vec![created("alice", ME)],
                vec![fresh(ME, main_screen("Alice"))]
            )
        );
    }
    // A taken username falls back to tg<id>, then tg<id>-2…; no username to tg<id>.
    let mut snap = with_access(Access::Open, false);
    snap.taken_names = ["alice".into(), format!("tg{ME}")].into();
    assert_eq!(
        say_as(&alice(), &snap, "hi").commands,
        vec![created(&format!("tg{ME}-2"), ME)]
    );
    let anonymous = person(ME, "Al", None, "en");
    // A newcomer's first plain text is a greeting: the menu, not a support ticket.
    assert_eq!(
        say_as(&anonymous, &with_access(Access::Open, false), "hi"),
        plan(
            vec![created(&format!("tg{ME}"), ME)],
            vec![fresh(ME, main_screen("Al"))]
        )
    );
}

#[test]
fn an_admin_without_a_user_gets_one() {
    let mut snap = admin();
    snap.user = None;
    assert_eq!(
        say_as(&root(), &snap, "/start"),
        plan(
            vec![created("root", ADMIN)],
            vec![fresh(ADMIN, main_screen("Root"))]
        )
    );
}

#[test]
fn applicants_ask_once_and_every_admin_is_told_in_their_language() {
    let mut snap = with_access(Access::Approval, false);
    snap.chat_langs = [(OTHER_ADMIN, Lang::Ru)].into();
    let ann = TgUser {
        last_name: Some("Lee".into()),
        ..person(ME, "Ann", Some("ann"), "en")
    };
    let asks = Notice::AccessRequestAdmin {
        telegram_id: ME,
        display: "Ann Lee @ann".into(),
    };
    assert_eq!(
        say_as(&ann, &snap, "/start"),
        plan(
            vec![
                Command::TelegramAccessRequest {
                    telegram_id: ME,
                    display: "Ann Lee @ann".into(),
                },
                lang_set(ME, "en"),
            ],
            vec![
                notice_to(ME, Lang::En, Notice::AccessRequested),
                notice_to(ADMIN, Lang::En, asks.clone()),
                notice_to(OTHER_ADMIN, Lang::Ru, asks),
            ]
        )
    );
    for (status, notice) in [
        (AccessStatus::Pending, Notice::AccessPending),
        (AccessStatus::Denied, Notice::AccessDenied),
    ] {
        snap.own_request = Some(request(ME, "Ann Lee @ann", status));
        assert_eq!(
            say_as(&ann, &snap, "/start"),
            plan(vec![], vec![notice_to(ME, Lang::En, notice)])
        );
    }
}

//! Support tickets: a user's plain text goes to every admin with the sender's devices; an
//! admin answers with Reply (the next text) or closes; strangers' presses do nothing.

use super::*;
use crate::outbox::TicketDevice;

fn posted(text: &str) -> Command {
    Command::TicketPost {
        telegram_id: ME,
        text: text.into(),
    }
}

fn admin_copy(text: &str, devices: Vec<TicketDevice>) -> Notice {
    Notice::TicketAdmin {
        post: CommandRef(0),
        from: "Alice @alice".into(),
        telegram_id: ME,
        text: text.into(),
        devices,
    }
}

#[test]
fn support_button_shows_how_to_write() {
    assert_eq!(
        press(&member(), Cb::Support),
        plan(vec![], vec![ack(), edit(ME, Screen::Support)])
    );
}

#[test]
fn plain_text_goes_to_every_admin_with_the_senders_devices() {
    let mut snap = member();
    let mut seen = device(11, MY_USER);
    seen.last_handshake_ms = Some(1_700_000_000_000);
    let mut gone = device(12, MY_USER);
    gone.revoked_at_ms = Some(5);
    snap.own_devices = vec![seen, gone];
    snap.nodes = vec![node(1, Some(true), false)];
    snap.chat_langs.insert(OTHER_ADMIN, Lang::Ru);
    let devices = vec![TicketDevice {
        name: "phone".into(),
        node: "n1".into(),
        protocol: Protocol::Awg,
        last_handshake_ms: Some(1_700_000_000_000),
    }];
    assert_eq!(
        say_as(&alice(), &snap, "nothing connects"),
        plan(
            vec![posted("nothing connects")],
            vec![
                notice_to(
                    ME,
                    Lang::En,
                    Notice::TicketReceived {
                        post: CommandRef(0)
                    }
                ),
                notice_to(
                    ADMIN,
                    Lang::En,
                    admin_copy("nothing connects", devices.clone())
                ),
                notice_to(
                    OTHER_ADMIN,
                    Lang::Ru,
                    admin_copy("nothing connects", devices)
                ),
            ]
        )
    );
}

#[test]
fn empty_or_huge_text_is_refused_without_a_command() {
    let huge = "x".repeat(vpnkeeper_domain::ticket::MAX_TICKET_TEXT_CHARS + 1);
    for text in ["   ", huge.as_str()] {
        assert_eq!(
            say_as(&alice(), &member(), text),
            plan(vec![], vec![notice_to(ME, Lang::En, Notice::TicketTooLong)])
        );
    }
}

#[test]
fn an_admins_plain_text_is_not_a_ticket() {
    assert_eq!(
        say_as(&root(), &admin(), "hello"),
        plan(vec![], vec![notice_to(ADMIN, Lang::En, Notice::UseButtons)])
    );
}

#[test]
fn reply_button_then_text_answers_the_ticket() {
    let waiting = serde_json::json!({ "kind": "await_ticket_reply", "ticket": 7 });
    assert_eq!(
        admin_press(&admin(), Cb::TicketReply(7)),
        plan(
            vec![Command::TelegramChat {
                telegram_id: ADMIN,
                change: ChatChange {
                    lang: None,
                    pending: Some(Some(waiting.clone())),
                },
            }],
            vec![
                ack_admin(),
                notice_to(ADMIN, Lang::En, Notice::TicketReplyAsk { ticket_id: 7 })
            ]
        )
    );
    let mut snap = admin();
    snap.chat = Some(chat(ADMIN, None, Some(waiting)));
    assert_eq!(
        say_as(&root(), &snap, "try another network"),
        plan(
            vec![
                Command::TicketReply {
                    ticket_id: 7,
                    text: "try another network".into()
                },
                pending_cleared(ADMIN)
            ],
            vec![notice_to(
                ADMIN,
                Lang::En,
                Notice::TicketReplied {
                    outcome: CommandRef(0)
                }
            )]
        )
    );
}

#[test]
fn close_button_closes_the_ticket() {
    assert_eq!(
        admin_press(&admin(), Cb::TicketClose(7)),
        plan(
            vec![Command::CloseTicket { ticket_id: 7 }],
            vec![answer_to(
                ADMIN,
                Lang::En,
                Some(Notice::TicketClosedAdmin { ticket_id: 7 }),
                false
            )]
        )
    );
}

#[test]
fn a_users_forged_reply_or_close_does_nothing() {
    for cb in [Cb::TicketReply(1), Cb::TicketClose(1)] {
        assert_eq!(
            press(&member(), cb),
            plan(vec![], vec![alert(ME, Notice::AdminsOnly)])
        );
    }
    // A member waiting for nothing who fakes the admin's pending state still only posts.
    let mut snap = member();
    let forged = serde_json::json!({ "kind": "await_ticket_reply", "ticket": 1 });
    snap.chat = Some(chat(ME, None, Some(forged)));
    assert_eq!(say_as(&alice(), &snap, "hi").commands, vec![posted("hi")]);
}

/// A voice note: one `TicketVoice` (pending transcription, the admins to tell), the user's
/// receipt, and per admin the context and the voice re-sent by file id, in that order.
#[test]
fn a_voice_note_goes_to_every_admin_with_the_voice_itself() {
    let mut snap = member();
    snap.chat_langs.insert(OTHER_ADMIN, Lang::Ru);
    let kind = Kind::Voice {
        file_id: "AwACAgIAAxkBVOICE",
        seconds: 9,
    };
    let context = Notice::TicketAdminVoice {
        post: CommandRef(0),
        from: "Alice @alice".into(),
        telegram_id: ME,
        seconds: 9,
        devices: vec![],
    };
    let voice = |lang| Out::Voice {
        lang,
        post: CommandRef(0),
        file_id: "AwACAgIAAxkBVOICE".into(),
    };
    assert_eq!(
        run(&alice(), kind, &snap),
        plan(
            vec![Command::TicketVoice {
                telegram_id: ME,
                file_id: "AwACAgIAAxkBVOICE".into(),
                duration_secs: 9,
                language: Some("en".into()),
                notify: vec![ADMIN, OTHER_ADMIN],
            }],
            vec![
                notice_to(
                    ME,
                    Lang::En,
                    Notice::TicketReceived {
                        post: CommandRef(0)
                    }
                ),
                notice_to(ADMIN, Lang::En, context.clone()),
                voice(Lang::En).to(ADMIN),
                notice_to(OTHER_ADMIN, Lang::Ru, context),
                voice(Lang::Ru).to(OTHER_ADMIN),
            ]
        )
    );
}

#[test]
fn an_admins_voice_or_a_bad_file_id_gets_a_notice_only() {
    let voice = Kind::Voice {
        file_id: "F",
        seconds: 3,
    };
    assert_eq!(
        run(&root(), voice, &admin()),
        plan(vec![], vec![notice_to(ADMIN, Lang::En, Notice::UseButtons)])
    );
    let bad = Kind::Voice {
        file_id: "not a file id",
        seconds: 3,
    };
    assert_eq!(
        run(&alice(), bad, &member()),
        plan(
            vec![],
            vec![notice_to(ME, Lang::En, Notice::FilesNotSupported)]
        )
    );
}

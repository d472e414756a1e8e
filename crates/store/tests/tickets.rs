//! Support tickets applied through the real state machine: a post opens a ticket and the
//! next continues it, a reply queues exactly one outbox row for the user, a closed ticket
//! refuses replies, and closing twice tells the user once.

use openraft::storage::RaftStateMachine;
use openraft::{CommittedLeaderId, EntryPayload};
use vpnkeeper_domain::ticket::TicketStatus;
use vpnkeeper_domain::{Actor, Applied, ApplyOutcome, Command, CommandError, Envelope};
use vpnkeeper_store::{Page, Proposal, TypeConfig};

type Entry = openraft::Entry<TypeConfig>;

const USER_TG: i64 = 5001;

fn entry(index: u64, envs: Vec<Envelope>) -> Entry {
    Entry {
        log_id: openraft::LogId::new(CommittedLeaderId::new(1, 1), index),
        payload: EntryPayload::Normal(Proposal(envs)),
    }
}

fn env(at: i64, actor: Actor, command: Command) -> Envelope {
    Envelope {
        at_ms: 1_780_000_000_000 + at,
        actor,
        command,
    }
}

fn user() -> Actor {
    Actor::Telegram {
        telegram_id: USER_TG,
    }
}

fn admin() -> Actor {
    Actor::Telegram { telegram_id: 9001 }
}

fn post(text: &str) -> Command {
    Command::TicketPost {
        telegram_id: USER_TG,
        text: text.into(),
    }
}

fn ticket_of(o: &ApplyOutcome) -> (i64, i64, bool) {
    match o {
        Ok(Applied::Ticket {
            ticket_id,
            message_id,
            opened,
        }) => (*ticket_id, *message_id, *opened),
        other => panic!("not a ticket outcome: {other:?}"),
    }
}

#[tokio::test]
async fn ticket_life_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let (_log, mut sm, read) = vpnkeeper_store::open(dir.path()).await.unwrap();
    let create = Command::CreateUser {
        name: "ann".into(),
        telegram_id: Some(USER_TG),
        sub_token: "t".repeat(32),
    };
    let out = sm
        .apply(vec![
            entry(
                1,
                vec![
                    env(0, user(), post("no user yet")),
                    env(1, user(), create),
                    env(2, user(), post("nothing connects")),
                    env(3, user(), post("still nothing")),
                ],
            ),
            entry(
                2,
                vec![env(
                    4,
                    admin(),
                    Command::TicketReply {
                        ticket_id: 1,
                        text: "try the other protocol".into(),
                    },
                )],
            ),
        ])
        .await
        .unwrap();
    assert!(matches!(out[0][0], Err(CommandError::NotFound { .. })));
    assert_eq!(ticket_of(&out[0][2]), (1, 1, true));
    assert_eq!(ticket_of(&out[0][3]), (1, 2, false));
    assert_eq!(ticket_of(&out[1][0]), (1, 3, false));

    let outbox = read.tg_outbox(100).await.unwrap();
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    assert_eq!(outbox[0].chat_id, USER_TG);
    assert_eq!(
        outbox[0].payload,
        serde_json::json!({"do": "ticket_answer", "message_id": 3})
    );
    let messages = read.ticket_messages(1).await.unwrap();
    let authors: Vec<&str> = messages.iter().map(|m| m.author.as_str()).collect();
    assert_eq!(authors, ["user", "user", "tg:9001"]);
    assert_eq!(messages[2].text, "try the other protocol");

    let close = Command::CloseTicket { ticket_id: 1 };
    let out = sm
        .apply(vec![entry(
            3,
            vec![
                env(5, admin(), close.clone()),
                env(6, admin(), close),
                env(
                    7,
                    admin(),
                    Command::TicketReply {
                        ticket_id: 1,
                        text: "late".into(),
                    },
                ),
                env(8, admin(), Command::CloseTicket { ticket_id: 77 }),
                env(9, user(), post("it broke again")),
            ],
        )])
        .await
        .unwrap();
    assert_eq!(out[0][0], Ok(Applied::Done));
    assert_eq!(out[0][1], Ok(Applied::Done));
    assert!(matches!(out[0][2], Err(CommandError::Conflict { .. })));
    assert!(matches!(out[0][3], Err(CommandError::NotFound { .. })));
    // A message after the close opens a new ticket.
    assert_eq!(ticket_of(&out[0][4]), (2, 4, true));

    let outbox = read.tg_outbox(100).await.unwrap();
    let closed: Vec<_> = outbox
        .iter()
        .filter(|r| r.payload["do"] == "ticket_closed")
        .collect();
    assert_eq!(closed.len(), 1, "closing twice tells the user once");
    assert_eq!(
        read.ticket(1).await.unwrap().unwrap().status,
        TicketStatus::Closed
    );
    let open = read
        .tickets(Some(TicketStatus::Open), Page::default())
        .await
        .unwrap();
    assert_eq!(open.iter().map(|t| t.id).collect::<Vec<_>>(), [2]);
    // The audit log names tickets, never their texts.
    let audit = read.audit(Page::default()).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "ticket.reply"));
    let dump = format!("{audit:?}");
    assert!(!dump.contains("nothing connects") && !dump.contains("late"));
}

/// Voice notes (issue #17): a note is a pending ticket message until its result; the first
/// result is stored, written into the message and queued to the note's admins; a second
/// result (a former leader's, or a retry after a crash) changes nothing.
#[tokio::test]
async fn voice_queue_applies_each_result_once() {
    use vpnkeeper_domain::command::voice::{VoiceFailure, VoiceResult, VoiceStatus};
    let dir = tempfile::tempdir().unwrap();
    let (_log, mut sm, read) = vpnkeeper_store::open(dir.path()).await.unwrap();
    let create = Command::CreateUser {
        name: "ann".into(),
        telegram_id: Some(USER_TG),
        sub_token: "t".repeat(32),
    };
    let voice = |file: &str, secs| Command::TicketVoice {
        telegram_id: USER_TG,
        file_id: file.into(),
        duration_secs: secs,
        language: Some("ru".into()),
        notify: vec![9001, 9002],
    };
    let out = sm
        .apply(vec![entry(
            1,
            vec![
                env(1, user(), create),
                env(2, user(), voice("F1", 9)),
                env(3, user(), post("and text")),
                env(4, user(), voice("F2", 300)),
            ],
        )])
        .await
        .unwrap();
    assert_eq!(ticket_of(&out[0][1]), (1, 1, true));
    assert_eq!(ticket_of(&out[0][3]), (1, 3, false));
    let pending = read.pending_voice_notes(10).await.unwrap();
    assert_eq!(
        pending.iter().map(|n| n.message_id).collect::<Vec<_>>(),
        [1, 3]
    );
    assert_eq!(pending[0].file_id, "F1");
    assert_eq!(pending[0].language.as_deref(), Some("ru"));
    assert_eq!(read.voice_queue_len().await.unwrap(), 2);
    let messages = read.ticket_messages(1).await.unwrap();
    assert_eq!(messages[0].text, "🎤 voice note (9 s), transcribing…");
    assert!(read.tg_outbox(100).await.unwrap().is_empty());

    let text = VoiceResult::Text {
        text: "интернет не работает".into(),
        language: "ru".into(),
    };
    let other = VoiceResult::Text {
        text: "a second worker's text".into(),
        language: "en".into(),
    };
    let transcribed = |message_id, result: &VoiceResult| Command::VoiceTranscribed {
        message_id,
        result: result.clone(),
    };
    let sys = Actor::System { node_id: 1 };
    let too_long = VoiceResult::Failed {
        reason: VoiceFailure::TooLong {
            seconds: 300,
            limit: 120,
        },
    };
    let out = sm
        .apply(vec![
            entry(2, vec![env(5, sys.clone(), transcribed(1, &text))]),
            entry(
                3,
                vec![
                    env(6, sys.clone(), transcribed(1, &other)),
                    env(7, sys.clone(), transcribed(3, &too_long)),
                    env(8, sys.clone(), transcribed(99, &text)),
                ],
            ),
        ])
        .await
        .unwrap();
    assert_eq!(out[0][0], Ok(Applied::Done));
    assert_eq!(out[1][0], Ok(Applied::Done), "a second result is a no-op");
    assert_eq!(out[1][1], Ok(Applied::Done));
    assert!(matches!(out[1][2], Err(CommandError::NotFound { .. })));

    let note = read.voice_note(1).await.unwrap().unwrap();
    assert_eq!(note.status, VoiceStatus::Done);
    assert_eq!(note.result, Some(text));
    assert_eq!(
        read.voice_note(3).await.unwrap().unwrap().status,
        VoiceStatus::Failed
    );
    assert!(read.pending_voice_notes(10).await.unwrap().is_empty());
    assert_eq!(read.voice_queue_len().await.unwrap(), 0);
    let messages = read.ticket_messages(1).await.unwrap();
    assert_eq!(messages[0].text, "🎤 (9 s) интернет не работает");
    assert!(messages[2].text.contains("not transcribed: too long"));
    // Each result queued one row per admin; the ignored second result queued nothing.
    let outbox = read.tg_outbox(100).await.unwrap();
    let rows: Vec<(i64, i64)> = outbox
        .iter()
        .map(|r| {
            assert_eq!(r.payload["do"], "voice_transcript");
            (r.chat_id, r.payload["message_id"].as_i64().unwrap())
        })
        .collect();
    assert_eq!(rows, [(9001, 1), (9002, 1), (9001, 3), (9002, 3)]);
    let audit = format!("{:?}", read.audit(Page::default()).await.unwrap());
    assert!(
        !audit.contains("интернет"),
        "texts stay out of the audit log"
    );
}

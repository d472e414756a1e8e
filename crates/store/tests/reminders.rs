//! Reminders and the scheduler's due index applied through the real state machine
//! (migration 0032): a plan's expiry sets the user's next due time, `due_rows` returns the
//! user only once it has come, `RemindUsers` proposed twice queues one outbox row (in the
//! chat's language), a stale reminder is skipped, `RecheckDue` moves the due time on, and a
//! disabled user leaves the index.

use openraft::storage::RaftStateMachine;
use openraft::{CommittedLeaderId, EntryPayload};
use vpnkeeper_domain::command::plan::PlanSpec;
use vpnkeeper_domain::command::reminder::{Reminder, ReminderKind};
use vpnkeeper_domain::reset::ResetStrategy;
use vpnkeeper_domain::schedule::plan_pass;
use vpnkeeper_domain::telegram::ChatChange;
use vpnkeeper_domain::{Actor, Command, Envelope, UserRef};
use vpnkeeper_store::{Proposal, ReadStore, TypeConfig};

type Entry = openraft::Entry<TypeConfig>;

const T0: i64 = 1_780_000_000_000;
const DAY: i64 = 86_400_000;
const TG: i64 = 5001;

fn entry(index: u64, at: i64, commands: Vec<Command>) -> Entry {
    let envs = commands
        .into_iter()
        .map(|command| Envelope {
            at_ms: at,
            actor: Actor::System { node_id: 1 },
            command,
        })
        .collect();
    Entry {
        log_id: openraft::LogId::new(CommittedLeaderId::new(1, 1), index),
        payload: EntryPayload::Normal(Proposal(envs)),
    }
}

async fn due_ids(read: &ReadStore, now: i64) -> Vec<i64> {
    let rows = read.due_rows(now).await.unwrap();
    rows.iter().map(|r| r.user_id).collect()
}

fn remind(kind: ReminderKind, period_ms: i64) -> Command {
    Command::RemindUsers {
        reminders: vec![Reminder {
            user_id: 1,
            kind,
            period_ms,
        }],
    }
}

#[tokio::test]
async fn reminders_are_recorded_once_and_the_due_index_follows() {
    let dir = tempfile::tempdir().unwrap();
    let (_log, mut sm, read) = vpnkeeper_store::open(dir.path()).await.unwrap();
    let plan = PlanSpec {
        name: "month".into(),
        duration_days: 30,
        traffic_limit_bytes: 0,
        device_limit: 0,
        reset_strategy: ResetStrategy::NoReset,
        reset_day: None,
        price_stars: 0,
    };
    let setup = vec![
        Command::CreateUser {
            name: "ann".into(),
            telegram_id: Some(TG),
            sub_token: "t".repeat(32),
        },
        Command::TelegramChat {
            telegram_id: TG,
            change: ChatChange {
                lang: Some("ru".into()),
                pending: None,
            },
        },
        Command::CreatePlan { plan },
        Command::AssignPlan {
            user: UserRef::Id(1),
            plan_id: 1,
            on_hold: false,
            on_hold_timeout_ms: None,
        },
    ];
    sm.apply(vec![entry(1, T0, setup)]).await.unwrap();
    let expires = T0 + 30 * DAY;

    // Nothing is due until the 3-day window opens; then the pass proposes that reminder.
    assert_eq!(
        due_ids(&read, expires - 3 * DAY - 1).await,
        Vec::<i64>::new()
    );
    let now = expires - 3 * DAY + 1000;
    assert_eq!(due_ids(&read, now).await, vec![1]);
    let pass = plan_pass(&read.due_rows(now).await.unwrap(), now);
    let want = Reminder {
        user_id: 1,
        kind: ReminderKind::Expires3d,
        period_ms: expires,
    };
    assert_eq!(pass.reminders, vec![want]);

    // Proposed twice (a failover mid-pass) and once stale (a 1-day reminder too early):
    // one outbox row, in the chat's language.
    let twice = vec![
        remind(ReminderKind::Expires3d, expires),
        remind(ReminderKind::Expires3d, expires),
        remind(ReminderKind::Expires1d, expires),
    ];
    sm.apply(vec![entry(2, now, twice)]).await.unwrap();
    let outbox = read.tg_outbox(100).await.unwrap();
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    assert_eq!(outbox[0].chat_id, TG);
    assert_eq!(outbox[0].payload["lang"], "ru");
    assert_eq!(outbox[0].payload["notice"]["kind"], "expires_3d");
    // Sent: the user is not due again until the 1-day window.
    assert_eq!(due_ids(&read, expires - DAY - 1).await, Vec::<i64>::new());
    assert_eq!(due_ids(&read, expires - DAY).await, vec![1]);

    // A stale due time (the 1-day window came and went while no leader looked) is found
    // idle and rechecked: past the expired reminder's window nothing is left but the
    // expiry itself, which the pass proposes.
    let late = expires + 4 * DAY;
    let pass = plan_pass(&read.due_rows(late).await.unwrap(), late);
    assert!(pass.reminders.is_empty(), "{pass:?}");
    assert_eq!(pass.events.len(), 1, "{pass:?}");

    // Renewed: the next due time moves to the new term's 3-day window; RecheckDue keeps it.
    let renew = Command::AssignPlan {
        user: UserRef::Id(1),
        plan_id: 1,
        on_hold: false,
        on_hold_timeout_ms: None,
    };
    let recheck = Command::RecheckDue { user_ids: vec![1] };
    sm.apply(vec![entry(3, now, vec![renew, recheck])])
        .await
        .unwrap();
    let renewed = expires + 30 * DAY;
    assert_eq!(
        due_ids(&read, renewed - 3 * DAY - 1).await,
        Vec::<i64>::new()
    );
    assert_eq!(due_ids(&read, renewed - 3 * DAY).await, vec![1]);

    // Disabled: out of the index, whatever the clock.
    let disable = Command::SetUserEnabled {
        user: UserRef::Id(1),
        enabled: false,
    };
    sm.apply(vec![entry(4, now, vec![disable])]).await.unwrap();
    assert_eq!(due_ids(&read, i64::MAX).await, Vec::<i64>::new());
    read.close().await;
}

/// Usage crossing 80% and then 100% of the quota makes the user due at once (apply's usage
/// watch), and each quota reminder is recorded once for the period.
#[tokio::test]
async fn usage_crossing_the_quota_thresholds_makes_the_user_due() {
    use vpnkeeper_domain::command::{NodeSpec, UsageEntry};
    use vpnkeeper_domain::{DeviceType, Protocol};
    let dir = tempfile::tempdir().unwrap();
    let (_log, mut sm, read) = vpnkeeper_store::open(dir.path()).await.unwrap();
    let node = NodeSpec {
        id: 1,
        name: "fra-1".into(),
        raft_addr: "10.0.0.1:7001".into(),
        api_addr: "10.0.0.1:8443".into(),
        public_host: "vpn.example.com".into(),
        wireguard: None,
        xray: Some(serde_json::json!({"port": 443})),
        capacity: None,
    };
    let plan = PlanSpec {
        name: "small".into(),
        duration_days: 30,
        traffic_limit_bytes: 1000,
        device_limit: 0,
        reset_strategy: ResetStrategy::NoReset,
        reset_day: None,
        price_stars: 0,
    };
    let setup = vec![
        Command::UpsertNode {
            node: Box::new(node),
        },
        Command::CreateUser {
            name: "ann".into(),
            telegram_id: Some(TG),
            sub_token: "t".repeat(32),
        },
        Command::CreatePlan { plan },
        Command::AssignPlan {
            user: UserRef::Id(1),
            plan_id: 1,
            on_hold: false,
            on_hold_timeout_ms: None,
        },
        Command::IssueDevice {
            user: UserRef::Id(1),
            node_id: 1,
            name: "phone".into(),
            device_type: DeviceType::Phone,
            protocol: Protocol::Vless,
            uuid: uuid::Uuid::from_u128(7),
            wg: None,
        },
    ];
    let out = sm.apply(vec![entry(1, T0, setup)]).await.unwrap();
    assert!(format!("{out:?}").contains("Device"), "{out:?}");
    let usage = |bytes| Command::RecordUsage {
        node_id: 1,
        entries: vec![UsageEntry {
            device_id: 1,
            rx_delta: bytes,
            tx_delta: 0,
            last_handshake_ms: None,
        }],
    };
    let at = T0 + 1000;
    sm.apply(vec![entry(2, at, vec![usage(500)])])
        .await
        .unwrap();
    assert_eq!(due_ids(&read, at).await, Vec::<i64>::new(), "50% is quiet");

    sm.apply(vec![entry(3, at, vec![usage(350)])])
        .await
        .unwrap();
    assert_eq!(due_ids(&read, at).await, vec![1], "85% crossed 80%");
    let pass = plan_pass(&read.due_rows(at).await.unwrap(), at);
    let quota80 = Reminder {
        user_id: 1,
        kind: ReminderKind::Quota80,
        period_ms: T0,
    };
    assert_eq!(pass.reminders, vec![quota80]);
    let send = Command::RemindUsers {
        reminders: vec![quota80, quota80],
    };
    sm.apply(vec![entry(4, at, vec![send])]).await.unwrap();
    assert_eq!(read.tg_outbox(100).await.unwrap().len(), 1);
    assert_eq!(due_ids(&read, at).await, Vec::<i64>::new());

    sm.apply(vec![entry(5, at, vec![usage(200)])])
        .await
        .unwrap();
    let pass = plan_pass(&read.due_rows(at).await.unwrap(), at);
    let kinds: Vec<_> = pass.reminders.iter().map(|r| r.kind).collect();
    assert_eq!(kinds, vec![ReminderKind::Quota100], "{pass:?}");
    read.close().await;
}

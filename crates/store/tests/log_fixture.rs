//! The stored Raft log must survive refactoring: `fixtures/log_entries.jsonl` holds log
//! entries exactly as the log store wrote them (one `serde_json` line per entry) before the
//! commands were split into modules, covering every `Command` variant and most refusals.
//! `fixtures/log_state.json` holds what applying them produced: the outcomes and every row
//! of the replicated tables.
//!
//! The test decodes each line, checks that encoding it again gives the same bytes (the
//! serialized form did not change), applies all entries to a fresh state machine and
//! compares outcomes and rows with the fixture.
//!
//! To regenerate (only when a change of the log format is intended and migrated):
//! `VPNKEEPER_WRITE_LOG_FIXTURE=1 cargo test -p vpnkeeper-store --test log_fixture`.

use std::path::{Path, PathBuf};

use openraft::storage::RaftStateMachine;
use openraft::{CommittedLeaderId, EntryPayload};
use serde_json::{json, Value};
use uuid::Uuid;
use vpnkeeper_domain::command::{CounterEntry, NodeSpec, Update, UsageEntry, WgMaterial};
use vpnkeeper_domain::secrets::Sealed;
use vpnkeeper_domain::telegram::{ChatChange, Delivered, OutboxItem};
use vpnkeeper_domain::{
    Actor, ApiScope, Command, DeviceRef, DeviceType, Envelope, NodeWireguard, Protocol, UserRef,
};
use vpnkeeper_store::{Proposal, TypeConfig};

type Entry = openraft::Entry<TypeConfig>;

/// Tables written by `apply`, plus the applied-position metadata.
const TABLES: &[&str] = &[
    "nodes",
    "users",
    "devices",
    "api_keys",
    "invites",
    "audit_log",
    "tg_poll",
    "tg_handled",
    "tg_outbox",
    "tg_chats",
    "tg_access_requests",
    "tg_broadcasts",
    "legacy_sub_secrets",
    "legacy_sub_users",
    "sm_meta",
    "usage_reports",
    "device_counters",
    "node_usage_daily",
    "user_reminders",
    "tickets",
    "ticket_messages",
    "voice_notes",
    "backup_telegram",
    "payment_orders",
    "payments",
    "user_balances",
    "balance_ledger",
    "promo_codes",
    "promo_redemptions",
    "trials_used",
    "referrals",
];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

const T0: i64 = 1_780_000_000_000;

fn env(at: i64, actor: &Actor, command: Command) -> Envelope {
    Envelope {
        at_ms: T0 + at,
        actor: actor.clone(),
        command,
    }
}

fn uuid(n: u128) -> Uuid {
    Uuid::from_u128(0x1234_5678_9abc_4def_8000_0000_0000_0000 + n)
}

fn wg(n: u8) -> Option<WgMaterial> {
    Some(WgMaterial {
        public_key: format!("pub{n}AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        private_key: Sealed::from_stored(format!("v1.sealed-private-{n}")),
        preshared_key: Sealed::from_stored(format!("v1.sealed-psk-{n}")),
    })
}

fn node() -> Command {
    Command::UpsertNode {
        node: Box::new(NodeSpec {
            id: 1,
            name: "fra-1".into(),
            raft_addr: "10.0.0.1:7001".into(),
            api_addr: "10.0.0.1:8443".into(),
            public_host: "vpn.example.com".into(),
            wireguard: Some(NodeWireguard {
                listen_port: 51820,
                address_pool: "10.8.0.0/29".parse().unwrap(),
                public_key: "srvAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into(),
                private_key: Some(Sealed::from_stored("v1.sealed-node-key".into())),
                awg: None,
                dns: vec!["1.1.1.1".parse().unwrap()],
                mtu: Some(1380),
            }),
            xray: Some(
                json!({"port": 443, "reality_public_key": "pbk", "short_ids": ["ab"],
                "server_names": ["www.example.com"], "dest": "www.example.com:443",
                "fingerprint": "chrome", "reality_private_key": null}),
            ),
            capacity: None,
        }),
    }
}

/// Placement capacity and node liveness (issue #13, migration 0020).
fn fleet_proposals() -> Vec<Vec<Envelope>> {
    let sys = Actor::System { node_id: 1 };
    let with_capacity = match node() {
        Command::UpsertNode { mut node } => {
            node.capacity = Some(250);
            Command::UpsertNode { node }
        }
        _ => unreachable!(),
    };
    vec![vec![
        env(37, &sys, with_capacity),
        env(
            38,
            &sys,
            Command::SetNodeOnline {
                node_id: 1,
                online: false,
            },
        ),
        env(
            39,
            &sys,
            Command::SetNodeOnline {
                node_id: 1,
                online: true,
            },
        ),
        env(
            40,
            &sys,
            Command::SetNodeOnline {
                node_id: 9,
                online: false,
            },
        ),
    ]]
}

fn issue(user: UserRef, name: &str, protocol: Protocol, n: u8) -> Command {
    Command::IssueDevice {
        user,
        node_id: 1,
        name: name.into(),
        device_type: DeviceType::Phone,
        protocol,
        uuid: uuid(n as u128),
        wg: protocol.is_wireguard_family().then(|| wg(n)).flatten(),
    }
}

fn outbox(chat: i64, text: &str) -> Vec<OutboxItem> {
    vec![OutboxItem {
        chat_id: chat,
        payload: json!({"send": {"text": text}}),
    }]
}

/// Users, nodes, devices and API keys, with their refusals.
fn admin_proposals() -> Vec<Vec<Envelope>> {
    let sys = Actor::System { node_id: 1 };
    let key = Actor::ApiKey {
        key_id: "k1".into(),
    };
    let alice = || UserRef::Name("alice".into());
    vec![
        vec![env(1, &sys, node())],
        vec![
            env(
                2,
                &key,
                Command::CreateUser {
                    name: "alice".into(),
                    telegram_id: Some(1001),
                    sub_token: "tok-alice-0123456789".into(),
                },
            ),
            env(
                2,
                &key,
                Command::CreateUser {
                    name: "bob".into(),
                    telegram_id: None,
                    sub_token: "tok-bob-0123456789ab".into(),
                },
            ),
            env(
                2,
                &key,
                Command::CreateUser {
                    name: "alice".into(),
                    telegram_id: None,
                    sub_token: "tok-dup-0123456789ab".into(),
                },
            ),
        ],
        vec![env(
            3,
            &key,
            Command::SetUserEnabled {
                user: UserRef::Id(2),
                enabled: false,
            },
        )],
        vec![
            env(4, &key, issue(alice(), "phone", Protocol::Wireguard, 1)),
            env(4, &key, issue(alice(), "phone", Protocol::Wireguard, 2)),
            env(4, &key, issue(alice(), "laptop", Protocol::Vless, 3)),
            env(4, &key, issue(UserRef::Id(2), "tab", Protocol::Vless, 4)),
            env(4, &key, issue(alice(), "awg", Protocol::Awg, 5)),
            env(4, &key, issue(UserRef::Id(99), "x", Protocol::Vless, 6)),
        ],
        vec![
            env(
                5,
                &key,
                Command::RevokeDevice {
                    device: DeviceRef::Id(1),
                },
            ),
            env(
                5,
                &key,
                Command::RevokeDevice {
                    device: DeviceRef::Uuid(uuid(77)),
                },
            ),
            env(4, &key, issue(alice(), "phone2", Protocol::Wireguard, 7)),
            env(
                5,
                &key,
                Command::SetUserEnabled {
                    user: UserRef::Id(2),
                    enabled: true,
                },
            ),
        ],
        vec![
            env(
                6,
                &sys,
                Command::CreateApiKey {
                    key_id: "k2".into(),
                    name: "ci".into(),
                    scope: ApiScope::ReadOnly,
                    secret_hash: "hash-k2".into(),
                },
            ),
            env(
                6,
                &sys,
                Command::CreateApiKey {
                    key_id: "k2".into(),
                    name: "again".into(),
                    scope: ApiScope::Admin,
                    secret_hash: "hash-k2b".into(),
                },
            ),
            env(
                7,
                &key,
                Command::RevokeApiKey {
                    key_id: "k2".into(),
                },
            ),
            env(
                7,
                &key,
                Command::RevokeApiKey {
                    key_id: "k2".into(),
                },
            ),
            env(
                8,
                &key,
                Command::CreateInvite {
                    invite_id: "inv1".into(),
                    token_hash: "inv-hash".into(),
                    expires_at_ms: T0 + 86_400_000,
                },
            ),
        ],
        vec![env(
            9,
            &sys,
            Command::RecordUsage {
                node_id: 1,
                entries: vec![
                    UsageEntry {
                        device_id: 3,
                        rx_delta: 1000,
                        tx_delta: 2000,
                        last_handshake_ms: Some(T0 + 9),
                    },
                    UsageEntry {
                        device_id: 404,
                        rx_delta: 1,
                        tx_delta: 1,
                        last_handshake_ms: None,
                    },
                ],
            },
        )],
        vec![
            env(
                10,
                &key,
                Command::UpdateUser {
                    user: alice(),
                    name: Some("alice2".into()),
                    telegram_id: Some(Update::Set(1002)),
                    expires_at_ms: Some(Update::Set(T0 + 1_000_000)),
                    traffic_limit_bytes: Some(Update::Set(10_000_000)),
                },
            ),
            env(
                11,
                &key,
                Command::UpdateUser {
                    user: UserRef::Id(1),
                    name: None,
                    telegram_id: None,
                    expires_at_ms: Some(Update::Clear),
                    traffic_limit_bytes: None,
                },
            ),
            env(
                11,
                &key,
                Command::UpdateUser {
                    user: UserRef::Id(2),
                    name: Some("alice2".into()),
                    telegram_id: None,
                    expires_at_ms: None,
                    traffic_limit_bytes: None,
                },
            ),
            env(
                12,
                &key,
                Command::RotateSubToken {
                    user: UserRef::TelegramId(1002),
                    sub_token: "tok-alice-rotated-0123".into(),
                },
            ),
            env(
                12,
                &key,
                Command::RotateSubToken {
                    user: UserRef::Id(2),
                    sub_token: "tok-alice-rotated-0123".into(),
                },
            ),
        ],
    ]
}

/// Plans and the user lifecycle (issue #15): one entry appended after the earlier ones.
fn plan_proposals() -> Vec<Vec<Envelope>> {
    use vpnkeeper_domain::command::plan::{LifecycleEvent, PlanSpec};
    use vpnkeeper_domain::reset::ResetStrategy;
    let key = Actor::ApiKey {
        key_id: "k1".into(),
    };
    let sys = Actor::System { node_id: 1 };
    let alice = || UserRef::Id(1);
    let spec = |name: &str| PlanSpec {
        name: name.into(),
        duration_days: 30,
        traffic_limit_bytes: 2048,
        device_limit: 1,
        reset_strategy: ResetStrategy::DayOfMonth,
        reset_day: Some(31),
        price_stars: 100,
    };
    let assign = |plan_id| Command::AssignPlan {
        user: alice(),
        plan_id,
        on_hold: false,
        on_hold_timeout_ms: None,
    };
    vec![vec![
        env(
            40,
            &key,
            Command::CreatePlan {
                plan: spec("monthly"),
            },
        ),
        env(
            40,
            &key,
            Command::CreatePlan {
                plan: spec("monthly"),
            },
        ),
        env(41, &key, Command::CreatePlan { plan: spec("old") }),
        env(41, &key, Command::ArchivePlan { plan_id: 2 }),
        env(42, &key, assign(1)),
        env(42, &key, assign(2)),
        env(
            43,
            &sys,
            Command::RecordUsage {
                node_id: 1,
                entries: vec![UsageEntry {
                    device_id: 1,
                    rx_delta: 3000,
                    tx_delta: 0,
                    last_handshake_ms: Some(T0 + 43),
                }],
            },
        ),
        env(44, &key, Command::ResetUsage { user: alice() }),
        env(
            45,
            &sys,
            Command::Lifecycle {
                events: vec![
                    LifecycleEvent::Reset {
                        user_id: 1,
                        period_start_ms: T0,
                    },
                    LifecycleEvent::Expire { user_id: 1 },
                    LifecycleEvent::OnHoldTimeout { user_id: 99 },
                ],
            },
        ),
        env(
            46,
            &key,
            Command::UpdatePlan {
                plan_id: 1,
                plan: spec("monthly-2"),
            },
        ),
    ]]
}

/// The bot's commands: updates (exactly-once, all-or-nothing), chats, access, broadcasts.
fn bot_proposals() -> Vec<Vec<Envelope>> {
    let sys = Actor::System { node_id: 1 };
    let carol = Actor::Telegram { telegram_id: 2001 };
    let admin = Actor::Telegram { telegram_id: 9001 };
    let update = |id: i64, commands: Vec<Command>, text: &str| Command::TelegramUpdate {
        update_id: id,
        offset: id + 1,
        commands,
        outbox: outbox(2001, text),
    };
    // The first update's replies go to two chats; one stays in the outbox after the
    // delivery report below, so the stored outcomes of a device issue are compared too.
    let mut first = update(
        100,
        vec![
            Command::CreateUser {
                name: "carol".into(),
                telegram_id: Some(2001),
                sub_token: "tok-carol-0123456789".into(),
            },
            issue(UserRef::TelegramId(2001), "phone", Protocol::Vless, 8),
        ],
        "welcome",
    );
    if let Command::TelegramUpdate { outbox: o, .. } = &mut first {
        o.extend(outbox(9001, "new user carol"));
    }
    vec![
        vec![env(20, &carol, first)],
        vec![
            env(21, &carol, update(100, vec![], "duplicate")),
            env(
                22,
                &carol,
                update(
                    101,
                    vec![
                        Command::SetUserEnabled {
                            user: UserRef::TelegramId(2001),
                            enabled: false,
                        },
                        Command::CreateUser {
                            name: "carol".into(),
                            telegram_id: None,
                            sub_token: "tok-carol-dup-0123456".into(),
                        },
                    ],
                    "refused",
                ),
            ),
        ],
        vec![
            env(
                23,
                &sys,
                Command::TelegramDelivered {
                    delivered: vec![
                        Delivered {
                            outbox_id: 1,
                            main_message_id: Some(55),
                        },
                        Delivered {
                            outbox_id: 1,
                            main_message_id: Some(56),
                        },
                    ],
                },
            ),
            env(
                24,
                &carol,
                Command::TelegramChat {
                    telegram_id: 2001,
                    change: ChatChange {
                        lang: Some("ru".into()),
                        pending: Some(Some(json!({"await": "device_name"}))),
                    },
                },
            ),
            // `pending: Some(None)` ("clear") is encoded as `null`, which decodes as `None`
            // ("keep"): after the log round trip this entry does NOT clear the pending input.
            // Recorded as the log's behaviour today; fixing it changes the log format.
            env(
                25,
                &carol,
                Command::TelegramChat {
                    telegram_id: 2001,
                    change: ChatChange {
                        lang: None,
                        pending: Some(None),
                    },
                },
            ),
        ],
        vec![
            env(
                26,
                &Actor::Telegram { telegram_id: 3001 },
                Command::TelegramAccessRequest {
                    telegram_id: 3001,
                    display: "Dave (@dave)".into(),
                },
            ),
            env(
                27,
                &Actor::Telegram { telegram_id: 3001 },
                Command::TelegramAccessRequest {
                    telegram_id: 3001,
                    display: "Dave".into(),
                },
            ),
            env(
                28,
                &admin,
                Command::TelegramAccessDecision {
                    telegram_id: 3001,
                    approve: true,
                },
            ),
            env(
                29,
                &admin,
                Command::TelegramAccessDecision {
                    telegram_id: 3001,
                    approve: false,
                },
            ),
            env(30, &admin, Command::RequestNodeReboot { node_id: 1 }),
            env(30, &admin, Command::RequestNodeReboot { node_id: 9 }),
        ],
        vec![
            env(
                31,
                &admin,
                Command::StartBroadcast {
                    broadcast_id: "b1".into(),
                    text: "maintenance tonight".into(),
                    admin_chat: 9001,
                },
            ),
            env(
                32,
                &admin,
                Command::StartBroadcast {
                    broadcast_id: "b2".into(),
                    text: "second".into(),
                    admin_chat: 9001,
                },
            ),
            env(
                33,
                &sys,
                Command::BroadcastProgress {
                    broadcast_id: "b1".into(),
                    cursor: 3,
                    sent: 2,
                    failed: 1,
                    finished: true,
                    notify: outbox(9001, "broadcast finished"),
                },
            ),
            env(
                34,
                &sys,
                Command::BroadcastProgress {
                    broadcast_id: "nope".into(),
                    cursor: 1,
                    sent: 1,
                    failed: 0,
                    finished: false,
                    notify: vec![],
                },
            ),
        ],
        vec![
            env(
                35,
                &Actor::ApiKey {
                    key_id: "k1".into(),
                },
                Command::DeleteUser {
                    user: UserRef::Name("bob".into()),
                },
            ),
            env(
                36,
                &Actor::ApiKey {
                    key_id: "k1".into(),
                },
                Command::DeleteUser {
                    user: UserRef::Name("bob".into()),
                },
            ),
        ],
    ]
}

/// Imports from other panels (issue #18): the old panel's secret, a user with a VLESS UUID
/// and a WireGuard peer kept (twice: the second changes nothing), the old server's key.
fn import_proposals() -> Vec<Vec<Envelope>> {
    use vpnkeeper_domain::command::import::{
        ImportSource, ImportedDevice, ImportedServerKey, ImportedUser, ImportedWg,
    };
    let admin = Actor::ApiKey {
        key_id: "k1".into(),
    };
    let carol = ImportedUser {
        source: ImportSource::Marzban,
        name: "carol".into(),
        enabled: false,
        expires_at_ms: Some(T0 + 86_400_000),
        traffic_limit_bytes: Some(1 << 30),
        sub_token: "imported-token-carol-0001".into(),
        legacy_name: Some("Carol".into()),
        legacy_revoked_before_ms: Some(T0 - 1000),
        devices: vec![
            ImportedDevice {
                node_id: 1,
                name: "vless".into(),
                device_type: DeviceType::Phone,
                protocol: Protocol::Vless,
                uuid: uuid(200),
                wg: None,
                rx_bytes: 12345,
                tx_bytes: 0,
            },
            ImportedDevice {
                node_id: 1,
                name: "amnezia".into(),
                device_type: DeviceType::Laptop,
                protocol: Protocol::Wireguard,
                uuid: uuid(201),
                wg: Some(ImportedWg {
                    public_key: "impAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into(),
                    preshared_key: Some(Sealed::from_stored("v1.sealed-imported-psk".into())),
                    address_v4: "10.8.0.6".parse().unwrap(),
                }),
                rx_bytes: 0,
                tx_bytes: 0,
            },
        ],
    };
    vec![vec![
        env(
            40,
            &admin,
            Command::SetLegacySubSecret {
                source: ImportSource::Marzban,
                secret: Sealed::from_stored("v1.sealed-marzban-secret".into()),
            },
        ),
        env(
            41,
            &admin,
            Command::ImportUser {
                user: Box::new(carol.clone()),
            },
        ),
        env(
            42,
            &admin,
            Command::ImportUser {
                user: Box::new(carol),
            },
        ),
        env(
            43,
            &admin,
            Command::ImportServerKey {
                key: Box::new(ImportedServerKey {
                    node_id: 1,
                    public_key: "oldAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into(),
                    private_key: Sealed::from_stored("v1.sealed-old-server-key".into()),
                    awg: None,
                }),
            },
        ),
    ]]
}

/// Fleet (issue #13): a joining node spends an invite once; a second use and an unknown
/// token are refused.
fn invite_proposals() -> Vec<Vec<Envelope>> {
    let sys = Actor::System { node_id: 1 };
    let redeem = |token: &str, node_id| Command::RedeemInvite {
        token_hash: token.into(),
        node_id,
    };
    vec![vec![
        env(40, &sys, redeem("inv-hash", 2)),
        env(41, &sys, redeem("inv-hash", 3)),
        env(42, &sys, redeem("no-such-hash", 3)),
    ]]
}

/// Exact usage (issue #15): absolute counters keyed by (node, boot epoch, seq). A replay is
/// refused, growth is counted once, a new counter lifetime counts from zero, an unknown
/// device is skipped.
fn usage_proposals() -> Vec<Vec<Envelope>> {
    let sys = Actor::System { node_id: 1 };
    let report = |boot_epoch, seq, counter_epoch, rx_total, device_id| Command::RecordCounters {
        node_id: 1,
        boot_epoch,
        seq,
        entries: vec![CounterEntry {
            device_id,
            counter_epoch,
            rx_total,
            tx_total: 200,
            last_handshake_ms: Some(T0 + 47),
        }],
    };
    vec![vec![
        env(47, &sys, report(5, 1, 0, 1000, 1)),
        env(47, &sys, report(5, 1, 0, 1000, 1)),
        env(48, &sys, report(5, 2, 0, 1500, 1)),
        env(49, &sys, report(6, 1, 9, 100, 1)),
        env(49, &sys, report(6, 2, 9, 100, 999)),
    ]]
}

/// Reminders (issue #15, remind; format 2): carol (Russian chat) is enabled with her expiry
/// 2 days ahead, so her 3-day reminder is due; alice's period usage is past 80% of her quota.
/// Proposed twice, each is sent once; an unknown user is skipped. Then the scheduler's
/// recheck of next-due times.
fn reminder_proposals() -> Vec<Vec<Envelope>> {
    use vpnkeeper_domain::command::reminder::{Reminder, ReminderKind};
    let sys = Actor::System { node_id: 1 };
    let key = Actor::ApiKey {
        key_id: "k1".into(),
    };
    let expires = T0 + 50 + 2 * 86_400_000;
    let carol_3d = Reminder {
        user_id: 3,
        kind: ReminderKind::Expires3d,
        period_ms: expires,
    };
    let alice_80 = Reminder {
        user_id: 1,
        kind: ReminderKind::Quota80,
        period_ms: T0,
    };
    let unknown = Reminder {
        user_id: 99,
        kind: ReminderKind::Expired,
        period_ms: T0,
    };
    vec![vec![
        env(
            50,
            &key,
            Command::SetUserEnabled {
                user: UserRef::TelegramId(2001),
                enabled: true,
            },
        ),
        env(
            50,
            &key,
            Command::UpdateUser {
                user: UserRef::TelegramId(2001),
                name: None,
                telegram_id: None,
                expires_at_ms: Some(Update::Set(expires)),
                traffic_limit_bytes: None,
            },
        ),
        env(
            51,
            &sys,
            Command::RemindUsers {
                reminders: vec![carol_3d, alice_80, carol_3d, unknown],
            },
        ),
        env(
            52,
            &sys,
            Command::RecheckDue {
                user_ids: vec![1, 3, 99],
            },
        ),
    ]]
}

/// Support tickets and voice notes (issue #17): a post, a reply, a close, a reply refused
/// on the closed ticket; a voice note (a new ticket) pending until its result, and a second
/// result for it that changes nothing.
fn support_proposals() -> Vec<Vec<Envelope>> {
    use vpnkeeper_domain::command::voice::{VoiceFailure, VoiceResult};
    let user = Actor::Telegram { telegram_id: 1002 };
    let admin = Actor::Telegram { telegram_id: 1001 };
    let sys = Actor::System { node_id: 1 };
    let reply = |text: &str| Command::TicketReply {
        ticket_id: 1,
        text: text.into(),
    };
    vec![
        vec![
            env(
                50,
                &user,
                Command::TicketPost {
                    telegram_id: 1002,
                    text: "nothing connects".into(),
                },
            ),
            env(50, &admin, reply("try the other protocol")),
            env(51, &admin, Command::CloseTicket { ticket_id: 1 }),
            env(51, &admin, reply("late")),
        ],
        vec![
            env(
                52,
                &user,
                Command::TicketVoice {
                    telegram_id: 1002,
                    file_id: "AwACAgIAAxkBAAIB".into(),
                    duration_secs: 9,
                    language: Some("ru".into()),
                    notify: vec![1001],
                },
            ),
            env(
                53,
                &sys,
                Command::VoiceTranscribed {
                    message_id: 3,
                    result: VoiceResult::Text {
                        text: "интернет не работает".into(),
                        language: "ru".into(),
                    },
                },
            ),
            env(
                54,
                &sys,
                Command::VoiceTranscribed {
                    message_id: 3,
                    result: VoiceResult::Failed {
                        reason: VoiceFailure::NoSpeech,
                    },
                },
            ),
        ],
    ]
}

/// Scheduled backups to the admins: a slot is queued once; a repeated or older slot is a
/// duplicate.
fn backup_proposals() -> Vec<Vec<Envelope>> {
    let sys = Actor::System { node_id: 1 };
    let due = |slot_ms, chats: &[i64]| Command::TelegramBackupDue {
        slot_ms,
        chats: chats.to_vec(),
    };
    vec![vec![
        env(50, &sys, due(T0, &[1001, 1002])),
        env(50, &sys, due(T0, &[1001, 1002])),
        env(51, &sys, due(T0 - 3_600_000, &[1001])),
        env(52, &sys, due(T0 + 3_600_000, &[1001])),
    ]]
}

/// The operator's draining mark (issue #14): on, off, and an unknown node refused.
fn drain_proposals() -> Vec<Vec<Envelope>> {
    let key = Actor::ApiKey {
        key_id: "k1".into(),
    };
    let drain = |node_id, draining| Command::SetNodeDraining { node_id, draining };
    vec![vec![
        env(50, &key, drain(1, true)),
        env(51, &key, drain(1, false)),
        env(52, &key, drain(1, true)),
        env(53, &key, drain(9, true)),
    ]]
}

/// Payments in Telegram Stars (issue #16): an order, pre-checkouts (ok, wrong amount), a
/// credit inside its Telegram update and the same charge again (refused), a refund refused by
/// Telegram, asked again and done.
fn payment_proposals() -> Vec<Vec<Envelope>> {
    use vpnkeeper_domain::command::payment::{ProviderPayment, STARS};
    use vpnkeeper_domain::command::plan::PlanSpec;
    use vpnkeeper_domain::reset::ResetStrategy;
    let key = Actor::ApiKey {
        key_id: "k1".into(),
    };
    let payer = Actor::Telegram { telegram_id: 7777 };
    let sys = Actor::System { node_id: 1 };
    let spec = PlanSpec {
        name: "stars30".into(),
        duration_days: 30,
        traffic_limit_bytes: 0,
        device_limit: 0,
        reset_strategy: ResetStrategy::NoReset,
        reset_day: None,
        price_stars: 50,
    };
    let check = |amount| Command::CheckOrder {
        order_id: "ord-1".into(),
        telegram_id: 7777,
        amount,
        currency: "XTR".into(),
    };
    let credit = |update_id| Command::TelegramUpdate {
        update_id,
        offset: update_id,
        commands: vec![Command::CreditPayment {
            payment: ProviderPayment {
                provider: STARS.into(),
                provider_payment_id: "charge-1".into(),
                order_id: "ord-1".into(),
                amount: 50,
                currency: "XTR".into(),
            },
        }],
        outbox: vec![],
    };
    let result = |ok, error: Option<&str>| Command::RefundResult {
        payment_id: 1,
        ok,
        error: error.map(str::to_string),
    };
    vec![vec![
        env(
            60,
            &key,
            Command::CreateUser {
                name: "payer".into(),
                telegram_id: Some(7777),
                sub_token: "payer-token-0123456789abcdef".into(),
            },
        ),
        env(61, &key, Command::CreatePlan { plan: spec }),
        env(
            62,
            &payer,
            Command::CreateOrder {
                order_id: "ord-1".into(),
                telegram_id: 7777,
                plan_id: 3,
            },
        ),
        env(63, &payer, check(50)),
        env(64, &payer, check(49)),
        env(65, &payer, credit(990_001)),
        env(66, &payer, credit(990_002)),
        env(67, &payer, check(50)),
        env(68, &key, Command::RequestRefund { payment_id: 1 }),
        env(69, &sys, result(false, Some("CHARGE_NOT_FOUND"))),
        env(70, &key, Command::RequestRefund { payment_id: 1 }),
        env(71, &sys, result(true, None)),
        env(72, &sys, result(true, None)),
    ]]
}

/// Balances, promo codes, trials and referrals (issue #16): a new user bound to a referrer,
/// a credit and a refused debit, a discount code redeemed once (the second use refused) and
/// disabled, a trial taken once (the second refused).
fn promo_proposals() -> Vec<Vec<Envelope>> {
    use vpnkeeper_domain::command::promo::{PromoGrant, PromoSpec};
    use vpnkeeper_domain::command::referral::{code_of, ReferralReward};
    let key = Actor::ApiKey {
        key_id: "k1".into(),
    };
    let create = |name: &str, tg| Command::CreateUser {
        name: name.into(),
        telegram_id: Some(tg),
        sub_token: format!("{name:x<32}"),
    };
    let ann = UserRef::TelegramId(7001);
    let bob = UserRef::TelegramId(7002);
    let redeem = |user: &UserRef| Command::RedeemPromoCode {
        user: user.clone(),
        code: "SAVE10".into(),
    };
    let trial = Command::StartTrial {
        telegram_id: 7002,
        plan_id: PROMO_TRIAL_PLAN,
        days: 3,
    };
    vec![vec![
        env(60, &key, create("promo-ann", 7001)),
        env(61, &key, create("promo-bob", 7002)),
        env(
            61,
            &key,
            Command::BindReferrer {
                referee: bob.clone(),
                code: code_of(PROMO_ANN_ID),
                reward: ReferralReward::Percent { percent: 10 },
            },
        ),
        env(
            62,
            &key,
            Command::AdjustBalance {
                user: ann.clone(),
                delta_stars: 100,
                reason: "goodwill".into(),
            },
        ),
        env(
            63,
            &key,
            Command::AdjustBalance {
                user: ann.clone(),
                delta_stars: -500,
                reason: String::new(),
            },
        ),
        env(
            64,
            &key,
            Command::CreatePromoCode {
                promo: PromoSpec {
                    code: "SAVE10".into(),
                    grant: PromoGrant::Discount { percent: 10 },
                    max_uses: 5,
                    expires_at_ms: None,
                },
            },
        ),
        env(65, &key, redeem(&bob)),
        env(66, &key, redeem(&bob)),
        env(
            67,
            &key,
            Command::DisablePromoCode {
                code: "SAVE10".into(),
            },
        ),
        env(
            68,
            &key,
            Command::CreatePlan {
                plan: vpnkeeper_domain::command::plan::PlanSpec {
                    name: "promo-trial".into(),
                    duration_days: 30,
                    traffic_limit_bytes: 0,
                    device_limit: 0,
                    reset_strategy: Default::default(),
                    reset_day: None,
                    price_stars: 0,
                },
            },
        ),
        env(69, &key, trial.clone()),
        env(70, &key, trial),
    ]]
}

/// Ids the entries above name, as earlier entries leave the state.
const PROMO_ANN_ID: i64 = 5;
const PROMO_TRIAL_PLAN: i64 = 4;

/// The entries as today's code builds them (used only to regenerate the fixture).
fn build_entries() -> Vec<Entry> {
    let leader = CommittedLeaderId::new(1, 1);
    let mut entries = vec![Entry {
        log_id: openraft::LogId::new(leader, 1),
        payload: EntryPayload::Blank,
    }];
    for envs in admin_proposals()
        .into_iter()
        .chain(bot_proposals())
        .chain(fleet_proposals())
        .chain(import_proposals())
        .chain(invite_proposals())
        .chain(plan_proposals())
        .chain(usage_proposals())
        .chain(reminder_proposals())
        .chain(support_proposals())
        .chain(backup_proposals())
        .chain(drain_proposals())
        .chain(payment_proposals())
        .chain(promo_proposals())
    {
        let index = entries.len() as u64 + 1;
        entries.push(Entry {
            log_id: openraft::LogId::new(leader, index),
            payload: EntryPayload::Normal(Proposal(envs)),
        });
    }
    entries
}

fn sql_value(v: rusqlite::types::ValueRef<'_>) -> Value {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => json!(i),
        ValueRef::Real(f) => json!(f),
        ValueRef::Text(t) => json!(String::from_utf8_lossy(t)),
        ValueRef::Blob(b) => json!(format!("blob:{}", b.len())),
    }
}

/// Every row of the replicated tables, as `{table: [{column: value}]}`.
fn dump_tables(db: &Path) -> Value {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut tables = serde_json::Map::new();
    for table in TABLES {
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM {table} ORDER BY 1"))
            .unwrap();
        let names: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
        let rows: Vec<Value> = stmt
            .query_map([], |r| {
                let mut row = serde_json::Map::new();
                for (i, name) in names.iter().enumerate() {
                    row.insert(name.clone(), sql_value(r.get_ref(i)?));
                }
                Ok(Value::Object(row))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        tables.insert(table.to_string(), Value::Array(rows));
    }
    Value::Object(tables)
}

/// Applies `entries` to a fresh state machine; returns the outcomes and the resulting rows.
async fn apply_fresh(entries: Vec<Entry>) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let (log, mut sm, read) = vpnkeeper_store::open(dir.path()).await.unwrap();
    let outcomes = sm.apply(entries).await.unwrap();
    read.close().await;
    drop((log, sm));
    json!({
        "outcomes": serde_json::to_value(&outcomes).unwrap(),
        "tables": dump_tables(&dir.path().join("state.db")),
    })
}

#[tokio::test]
async fn entries_written_by_earlier_code_decode_and_apply_the_same() {
    if std::env::var_os("VPNKEEPER_WRITE_LOG_FIXTURE").is_some() {
        let entries = build_entries();
        let lines: Vec<String> = entries
            .iter()
            .map(|e| serde_json::to_string(e).unwrap())
            .collect();
        std::fs::create_dir_all(fixture("")).unwrap();
        std::fs::write(fixture("log_entries.jsonl"), lines.join("\n") + "\n").unwrap();
        // The expected state comes from the decoded lines, as a node applies entries it
        // reads back from raft-log.db (not from the in-memory values).
        let decoded = lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let state = apply_fresh(decoded).await;
        let text = serde_json::to_string_pretty(&state).unwrap() + "\n";
        std::fs::write(fixture("log_state.json"), text).unwrap();
    }
    let text = std::fs::read_to_string(fixture("log_entries.jsonl")).unwrap();
    let mut entries = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let entry: Entry = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("entry on line {} no longer decodes: {e}", n + 1));
        assert_eq!(
            serde_json::to_string(&entry).unwrap(),
            line,
            "entry on line {} encodes differently now",
            n + 1
        );
        entries.push(entry);
    }
    // Every command variant is covered, so a new one must be added here (and to the fixture).
    let mut actions: Vec<&str> = entries
        .iter()
        .filter_map(|e| match &e.payload {
            EntryPayload::Normal(p) => Some(p.0.iter()),
            _ => None,
        })
        .flatten()
        .map(|env| env.command.action())
        .collect();
    actions.sort_unstable();
    actions.dedup();
    // `payment.credit` is covered inside a `telegram.update`, where the bot proposes it.
    assert_eq!(actions.len(), 56, "actions covered: {actions:?}");

    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("log_state.json")).unwrap()).unwrap();
    let got = apply_fresh(entries).await;
    assert_eq!(
        got["outcomes"], expected["outcomes"],
        "apply outcomes differ"
    );
    for table in TABLES {
        assert_eq!(
            got["tables"][table], expected["tables"][table],
            "rows of {table} differ"
        );
    }
}

//! The front door: every caller writes through `Cluster::submit`, and an invalid command —
//! from any of them — is refused before it reaches the Raft log.

use std::time::Duration;

use vpnkeeper_cluster::{Cluster, RaftTiming, SubmitError};
use vpnkeeper_domain::command::{UsageEntry, MAX_USAGE_ENTRIES};
use vpnkeeper_domain::secrets::ClusterSecret;
use vpnkeeper_domain::telegram::ChatChange;
use vpnkeeper_domain::{Actor, Applied, Command, DeviceType, Protocol, UserRef};
use vpnkeeper_store::NodeAddr;

async fn single_node(dir: &std::path::Path) -> Cluster {
    let secret = ClusterSecret::generate(&mut rand::rngs::OsRng);
    let pki = vpnkeeper_cluster::Pki::ensure(dir, 1, &secret).expect("cluster certificates");
    let cluster = Cluster::start(1, dir, pki, RaftTiming::default())
        .await
        .expect("start the cluster");
    cluster
        .initialize_single(NodeAddr {
            raft_addr: "127.0.0.1:1".into(),
            api_addr: "127.0.0.1:2".into(),
        })
        .await
        .expect("initialize");
    cluster
        .wait_for_leader(Duration::from_secs(10))
        .await
        .expect("leader");
    cluster
}

fn last_index(c: &Cluster) -> Option<u64> {
    c.metrics().last_log_index
}

/// One invalid command per family and per kind of caller (API key, Telegram user, the node's
/// own reconcilers and start-up).
fn invalid_commands() -> Vec<(Actor, Command)> {
    let api = Actor::ApiKey {
        key_id: "k1".into(),
    };
    let tg = Actor::Telegram { telegram_id: 42 };
    let node = Actor::System { node_id: 1 };
    let bad_user = Command::CreateUser {
        name: String::new(),
        telegram_id: None,
        sub_token: "tok-0123456789abcdef".into(),
    };
    vec![
        (api.clone(), bad_user.clone()),
        (
            api.clone(),
            Command::IssueDevice {
                user: UserRef::Id(1),
                node_id: 1,
                name: "phone".into(),
                device_type: DeviceType::Phone,
                protocol: Protocol::Awg,
                uuid: uuid::Uuid::new_v4(),
                wg: None,
            },
        ),
        (
            api.clone(),
            Command::RotateSubToken {
                user: UserRef::Id(1),
                sub_token: "short".into(),
            },
        ),
        (
            api,
            Command::CreateApiKey {
                key_id: "k2".into(),
                name: " padded ".into(),
                scope: vpnkeeper_domain::ApiScope::Admin,
                secret_hash: "h".into(),
            },
        ),
        (
            tg.clone(),
            Command::TelegramUpdate {
                update_id: 1,
                offset: 2,
                commands: vec![bad_user],
                outbox: vec![],
            },
        ),
        (
            tg,
            Command::TelegramChat {
                telegram_id: 42,
                change: ChatChange {
                    lang: Some("xx".into()),
                    pending: None,
                },
            },
        ),
        (
            node.clone(),
            Command::RecordUsage {
                node_id: 1,
                entries: vec![
                    UsageEntry {
                        device_id: 1,
                        rx_delta: 1,
                        tx_delta: 1,
                        last_handshake_ms: None,
                    };
                    MAX_USAGE_ENTRIES + 1
                ],
            },
        ),
        (
            node.clone(),
            Command::StartBroadcast {
                broadcast_id: "b".into(),
                text: "   ".into(),
                admin_chat: 42,
            },
        ),
        (
            node.clone(),
            Command::SetNodeOnline {
                node_id: 0,
                online: false,
            },
        ),
        // Reminders (issue #15, remind): a user id of 0, and a batch too large.
        (
            node.clone(),
            Command::RemindUsers {
                reminders: vec![vpnkeeper_domain::command::reminder::Reminder {
                    user_id: 0,
                    kind: vpnkeeper_domain::command::reminder::ReminderKind::Expired,
                    period_ms: 1,
                }],
            },
        ),
        (
            node.clone(),
            Command::RecheckDue {
                user_ids: vec![1; vpnkeeper_domain::command::reminder::MAX_REMINDERS + 1],
            },
        ),
        (
            node.clone(),
            Command::TelegramBackupDue {
                slot_ms: 1,
                chats: vec![],
            },
        ),
        (
            node.clone(),
            Command::SetNodeDraining {
                node_id: 0,
                draining: true,
            },
        ),
        // Payments (issue #16): a foreign order id, a credit of nothing, a refund result
        // that is a yes with a reason.
        (
            node.clone(),
            Command::CreateOrder {
                order_id: "no spaces".into(),
                telegram_id: 7,
                plan_id: 1,
            },
        ),
        (
            node.clone(),
            Command::AdjustBalance {
                user: vpnkeeper_domain::UserRef::Id(1),
                delta_stars: 0,
                reason: String::new(),
            },
        ),
        (
            node.clone(),
            Command::CreditPayment {
                payment: vpnkeeper_domain::command::payment::ProviderPayment {
                    provider: "telegram_stars".into(),
                    provider_payment_id: "charge".into(),
                    order_id: "o1".into(),
                    amount: 0,
                    currency: "XTR".into(),
                },
            },
        ),
        (
            node.clone(),
            Command::RefundResult {
                payment_id: 1,
                ok: true,
                error: Some("why".into()),
            },
        ),
        (
            node.clone(),
            Command::CreatePromoCode {
                promo: vpnkeeper_domain::command::promo::PromoSpec {
                    code: "a b".into(),
                    grant: vpnkeeper_domain::command::promo::PromoGrant::Discount { percent: 10 },
                    max_uses: 1,
                    expires_at_ms: None,
                },
            },
        ),
        (node.clone(), Command::DisablePromoCode { code: "x".into() }),
        (
            node.clone(),
            Command::RedeemPromoCode {
                user: vpnkeeper_domain::UserRef::Id(1),
                code: "".into(),
            },
        ),
        (
            node.clone(),
            Command::StartTrial {
                telegram_id: 42,
                plan_id: 1,
                days: 0,
            },
        ),
        (
            node,
            Command::BindReferrer {
                referee: vpnkeeper_domain::UserRef::TelegramId(42),
                code: "not a code".into(),
                reward: vpnkeeper_domain::command::referral::ReferralReward::Days { days: 7 },
            },
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_commands_are_refused_before_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = single_node(dir.path()).await;
    // A valid command moves the log: the index below is a real measure.
    let before_valid = last_index(&cluster);
    let outcome = cluster
        .submit(
            Actor::System { node_id: 1 },
            Command::CreateUser {
                name: "alice".into(),
                telegram_id: None,
                sub_token: "tok-0123456789abcdef".into(),
            },
        )
        .await
        .expect("a valid command is committed");
    assert!(matches!(outcome, Ok(Applied::User { .. })), "{outcome:?}");
    let before = last_index(&cluster);
    assert!(before > before_valid, "{before:?} vs {before_valid:?}");

    for (actor, command) in invalid_commands() {
        let action = command.action();
        match cluster.submit(actor, command).await {
            Err(SubmitError::Invalid(e)) => {
                assert!(!e.message.is_empty(), "{action}: empty message")
            }
            other => panic!("{action}: expected a validation error, got {other:?}"),
        }
        assert_eq!(last_index(&cluster), before, "{action} reached the log");
    }
    let users = cluster
        .read()
        .users(Default::default(), None)
        .await
        .unwrap();
    assert_eq!(users.len(), 1, "only the valid user exists");
    cluster.shutdown().await;
}

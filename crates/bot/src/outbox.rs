//! What an outbox row asks the bot to do. Stored as JSON in the replicated state and rendered
//! only when performed, so a row holds no secret (a config is rendered from the sealed keys at
//! send time) and shows the state as it is when the user sees it.
//!
//! Compatibility: rows outlive a binary upgrade. New variants and fields must stay optional;
//! a row this version cannot read is dropped with a log line, never retried forever.

use serde::{Deserialize, Serialize};
use vpnkeeper_domain::command::reminder::ReminderKind;
use vpnkeeper_domain::telegram::OutboxItem;
use vpnkeeper_domain::{Applied, ApplyOutcome, CommandError, DeviceType};

use crate::texts::Lang;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
pub enum Out {
    /// Show a screen: edit message `edit` when given (the message the pressed button was on),
    /// else send it as the chat's new main message, deleting the previous one.
    Screen {
        lang: Lang,
        screen: Screen,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        edit: Option<i64>,
    },
    /// A message of its own (notifications to other chats, answers to typed text).
    Notice { lang: Lang, notice: Notice },
    /// Stops the spinner of a pressed button, optionally with a toast (or alert).
    Answer {
        callback_id: String,
        lang: Lang,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        notice: Option<Notice>,
        #[serde(default)]
        alert: bool,
    },
    /// A device's config file (or VLESS link).
    ConfigFile { lang: Lang, device: DeviceSel },
    /// A device's config as a QR code.
    ConfigQr { lang: Lang, device: DeviceSel },
    /// Reboot a node through the node-operation trait and tell the admin how it went.
    Reboot { lang: Lang, node_id: u64 },
    /// An answer in a support ticket, to the user. Written by the store's apply of
    /// `TicketReply` (`crates/store/src/apply/ticket.rs`), in the chat's stored language.
    TicketAnswer { message_id: i64 },
    /// The user's ticket was closed. Written by the store's apply of `CloseTicket`.
    TicketClosed { ticket_id: i64 },
    /// Create a join invite valid `ttl_secs` and send the admin its link. The link holds a
    /// one-time token, so it is made when the row is performed and never stored in the log.
    Invite { lang: Lang, ttl_secs: u64 },
    /// A user's voice note re-sent to an admin by its Telegram file id, captioned with the
    /// ticket of `post` (the `TicketVoice` command).
    Voice {
        lang: Lang,
        post: CommandRef,
        file_id: String,
    },
    /// The transcript of voice note `message_id` (or why there is none), to an admin.
    /// Written by the store's apply of `VoiceTranscribed`
    /// (`crates/store/src/apply/voice.rs`), rendered in the chat's stored language.
    VoiceTranscript { message_id: i64 },
    /// A scheduled backup for an admin, as a document (or an alert when it fails). Written
    /// by the store's apply of `TelegramBackupDue`; sent in the chat's stored language.
    Backup { slot_ms: i64 },
    /// Run a speed test between the leader and a node and send the admin the result.
    SpeedTest { lang: Lang, node_id: u64 },
    /// Node `node_id`'s chart over `range` as a photo (issue #14): edited into message
    /// `edit` (the chart whose range button was pressed) when given, else sent. Drawn when
    /// performed, from the node's series at that moment; an offline node gets its last-seen
    /// time instead.
    NodeChart {
        lang: Lang,
        node_id: u64,
        range: vpnkeeper_domain::telemetry::Range,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        edit: Option<i64>,
    },
    /// An invoice in Telegram Stars for order `order_id`, created by command `order` of the
    /// same update (nothing is sent when it was refused: the screen says why).
    Invoice {
        lang: Lang,
        order_id: String,
        order: CommandRef,
    },
    /// The answer to a pre-checkout query: ok when command `check` (a `CheckOrder`) was
    /// applied, else an error message saying why (`None`: the payload was not ours).
    PreCheckout {
        lang: Lang,
        query_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        check: Option<CommandRef>,
    },
    /// To the payer: their payment was credited. Written by the store's apply of
    /// `CreditPayment` (`crates/store/src/apply/payment.rs`); sent in the chat's language.
    PaymentDone { payment_id: i64 },
    /// Refund payment `payment_id` with the provider (`refundStarPayment`) and record the
    /// answer (`RefundResult`). Written by the store's apply of `RequestRefund`.
    Refund { payment_id: i64 },
    /// To the payer: their payment was refunded. Written by apply of `RefundResult`.
    RefundDone { payment_id: i64 },
}

/// One of the commands of the update a row belongs to, as handed out by
/// [`crate::decide::Plan::command`] when the command was planned. Its outcome is looked up
/// with [`Outcomes`], never by counting positions by hand. On the wire it is the command's
/// position (a plain number), as rows already in the log have it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CommandRef(pub(crate) usize);

/// The outcomes of an update's commands, as apply recorded them on each of its rows.
#[derive(Debug, Clone, Copy)]
pub struct Outcomes<'a>(pub &'a [ApplyOutcome]);

impl<'a> Outcomes<'a> {
    /// The outcome of a planned command; `None` when the row belongs to an update whose
    /// commands were dropped (an update refused as a whole).
    pub fn of(self, command: CommandRef) -> Option<&'a ApplyOutcome> {
        self.0.get(command.0)
    }

    /// The outcome of the update's first command.
    pub fn first(self) -> Option<&'a ApplyOutcome> {
        self.0.first()
    }

    /// The first refusal among the update's commands.
    pub fn first_refusal(self) -> Option<&'a CommandError> {
        self.0.iter().find_map(|o| o.as_ref().err())
    }

    pub fn any_refused(self) -> bool {
        self.first_refusal().is_some()
    }

    /// The device a config row is about: by id, or the one a planned issue returned.
    pub fn device(self, sel: DeviceSel) -> Option<i64> {
        match sel {
            DeviceSel::Id(id) => Some(id),
            DeviceSel::Issued(c) => match self.of(c) {
                Some(Ok(Applied::Device { id, .. })) => Some(*id),
                _ => None,
            },
        }
    }
}

/// Which device a config row is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceSel {
    Id(i64),
    /// The device returned by a command of the same update (a newly issued device, whose id
    /// is only known once the command is applied). Named `outcome` on the wire.
    #[serde(rename = "outcome")]
    Issued(CommandRef),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "screen", rename_all = "snake_case")]
pub enum Screen {
    /// The menu; `name` is the person's first name as Telegram gave it.
    Main {
        #[serde(default)]
        name: String,
    },
    Help,
    Protocols {
        device_type: DeviceType,
    },
    /// After an issue: confirmation, or the reason it was refused (outcome `outcome`).
    Issued {
        device_type: DeviceType,
        /// The `IssueDevice` command.
        outcome: CommandRef,
        vless: bool,
    },
    Devices,
    Device {
        id: i64,
    },
    ConfirmRevoke {
        id: i64,
    },
    Revoked {
        id: i64,
    },
    Admin,
    Stats,
    Users {
        page: i64,
    },
    User {
        id: i64,
    },
    ConfirmUserRevoke {
        id: i64,
    },
    Pending {
        page: i64,
    },
    /// The admin notice of an access request after a decision (edited in place).
    AccessDecided {
        telegram_id: i64,
        approved: bool,
    },
    Nodes,
    Node {
        id: u64,
    },
    ConfirmReboot {
        id: u64,
        /// The one-time nonce its "Yes" button carries (empty in rows from older builds,
        /// whose button then confirms nothing).
        #[serde(default)]
        nonce: String,
    },
    RebootRequested {
        id: u64,
    },
    BroadcastAsk,
    BroadcastPreview,
    BroadcastStarted,
    /// How to write to support.
    Support,
    /// The active plans (admin).
    Plans,
    PlanCard {
        id: i64,
    },
    /// The active plans to put user `id` on.
    UserPlans {
        id: i64,
    },
    /// The step of the plan draft in the chat's pending input (create or edit a plan).
    PlanDraft,
    /// After saving a draft: its `CreatePlan`/`UpdatePlan` outcome and the active plans.
    PlanSaved {
        outcome: CommandRef,
    },
    /// The plans on sale with their prices (Buy / Renew).
    Buy,
    /// Admin: payments, newest first.
    Payments {
        page: i64,
    },
    /// Admin: a payment and "refund?".
    ConfirmRefund {
        id: i64,
    },
    /// Admin: after a refund request, its `RequestRefund` outcome.
    RefundRequested {
        id: i64,
        outcome: CommandRef,
    },
    /// The user's account: balance, referral link and count, promo and trial buttons.
    Account,
    /// Every promo code (admin).
    PromoCodes,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "notice", rename_all = "snake_case")]
pub enum Notice {
    Refused {
        telegram_id: i64,
    },
    Disabled,
    UnknownCommand,
    UseButtons,
    FilesNotSupported,
    Outdated,
    AdminsOnly,
    Cancelled,
    UserDone,
    NoNodes,
    AccessRequested,
    AccessPending,
    /// To an admin: someone asks for access (with approve/deny buttons).
    AccessRequestAdmin {
        telegram_id: i64,
        display: String,
    },
    AccessDecidedAlready,
    AccessApproved,
    AccessDenied,
    BroadcastRunning,
    BroadcastTooLong,
    BroadcastDone {
        sent: i64,
        failed: i64,
    },
    /// A refusal from apply of one of the update's commands.
    Failed {
        outcome: CommandRef,
    },
    /// To the user: their message reached support (ticket from the `TicketPost` outcome).
    TicketReceived {
        post: CommandRef,
    },
    /// To an admin: a user's support message, with Reply and Close.
    TicketAdmin {
        post: CommandRef,
        from: String,
        telegram_id: i64,
        text: String,
        /// The sender's active devices: what a support person asks first.
        devices: Vec<TicketDevice>,
    },
    TicketTooLong,
    TicketReplyAsk {
        ticket_id: i64,
    },
    /// To the admin: their answer was queued (or why not).
    TicketReplied {
        outcome: CommandRef,
    },
    TicketClosedAdmin {
        ticket_id: i64,
    },
    /// `/invite` with a lifetime that does not parse (`reason` says why).
    InviteBadTtl {
        reason: String,
    },
    /// A plan button named a plan that is archived or gone (a stale button).
    PlanUnavailable,
    /// A plan draft's value for `step` was refused (one line saying what is valid).
    PlanBadInput {
        step: crate::screens::plan_draft::Step,
    },
    /// A plan draft's name belongs to another plan.
    PlanNameTaken,
    /// Typed text where a plan draft's step takes buttons only.
    PlanUseButtons,
    /// To a user: their access ends soon or ended, or the period's quota is 80%/100% used,
    /// with a renewal button. Written by the store's apply of `RemindUsers`
    /// (`crates/store/src/apply/reminder.rs`), in the chat's stored language.
    Reminder {
        kind: ReminderKind,
        #[serde(default)]
        expires_at_ms: Option<i64>,
        #[serde(default)]
        traffic_limit_bytes: Option<i64>,
    },
    /// To an admin: a user's voice note (sent next, by file id) with the sender's context;
    /// the transcript follows when the leader's worker has it.
    TicketAdminVoice {
        post: CommandRef,
        from: String,
        telegram_id: i64,
        seconds: u32,
        devices: Vec<TicketDevice>,
    },
    /// A reboot confirmation older than its TTL (or already used): nothing was done.
    RebootConfirmExpired,
    /// A reboot confirmation this admin was not shown (forged or hand-made): nothing done.
    RebootConfirmInvalid,
    /// The speed test started; the result follows as a message.
    SpeedTestStarted,
    /// A payment confirmation the bot cannot read (not an invoice of ours).
    PaymentUnrecognized,
    /// A promo code redeemed (what it gave) or refused (why): `outcome` is the redemption.
    PromoResult {
        outcome: CommandRef,
    },
    /// How to enter a promo code (`/promo CODE`).
    PromoHowTo,
    /// `/promo` with something that cannot be a code.
    PromoBadCode,
    /// The free trial started (until when) or was refused.
    TrialResult {
        outcome: CommandRef,
        days: i64,
    },
    /// The trial was already used by this Telegram account.
    TrialUsed,
    /// `/start ref_…` with the person's own code.
    ReferralOwn,
    /// `/start ref_…` from someone who is already a user.
    ReferralNotNew,
    /// An admin's balance change applied (the new balance) or refused.
    BalanceResult {
        outcome: CommandRef,
    },
    /// An admin's typed command with bad arguments: `usage` names the command.
    AdminUsage {
        usage: String,
    },
}

/// One of a ticket sender's devices, as the admins see it next to the message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketDevice {
    pub name: String,
    pub node: String,
    pub protocol: vpnkeeper_domain::Protocol,
    pub last_handshake_ms: Option<i64>,
}

impl Out {
    /// Into an outbox item for `chat_id`.
    pub fn to(self, chat_id: i64) -> OutboxItem {
        OutboxItem {
            chat_id,
            // Serializing a plain enum of strings and numbers cannot fail.
            payload: serde_json::to_value(&self).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip() {
        let outs = [
            Out::Screen {
                lang: Lang::Ru,
                screen: Screen::Issued {
                    device_type: DeviceType::Phone,
                    outcome: CommandRef(1),
                    vless: false,
                },
                edit: Some(5),
            },
            Out::Notice {
                lang: Lang::En,
                notice: Notice::AccessRequestAdmin {
                    telegram_id: 7,
                    display: "Ann".into(),
                },
            },
            Out::Answer {
                callback_id: "abc".into(),
                lang: Lang::En,
                notice: None,
                alert: false,
            },
            Out::ConfigFile {
                lang: Lang::En,
                device: DeviceSel::Issued(CommandRef(0)),
            },
            Out::Reboot {
                lang: Lang::En,
                node_id: 2,
            },
            Out::Invite {
                lang: Lang::Ru,
                ttl_secs: 900,
            },
            Out::Voice {
                lang: Lang::En,
                post: CommandRef(0),
                file_id: "AwACAgIAAxkB".into(),
            },
            Out::VoiceTranscript { message_id: 9 },
            Out::NodeChart {
                lang: Lang::Ru,
                node_id: 2,
                range: vpnkeeper_domain::telemetry::Range::SixHours,
                edit: Some(9),
            },
        ];
        for o in outs {
            let item = o.clone().to(1);
            let back: Out = serde_json::from_value(item.payload).unwrap();
            assert_eq!(back, o);
        }
    }

    /// Rows already in the log name commands by position: the typed forms must read and
    /// write exactly those bytes.
    #[test]
    fn command_refs_keep_the_positional_wire_form() {
        let file = Out::ConfigFile {
            lang: Lang::En,
            device: DeviceSel::Issued(CommandRef(2)),
        };
        assert_eq!(
            serde_json::to_value(&file).unwrap(),
            serde_json::json!({"do": "config_file", "lang": "en", "device": {"outcome": 2}})
        );
        let screen = Out::Screen {
            lang: Lang::Ru,
            screen: Screen::Issued {
                device_type: DeviceType::Phone,
                outcome: CommandRef(0),
                vless: true,
            },
            edit: None,
        };
        assert_eq!(
            serde_json::to_value(&screen).unwrap(),
            serde_json::json!({"do": "screen", "lang": "ru", "screen": {
                "screen": "issued", "device_type": "phone", "outcome": 0, "vless": true}})
        );
        let failed = Out::Notice {
            lang: Lang::En,
            notice: Notice::Failed {
                outcome: CommandRef(1),
            },
        };
        assert_eq!(
            serde_json::to_value(&failed).unwrap(),
            serde_json::json!({"do": "notice", "lang": "en", "notice": {"notice": "failed", "outcome": 1}})
        );
    }

    /// The store writes reminder rows by hand (`apply/reminder.rs::payload`): that shape
    /// must read as this notice.
    #[test]
    fn the_stores_reminder_payload_reads() {
        let stored = serde_json::json!({"do": "notice", "lang": "ru", "notice": {
            "notice": "reminder", "kind": "expires_3d", "expires_at_ms": 5,
            "traffic_limit_bytes": null}});
        let out: Out = serde_json::from_value(stored).unwrap();
        assert_eq!(
            out,
            Out::Notice {
                lang: Lang::Ru,
                notice: Notice::Reminder {
                    kind: ReminderKind::Expires3d,
                    expires_at_ms: Some(5),
                    traffic_limit_bytes: None,
                },
            }
        );
    }

    /// The store writes these rows itself (`apply/voice.rs`, `apply/ticket.rs`).
    #[test]
    fn rows_written_by_apply_read_back() {
        let row = serde_json::json!({ "do": "voice_transcript", "message_id": 9 });
        assert_eq!(
            serde_json::from_value::<Out>(row).unwrap(),
            Out::VoiceTranscript { message_id: 9 }
        );
    }

    #[test]
    fn outcomes_by_ref() {
        let outcomes: Vec<ApplyOutcome> = vec![
            Ok(Applied::Telegram { duplicate: false }),
            Ok(Applied::Device {
                id: 42,
                created: true,
                device: None,
            }),
        ];
        let o = Outcomes(&outcomes);
        assert_eq!(o.device(DeviceSel::Issued(CommandRef(1))), Some(42));
        assert_eq!(o.device(DeviceSel::Issued(CommandRef(0))), None);
        assert_eq!(o.device(DeviceSel::Issued(CommandRef(5))), None);
        assert_eq!(o.device(DeviceSel::Id(7)), Some(7));
        assert!(!o.any_refused());
    }
}

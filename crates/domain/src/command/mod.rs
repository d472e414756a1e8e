//! Commands: every write to the replicated state, one module per family.
//!
//! A command travels as an [`Envelope`] through the Raft log and is applied by the SQLite state
//! machine on every node. Invariant: applying is deterministic. Therefore the proposer resolves
//! everything random or time-dependent (UUIDs, keys, tokens, the timestamp) and puts it in the
//! command; `apply` only reads the command and the current state.
//!
//! Validation that needs no state ([`Command::validate`]) runs at the one front door
//! (`vpnkeeper_cluster::Cluster::submit`) before the command enters the log; each family's
//! module owns its rules. Checks that depend on state (a name already taken, a user that does
//! not exist) run inside `apply` (`vpnkeeper_store`'s `apply/` modules, one per family) and
//! come back as [`CommandError`] in the entry's response; the entry still counts as applied,
//! with no effect.
//!
//! The serialized form of [`Envelope`] and [`Command`] is the stored Raft log: renaming a
//! variant or a field breaks every existing log (`crates/store/tests/log_fixture.rs`).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::entity::{ApiScope, NodeId};
use crate::model::{DeviceType, Protocol};
use crate::telegram::{ChatChange, Delivered, OutboxItem};
use crate::validate::ValidationError;

mod actor;
pub mod api_key;
pub mod backup;
pub mod balance;
pub mod device;
pub mod import;
pub mod node;
pub mod node_status;
mod outcome;
pub mod payment;
pub mod plan;
pub mod promo;
pub mod referral;
mod refs;
pub mod reminder;
pub mod telegram;
pub mod ticket;
pub mod trial;
pub mod usage;
pub mod user;
pub mod voice;

pub use actor::Actor;
pub use device::WgMaterial;
pub use node::NodeSpec;
pub use outcome::{Applied, ApplyOutcome, CommandError};
pub use refs::{DeviceRef, UserRef};
pub use usage::{CounterEntry, UsageEntry, MAX_USAGE_ENTRIES};
pub use user::{Update, UserPatch};

/// What goes into one Raft log entry. Built only by the front door
/// (`vpnkeeper_cluster::Cluster::submit`), which validates the command and stamps the clock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Proposer's wall clock, unix milliseconds. The only clock `apply` ever sees.
    pub at_ms: i64,
    pub actor: Actor,
    pub command: Command,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// Registers a node or updates its settings (address pool changes keep existing addresses).
    UpsertNode {
        node: Box<NodeSpec>,
    },
    CreateUser {
        name: String,
        telegram_id: Option<i64>,
        /// Random subscription token, chosen by the proposer.
        sub_token: String,
    },
    SetUserEnabled {
        user: UserRef,
        enabled: bool,
    },
    /// Issues a device, or returns the existing active one with the same user, name and
    /// protocol ("asking again returns the same config").
    IssueDevice {
        user: UserRef,
        node_id: NodeId,
        name: String,
        device_type: DeviceType,
        protocol: Protocol,
        uuid: Uuid,
        /// Present for awg/wireguard devices.
        wg: Option<WgMaterial>,
    },
    RevokeDevice {
        device: DeviceRef,
    },
    CreateApiKey {
        key_id: String,
        name: String,
        scope: ApiScope,
        secret_hash: String,
    },
    RevokeApiKey {
        key_id: String,
    },
    CreateInvite {
        invite_id: String,
        token_hash: String,
        expires_at_ms: i64,
    },
    /// Observations of a node's data planes, batched by its reconcilers: traffic deltas and
    /// last handshakes per device. Telemetry, so it is not written to the audit log.
    RecordUsage {
        node_id: NodeId,
        entries: Vec<UsageEntry>,
    },
    /// Changes a user's profile; fields left `None` keep their value.
    UpdateUser {
        user: UserRef,
        name: Option<String>,
        telegram_id: Option<Update<i64>>,
        /// Unix ms after which the user's access and subscription stop.
        expires_at_ms: Option<Update<i64>>,
        /// Traffic quota in bytes (upload + download); shown in `subscription-userinfo`.
        traffic_limit_bytes: Option<Update<i64>>,
    },
    /// Deletes a user and all their devices (the data planes drop the peers). The audit log
    /// keeps the record; `SetUserEnabled { enabled: false }` is the reversible alternative.
    DeleteUser {
        user: UserRef,
    },
    /// Replaces a user's subscription token, so the old subscription URL stops working.
    RotateSubToken {
        user: UserRef,
        /// The new random token, chosen by the proposer.
        sub_token: String,
    },
    /// One Telegram update and everything it causes, in one entry: exactly-once (see
    /// `crate::telegram`). Apply ignores an update id it has already handled.
    TelegramUpdate {
        update_id: i64,
        /// The getUpdates offset this update was fetched with: every smaller id is handled.
        offset: i64,
        /// Domain commands the update causes, applied all or nothing, each audited under the
        /// envelope's actor.
        commands: Vec<Command>,
        /// Replies and side effects to perform, stored with the commands' outcomes.
        outbox: Vec<OutboxItem>,
    },
    /// Outbox rows the bot has performed (or given up on), so they are not performed again.
    TelegramDelivered {
        delivered: Vec<Delivered>,
    },
    /// A chat's language or pending input. UI state, not audited.
    TelegramChat {
        telegram_id: i64,
        change: ChatChange,
    },
    /// Someone asks for access in `approval` mode.
    TelegramAccessRequest {
        telegram_id: i64,
        display: String,
    },
    /// An admin approves or denies an access request.
    TelegramAccessDecision {
        telegram_id: i64,
        approve: bool,
    },
    /// An admin asked to reboot a node. The audit row is the point; the reboot itself is
    /// performed by the bot's outbox through its node-operation trait.
    RequestNodeReboot {
        node_id: NodeId,
    },
    /// An admin starts a message to all users.
    StartBroadcast {
        broadcast_id: String,
        text: String,
        admin_chat: i64,
    },
    /// How far a broadcast got: users up to `cursor` handled. Not audited.
    BroadcastProgress {
        broadcast_id: String,
        cursor: i64,
        sent: i64,
        failed: i64,
        finished: bool,
        /// Outbox rows (the admin's "finished" message), stored only by the report that
        /// finishes the broadcast, so they are sent once.
        notify: Vec<OutboxItem>,
    },
    /// The leader saw a node come online or go offline (proposed only on a change, never
    /// per heartbeat; see `node_status`). Offline nodes get no new devices and drop out of
    /// subscriptions until they are back.
    SetNodeOnline {
        node_id: NodeId,
        online: bool,
    },
    /// A user carried over from another panel with their devices (`import` family): created,
    /// or brought in line with the source when already imported.
    ImportUser {
        user: Box<import::ImportedUser>,
    },
    /// The old panel's secret its subscription tokens are signed with, so `/sub/{token}`
    /// keeps accepting the URLs customers already have.
    SetLegacySubSecret {
        source: import::ImportSource,
        secret: crate::secrets::Sealed,
    },
    /// Takes over another server's WireGuard key and AmneziaWG parameters for a node.
    ImportServerKey {
        key: Box<import::ImportedServerKey>,
    },
    /// A joining node spends a one-time invite; `node_id` is the id the leader gives it.
    /// Refused when the invite is unknown, used or expired (at `at_ms`).
    RedeemInvite {
        token_hash: String,
        node_id: NodeId,
    },
    /// A new plan (issue #15).
    CreatePlan {
        plan: plan::PlanSpec,
    },
    /// Replaces a plan's fields; users already on it keep what they were given.
    UpdatePlan {
        plan_id: plan::PlanId,
        plan: plan::PlanSpec,
    },
    /// Takes a plan off sale; users on it keep it until it runs out.
    ArchivePlan {
        plan_id: plan::PlanId,
    },
    /// Assigns a plan to a user, or extends it: the duration is added to the current expiry
    /// if still in the future, else to the envelope's clock. With `on_hold`, the clock starts
    /// at the first observed handshake (or at `on_hold_timeout_ms`).
    AssignPlan {
        user: UserRef,
        plan_id: plan::PlanId,
        #[serde(default)]
        on_hold: bool,
        #[serde(default)]
        on_hold_timeout_ms: Option<i64>,
    },
    /// Zeroes the user's period usage by hand and restores a `limited` user.
    ResetUsage {
        user: UserRef,
    },
    /// The leader's scheduler: time-driven lifecycle events, re-checked at apply.
    Lifecycle {
        events: Vec<plan::LifecycleEvent>,
    },
    /// A user's message to support: continues their open ticket, or opens one. The text is
    /// personal: audited by id only, never logged.
    TicketPost {
        telegram_id: i64,
        text: String,
    },
    /// An answer in a ticket (an admin in the bot, or the API). Apply queues its delivery to
    /// the user in the bot's outbox, so it is sent exactly once.
    TicketReply {
        ticket_id: i64,
        text: String,
    },
    /// Closes a ticket and tells the user (closing a closed ticket changes nothing).
    CloseTicket {
        ticket_id: i64,
    },
    /// A no-op that only the `upgrade-next` test build knows (one format above the release, see
    /// `crate::version`): the rolling-upgrade test proposes it to show that a command older
    /// nodes cannot decode is refused until every member runs the new build.
    #[cfg(feature = "upgrade-next")]
    UpgradeProbe {
        note: String,
    },
    /// A node's absolute data-plane counters (replaces `RecordUsage` for new reporters).
    /// Reports of one node are ordered by `(boot_epoch, seq)`: one not after the last
    /// applied is refused, so a replay or a late retry adds nothing. Telemetry: not audited.
    RecordCounters {
        node_id: NodeId,
        /// The reporter's start (unix ms), above any earlier start of that node's reporter.
        boot_epoch: i64,
        /// 1, 2, 3… within one `boot_epoch`.
        seq: u64,
        entries: Vec<CounterEntry>,
    },
    /// The leader's scheduler: reminders to end users that are due (issue #15). Apply
    /// re-checks each at the envelope's clock, records it per (user, kind, period) and queues
    /// the message in the bot's outbox, so each is sent once across failovers.
    RemindUsers {
        reminders: Vec<reminder::Reminder>,
    },
    /// The leader's scheduler: users it read as due but found nothing due for; apply
    /// recomputes when they next need a look. Housekeeping: not audited.
    RecheckDue {
        user_ids: Vec<crate::entity::UserId>,
    },
    /// A user's voice note to support (`voice` family): a message of their open ticket (or a
    /// new one) that is *pending transcription* until a `VoiceTranscribed` for it commits.
    /// `notify`: the admin chats that get the transcript.
    TicketVoice {
        telegram_id: i64,
        file_id: String,
        duration_secs: u32,
        /// The sender's language code (Telegram's), a hint for Whisper; `None` = detect.
        language: Option<String>,
        notify: Vec<i64>,
    },
    /// The leader's transcription worker: the text of voice note `message_id`, or why there
    /// is none. Applies once per note (a second result changes nothing); its apply queues
    /// the admins' message in the bot's outbox.
    VoiceTranscribed {
        message_id: i64,
        result: voice::VoiceResult,
    },
    /// The leader's backup schedule: a sealed backup is due to the bot's admin `chats` for
    /// the slot starting at `slot_ms`. Apply queues one outbox row per chat unless a slot as
    /// late was queued already (see `command::backup`); the file is made when sent.
    TelegramBackupDue {
        slot_ms: i64,
        chats: Vec<i64>,
    },
    /// An operator marks a node draining (no new devices are placed on it; its devices
    /// stay) or takes the mark off (issue #14).
    SetNodeDraining {
        node_id: NodeId,
        draining: bool,
    },
    /// A user chose a plan to buy (issue #16): apply fixes the order's price — the plan's,
    /// less a pending promo discount — so the invoice and the pre-checkout agree.
    CreateOrder {
        /// Random, chosen by the proposer; named in the invoice payload.
        order_id: String,
        telegram_id: i64,
        plan_id: plan::PlanId,
    },
    /// Telegram's pre-checkout query for an order. Refused (the refusal is the answer the
    /// user sees) when the order is unknown or paid, its plan archived, or the amount or
    /// currency differs; no effect otherwise. Not audited (no money moved).
    CheckOrder {
        order_id: String,
        telegram_id: i64,
        amount: i64,
        currency: String,
    },
    /// A confirmed payment: recorded once per (provider, provider payment id) — a second
    /// delivery changes nothing — the order's plan extended for its user and the
    /// confirmation queued in the bot's outbox, all in this entry.
    CreditPayment {
        payment: payment::ProviderPayment,
    },
    /// An admin asks for a payment to be refunded: apply marks it `refund_pending` and
    /// queues the provider call in the bot's outbox. Days are taken back by `RefundResult`.
    RequestRefund {
        payment_id: i64,
    },
    /// The provider's answer to a refund: `ok` marks it refunded and takes the days back;
    /// a refusal marks it `refund_failed` (with the reason) and changes nothing else.
    RefundResult {
        payment_id: i64,
        ok: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
    },
    /// Credits (positive) or debits (negative) a user's balance in Stars (issue #16 item 3).
    /// A debit below zero is refused; the ledger keeps the actor and the reason.
    AdjustBalance {
        user: UserRef,
        delta_stars: i64,
        #[serde(default)]
        reason: String,
    },
    /// A new promo code (issue #16 item 5).
    CreatePromoCode {
        promo: promo::PromoSpec,
    },
    /// Takes a promo code out of use (redemptions already made stay).
    DisablePromoCode {
        code: String,
    },
    /// A user redeems a promo code: refused when unknown, disabled, expired, used up, or
    /// already used by this user. Days and traffic apply at once; a discount waits for the
    /// user's next paid order (store `apply/payment_hooks.rs`).
    RedeemPromoCode {
        user: UserRef,
        code: String,
    },
    /// The free trial (issue #16 item 4): `plan_id` for `days`, once per Telegram account
    /// ever. Plan and length come from the proposer's `[payments]` config.
    StartTrial {
        telegram_id: i64,
        plan_id: plan::PlanId,
        days: i64,
    },
    /// Binds a new user to the referrer whose code they came with (issue #16 item 6).
    /// Refused for a user who is not new (created in this same entry), for self-referral and
    /// for loops. `reward` is fixed now, from the proposer's config.
    BindReferrer {
        referee: UserRef,
        code: String,
        reward: referral::ReferralReward,
    },
}

impl Command {
    /// A short verb for the audit log and metrics.
    pub fn action(&self) -> &'static str {
        match self {
            Command::UpsertNode { .. } => "node.upsert",
            Command::CreateUser { .. } => "user.create",
            Command::SetUserEnabled { enabled: true, .. } => "user.enable",
            Command::SetUserEnabled { enabled: false, .. } => "user.disable",
            Command::IssueDevice { .. } => "device.issue",
            Command::RevokeDevice { .. } => "device.revoke",
            Command::CreateApiKey { .. } => "api_key.create",
            Command::RevokeApiKey { .. } => "api_key.revoke",
            Command::CreateInvite { .. } => "invite.create",
            Command::RecordUsage { .. } => "usage.record",
            Command::UpdateUser { .. } => "user.update",
            Command::DeleteUser { .. } => "user.delete",
            Command::RotateSubToken { .. } => "user.rotate_sub_token",
            Command::TelegramUpdate { .. } => "telegram.update",
            Command::TelegramDelivered { .. } => "telegram.delivered",
            Command::TelegramChat { .. } => "telegram.chat",
            Command::TelegramAccessRequest { .. } => "access.request",
            Command::TelegramAccessDecision { approve: true, .. } => "access.approve",
            Command::TelegramAccessDecision { approve: false, .. } => "access.deny",
            Command::RequestNodeReboot { .. } => "node.reboot",
            Command::StartBroadcast { .. } => "broadcast.start",
            Command::BroadcastProgress { .. } => "broadcast.progress",
            Command::SetNodeOnline { online: true, .. } => "node.online",
            Command::SetNodeOnline { online: false, .. } => "node.offline",
            Command::ImportUser { .. } => "import.user",
            Command::SetLegacySubSecret { .. } => "import.legacy_secret",
            Command::ImportServerKey { .. } => "import.server_key",
            Command::RedeemInvite { .. } => "invite.redeem",
            Command::CreatePlan { .. } => "plan.create",
            Command::UpdatePlan { .. } => "plan.update",
            Command::ArchivePlan { .. } => "plan.archive",
            Command::AssignPlan { .. } => "user.assign_plan",
            Command::ResetUsage { .. } => "user.reset_usage",
            Command::Lifecycle { .. } => "user.lifecycle",
            Command::TicketPost { .. } => "ticket.post",
            Command::TicketReply { .. } => "ticket.reply",
            Command::CloseTicket { .. } => "ticket.close",
            #[cfg(feature = "upgrade-next")]
            Command::UpgradeProbe { .. } => "cluster.upgrade_probe",
            Command::RecordCounters { .. } => "usage.counters",
            Command::RemindUsers { .. } => "user.remind",
            Command::RecheckDue { .. } => "user.recheck_due",
            Command::TicketVoice { .. } => "ticket.voice",
            Command::VoiceTranscribed { .. } => "ticket.voice_transcribed",
            Command::TelegramBackupDue { .. } => "backup.telegram_due",
            Command::SetNodeDraining { draining: true, .. } => "node.drain",
            Command::SetNodeDraining {
                draining: false, ..
            } => "node.undrain",
            Command::CreateOrder { .. } => "payment.order",
            Command::CheckOrder { .. } => "payment.check",
            Command::CreditPayment { .. } => "payment.credit",
            Command::RequestRefund { .. } => "payment.refund_request",
            Command::RefundResult { ok: true, .. } => "payment.refunded",
            Command::RefundResult { ok: false, .. } => "payment.refund_failed",
            Command::AdjustBalance { .. } => "balance.adjust",
            Command::CreatePromoCode { .. } => "promo.create",
            Command::DisablePromoCode { .. } => "promo.disable",
            Command::RedeemPromoCode { .. } => "promo.redeem",
            Command::StartTrial { .. } => "trial.start",
            Command::BindReferrer { .. } => "referral.bind",
        }
    }

    /// Whether `apply` writes an audit row. Telemetry from reconcilers would drown the
    /// operator's actions.
    pub fn is_audited(&self) -> bool {
        // A Telegram update is not audited itself: the commands inside it are, one by one.
        !matches!(
            self,
            Command::RecordUsage { .. }
                | Command::RecordCounters { .. }
                | Command::TelegramUpdate { .. }
                | Command::TelegramDelivered { .. }
                | Command::TelegramChat { .. }
                | Command::BroadcastProgress { .. }
                | Command::RecheckDue { .. }
                | Command::CheckOrder { .. }
        )
    }

    /// Stateless validation, run by the front door before the command is logged. Each
    /// family's module owns its rules. Only this match names every variant (so the compiler
    /// checks each one is routed); the family methods below hold the rules' arms.
    pub fn validate(&self) -> Result<(), ValidationError> {
        use Command as C;
        match self {
            C::CreateUser { .. }
            | C::SetUserEnabled { .. }
            | C::UpdateUser { .. }
            | C::DeleteUser { .. }
            | C::RotateSubToken { .. }
            | C::IssueDevice { .. }
            | C::RevokeDevice { .. }
            | C::CreateApiKey { .. }
            | C::RevokeApiKey { .. }
            | C::CreateInvite { .. }
            | C::RedeemInvite { .. }
            | C::ImportUser { .. }
            | C::SetLegacySubSecret { .. }
            | C::ImportServerKey { .. } => self.validate_account(),
            C::UpsertNode { .. }
            | C::RequestNodeReboot { .. }
            | C::SetNodeOnline { .. }
            | C::SetNodeDraining { .. }
            | C::RecordUsage { .. }
            | C::RecordCounters { .. } => self.validate_fleet(),
            C::TelegramUpdate { .. }
            | C::TelegramDelivered { .. }
            | C::TelegramChat { .. }
            | C::TelegramAccessRequest { .. }
            | C::TelegramAccessDecision { .. }
            | C::StartBroadcast { .. }
            | C::BroadcastProgress { .. }
            | C::TelegramBackupDue { .. }
            | C::TicketPost { .. }
            | C::TicketReply { .. }
            | C::CloseTicket { .. }
            | C::TicketVoice { .. }
            | C::VoiceTranscribed { .. } => self.validate_telegram(),
            C::CreatePlan { .. }
            | C::UpdatePlan { .. }
            | C::ArchivePlan { .. }
            | C::AssignPlan { .. }
            | C::ResetUsage { .. }
            | C::Lifecycle { .. }
            | C::RemindUsers { .. }
            | C::RecheckDue { .. } => self.validate_plan(),
            C::CreateOrder { .. }
            | C::CheckOrder { .. }
            | C::CreditPayment { .. }
            | C::RequestRefund { .. }
            | C::RefundResult { .. }
            | C::AdjustBalance { .. }
            | C::CreatePromoCode { .. }
            | C::DisablePromoCode { .. }
            | C::RedeemPromoCode { .. }
            | C::StartTrial { .. }
            | C::BindReferrer { .. } => self.validate_commerce(),
            #[cfg(feature = "upgrade-next")]
            C::UpgradeProbe { note } => crate::validate::name("note", note),
        }
    }

    /// The arm a family's validation cannot reach: [`Command::validate`] routes only that
    /// family's commands to it.
    fn misrouted(&self, family: &str) -> ! {
        unreachable!("{} routed to the {family} family", self.action())
    }

    /// Users, their devices and subscriptions, API keys and invites, and imports.
    fn validate_account(&self) -> Result<(), ValidationError> {
        use Command as C;
        match self {
            C::CreateUser {
                name, telegram_id, ..
            } => user::validate_create(name, *telegram_id),
            C::SetUserEnabled { user, .. } | C::DeleteUser { user } => user.validate(),
            C::UpdateUser { user, .. } => {
                user.validate()?;
                self.user_patch().map_or(Ok(()), |p| p.validate())
            }
            C::RotateSubToken { user, sub_token } => {
                user.validate()?;
                user::validate_sub_token(sub_token)
            }
            C::IssueDevice {
                user,
                name,
                protocol,
                wg,
                ..
            } => device::validate_issue(user, name, *protocol, wg.as_ref()),
            C::CreateApiKey { name, .. } => api_key::validate_create(name),
            C::RedeemInvite { node_id, .. } => api_key::validate_redeem(*node_id),
            C::ImportUser { user } => import::validate_user(user),
            C::SetLegacySubSecret { secret, .. } => import::validate_secret(secret),
            C::ImportServerKey { key } => import::validate_server_key(key),
            C::RevokeDevice { .. } | C::RevokeApiKey { .. } | C::CreateInvite { .. } => Ok(()),
            _ => self.misrouted("account"),
        }
    }

    /// Nodes: membership, status, draining, reboots and their usage reports.
    fn validate_fleet(&self) -> Result<(), ValidationError> {
        use Command as C;
        match self {
            C::UpsertNode { node } => node.validate(),
            C::SetNodeOnline { node_id, .. } | C::SetNodeDraining { node_id, .. } => {
                node_status::validate(*node_id)
            }
            C::RecordUsage { entries, .. } => usage::validate_record(entries),
            C::RecordCounters {
                boot_epoch,
                seq,
                entries,
                ..
            } => usage::validate_counters(*boot_epoch, *seq, entries),
            C::RequestNodeReboot { .. } => Ok(()),
            _ => self.misrouted("fleet"),
        }
    }

    /// The Telegram bot's state: updates, chats, access requests, broadcasts, backups, tickets.
    fn validate_telegram(&self) -> Result<(), ValidationError> {
        use Command as C;
        match self {
            C::TelegramUpdate {
                commands, outbox, ..
            } => telegram::validate_update(commands, outbox),
            C::TelegramChat {
                telegram_id,
                change,
            } => telegram::validate_chat(*telegram_id, change),
            C::TelegramAccessRequest {
                telegram_id,
                display,
            } => telegram::validate_access_request(*telegram_id, display),
            C::TelegramAccessDecision { telegram_id, .. } => {
                crate::validate::telegram_id("telegram_id", *telegram_id)
            }
            C::StartBroadcast { text, .. } => telegram::validate_broadcast(text),
            C::TelegramBackupDue { slot_ms, chats } => backup::validate_due(*slot_ms, chats),
            C::TicketPost { telegram_id, text } => ticket::validate_post(*telegram_id, text),
            C::TicketReply { ticket_id, text } => {
                ticket::validate_ticket_id(*ticket_id)?;
                ticket::validate_text(text)
            }
            C::CloseTicket { ticket_id } => ticket::validate_ticket_id(*ticket_id),
            C::TicketVoice {
                telegram_id,
                file_id,
                duration_secs,
                language,
                notify,
            } => voice::validate_voice(
                *telegram_id,
                file_id,
                *duration_secs,
                language.as_deref(),
                notify,
            ),
            C::VoiceTranscribed { message_id, result } => {
                voice::validate_result(*message_id, result)
            }
            C::TelegramDelivered { .. } | C::BroadcastProgress { .. } => Ok(()),
            _ => self.misrouted("telegram"),
        }
    }

    /// Plans, their assignment and lifecycle, and the expiry reminders that follow from them.
    fn validate_plan(&self) -> Result<(), ValidationError> {
        use Command as C;
        match self {
            C::CreatePlan { plan } | C::UpdatePlan { plan, .. } => plan.validate(),
            C::AssignPlan {
                user,
                on_hold,
                on_hold_timeout_ms,
                ..
            } => {
                user.validate()?;
                plan::validate_assign(*on_hold, *on_hold_timeout_ms)
            }
            C::ResetUsage { user } => user.validate(),
            C::Lifecycle { events } => plan::validate_lifecycle(events),
            C::RemindUsers { reminders } => reminder::validate_reminders(reminders),
            C::RecheckDue { user_ids } => reminder::validate_recheck(user_ids),
            C::ArchivePlan { .. } => Ok(()),
            _ => self.misrouted("plan"),
        }
    }

    /// Money: orders and payments, balances, promo codes, trials and referrals.
    fn validate_commerce(&self) -> Result<(), ValidationError> {
        use Command as C;
        match self {
            C::CreateOrder {
                order_id,
                telegram_id,
                ..
            }
            | C::CheckOrder {
                order_id,
                telegram_id,
                ..
            } => {
                payment::validate_order_id(order_id)?;
                crate::validate::telegram_id("telegram_id", *telegram_id)
            }
            C::CreditPayment { payment: p } => payment::validate_credit(p),
            C::RequestRefund { .. } => Ok(()),
            C::RefundResult { ok, error, .. } => {
                payment::validate_refund_result(*ok, error.as_deref())
            }
            C::AdjustBalance {
                user,
                delta_stars,
                reason,
            } => {
                user.validate()?;
                balance::validate_adjust(*delta_stars, reason)
            }
            C::CreatePromoCode { promo } => promo.validate(),
            C::DisablePromoCode { code } => promo::validate_code(code),
            C::RedeemPromoCode { user, code } => {
                user.validate()?;
                promo::validate_code(code)
            }
            C::StartTrial {
                telegram_id,
                plan_id,
                days,
            } => trial::validate_start(*telegram_id, *plan_id, *days),
            C::BindReferrer {
                referee,
                code,
                reward,
            } => {
                referee.validate()?;
                referral::validate_bind(code, reward)
            }
            _ => self.misrouted("commerce"),
        }
    }

    /// The fields of an `UpdateUser`, borrowed; `None` for every other command.
    pub fn user_patch(&self) -> Option<UserPatch<'_>> {
        match self {
            Command::UpdateUser {
                name,
                telegram_id,
                expires_at_ms,
                traffic_limit_bytes,
                ..
            } => Some(UserPatch {
                name: name.as_deref(),
                telegram_id: telegram_id.as_ref(),
                expires_at_ms: expires_at_ms.as_ref(),
                traffic_limit_bytes: traffic_limit_bytes.as_ref(),
            }),
            _ => None,
        }
    }
}

//! Deterministic application of commands to the SQLite state, one module per command family.
//!
//! Each family's function runs inside the entry's transaction and returns [`Applying`]:
//! the effect, or a [`Failure`] — a state-dependent refusal ([`Failure::Refused`], written
//! with `?` from the helpers below) or a database error. [`all_or_nothing`] is the one place
//! that turns them into outcomes: it runs commands on a savepoint, audits them, and on a
//! refusal rolls the savepoint back and audits the refusal instead. Database errors are
//! returned as `Err(sql::Error)`, which openraft treats as fatal for the node.

mod access;
mod api_key;
mod backup;
pub(crate) mod balance;
mod broadcast;
mod device;
mod import;
mod node;
mod node_drain;
mod node_status;
mod payment;
pub(crate) mod payment_hooks;
mod plan;
mod promo;
mod referral;
pub(crate) mod reminder;
mod telegram;
mod ticket;
mod trial;
mod usage;
mod user;
mod voice;

use vpnkeeper_domain::{Actor, Applied, ApplyOutcome, Command, CommandError, Envelope};

use crate::change::Change;
use crate::sql::{self, Conn};

/// Who applies, and when: the envelope's clock and actor, shared by every command it carries.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub at: i64,
    pub actor: &'a Actor,
}

/// What an applied command produced, and the audit target (`user:3`, `device:7`…).
pub(crate) struct Effect {
    pub applied: Applied,
    pub target: Option<String>,
}

impl Effect {
    pub fn new(applied: Applied, target: impl Into<Option<String>>) -> Effect {
        Effect {
            applied,
            target: target.into(),
        }
    }
}

/// Why a command had no effect.
pub(crate) enum Failure {
    /// Refused by the state (same decision on every node); audited, the entry still applies.
    Refused {
        error: CommandError,
        target: Option<String>,
    },
    /// The database failed: fatal for the node.
    Sql(sql::Error),
}

impl From<sql::Error> for Failure {
    fn from(e: sql::Error) -> Self {
        Failure::Sql(e)
    }
}

pub(crate) type Applying = Result<Effect, Failure>;

/// A refusal without an audit target.
pub(crate) fn refuse(error: CommandError) -> Failure {
    Failure::Refused {
        error,
        target: None,
    }
}

/// A refusal audited against `target`.
pub(crate) fn refuse_at(target: &Option<String>, error: CommandError) -> Failure {
    Failure::Refused {
        error,
        target: target.clone(),
    }
}

/// Applies one envelope: its command, all or nothing, audited.
pub(crate) fn apply_envelope(
    conn: &Conn,
    env: &Envelope,
    changes: &mut Vec<Change>,
) -> Result<ApplyOutcome, sql::Error> {
    let ctx = Ctx {
        at: env.at_ms,
        actor: &env.actor,
    };
    let mut outcomes = all_or_nothing(conn, ctx, std::slice::from_ref(&env.command), changes)?;
    Ok(outcomes.pop().expect("one command gives one outcome"))
}

/// Applies `commands` on one savepoint: every effect or none. Each applied command is audited
/// (when its kind is); at the first refusal everything is rolled back, the refusal is audited
/// (an operator wants to see failed actions) and the outcomes end with it. Only the changes
/// of a committed run reach `changes`.
pub(crate) fn all_or_nothing(
    conn: &Conn,
    ctx: Ctx<'_>,
    commands: &[Command],
    changes: &mut Vec<Change>,
) -> Result<Vec<ApplyOutcome>, sql::Error> {
    let sp = sql::savepoint(conn)?;
    let mut local = Vec::new();
    let mut outcomes = Vec::with_capacity(commands.len());
    for command in commands {
        match run(&sp, ctx, command, &mut local) {
            Ok(effect) => {
                if command.is_audited() {
                    audit(&sp, ctx, command, effect.target.as_deref(), None)?;
                }
                outcomes.push(Ok(effect.applied));
            }
            Err(Failure::Refused { error, target }) => {
                sp.rollback()?;
                let detail = format!("refused: {error}");
                audit(conn, ctx, command, target.as_deref(), Some(&detail))?;
                outcomes.push(Err(error));
                return Ok(outcomes);
            }
            Err(Failure::Sql(e)) => return Err(e),
        }
    }
    sp.commit()?;
    changes.extend(local);
    Ok(outcomes)
}

fn audit(
    conn: &Conn,
    ctx: Ctx<'_>,
    command: &Command,
    target: Option<&str>,
    detail: Option<&str>,
) -> Result<(), sql::Error> {
    sql::query("INSERT INTO audit_log(at, actor, action, target, detail) VALUES(?, ?, ?, ?, ?)")
        .bind(ctx.at)
        .bind(ctx.actor.to_string())
        .bind(command.action())
        .bind(target)
        .bind(detail)
        .execute(conn)?;
    Ok(())
}

/// Dispatches a command to its family's dispatcher. Only this match names every variant (so
/// the compiler still checks that each one is routed); the family functions below hold the
/// arms, so a new command adds one pattern here and one arm in its family.
fn run(conn: &Conn, ctx: Ctx<'_>, command: &Command, changes: &mut Vec<Change>) -> Applying {
    use Command as C;
    match command {
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
        | C::ImportServerKey { .. } => run_account(conn, ctx, command, changes),
        C::UpsertNode { .. }
        | C::RequestNodeReboot { .. }
        | C::SetNodeOnline { .. }
        | C::SetNodeDraining { .. }
        | C::RecordUsage { .. }
        | C::RecordCounters { .. } => run_fleet(conn, ctx, command, changes),
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
        | C::VoiceTranscribed { .. } => run_telegram(conn, ctx, command, changes),
        C::CreatePlan { .. }
        | C::UpdatePlan { .. }
        | C::ArchivePlan { .. }
        | C::AssignPlan { .. }
        | C::ResetUsage { .. }
        | C::Lifecycle { .. }
        | C::RemindUsers { .. }
        | C::RecheckDue { .. } => run_plan(conn, ctx, command, changes),
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
        | C::BindReferrer { .. } => run_commerce(conn, ctx, command, changes),
        // The rolling-upgrade test's no-op: its audit row is its only effect.
        #[cfg(feature = "upgrade-next")]
        C::UpgradeProbe { note } => Ok(Effect::new(Applied::Done, note.clone())),
    }
}

/// The arm a family dispatcher cannot reach: [`run`] routes only that family's commands to it.
fn misrouted(family: &str, command: &Command) -> ! {
    unreachable!("{} routed to the {family} family", command.action())
}

/// Users, their devices and subscriptions, API keys and invites, and imports.
fn run_account(
    conn: &Conn,
    ctx: Ctx<'_>,
    command: &Command,
    changes: &mut Vec<Change>,
) -> Applying {
    use Command as C;
    let at = ctx.at;
    match command {
        C::CreateUser {
            name,
            telegram_id,
            sub_token,
        } => user::create(conn, at, name, *telegram_id, sub_token),
        C::SetUserEnabled { user, enabled } => user::set_enabled(conn, at, user, *enabled, changes),
        C::UpdateUser { user, .. } => {
            let patch = command.user_patch().expect("an UpdateUser has a patch");
            user::update(conn, at, user, patch, changes)
        }
        C::DeleteUser { user } => user::delete(conn, user, changes),
        C::RotateSubToken { user, sub_token } => user::rotate_sub_token(conn, at, user, sub_token),
        C::IssueDevice { .. } => device::issue(conn, at, command, changes),
        C::RevokeDevice { device } => device::revoke(conn, at, device, changes),
        C::CreateApiKey {
            key_id,
            name,
            scope,
            secret_hash,
        } => api_key::create(conn, at, key_id, name, *scope, secret_hash),
        C::RevokeApiKey { key_id } => api_key::revoke(conn, at, key_id),
        C::CreateInvite {
            invite_id,
            token_hash,
            expires_at_ms,
        } => api_key::create_invite(conn, at, invite_id, token_hash, *expires_at_ms),
        C::RedeemInvite {
            token_hash,
            node_id,
        } => api_key::redeem_invite(conn, at, token_hash, *node_id),
        C::ImportUser { user } => import::user(conn, at, user, changes),
        C::SetLegacySubSecret { source, secret } => {
            import::legacy_secret(conn, at, *source, secret)
        }
        C::ImportServerKey { key } => import::server_key(conn, at, key, changes),
        _ => misrouted("account", command),
    }
}

/// Nodes: membership, status, draining, reboots and their usage reports.
fn run_fleet(conn: &Conn, ctx: Ctx<'_>, command: &Command, changes: &mut Vec<Change>) -> Applying {
    use Command as C;
    let at = ctx.at;
    match command {
        C::UpsertNode { node } => node::upsert(conn, at, node, changes),
        C::RequestNodeReboot { node_id } => node::request_reboot(conn, *node_id),
        C::SetNodeOnline { node_id, online } => {
            node_status::set_online(conn, at, *node_id, *online, changes)
        }
        C::SetNodeDraining { node_id, draining } => {
            node_drain::set_draining(conn, at, *node_id, *draining, changes)
        }
        C::RecordUsage { node_id, entries } => usage::record(conn, at, *node_id, entries, changes),
        C::RecordCounters {
            node_id,
            boot_epoch,
            seq,
            entries,
        } => {
            let report = usage::CounterReport {
                node_id: *node_id,
                boot_epoch: *boot_epoch,
                seq: *seq,
                entries,
            };
            usage::record_counters(conn, at, &report, changes)
        }
        _ => misrouted("fleet", command),
    }
}

/// The Telegram bot's state: updates, chats, access requests, broadcasts, backups, tickets.
fn run_telegram(
    conn: &Conn,
    ctx: Ctx<'_>,
    command: &Command,
    changes: &mut Vec<Change>,
) -> Applying {
    use Command as C;
    let at = ctx.at;
    match command {
        C::TelegramUpdate { .. } => telegram::update(conn, ctx, command, changes),
        C::TelegramDelivered { delivered } => telegram::delivered(conn, at, delivered),
        C::TelegramChat {
            telegram_id,
            change,
        } => telegram::chat(conn, at, *telegram_id, change),
        C::TelegramAccessRequest {
            telegram_id,
            display,
        } => access::request(conn, at, *telegram_id, display),
        C::TelegramAccessDecision {
            telegram_id,
            approve,
        } => access::decide(conn, ctx, *telegram_id, *approve),
        C::StartBroadcast {
            broadcast_id,
            text,
            admin_chat,
        } => broadcast::start(conn, at, broadcast_id, text, *admin_chat),
        C::BroadcastProgress { .. } => broadcast::progress(conn, at, command),
        C::TelegramBackupDue { slot_ms, chats } => backup::telegram_due(conn, at, *slot_ms, chats),
        C::TicketPost { telegram_id, text } => ticket::post(conn, at, *telegram_id, text),
        C::TicketReply { ticket_id, text } => ticket::reply(conn, ctx, *ticket_id, text),
        C::CloseTicket { ticket_id } => ticket::close(conn, at, *ticket_id),
        C::TicketVoice {
            telegram_id,
            file_id,
            duration_secs,
            language,
            notify,
        } => {
            let post = voice::Post {
                telegram_id: *telegram_id,
                file_id,
                duration_secs: *duration_secs,
                language: language.as_deref(),
                notify,
            };
            voice::post(conn, at, post)
        }
        C::VoiceTranscribed { message_id, result } => {
            voice::transcribed(conn, at, *message_id, result)
        }
        _ => misrouted("telegram", command),
    }
}

/// Plans, their assignment and lifecycle, and the expiry reminders that follow from them.
fn run_plan(conn: &Conn, ctx: Ctx<'_>, command: &Command, changes: &mut Vec<Change>) -> Applying {
    use Command as C;
    let at = ctx.at;
    match command {
        C::CreatePlan { plan: p } => plan::create(conn, at, p),
        C::UpdatePlan { plan_id, plan: p } => plan::update(conn, at, *plan_id, p),
        C::ArchivePlan { plan_id } => plan::archive(conn, at, *plan_id),
        C::AssignPlan {
            user,
            plan_id,
            on_hold,
            on_hold_timeout_ms,
        } => {
            let a = plan::Assign {
                user,
                plan_id: *plan_id,
                on_hold: *on_hold,
                on_hold_timeout_ms: *on_hold_timeout_ms,
                archived_ok: false,
            };
            plan::assign(conn, at, a, changes)
        }
        C::ResetUsage { user } => plan::reset_usage(conn, at, user, changes),
        C::Lifecycle { events } => plan::lifecycle(conn, at, events, changes),
        C::RemindUsers { reminders } => reminder::remind(conn, at, reminders),
        C::RecheckDue { user_ids } => reminder::recheck_due(conn, at, user_ids),
        _ => misrouted("plan", command),
    }
}

/// Money: orders and payments, balances, promo codes, trials and referrals.
fn run_commerce(
    conn: &Conn,
    ctx: Ctx<'_>,
    command: &Command,
    changes: &mut Vec<Change>,
) -> Applying {
    use Command as C;
    let at = ctx.at;
    match command {
        C::CreateOrder {
            order_id,
            telegram_id,
            plan_id,
        } => payment::create_order(conn, at, order_id, *telegram_id, *plan_id),
        C::CheckOrder {
            order_id,
            telegram_id,
            amount,
            currency,
        } => payment::check_order(conn, order_id, *telegram_id, *amount, currency),
        C::CreditPayment { payment: p } => payment::credit(conn, at, p, changes),
        C::RequestRefund { payment_id } => payment::request_refund(conn, ctx, *payment_id),
        C::RefundResult {
            payment_id,
            ok,
            error,
        } => payment::refund_result(conn, at, *payment_id, *ok, error.as_deref(), changes),
        C::AdjustBalance {
            user,
            delta_stars,
            reason,
        } => balance::adjust(conn, ctx, user, *delta_stars, reason),
        C::CreatePromoCode { promo: p } => promo::create(conn, ctx, p),
        C::DisablePromoCode { code } => promo::disable(conn, code),
        C::RedeemPromoCode { user, code } => promo::redeem(conn, at, user, code, changes),
        C::StartTrial {
            telegram_id,
            plan_id,
            days,
        } => trial::start(conn, at, *telegram_id, *plan_id, *days, changes),
        C::BindReferrer {
            referee,
            code,
            reward,
        } => referral::bind(conn, at, referee, code, reward),
        _ => misrouted("commerce", command),
    }
}

//! Outbox rows as Telegram messages (HTML text plus inline keyboard), rendered from the
//! current state when a row is performed: screens through their family in `screens/`
//! (read, then drawn by a plain function), notices directly.

use vpnkeeper_cluster::invite_ttl::TTL_FORMS;
use vpnkeeper_domain::telegram::MAX_BROADCAST_CHARS;
use vpnkeeper_store::ReadError;

use crate::callback::Cb;
use crate::outbox::{Notice, Outcomes, Screen};
use crate::screens::{self, btn, error_text, kb, support};
use crate::texts::{html, num, s, t, tr, Lang};
use crate::Ctx;

pub(crate) use crate::screens::Rendered;

/// A screen for `chat`, as the state is now.
pub(crate) async fn screen(
    ctx: &Ctx,
    chat: i64,
    lang: Lang,
    screen: &Screen,
    outcomes: Outcomes<'_>,
) -> Result<Rendered, ReadError> {
    let view = screens::load(ctx, chat, screen).await?;
    Ok(screens::render(lang, screen, &view, outcomes))
}

pub(crate) fn notice(lang: Lang, notice: &Notice, outcomes: Outcomes<'_>) -> Rendered {
    let plain = |key: &str| (t(lang, key), None);
    match notice {
        Notice::Refused { telegram_id } => (
            tr(lang, "refused", &[("id", s(telegram_id.to_string()))]),
            None,
        ),
        Notice::Disabled => plain("disabled"),
        Notice::UnknownCommand => plain("unknown-command"),
        Notice::UseButtons => plain("use-buttons"),
        Notice::FilesNotSupported => plain("files-not-supported"),
        Notice::Outdated => plain("outdated"),
        Notice::AdminsOnly => plain("admins-only"),
        Notice::Cancelled => plain("cancelled"),
        Notice::UserDone => plain("user-done"),
        Notice::NoNodes => plain("no-nodes"),
        Notice::AccessRequested => plain("access-requested"),
        Notice::AccessPending => plain("access-pending"),
        Notice::AccessRequestAdmin {
            telegram_id,
            display,
        } => (
            tr(
                lang,
                "access-request-admin",
                &[
                    ("who", s(html(display))),
                    ("id", s(telegram_id.to_string())),
                ],
            ),
            kb(vec![vec![
                btn(t(lang, "btn-approve"), Cb::Approve(*telegram_id)),
                btn(t(lang, "btn-deny"), Cb::Deny(*telegram_id)),
            ]]),
        ),
        Notice::AccessDecidedAlready => plain("access-decided-already"),
        Notice::AccessApproved => plain("access-approved"),
        Notice::AccessDenied => plain("access-denied"),
        Notice::BroadcastRunning => plain("broadcast-running"),
        Notice::BroadcastTooLong => (
            tr(
                lang,
                "broadcast-too-long",
                &[("max", num(MAX_BROADCAST_CHARS as i64))],
            ),
            None,
        ),
        Notice::BroadcastDone { sent, failed } => (
            tr(
                lang,
                "broadcast-done",
                &[("sent", num(*sent)), ("failed", num(*failed))],
            ),
            None,
        ),
        Notice::Failed { outcome } => match outcomes.of(*outcome) {
            Some(Err(e)) => (error_text(lang, e), None),
            _ => plain("user-done"),
        },
        Notice::TicketReceived { post } => support::received(lang, outcomes, *post),
        Notice::TicketAdmin {
            post,
            from,
            telegram_id,
            text,
            devices,
        } => {
            let copy = support::AdminCopy {
                from,
                telegram_id: *telegram_id,
                text,
                devices,
            };
            support::admin_copy(lang, outcomes, *post, copy)
                .unwrap_or_else(|| plain("ticket-failed"))
        }
        Notice::TicketTooLong => plain("ticket-too-long"),
        Notice::TicketReplyAsk { ticket_id } => (
            tr(
                lang,
                "ticket-reply-ask",
                &[("id", s(ticket_id.to_string()))],
            ),
            None,
        ),
        Notice::TicketReplied { outcome } => match outcomes.of(*outcome) {
            Some(Err(e)) => (error_text(lang, e), None),
            _ => plain("ticket-replied"),
        },
        Notice::TicketClosedAdmin { ticket_id } => (
            tr(
                lang,
                "ticket-closed-admin",
                &[("id", s(ticket_id.to_string()))],
            ),
            None,
        ),
        Notice::InviteBadTtl { reason } => (
            tr(
                lang,
                "invite-bad-ttl",
                &[("reason", s(html(reason))), ("forms", s(TTL_FORMS))],
            ),
            None,
        ),
        Notice::PlanUnavailable => plain("plan-unavailable"),
        Notice::RebootConfirmExpired => plain("reboot-confirm-expired"),
        Notice::RebootConfirmInvalid => plain("reboot-confirm-invalid"),
        Notice::SpeedTestStarted => plain("speedtest-started"),
    }
}

//! Outbox rows as Telegram messages (HTML text plus inline keyboard), rendered from the
//! current state when a row is performed: screens through their family in `screens/`
//! (read, then drawn by a plain function), notices directly.

use vpnkeeper_cluster::invite_ttl::TTL_FORMS;
use vpnkeeper_domain::command::reminder::ReminderKind;
use vpnkeeper_domain::telegram::MAX_BROADCAST_CHARS;
use vpnkeeper_store::ReadError;

use crate::callback::Cb;
use crate::outbox::{Notice, Outcomes, Screen};
use crate::screens::{self, btn, error_text, kb, support};
use crate::texts::{bytes, html, num, s, t, tr, Lang};
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

/// A notice's text and buttons. Only this match names every notice (so the compiler checks
/// each one is rendered); the family functions below hold the texts.
pub(crate) fn notice(lang: Lang, notice: &Notice, outcomes: Outcomes<'_>) -> Rendered {
    use Notice as N;
    match notice {
        N::Refused { .. }
        | N::Disabled
        | N::UnknownCommand
        | N::UseButtons
        | N::FilesNotSupported
        | N::Outdated
        | N::AdminsOnly
        | N::Cancelled
        | N::UserDone
        | N::NoNodes
        | N::Failed { .. }
        | N::AdminUsage { .. }
        | N::PlanBadInput { .. }
        | N::PlanNameTaken
        | N::PlanUseButtons
        | N::Reminder { .. } => general_notice(lang, notice, outcomes),
        N::AccessRequested
        | N::AccessPending
        | N::AccessRequestAdmin { .. }
        | N::AccessDecidedAlready
        | N::AccessApproved
        | N::AccessDenied
        | N::BroadcastRunning
        | N::BroadcastTooLong
        | N::BroadcastDone { .. }
        | N::InviteBadTtl { .. }
        | N::RebootConfirmExpired
        | N::RebootConfirmInvalid
        | N::SpeedTestStarted => admin_notice(lang, notice),
        N::TicketReceived { .. }
        | N::TicketAdmin { .. }
        | N::TicketTooLong
        | N::TicketReplyAsk { .. }
        | N::TicketReplied { .. }
        | N::TicketClosedAdmin { .. }
        | N::TicketAdminVoice { .. } => support_notice(lang, notice, outcomes),
        N::PlanUnavailable
        | N::PaymentUnrecognized
        | N::PromoResult { .. }
        | N::PromoHowTo
        | N::PromoBadCode
        | N::TrialResult { .. }
        | N::TrialUsed
        | N::ReferralOwn
        | N::ReferralNotNew
        | N::BalanceResult { .. } => commerce_notice(lang, notice, outcomes),
    }
}

/// A notice that is one text without buttons.
fn plain(lang: Lang, key: &str) -> Rendered {
    (t(lang, key), None)
}

/// The arm a family cannot reach: [`notice`] routes only that family's notices to it.
fn misrouted(family: &str) -> ! {
    unreachable!("a notice routed to the {family} notices")
}

/// Answers to anyone's messages, plan-draft input and reminders.
fn general_notice(lang: Lang, notice: &Notice, outcomes: Outcomes<'_>) -> Rendered {
    match notice {
        Notice::Refused { telegram_id } => (
            tr(lang, "refused", &[("id", s(telegram_id.to_string()))]),
            None,
        ),
        Notice::Disabled => plain(lang, "disabled"),
        Notice::UnknownCommand => plain(lang, "unknown-command"),
        Notice::UseButtons => plain(lang, "use-buttons"),
        Notice::FilesNotSupported => plain(lang, "files-not-supported"),
        Notice::Outdated => plain(lang, "outdated"),
        Notice::AdminsOnly => plain(lang, "admins-only"),
        Notice::Cancelled => plain(lang, "cancelled"),
        Notice::UserDone => plain(lang, "user-done"),
        Notice::NoNodes => plain(lang, "no-nodes"),
        Notice::Failed { outcome } => match outcomes.of(*outcome) {
            Some(Err(e)) => (error_text(lang, e), None),
            _ => plain(lang, "user-done"),
        },
        Notice::AdminUsage { usage } => {
            (tr(lang, "admin-usage", &[("usage", s(html(usage)))]), None)
        }
        Notice::PlanBadInput { step } => plain(lang, screens::plan_draft::bad_input_key(*step)),
        Notice::PlanNameTaken => plain(lang, "plan-name-taken"),
        Notice::PlanUseButtons => plain(lang, "plan-use-buttons"),
        Notice::Reminder {
            kind,
            expires_at_ms,
            traffic_limit_bytes,
        } => reminder(lang, *kind, *expires_at_ms, *traffic_limit_bytes),
        _ => misrouted("general"),
    }
}

/// Admin work: access requests, broadcasts, invites, reboots and speed tests.
fn admin_notice(lang: Lang, notice: &Notice) -> Rendered {
    match notice {
        Notice::AccessRequested => plain(lang, "access-requested"),
        Notice::AccessPending => plain(lang, "access-pending"),
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
        Notice::AccessDecidedAlready => plain(lang, "access-decided-already"),
        Notice::AccessApproved => plain(lang, "access-approved"),
        Notice::AccessDenied => plain(lang, "access-denied"),
        Notice::BroadcastRunning => plain(lang, "broadcast-running"),
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
        Notice::InviteBadTtl { reason } => (
            tr(
                lang,
                "invite-bad-ttl",
                &[("reason", s(html(reason))), ("forms", s(TTL_FORMS))],
            ),
            None,
        ),
        Notice::RebootConfirmExpired => plain(lang, "reboot-confirm-expired"),
        Notice::RebootConfirmInvalid => plain(lang, "reboot-confirm-invalid"),
        Notice::SpeedTestStarted => plain(lang, "speedtest-started"),
        _ => misrouted("admin"),
    }
}

/// Support tickets, for the user and for the admins.
fn support_notice(lang: Lang, notice: &Notice, outcomes: Outcomes<'_>) -> Rendered {
    match notice {
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
                .unwrap_or_else(|| plain(lang, "ticket-failed"))
        }
        Notice::TicketTooLong => plain(lang, "ticket-too-long"),
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
            _ => plain(lang, "ticket-replied"),
        },
        Notice::TicketClosedAdmin { ticket_id } => (
            tr(
                lang,
                "ticket-closed-admin",
                &[("id", s(ticket_id.to_string()))],
            ),
            None,
        ),
        Notice::TicketAdminVoice {
            post,
            from,
            telegram_id,
            seconds,
            devices,
        } => {
            let text = support::voice_pending(lang, *seconds);
            let copy = support::AdminCopy {
                from,
                telegram_id: *telegram_id,
                text: &text,
                devices,
            };
            support::admin_copy(lang, outcomes, *post, copy)
                .unwrap_or_else(|| plain(lang, "ticket-failed"))
        }
        _ => misrouted("support"),
    }
}

/// Buying: plans, payments, promo codes, trials, referrals and balances.
fn commerce_notice(lang: Lang, notice: &Notice, outcomes: Outcomes<'_>) -> Rendered {
    match notice {
        Notice::PlanUnavailable => plain(lang, "plan-unavailable"),
        Notice::PaymentUnrecognized => plain(lang, "payment-unrecognized"),
        Notice::PromoResult { outcome } => screens::promo::result(lang, outcomes, *outcome),
        Notice::PromoHowTo => plain(lang, "promo-how-to"),
        Notice::PromoBadCode => plain(lang, "promo-bad-code"),
        Notice::TrialResult { outcome, days } => match outcomes.of(*outcome) {
            Some(Err(e)) => (error_text(lang, e), None),
            _ => (tr(lang, "trial-started", &[("days", num(*days))]), None),
        },
        Notice::TrialUsed => plain(lang, "trial-used"),
        Notice::ReferralOwn => plain(lang, "referral-own"),
        Notice::ReferralNotNew => plain(lang, "referral-not-new"),
        Notice::BalanceResult { outcome } => screens::balance::result(lang, outcomes, *outcome),
        _ => misrouted("commerce"),
    }
}

/// A reminder to a user, with the renewal button.
fn reminder(
    lang: Lang,
    kind: ReminderKind,
    expires_at_ms: Option<i64>,
    limit: Option<i64>,
) -> Rendered {
    let key = format!("reminder-{}", kind.as_str().replace('_', "-"));
    let date = expires_at_ms
        .map(screens::devices::date_time)
        .unwrap_or_default();
    let quota = limit.map(bytes).unwrap_or_default();
    let text = tr(lang, &key, &[("date", s(date)), ("quota", s(quota))]);
    (text, kb(vec![vec![btn(t(lang, "btn-renew"), Cb::Renew)]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn callbacks(r: &Rendered) -> Vec<String> {
        let Some(k) = &r.1 else { return vec![] };
        k.inline_keyboard
            .iter()
            .flatten()
            .filter_map(|b| match &b.kind {
                teloxide::types::InlineKeyboardButtonKind::CallbackData(d) => Some(d.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn reminders_speak_the_users_language_and_offer_renewal() {
        // 2026-12-04 13:05 UTC.
        let at = 1_796_389_500_000;
        for kind in ReminderKind::ALL {
            for lang in [Lang::En, Lang::Ru] {
                let n = Notice::Reminder {
                    kind,
                    expires_at_ms: Some(at),
                    traffic_limit_bytes: Some(10 << 30),
                };
                let r = notice(lang, &n, Outcomes(&[]));
                assert!(!r.0.starts_with("reminder-"), "{kind:?} {lang:?}: {}", r.0);
                assert_eq!(callbacks(&r), vec!["rn".to_string()]);
                match kind {
                    ReminderKind::Quota80 | ReminderKind::Quota100 => {
                        assert!(r.0.contains("10.0 GiB"), "{}", r.0)
                    }
                    _ => assert!(r.0.contains("2026-12-04 13:05 UTC"), "{}", r.0),
                }
            }
        }
        let ru = notice(
            Lang::Ru,
            &Notice::Reminder {
                kind: ReminderKind::Expires1d,
                expires_at_ms: Some(at),
                traffic_limit_bytes: None,
            },
            Outcomes(&[]),
        );
        assert!(ru.0.contains("завтра"), "{}", ru.0);
    }
}

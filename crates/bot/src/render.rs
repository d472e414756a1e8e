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
        Notice::PaymentUnrecognized => plain("payment-unrecognized"),
        Notice::RebootConfirmExpired => plain("reboot-confirm-expired"),
        Notice::RebootConfirmInvalid => plain("reboot-confirm-invalid"),
        Notice::SpeedTestStarted => plain("speedtest-started"),
        Notice::PromoResult { outcome } => screens::promo::result(lang, outcomes, *outcome),
        Notice::PromoHowTo => plain("promo-how-to"),
        Notice::PromoBadCode => plain("promo-bad-code"),
        Notice::TrialResult { outcome, days } => match outcomes.of(*outcome) {
            Some(Err(e)) => (error_text(lang, e), None),
            _ => (tr(lang, "trial-started", &[("days", num(*days))]), None),
        },
        Notice::TrialUsed => plain("trial-used"),
        Notice::ReferralOwn => plain("referral-own"),
        Notice::ReferralNotNew => plain("referral-not-new"),
        Notice::BalanceResult { outcome } => screens::balance::result(lang, outcomes, *outcome),
        Notice::AdminUsage { usage } => {
            (tr(lang, "admin-usage", &[("usage", s(html(usage)))]), None)
        }
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
                .unwrap_or_else(|| plain("ticket-failed"))
        }
        Notice::PlanBadInput { step } => plain(screens::plan_draft::bad_input_key(*step)),
        Notice::PlanNameTaken => plain("plan-name-taken"),
        Notice::PlanUseButtons => plain("plan-use-buttons"),
        Notice::Reminder {
            kind,
            expires_at_ms,
            traffic_limit_bytes,
        } => reminder(lang, *kind, *expires_at_ms, *traffic_limit_bytes),
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

//! Promo codes and the free trial in the bot (issue #16 items 4–5): `/promo CODE` for
//! everyone; `/promo_new`, `/promos`, `/promo_off` for admins; the trial button of the menu.
//! Redemption is a `RedeemPromoCode` command: apply decides (serially) whether the code
//! still has uses, so the reply reads the outcome rather than guessing from the snapshot.

use vpnkeeper_domain::command::promo::{normalize_code, validate_code, PromoGrant, PromoSpec};
use vpnkeeper_domain::size::parse_size;
use vpnkeeper_domain::{Applied, Command, UserRef};

use super::{back_admin, error_text, kb, Rendered, View};
use crate::decide::Turn;
use crate::outbox::{CommandRef, Notice, Outcomes};
use crate::texts::{bytes, html, num, s, t, tr, Lang};

const DAY_MS: i64 = 86_400_000;
pub(crate) const NEW_USAGE: &str =
    "/promo_new CODE days|traffic|discount AMOUNT MAX_USES [VALID_DAYS]";
pub(crate) const OFF_USAGE: &str = "/promo_off CODE";

// ---- decide ----

/// `/promo CODE`: redeems for the person asking; without a code, says how.
pub(crate) fn redeem(turn: &mut Turn<'_>, code: Option<&str>) {
    let Some(code) = code else {
        turn.notice(Notice::PromoHowTo);
        return;
    };
    let code = normalize_code(code);
    if validate_code(&code).is_err() {
        turn.notice(Notice::PromoBadCode);
        return;
    }
    let user = UserRef::TelegramId(turn.tg());
    let outcome = turn.plan.command(Command::RedeemPromoCode { user, code });
    turn.notice(Notice::PromoResult { outcome });
}

/// The trial button: once per Telegram account, when one is configured.
pub(crate) fn trial(turn: &mut Turn<'_>) {
    let Some((plan_id, days)) = turn.snap.promo.trial else {
        turn.outdated();
        return;
    };
    if turn.snap.trial_used {
        turn.answer(Some(Notice::TrialUsed), true);
        return;
    }
    turn.answer(None, false);
    let telegram_id = turn.tg();
    let outcome = turn.plan.command(Command::StartTrial {
        telegram_id,
        plan_id,
        days,
    });
    turn.notice(Notice::TrialResult { outcome, days });
}

/// Parses `/promo_new CODE KIND AMOUNT MAX_USES [VALID_DAYS]`; traffic takes sizes (50G).
pub(crate) fn parse_new(rest: &str, now_ms: i64) -> Option<PromoSpec> {
    let args: Vec<&str> = rest.split_whitespace().skip(1).collect();
    if !(4..=5).contains(&args.len()) {
        return None;
    }
    let amount = match args[1] {
        "traffic" => parse_size(args[2]).ok()?,
        _ => args[2].parse().ok()?,
    };
    let grant = PromoGrant::from_parts(args[1], amount)?;
    let valid_days: Option<i64> = match args.get(4) {
        Some(d) => Some(d.parse().ok().filter(|d| (1..=3650).contains(d))?),
        None => None,
    };
    let spec = PromoSpec {
        code: normalize_code(args[0]),
        grant,
        max_uses: args[3].parse().ok()?,
        expires_at_ms: valid_days.map(|d| now_ms + d * DAY_MS),
    };
    spec.validate().ok()?;
    Some(spec)
}

pub(crate) fn create(turn: &mut Turn<'_>, rest: &str) {
    let Some(promo) = parse_new(rest, turn.snap.now_ms) else {
        turn.notice(Notice::AdminUsage {
            usage: NEW_USAGE.into(),
        });
        return;
    };
    let outcome = turn.plan.command(Command::CreatePromoCode { promo });
    turn.notice(Notice::Failed { outcome });
}

pub(crate) fn disable(turn: &mut Turn<'_>, rest: &str) {
    let code = rest.split_whitespace().nth(1).map(normalize_code);
    let Some(code) = code.filter(|c| validate_code(c).is_ok()) else {
        turn.notice(Notice::AdminUsage {
            usage: OFF_USAGE.into(),
        });
        return;
    };
    let outcome = turn.plan.command(Command::DisablePromoCode { code });
    turn.notice(Notice::Failed { outcome });
}

// ---- render ----

/// What a redemption gave, or why it was refused.
pub(crate) fn result(lang: Lang, outcomes: Outcomes<'_>, outcome: CommandRef) -> Rendered {
    let text = match outcomes.of(outcome) {
        Some(Ok(Applied::Redeemed { grant, .. })) => match *grant {
            PromoGrant::Days { days } => tr(lang, "promo-days", &[("days", num(days))]),
            PromoGrant::Traffic { bytes: b } => tr(lang, "promo-traffic", &[("size", s(bytes(b)))]),
            PromoGrant::Discount { percent } => {
                tr(lang, "promo-discount", &[("percent", num(percent))])
            }
        },
        Some(Err(e)) => error_text(lang, e),
        _ => t(lang, "user-done"),
    };
    (text, None)
}

/// The admin's list of codes: kind, amount, uses, expiry, state.
pub(crate) fn list_screen(lang: Lang, view: &View) -> Rendered {
    let mut text = t(lang, "promo-list-title");
    if view.promo_codes.is_empty() {
        text.push('\n');
        text.push_str(&t(lang, "promo-list-empty"));
    }
    for c in &view.promo_codes {
        let amount = match c.kind.as_str() {
            "traffic" => bytes(c.amount),
            "discount" => format!("{}%", c.amount),
            _ => c.amount.to_string(),
        };
        let state = if c.disabled {
            " ⛔"
        } else if c.uses >= c.max_uses {
            " ✔"
        } else {
            ""
        };
        text.push_str(&format!(
            "\n<code>{}</code> {} {} · {}/{}{state}",
            html(&c.code),
            c.kind,
            amount,
            c.uses,
            c.max_uses
        ));
    }
    text.push_str("\n\n");
    text.push_str(&html(NEW_USAGE));
    text.push('\n');
    text.push_str(&html(OFF_USAGE));
    (text, kb(vec![back_admin(lang)]))
}

//! An admin's balance change from the bot (issue #16 item 3):
//! `/balance USER +AMOUNT|-AMOUNT [reason…]`, where USER is an id, `tg:<id>` or a name.
//! Apply refuses a debit below zero; the reply shows the new balance or the refusal.

use vpnkeeper_domain::{Applied, Command, UserRef};

use super::{error_text, Rendered};
use crate::decide::Turn;
use crate::outbox::{CommandRef, Notice, Outcomes};
use crate::texts::{num, t, tr, Lang};

pub(crate) const USAGE: &str = "/balance USER +AMOUNT|-AMOUNT [reason]";

/// `USER AMOUNT [reason…]` after the command word.
pub(crate) fn parse(rest: &str) -> Option<(UserRef, i64, String)> {
    let mut words = rest.split_whitespace().skip(1);
    let user = words.next()?;
    let user = match user.strip_prefix("tg:").map(str::parse::<i64>) {
        Some(Ok(tg)) => UserRef::TelegramId(tg),
        Some(Err(_)) => return None,
        None => UserRef::parse(user),
    };
    let amount: i64 = words.next()?.parse().ok()?;
    let reason = words.collect::<Vec<_>>().join(" ");
    vpnkeeper_domain::command::balance::validate_adjust(amount, &reason).ok()?;
    Some((user, amount, reason))
}

pub(crate) fn adjust(turn: &mut Turn<'_>, rest: &str) {
    let Some((user, delta_stars, reason)) = parse(rest) else {
        turn.notice(Notice::AdminUsage {
            usage: USAGE.into(),
        });
        return;
    };
    let outcome = turn.plan.command(Command::AdjustBalance {
        user,
        delta_stars,
        reason,
    });
    turn.notice(Notice::BalanceResult { outcome });
}

pub(crate) fn result(lang: Lang, outcomes: Outcomes<'_>, outcome: CommandRef) -> Rendered {
    let text = match outcomes.of(outcome) {
        Some(Ok(Applied::Balance { user_id, stars })) => tr(
            lang,
            "balance-changed",
            &[("user", num(*user_id)), ("stars", num(*stars))],
        ),
        Some(Err(e)) => error_text(lang, e),
        _ => t(lang, "user-done"),
    };
    (text, None)
}

//! Referrals and the user's account screen (issue #16 items 3 and 6): `/start ref_<code>`
//! binds a *new* user to the referrer; the account screen shows the balance in Stars and
//! the user's own referral link.

use vpnkeeper_domain::command::referral::{code_of, user_of, START_PREFIX};
use vpnkeeper_domain::{Command, UserRef};
use vpnkeeper_store::{ReadError, ReadStore};

use super::{back_menu, btn, kb, Rendered, View};
use crate::callback::Cb;
use crate::decide::Turn;
use crate::outbox::Notice;
use crate::snapshot::Snapshot;
use crate::texts::{html, num, s, t, tr, Lang};
use crate::update::{Incoming, Kind};
use crate::Ctx;

/// The referral code of a `/start ref_<code>` message.
fn start_code(text: &str) -> Option<&str> {
    let mut words = text.split_whitespace();
    let command = words.next()?.split('@').next()?;
    if !command.eq_ignore_ascii_case("/start") {
        return None;
    }
    words.next()?.strip_prefix(START_PREFIX)
}

// ---- snapshot ----

/// For `/start ref_<code>`: the referrer the code names, so decide binds only to a user
/// that exists (a refused binding would undo the newcomer's creation in the same update).
pub(crate) async fn load_for_start(
    read: &ReadStore,
    inc: &Incoming<'_>,
    snap: &mut Snapshot,
) -> Result<(), ReadError> {
    if let Kind::Text(text) = inc.kind {
        if let Some(id) = start_code(text).and_then(user_of) {
            snap.referrer = read.user(&UserRef::Id(id)).await?;
        }
    }
    Ok(())
}

// ---- decide ----

/// `/start <payload>`: binds a newcomer to the referrer; tells an existing user why not.
/// Unknown payloads and codes of no user are ignored (the menu was shown already).
pub(crate) fn start(turn: &mut Turn<'_>, payload: Option<&str>) {
    let Some(code) = payload.and_then(|p| p.strip_prefix(START_PREFIX)) else {
        return;
    };
    let Some(referrer_id) = user_of(code) else {
        return;
    };
    match &turn.snap.user {
        Some(me) if me.id == referrer_id => turn.notice(Notice::ReferralOwn),
        Some(_) => turn.notice(Notice::ReferralNotNew),
        None => {
            let Some(reward) = turn.snap.promo.referral_reward else {
                return;
            };
            if turn
                .snap
                .referrer
                .as_ref()
                .is_some_and(|r| r.id == referrer_id)
            {
                let referee = UserRef::TelegramId(turn.tg());
                turn.plan.command(Command::BindReferrer {
                    referee,
                    code: code.to_ascii_lowercase(),
                    reward,
                });
            }
        }
    }
}

// ---- load ----

pub(crate) async fn load(ctx: &Ctx, chat: i64, view: &mut View) -> Result<(), ReadError> {
    let read = ctx.read();
    view.user = read.user(&UserRef::TelegramId(chat)).await?;
    if let Some(u) = &view.user {
        view.balance_stars = read.balance(u.id).await?;
        view.referral = read.referral_info(u.id).await?;
        view.trial_offer = ctx.settings.promo.trial.is_some() && !read.trial_used(chat).await?;
    }
    // The link needs the bot's @username; without it the screen shows the /start payload.
    view.bot_username = ctx.tg.get_me().await.ok().map(|me| me.username);
    Ok(())
}

// ---- render ----

pub(crate) fn account_screen(lang: Lang, view: &View) -> Rendered {
    let Some(user) = &view.user else {
        return (t(lang, "user-done"), kb(vec![back_menu(lang)]));
    };
    let payload = format!("{START_PREFIX}{}", code_of(user.id));
    let link = match &view.bot_username {
        Some(name) => format!("https://t.me/{}?start={payload}", html(name)),
        None => format!("/start {payload}"),
    };
    let text = tr(
        lang,
        "account",
        &[
            ("stars", num(view.balance_stars)),
            ("link", s(link)),
            ("referred", num(view.referral.referred)),
            ("rewarded", num(view.referral.rewarded)),
        ],
    );
    let mut rows = vec![vec![btn(t(lang, "btn-promo"), Cb::Promo)]];
    if view.trial_offer {
        rows.push(vec![btn(t(lang, "btn-trial"), Cb::Trial)]);
    }
    rows.push(back_menu(lang));
    (text, kb(rows))
}

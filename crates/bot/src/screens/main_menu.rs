//! The menu, help, the language switch and typed commands (`/start`, `/help`, `/lang`…).

use vpnkeeper_domain::command::UserRef;
use vpnkeeper_domain::DeviceType;
use vpnkeeper_store::ReadError;

use super::{back_menu, btn, kb, Rendered, View};
use crate::callback::Cb;
use crate::decide::Turn;
use crate::outbox::{Notice, Screen};
use crate::screens::{balance, broadcast, invite, plan_draft, promo, referral, support};
use crate::texts::{html, num, s, t, tr, Lang};
use crate::Ctx;

// ---- decide ----

pub(crate) fn main(turn: &mut Turn<'_>) {
    turn.answer(None, false);
    turn.clear_pending();
    let screen = turn.main_screen();
    turn.show(screen);
}

pub(crate) fn help(turn: &mut Turn<'_>) {
    turn.ok(Screen::Help);
}

/// A language button: the menu again, in `lang`.
pub(crate) fn set_language(turn: &mut Turn<'_>, lang: Lang) {
    turn.set_lang(lang);
    turn.answer(None, false);
    let screen = turn.main_screen();
    turn.show(screen);
}

/// A typed message: a command, an admin's broadcast text, or a hint to use the buttons.
pub(crate) fn text(turn: &mut Turn<'_>, text: &str) {
    if let Some(rest) = text.trim().strip_prefix('/') {
        command(turn, rest);
        return;
    }
    if turn.is_admin() && turn.pending_kind() == Some("await_broadcast") {
        broadcast::draft(turn, text);
        return;
    }
    if turn.is_admin() && turn.pending_kind() == Some(plan_draft::KIND) {
        plan_draft::text(turn, text);
        return;
    }
    if let Some(ticket_id) = support::awaited_ticket(turn) {
        support::reply(turn, ticket_id, text);
        return;
    }
    if turn.is_admin() {
        // Arbitrary text is never echoed back (it may be huge or hostile): a hint only.
        turn.notice(Notice::UseButtons);
        return;
    }
    // A user's text outside any flow is a message to support.
    support::post(turn, text);
}

fn command(turn: &mut Turn<'_>, rest: &str) {
    // `/start@my_bot payload`: the command is the first word, without the mention.
    let word = rest.split_whitespace().next().unwrap_or("");
    let command = word.split('@').next().unwrap_or("").to_ascii_lowercase();
    match command.as_str() {
        "start" | "menu" => {
            turn.clear_pending();
            let screen = turn.main_screen();
            turn.show(screen);
            referral::start(turn, rest.split_whitespace().nth(1));
        }
        "promo" => promo::redeem(turn, rest.split_whitespace().nth(1)),
        "promos" if turn.is_admin() => turn.show(Screen::PromoCodes),
        "promo_new" if turn.is_admin() => promo::create(turn, rest),
        "promo_off" if turn.is_admin() => promo::disable(turn, rest),
        "balance" if turn.is_admin() => balance::adjust(turn, rest),
        "help" => turn.show(Screen::Help),
        "lang" | "language" => {
            let other = turn.lang.other();
            turn.set_lang(other);
            let screen = turn.main_screen();
            turn.show(screen);
        }
        "devices" => turn.show(Screen::Devices),
        "cancel" => {
            turn.clear_pending();
            turn.notice(Notice::Cancelled);
        }
        "invite" => invite::command(turn, rest.split_whitespace().nth(1)),
        "admin" if turn.is_admin() => {
            turn.clear_pending();
            turn.show(Screen::Admin);
        }
        _ => turn.notice(Notice::UnknownCommand),
    }
}

// ---- load ----

pub(super) async fn load(
    ctx: &Ctx,
    chat: i64,
    screen: &Screen,
    view: &mut View,
) -> Result<(), ReadError> {
    if let Screen::Main { .. } = screen {
        let read = ctx.read();
        view.user = read.user(&UserRef::TelegramId(chat)).await?;
        if let Some(u) = &view.user {
            view.devices = read.devices_of_user(u.id, false).await?;
            // The trial is offered from /start until this Telegram account has had it.
            view.trial_offer = ctx.settings.promo.trial.is_some() && !read.trial_used(chat).await?;
        }
    }
    Ok(())
}

// ---- render ----

/// The menu; `name` is the person's first name.
pub(super) fn main_screen(lang: Lang, name: &str, view: &View) -> Rendered {
    let mut text = tr(lang, "main", &[("name", s(html(name)))]);
    if view.user.is_some() {
        text.push_str("\n\n");
        text.push_str(&tr(
            lang,
            "main-devices",
            &[("count", num(view.devices.len() as i64))],
        ));
    }
    let mut rows = vec![
        vec![
            btn(t(lang, "btn-phone"), Cb::Device(DeviceType::Phone)),
            btn(t(lang, "btn-laptop"), Cb::Device(DeviceType::Laptop)),
            btn(t(lang, "btn-router"), Cb::Device(DeviceType::Router)),
        ],
        vec![
            btn(t(lang, "btn-my-devices"), Cb::MyDevices),
            btn(t(lang, "btn-help"), Cb::Help),
        ],
        vec![
            btn(t(lang, "btn-account"), Cb::Account),
            btn(t(lang, "btn-support"), Cb::Support),
        ],
        vec![btn(t(lang, "btn-language"), Cb::SetLang(lang.other()))],
        vec![btn(t(lang, "btn-buy"), Cb::Buy)],
    ];
    if view.trial_offer {
        rows.insert(0, vec![btn(t(lang, "btn-trial"), Cb::Trial)]);
    }
    if view.admin {
        rows.push(vec![btn(t(lang, "btn-admin"), Cb::Admin)]);
    }
    (text, kb(rows))
}

pub(super) fn help_screen(lang: Lang) -> Rendered {
    (t(lang, "help"), kb(vec![back_menu(lang)]))
}

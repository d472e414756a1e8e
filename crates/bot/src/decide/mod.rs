//! What an update means: the domain commands it causes and the replies it gets.
//!
//! [`decide`] is a plain function of the update, a [`Snapshot`] of the state read up front
//! (`snapshot::load`) and the randomness passed in ([`Entropy`]). Nothing is read or
//! sent from here: the commands go into the update's `TelegramUpdate` proposal and the
//! replies become outbox rows. What each button and command does lives with its screen
//! family in `screens/`; this module holds the turn they all write to and the dispatch.

use vpnkeeper_domain::telegram::{ChatChange, OutboxItem};
use vpnkeeper_domain::Command;

use crate::callback::Cb;
use crate::entropy::Entropy;
use crate::outbox::{CommandRef, Notice, Out, Screen};
use crate::screens::plan_draft::{Input, Step};
use crate::screens::{
    access, admin, admin_users, broadcast, buy, devices, issue, main_menu, node_card, nodes,
    payments, plan_draft, plans, promo, stats, support,
};
use crate::snapshot::{Snapshot, Standing};
use crate::texts::Lang;
use crate::update::{Incoming, Kind};

/// The commands and replies of one update.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Plan {
    pub commands: Vec<Command>,
    pub outbox: Vec<OutboxItem>,
}

impl Plan {
    /// Plans a command; the returned ref names its outcome in the replies that report it.
    pub fn command(&mut self, command: Command) -> CommandRef {
        self.commands.push(command);
        CommandRef(self.commands.len() - 1)
    }

    pub fn out(&mut self, chat: i64, o: Out) {
        self.outbox.push(o.to(chat));
    }
}

/// Decides one update.
pub(crate) fn decide(inc: &Incoming<'_>, snap: &Snapshot, entropy: &mut dyn Entropy) -> Plan {
    let mut turn = Turn {
        inc,
        snap,
        entropy,
        lang: snap.lang(inc.from.language_code.as_deref()),
        plan: Plan::default(),
    };
    // Payments are answered whoever pays: Telegram waits for a pre-checkout answer, and a
    // successful payment is money taken that must be credited to the order's user.
    match inc.kind {
        Kind::PreCheckout {
            id,
            currency,
            total_amount,
            payload,
        } => {
            buy::pre_checkout(&mut turn, id, currency, total_amount, payload);
            return turn.plan;
        }
        Kind::Paid {
            currency,
            total_amount,
            payload,
            charge_id,
        } => {
            buy::paid(&mut turn, currency, total_amount, payload, charge_id);
            return turn.plan;
        }
        _ => {}
    }
    match snap.standing() {
        Standing::Stranger => turn.refuse(Notice::Refused {
            telegram_id: inc.telegram_id(),
        }),
        Standing::Disabled => turn.refuse(Notice::Disabled),
        Standing::Applicant => access::applicant(&mut turn),
        Standing::Newcomer | Standing::Admin { has_user: false } => {
            access::create_user(&mut turn);
            if matches!(inc.kind, Kind::Text(t) if !t.trim_start().starts_with('/')) {
                // A first "hi" gets the menu: they have not seen the buttons yet, and it
                // is a greeting more often than a question for support.
                let screen = turn.main_screen();
                turn.show(screen);
            } else {
                member(&mut turn);
            }
        }
        Standing::Admin { has_user: true } | Standing::Member => member(&mut turn),
    }
    turn.plan
}

/// An authorised person (the user row exists, or its creation is already planned).
fn member(turn: &mut Turn<'_>) {
    match turn.inc.kind {
        Kind::Text(text) => main_menu::text(turn, text),
        Kind::Voice { file_id, seconds } => support::post_voice(turn, file_id, seconds),
        Kind::Other => turn.notice(Notice::FilesNotSupported),
        // Handled before anyone's standing is looked at (`decide`).
        Kind::PreCheckout { .. } | Kind::Paid { .. } => {}
        Kind::Callback { .. } => {
            let Some(cb) = turn.inc.callback() else {
                turn.answer(Some(Notice::Outdated), true);
                return;
            };
            if cb.is_admin() && !turn.is_admin() {
                turn.answer(Some(Notice::AdminsOnly), true);
                return;
            }
            press(turn, cb);
        }
    }
}

/// A button press, handed to the screen family the button belongs to.
fn press(turn: &mut Turn<'_>, cb: Cb) {
    match cb {
        Cb::Main => main_menu::main(turn),
        Cb::Help => main_menu::help(turn),
        Cb::Language => {
            let other = turn.lang.other();
            main_menu::set_language(turn, other);
        }
        Cb::SetLang(lang) => main_menu::set_language(turn, lang),
        Cb::Device(device_type) => issue::device(turn, device_type),
        Cb::DeviceProto(device_type, protocol) => issue::device_proto(turn, device_type, protocol),
        Cb::MyDevices => devices::list(turn),
        Cb::DeviceCard(id) => devices::card(turn, id),
        Cb::Download(id) => devices::download(turn, id),
        Cb::Revoke(id) => devices::revoke(turn, id),
        Cb::RevokeYes(id) => devices::revoke_yes(turn, id),
        // ---- admin (checked by the caller) ----
        Cb::Admin => admin::menu(turn),
        Cb::Stats => stats::show(turn),
        Cb::Users(page) => admin_users::list(turn, page),
        Cb::User(id) => admin_users::card(turn, id),
        Cb::UserRevoke(id) => admin_users::revoke_all(turn, id),
        Cb::UserDisable(id) => admin_users::set_enabled(turn, id, false),
        Cb::UserEnable(id) => admin_users::set_enabled(turn, id, true),
        Cb::UserRevokeYes(id) => admin_users::revoke_all_yes(turn, id),
        Cb::Pending(page) => access::pending(turn, page),
        Cb::Approve(tg) => access::decide(turn, tg, true),
        Cb::Deny(tg) => access::decide(turn, tg, false),
        Cb::Nodes => nodes::list(turn),
        Cb::Node(id) => nodes::card(turn, id),
        Cb::Reboot(id) => nodes::reboot(turn, id),
        Cb::RebootYes(id, nonce) => nodes::reboot_yes(turn, id, &nonce),
        Cb::RebootNo(id) => nodes::reboot_no(turn, id),
        Cb::Broadcast => broadcast::ask(turn),
        Cb::BroadcastSend => broadcast::send(turn),
        Cb::BroadcastCancel => broadcast::cancel(turn),
        Cb::Support => support::open(turn),
        Cb::TicketReply(id) => support::ask_reply(turn, id),
        Cb::TicketClose(id) => support::close(turn, id),
        Cb::Plans => plans::list(turn),
        Cb::PlanCard(id) => plans::card(turn, id),
        Cb::PlanArchive(id) => plans::archive(turn, id),
        Cb::UserPlans(user) => plans::user_plans(turn, user),
        Cb::AssignPlan(user, plan) => plans::assign(turn, user, plan),
        Cb::NodeChart(id, range) => node_card::chart(turn, id, range),
        Cb::NodeDrain(id) => nodes::set_draining(turn, id, true),
        Cb::NodeUndrain(id) => nodes::set_draining(turn, id, false),
        Cb::PlanNew => plan_draft::start(turn),
        Cb::PlanEdit(id) => plan_draft::edit(turn, id),
        Cb::PlanStep(step) => plan_draft::goto(turn, step),
        Cb::PlanDays(d) => plan_draft::input(turn, Step::Days, Input::Days(d)),
        Cb::PlanQuota(g) => plan_draft::input(turn, Step::Quota, Input::QuotaGib(g)),
        Cb::PlanReset(r) => plan_draft::input(turn, Step::Reset, Input::Reset(r)),
        Cb::PlanResetDay(d) => plan_draft::input(turn, Step::ResetDay, Input::ResetDay(d)),
        Cb::PlanDevices(n) => plan_draft::input(turn, Step::Devices, Input::Devices(n)),
        Cb::PlanSave => plan_draft::save(turn),
        Cb::PlanCancel => plan_draft::cancel(turn),
        // Renewing is buying: the plans on sale (issue #16).
        Cb::Renew => buy::buy(turn),
        Cb::SpeedTest(id) => nodes::speed_test(turn, id),
        Cb::Buy => buy::buy(turn),
        Cb::BuyPlan(id) => buy::buy_plan(turn, id),
        Cb::Payments(page) => payments::list(turn, page),
        Cb::Refund(id) => payments::refund(turn, id),
        Cb::RefundYes(id) => payments::refund_yes(turn, id),
        Cb::Account => turn.ok(Screen::Account),
        Cb::Promo => {
            turn.answer(None, false);
            turn.notice(Notice::PromoHowTo);
        }
        Cb::Trial => promo::trial(turn),
    }
}

/// One update being decided: what it came with and what it has planned so far.
pub(crate) struct Turn<'a> {
    pub inc: &'a Incoming<'a>,
    pub snap: &'a Snapshot,
    pub entropy: &'a mut dyn Entropy,
    /// The language replies are in (changes when the person switches language).
    pub lang: Lang,
    pub plan: Plan,
}

impl Turn<'_> {
    pub fn tg(&self) -> i64 {
        self.inc.telegram_id()
    }

    pub fn chat(&self) -> i64 {
        self.inc.chat_id
    }

    pub fn is_admin(&self) -> bool {
        self.snap.policy.admin
    }

    /// A reply in this chat.
    pub fn out(&mut self, o: Out) {
        let chat = self.chat();
        self.plan.out(chat, o);
    }

    pub fn notice(&mut self, notice: Notice) {
        let lang = self.lang;
        self.out(Out::Notice { lang, notice });
    }

    /// Shows a screen: in place of the message whose button was pressed, else as the
    /// chat's new main message.
    pub fn show(&mut self, screen: Screen) {
        let edit = match self.inc.kind {
            Kind::Callback { message_id, .. } => message_id,
            _ => None,
        };
        let lang = self.lang;
        self.out(Out::Screen { lang, screen, edit });
    }

    /// Stops the spinner of the pressed button (no-op for messages).
    pub fn answer(&mut self, notice: Option<Notice>, alert: bool) {
        if let Kind::Callback { id, .. } = self.inc.kind {
            let lang = self.lang;
            self.out(Out::Answer {
                callback_id: id.to_string(),
                lang,
                notice,
                alert,
            });
        }
    }

    /// Answers a press with a toast and shows `screen`.
    pub fn ok(&mut self, screen: Screen) {
        self.answer(None, false);
        self.show(screen);
    }

    /// The button is stale or forged: an alert, nothing else.
    pub fn outdated(&mut self) {
        self.answer(Some(Notice::Outdated), true);
    }

    pub fn main_screen(&self) -> Screen {
        Screen::Main {
            name: self.inc.from.first_name.chars().take(64).collect(),
        }
    }

    /// A refusal and nothing else: no user, no request, no menu.
    pub fn refuse(&mut self, notice: Notice) {
        match self.inc.kind {
            Kind::Callback { .. } => self.answer(Some(notice), true),
            _ => self.notice(notice),
        }
    }

    /// Forgets what the chat was waiting for (a broadcast text), if anything.
    pub fn clear_pending(&mut self) {
        if self.snap.pending().is_some() {
            self.set_chat(ChatChange {
                lang: None,
                pending: Some(None),
            });
        }
    }

    pub fn set_pending(&mut self, pending: serde_json::Value) {
        self.set_chat(ChatChange {
            lang: None,
            pending: Some(Some(pending)),
        });
    }

    /// Switches the language of this chat, for the replies of this turn too.
    pub fn set_lang(&mut self, lang: Lang) {
        self.lang = lang;
        self.set_chat(ChatChange {
            lang: Some(lang.as_str().into()),
            pending: None,
        });
    }

    fn set_chat(&mut self, change: ChatChange) {
        let telegram_id = self.tg();
        self.plan.command(Command::TelegramChat {
            telegram_id,
            change,
        });
    }

    /// The kind of what the chat waits for.
    pub fn pending_kind(&self) -> Option<&str> {
        self.snap.pending()?.get("kind")?.as_str()
    }
}

#[cfg(test)]
pub(crate) mod tests;

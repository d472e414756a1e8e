//! What an update means: the domain commands it causes and the replies it gets.
//!
//! Runs on the leader before the update is proposed, reading the local state (which, on the
//! leader, includes every earlier update of the same chat: updates of one chat are decided
//! one after another). Everything random (device UUIDs, keys, subscription tokens) is drawn
//! here, so apply stays deterministic. Nothing is sent from here: replies are outbox rows.

use rand::rngs::OsRng;
use teloxide::types::{Update, UpdateKind, User as TgUser};
use uuid::Uuid;
use vpnkeeper_domain::command::UserRef;
use vpnkeeper_domain::keys::wg_material;
use vpnkeeper_domain::secrets::random_url_token;
use vpnkeeper_domain::telegram::{AccessStatus, ChatChange, OutboxItem, MAX_BROADCAST_CHARS};
use vpnkeeper_domain::{Command, DeviceRef, DeviceType, NodeId, Protocol, User};
use vpnkeeper_store::ReadError;

use crate::callback::Cb;
use crate::outbox::{DeviceSel, Notice, Out, Screen};
use crate::texts::Lang;
use crate::Ctx;

/// Length of the random subscription token of users the bot creates (as the API does).
const SUB_TOKEN_BYTES: usize = 24;

/// An update reduced to what the bot reacts to.
pub(crate) struct Incoming<'a> {
    pub from: &'a TgUser,
    /// The private chat with `from` (its id equals the user id).
    pub chat_id: i64,
    pub kind: Kind<'a>,
}

pub(crate) enum Kind<'a> {
    Text(&'a str),
    /// Files, photos, stickers, voice, locations…
    Other,
    Callback {
        id: &'a str,
        data: Option<&'a str>,
        message_id: Option<i64>,
    },
}

/// The bot only talks in private chats with people. Group messages, channel posts, other
/// bots and update kinds it did not ask for are ignored.
pub(crate) fn incoming(update: &Update) -> Option<Incoming<'_>> {
    match &update.kind {
        UpdateKind::Message(m) => {
            if !m.chat.is_private() {
                return None;
            }
            let from = m.from.as_ref()?;
            if from.is_bot {
                return None;
            }
            let kind = match m.text() {
                Some(t) => Kind::Text(t),
                None => Kind::Other,
            };
            Some(Incoming {
                from,
                chat_id: m.chat.id.0,
                kind,
            })
        }
        UpdateKind::CallbackQuery(q) => {
            if q.from.is_bot {
                return None;
            }
            let message = q.message.as_ref();
            // A button on a message in a group is not ours to serve.
            if let Some(m) = message {
                if !m.chat().is_private() {
                    return None;
                }
            }
            Some(Incoming {
                from: &q.from,
                chat_id: q.from.id.0 as i64,
                kind: Kind::Callback {
                    id: &q.id.0,
                    data: q.data.as_deref(),
                    message_id: message.map(|m| m.id().0 as i64),
                },
            })
        }
        _ => None,
    }
}

/// Updates of one chat are handled in order; different chats in parallel.
pub(crate) fn chat_key(update: &Update) -> Option<i64> {
    incoming(update).map(|i| i.chat_id)
}

/// The commands and replies of one update.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub commands: Vec<Command>,
    pub outbox: Vec<OutboxItem>,
}

impl Plan {
    fn out(&mut self, chat: i64, o: Out) {
        self.outbox.push(o.to(chat));
    }
}

/// How the sender relates to the bot.
enum Who {
    Admin(Option<User>),
    Member(User),
    Disabled,
    /// Allowed in (open mode or allowlisted) but not yet a user.
    Newcomer,
    /// Approval mode, not yet a user.
    Applicant,
    Stranger,
}

struct Turn<'a> {
    ctx: &'a Ctx,
    inc: &'a Incoming<'a>,
    lang: Lang,
    pending: Option<serde_json::Value>,
    plan: Plan,
    admin: bool,
}

pub(crate) async fn decide(ctx: &Ctx, inc: &Incoming<'_>) -> Result<Plan, ReadError> {
    let read = ctx.read();
    let tg = inc.from.id.0 as i64;
    let chat = read.tg_chat(tg).await?;
    let lang = chat
        .as_ref()
        .and_then(|c| c.lang.as_deref())
        .and_then(Lang::parse)
        .unwrap_or_else(|| Lang::from_code(inc.from.language_code.as_deref()));
    let user = read.user(&UserRef::TelegramId(tg)).await?;
    let admin = ctx.is_admin(tg);
    let who = if admin {
        Who::Admin(user)
    } else if let Some(u) = user {
        if u.enabled {
            Who::Member(u)
        } else {
            Who::Disabled
        }
    } else {
        match ctx.settings.access {
            crate::Access::Open => Who::Newcomer,
            crate::Access::Allowlist if ctx.settings.allowed_ids.contains(&tg) => Who::Newcomer,
            crate::Access::Allowlist => Who::Stranger,
            crate::Access::Approval => Who::Applicant,
        }
    };
    let mut turn = Turn {
        ctx,
        inc,
        lang,
        pending: chat.and_then(|c| c.pending),
        plan: Plan::default(),
        admin,
    };
    match who {
        Who::Stranger => turn.refuse(Notice::Refused { telegram_id: tg }),
        Who::Disabled => turn.refuse(Notice::Disabled),
        Who::Applicant => turn.applicant().await?,
        Who::Newcomer | Who::Admin(None) => {
            turn.create_user().await?;
            turn.member(None).await?;
        }
        Who::Admin(Some(u)) | Who::Member(u) => turn.member(Some(u)).await?,
    }
    Ok(turn.plan)
}

impl Turn<'_> {
    fn tg(&self) -> i64 {
        self.inc.from.id.0 as i64
    }

    fn chat(&self) -> i64 {
        self.inc.chat_id
    }

    fn out(&mut self, o: Out) {
        let chat = self.chat();
        self.plan.out(chat, o);
    }

    fn notice(&mut self, notice: Notice) {
        let lang = self.lang;
        self.out(Out::Notice { lang, notice });
    }

    fn screen(&mut self, screen: Screen, edit: Option<i64>) {
        let lang = self.lang;
        self.out(Out::Screen { lang, screen, edit });
    }

    fn answer(&mut self, notice: Option<Notice>, alert: bool) {
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

    fn main_screen(&self) -> Screen {
        Screen::Main {
            name: self.inc.from.first_name.chars().take(64).collect(),
        }
    }

    /// A refusal and nothing else: no user, no request, no menu.
    fn refuse(&mut self, notice: Notice) {
        match self.inc.kind {
            Kind::Callback { .. } => self.answer(Some(notice), true),
            _ => self.notice(notice),
        }
    }

    fn display(&self) -> String {
        let f = self.inc.from;
        let mut d = f.first_name.clone();
        if let Some(l) = &f.last_name {
            d.push(' ');
            d.push_str(l);
        }
        if let Some(u) = &f.username {
            d.push_str(" @");
            d.push_str(u);
        }
        d.chars().take(200).collect()
    }

    async fn create_user(&mut self) -> Result<(), ReadError> {
        let name = free_name(self.ctx, self.inc.from.username.as_deref(), self.tg()).await?;
        self.plan.commands.push(Command::CreateUser {
            name,
            telegram_id: Some(self.tg()),
            sub_token: random_url_token(&mut OsRng, SUB_TOKEN_BYTES),
        });
        Ok(())
    }

    async fn applicant(&mut self) -> Result<(), ReadError> {
        let tg = self.tg();
        let request = self.ctx.read().tg_access_request(tg).await?;
        match request.map(|r| r.status) {
            Some(AccessStatus::Pending) => self.refuse(Notice::AccessPending),
            Some(AccessStatus::Denied) => self.refuse(Notice::AccessDenied),
            // Never asked, or approved once and since removed: ask.
            Some(AccessStatus::Approved) | None => {
                let display = self.display();
                self.plan.commands.push(Command::TelegramAccessRequest {
                    telegram_id: tg,
                    display: display.clone(),
                });
                // Remember the language, so the decision reaches them in it.
                self.plan.commands.push(Command::TelegramChat {
                    telegram_id: tg,
                    change: ChatChange {
                        lang: Some(self.lang.as_str().into()),
                        pending: None,
                    },
                });
                self.refuse(Notice::AccessRequested);
                for admin in self.ctx.settings.admin_ids.clone() {
                    let lang = admin_lang(self.ctx, admin).await?;
                    self.plan.out(
                        admin,
                        Out::Notice {
                            lang,
                            notice: Notice::AccessRequestAdmin {
                                telegram_id: tg,
                                display: display.clone(),
                            },
                        },
                    );
                }
            }
        }
        Ok(())
    }

    /// An authorised person (the user row exists, or its creation is already planned).
    async fn member(&mut self, user: Option<User>) -> Result<(), ReadError> {
        match self.inc.kind {
            Kind::Text(text) => self.text(text).await,
            Kind::Other => {
                self.notice(Notice::FilesNotSupported);
                Ok(())
            }
            Kind::Callback {
                data, message_id, ..
            } => {
                let Some(cb) = data.and_then(Cb::parse) else {
                    self.answer(Some(Notice::Outdated), true);
                    return Ok(());
                };
                if cb.is_admin() && !self.admin {
                    self.answer(Some(Notice::AdminsOnly), true);
                    return Ok(());
                }
                self.callback(cb, message_id, user).await
            }
        }
    }

    fn clear_pending(&mut self) {
        if self.pending.is_some() {
            self.plan.commands.push(Command::TelegramChat {
                telegram_id: self.tg(),
                change: ChatChange {
                    lang: None,
                    pending: Some(None),
                },
            });
        }
    }

    async fn text(&mut self, text: &str) -> Result<(), ReadError> {
        let trimmed = text.trim();
        if let Some(rest) = trimmed.strip_prefix('/') {
            // `/start@my_bot payload`: the command is the first word, without the mention.
            let word = rest.split_whitespace().next().unwrap_or("");
            let command = word.split('@').next().unwrap_or("").to_ascii_lowercase();
            match command.as_str() {
                "start" | "menu" => {
                    self.clear_pending();
                    let s = self.main_screen();
                    self.screen(s, None);
                }
                "help" => self.screen(Screen::Help, None),
                "lang" | "language" => {
                    let lang = self.lang.other();
                    self.set_lang(lang);
                    let s = self.main_screen();
                    self.screen(s, None);
                }
                "devices" => self.screen(Screen::Devices, None),
                "cancel" => {
                    self.clear_pending();
                    self.notice(Notice::Cancelled);
                }
                "admin" if self.admin => {
                    self.clear_pending();
                    self.screen(Screen::Admin, None);
                }
                _ => self.notice(Notice::UnknownCommand),
            }
            return Ok(());
        }
        if self.admin && pending_kind(&self.pending) == Some("await_broadcast") {
            if text.chars().count() > MAX_BROADCAST_CHARS {
                self.notice(Notice::BroadcastTooLong);
                return Ok(());
            }
            if text.trim().is_empty() {
                self.notice(Notice::UseButtons);
                return Ok(());
            }
            self.plan.commands.push(Command::TelegramChat {
                telegram_id: self.tg(),
                change: ChatChange {
                    lang: None,
                    pending: Some(Some(serde_json::json!({
                        "kind": "broadcast_draft",
                        "text": text,
                    }))),
                },
            });
            self.screen(Screen::BroadcastPreview, None);
            return Ok(());
        }
        // Arbitrary text is never echoed back (it may be huge or hostile): a hint only.
        self.notice(Notice::UseButtons);
        Ok(())
    }

    fn set_lang(&mut self, lang: Lang) {
        self.lang = lang;
        self.plan.commands.push(Command::TelegramChat {
            telegram_id: self.tg(),
            change: ChatChange {
                lang: Some(lang.as_str().into()),
                pending: None,
            },
        });
    }

    async fn callback(
        &mut self,
        cb: Cb,
        edit: Option<i64>,
        user: Option<User>,
    ) -> Result<(), ReadError> {
        let read = self.ctx.read();
        match cb {
            Cb::Main => {
                self.answer(None, false);
                self.clear_pending();
                let s = self.main_screen();
                self.screen(s, edit);
            }
            Cb::Help => {
                self.answer(None, false);
                self.screen(Screen::Help, edit);
            }
            Cb::Language => {
                let lang = self.lang.other();
                self.set_lang(lang);
                self.answer(None, false);
                let s = self.main_screen();
                self.screen(s, edit);
            }
            Cb::SetLang(lang) => {
                self.set_lang(lang);
                self.answer(None, false);
                let s = self.main_screen();
                self.screen(s, edit);
            }
            Cb::Device(device_type) => {
                let offered = offered_protocols(self.ctx).await?;
                match offered.as_slice() {
                    [] => self.answer(Some(Notice::NoNodes), true),
                    [only] => self.issue(device_type, *only, edit).await?,
                    _ => {
                        self.answer(None, false);
                        self.screen(Screen::Protocols { device_type }, edit);
                    }
                }
            }
            Cb::DeviceProto(device_type, protocol) => {
                if offered_protocols(self.ctx).await?.contains(&protocol) {
                    self.issue(device_type, protocol, edit).await?;
                } else {
                    self.answer(Some(Notice::Outdated), true);
                }
            }
            Cb::MyDevices => {
                self.answer(None, false);
                self.screen(Screen::Devices, edit);
            }
            Cb::DeviceCard(id) | Cb::Download(id) | Cb::Revoke(id) | Cb::RevokeYes(id) => {
                // The id comes from the client: it must be an active device of the presser.
                let owned = match &user {
                    Some(u) => read
                        .device(&DeviceRef::Id(id))
                        .await?
                        .filter(|d| d.user_id == u.id && d.is_active())
                        .is_some(),
                    None => false,
                };
                if !owned {
                    self.answer(Some(Notice::Outdated), true);
                    self.screen(Screen::Devices, edit);
                    return Ok(());
                }
                let lang = self.lang;
                match cb {
                    Cb::DeviceCard(_) => {
                        self.answer(None, false);
                        self.screen(Screen::Device { id }, edit);
                    }
                    Cb::Download(_) => {
                        self.answer(None, false);
                        self.out(Out::ConfigFile {
                            lang,
                            device: DeviceSel::Id(id),
                        });
                        self.out(Out::ConfigQr {
                            lang,
                            device: DeviceSel::Id(id),
                        });
                    }
                    Cb::Revoke(_) => {
                        self.answer(None, false);
                        self.screen(Screen::ConfirmRevoke { id }, edit);
                    }
                    _ => {
                        self.plan.commands.push(Command::RevokeDevice {
                            device: DeviceRef::Id(id),
                        });
                        self.answer(None, false);
                        self.screen(Screen::Revoked { id }, edit);
                    }
                }
            }
            // ---- admin (checked by the caller) ----
            Cb::Admin => {
                self.answer(None, false);
                self.clear_pending();
                self.screen(Screen::Admin, edit);
            }
            Cb::Stats => {
                self.answer(None, false);
                self.screen(Screen::Stats, edit);
            }
            Cb::Users(page) => {
                self.answer(None, false);
                self.screen(Screen::Users { page }, edit);
            }
            Cb::User(id) | Cb::UserRevoke(id) => {
                if read.user(&UserRef::Id(id)).await?.is_none() {
                    self.answer(Some(Notice::Outdated), true);
                    return Ok(());
                }
                self.answer(None, false);
                let screen = match cb {
                    Cb::User(_) => Screen::User { id },
                    _ => Screen::ConfirmUserRevoke { id },
                };
                self.screen(screen, edit);
            }
            Cb::UserDisable(id) | Cb::UserEnable(id) => {
                self.plan.commands.push(Command::SetUserEnabled {
                    user: UserRef::Id(id),
                    enabled: matches!(cb, Cb::UserEnable(_)),
                });
                self.answer(Some(Notice::UserDone), false);
                self.screen(Screen::User { id }, edit);
            }
            Cb::UserRevokeYes(id) => {
                let devices = read.devices_of_user(id, false).await?;
                let limit = vpnkeeper_domain::telegram::MAX_UPDATE_COMMANDS;
                for d in devices.iter().take(limit) {
                    self.plan.commands.push(Command::RevokeDevice {
                        device: DeviceRef::Id(d.id),
                    });
                }
                self.answer(Some(Notice::UserDone), false);
                self.screen(Screen::User { id }, edit);
            }
            Cb::Pending(page) => {
                self.answer(None, false);
                self.screen(Screen::Pending { page }, edit);
            }
            Cb::Approve(tg) | Cb::Deny(tg) => self.decide_access(tg, cb, edit).await?,
            Cb::Nodes => {
                self.answer(None, false);
                self.screen(Screen::Nodes, edit);
            }
            Cb::Node(id) | Cb::Reboot(id) | Cb::RebootYes(id) | Cb::RebootNo(id) => {
                if read.node(id).await?.is_none() {
                    self.answer(Some(Notice::Outdated), true);
                    self.screen(Screen::Nodes, edit);
                    return Ok(());
                }
                let lang = self.lang;
                match cb {
                    Cb::Node(_) => {
                        self.answer(None, false);
                        self.screen(Screen::Node { id }, edit);
                    }
                    Cb::Reboot(_) => {
                        self.answer(None, false);
                        self.screen(Screen::ConfirmReboot { id }, edit);
                    }
                    Cb::RebootNo(_) => {
                        self.answer(Some(Notice::Cancelled), false);
                        self.screen(Screen::Node { id }, edit);
                    }
                    _ => {
                        // Audited by apply; performed by the outbox (at most once).
                        self.plan
                            .commands
                            .push(Command::RequestNodeReboot { node_id: id });
                        self.answer(None, false);
                        self.screen(Screen::RebootRequested { id }, edit);
                        self.out(Out::Reboot { lang, node_id: id });
                    }
                }
            }
            Cb::Broadcast => {
                if read.tg_active_broadcast().await?.is_some() {
                    self.answer(Some(Notice::BroadcastRunning), true);
                    return Ok(());
                }
                self.plan.commands.push(Command::TelegramChat {
                    telegram_id: self.tg(),
                    change: ChatChange {
                        lang: None,
                        pending: Some(Some(serde_json::json!({ "kind": "await_broadcast" }))),
                    },
                });
                self.answer(None, false);
                self.screen(Screen::BroadcastAsk, edit);
            }
            Cb::BroadcastSend => {
                let draft = (pending_kind(&self.pending) == Some("broadcast_draft"))
                    .then(|| {
                        self.pending
                            .as_ref()
                            .and_then(|p| p.get("text"))
                            .and_then(|t| t.as_str())
                            .map(str::to_string)
                    })
                    .flatten();
                let Some(text) = draft else {
                    self.answer(Some(Notice::Outdated), true);
                    return Ok(());
                };
                self.plan.commands.push(Command::StartBroadcast {
                    broadcast_id: Uuid::new_v4().to_string(),
                    text,
                    admin_chat: self.chat(),
                });
                self.clear_pending();
                self.answer(None, false);
                self.screen(Screen::BroadcastStarted, edit);
            }
            Cb::BroadcastCancel => {
                self.clear_pending();
                self.answer(Some(Notice::Cancelled), false);
                self.screen(Screen::Admin, edit);
            }
        }
        Ok(())
    }

    async fn issue(
        &mut self,
        device_type: DeviceType,
        protocol: Protocol,
        edit: Option<i64>,
    ) -> Result<(), ReadError> {
        let Some(node_id) = pick_node(self.ctx, protocol).await? else {
            self.answer(Some(Notice::NoNodes), true);
            return Ok(());
        };
        let wg = protocol
            .is_wireguard_family()
            .then(|| wg_material(&mut OsRng, &self.ctx.sealer));
        self.plan.commands.push(Command::IssueDevice {
            user: UserRef::TelegramId(self.tg()),
            node_id,
            // Named after the type, so asking again for a phone returns the same device.
            name: device_type.as_str().to_string(),
            device_type,
            protocol,
            uuid: Uuid::new_v4(),
            wg,
        });
        let outcome = self.plan.commands.len() - 1;
        let lang = self.lang;
        self.answer(None, false);
        self.out(Out::ConfigFile {
            lang,
            device: DeviceSel::Outcome(outcome),
        });
        self.out(Out::ConfigQr {
            lang,
            device: DeviceSel::Outcome(outcome),
        });
        self.screen(
            Screen::Issued {
                device_type,
                outcome,
                vless: protocol == Protocol::Vless,
            },
            edit,
        );
        Ok(())
    }

    async fn decide_access(&mut self, tg: i64, cb: Cb, edit: Option<i64>) -> Result<(), ReadError> {
        let read = self.ctx.read();
        let approve = matches!(cb, Cb::Approve(_));
        let request = read.tg_access_request(tg).await?;
        let Some(request) = request.filter(|r| r.status == AccessStatus::Pending) else {
            self.answer(Some(Notice::AccessDecidedAlready), true);
            self.screen(Screen::Pending { page: 0 }, edit);
            return Ok(());
        };
        self.plan.commands.push(Command::TelegramAccessDecision {
            telegram_id: tg,
            approve,
        });
        if approve {
            match read.user(&UserRef::TelegramId(tg)).await? {
                Some(u) if !u.enabled => self.plan.commands.push(Command::SetUserEnabled {
                    user: UserRef::Id(u.id),
                    enabled: true,
                }),
                Some(_) => {}
                None => {
                    let username = request
                        .display
                        .rsplit(' ')
                        .next()
                        .and_then(|w| w.strip_prefix('@'));
                    let name = free_name(self.ctx, username, tg).await?;
                    self.plan.commands.push(Command::CreateUser {
                        name,
                        telegram_id: Some(tg),
                        sub_token: random_url_token(&mut OsRng, SUB_TOKEN_BYTES),
                    });
                }
            }
        }
        self.answer(None, false);
        self.screen(
            Screen::AccessDecided {
                telegram_id: tg,
                approved: approve,
            },
            edit,
        );
        let lang = admin_lang(self.ctx, tg).await?;
        let notice = if approve {
            Notice::AccessApproved
        } else {
            Notice::AccessDenied
        };
        self.plan.out(tg, Out::Notice { lang, notice });
        Ok(())
    }
}

fn pending_kind(pending: &Option<serde_json::Value>) -> Option<&str> {
    pending.as_ref()?.get("kind")?.as_str()
}

/// A chat's language when we write to it unprompted (admins, applicants).
async fn admin_lang(ctx: &Ctx, telegram_id: i64) -> Result<Lang, ReadError> {
    Ok(ctx
        .read()
        .tg_chat(telegram_id)
        .await?
        .and_then(|c| c.lang)
        .and_then(|l| Lang::parse(&l))
        .unwrap_or(Lang::En))
}

/// A user name for a Telegram person: their @username when it is a valid, free name, else
/// `tg<id>` (which only an operator could have taken; then `tg<id>-<n>`).
async fn free_name(ctx: &Ctx, username: Option<&str>, tg: i64) -> Result<String, ReadError> {
    let read = ctx.read();
    let mut candidates: Vec<String> = Vec::new();
    if let Some(u) = username {
        if vpnkeeper_domain::validate::name("name", u).is_ok() {
            candidates.push(u.to_string());
        }
    }
    candidates.push(format!("tg{tg}"));
    for n in 2..5 {
        candidates.push(format!("tg{tg}-{n}"));
    }
    for c in &candidates {
        if read.user(&UserRef::Name(c.clone())).await?.is_none() {
            return Ok(c.clone());
        }
    }
    // Taken four times over: let apply refuse it with a conflict the user is told about.
    Ok(format!("tg{tg}"))
}

/// The protocols the fleet serves, in the order offered. Plain WireGuard is offered only
/// where a node has no AmneziaWG parameters: both would be the same interface.
pub(crate) async fn offered_protocols(ctx: &Ctx) -> Result<Vec<Protocol>, ReadError> {
    let mut out = Vec::new();
    for node in ctx.read().nodes().await? {
        for p in node_protocols(&node) {
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn node_protocols(node: &vpnkeeper_domain::Node) -> Vec<Protocol> {
    let mut v = Vec::new();
    if let Some(wg) = &node.wireguard {
        v.push(if wg.awg.is_some() {
            Protocol::Awg
        } else {
            Protocol::Wireguard
        });
    }
    if node.xray_settings().is_some() {
        v.push(Protocol::Vless);
    }
    v
}

/// The node serving `protocol` with the fewest active devices (lowest id on a tie).
async fn pick_node(ctx: &Ctx, protocol: Protocol) -> Result<Option<NodeId>, ReadError> {
    let read = ctx.read();
    let load = read.active_devices_per_node().await?;
    let mut best: Option<(i64, NodeId)> = None;
    for node in read.nodes().await? {
        if !node_protocols(&node).contains(&protocol) {
            continue;
        }
        let n = load
            .iter()
            .find(|(id, _)| *id == node.id)
            .map(|(_, c)| *c)
            .unwrap_or(0);
        if best.is_none_or(|(bn, bid)| (n, node.id) < (bn, bid)) {
            best = Some((n, node.id));
        }
    }
    Ok(best.map(|(_, id)| id))
}

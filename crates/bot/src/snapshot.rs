//! What one turn of `decide` may look at, read from the store up front.
//!
//! [`load`] is the only place a turn reads the state: it reads who is asking and then only
//! what the pressed button points at (a device, a user, a node, an access request…).
//! `decide` then works from this snapshot alone, so it is a plain function that unit tests
//! drive with hand-made snapshots. On the leader the snapshot includes every earlier update
//! of the same chat: updates of one chat are loaded and decided one after another.

use std::collections::{BTreeMap, BTreeSet};

use vpnkeeper_domain::command::UserRef;
use vpnkeeper_domain::telegram::{AccessRequest, TelegramChat};
use vpnkeeper_domain::{Device, DeviceRef, Node, User};
use vpnkeeper_store::{ReadError, ReadStore};

use crate::callback::Cb;
use crate::texts::Lang;
use crate::update::Incoming;
use crate::{Access, Ctx, Settings};

/// Who may do what, from the node's config.
#[derive(Debug, Clone, Default)]
pub(crate) struct Policy {
    /// The person asking is an admin.
    pub admin: bool,
    pub access: Access,
    /// The person asking is on the allowlist.
    pub allowlisted: bool,
    /// Every admin, in id order (told of access requests).
    pub admin_ids: Vec<i64>,
}

impl Policy {
    pub fn of(settings: &Settings, telegram_id: i64) -> Policy {
        Policy {
            admin: settings.admin_ids.contains(&telegram_id),
            access: settings.access,
            allowlisted: settings.allowed_ids.contains(&telegram_id),
            admin_ids: settings.admin_ids.iter().copied().collect(),
        }
    }
}

/// How the person asking relates to the bot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Standing {
    /// An admin; `has_user` when their user row exists.
    Admin {
        has_user: bool,
    },
    Member,
    Disabled,
    /// Allowed in (open mode or allowlisted) but not yet a user.
    Newcomer,
    /// Approval mode, not yet a user.
    Applicant,
    Stranger,
}

/// The state one update is decided on. Fields a turn did not need stay empty.
#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    pub policy: Policy,
    /// The chat's stored state (language, pending input).
    pub chat: Option<TelegramChat>,
    /// The user row of the person asking.
    pub user: Option<User>,
    /// An applicant's own access request.
    pub own_request: Option<AccessRequest>,
    /// Stored languages of the other chats this turn writes to (admins, applicants).
    pub chat_langs: BTreeMap<i64, Lang>,
    /// Which of the candidate user names ([`name_candidates`]) are taken.
    pub taken_names: BTreeSet<String>,
    /// The fleet and its active devices per node (device buttons).
    pub nodes: Vec<Node>,
    pub load: Vec<vpnkeeper_store::NodeLoad>,
    /// The device a button names.
    pub device: Option<Device>,
    /// The user a button names, and that user's active devices.
    pub target_user: Option<User>,
    pub target_devices: Vec<Device>,
    /// The access request an approve/deny button names, and the user with that Telegram id.
    pub request: Option<AccessRequest>,
    pub requester: Option<User>,
    /// The node a button names.
    pub node: Option<Node>,
    pub broadcast_running: bool,
    /// The sender's active devices, for a support message (plain text of a member).
    pub own_devices: Vec<Device>,
    /// The plan a button names.
    pub plan: Option<vpnkeeper_store::plan_queries::Plan>,
    /// Every plan's (id, name), archived ones too: an admin's typed plan-draft name must
    /// not be taken.
    pub plan_names: Vec<(i64, String)>,
    /// The leader's clock when the update was loaded (unix ms): confirmations expire by it.
    pub now_ms: i64,
    /// Headroom inputs of placement (device buttons): each node's latest load report.
    pub headroom: Vec<(
        vpnkeeper_domain::NodeId,
        vpnkeeper_domain::placement::NodeLoad,
    )>,
    /// Trial and referral settings (`[payments]`).
    pub promo: crate::PromoSettings,
    /// The user a `/start ref_<code>` names, when it exists.
    pub referrer: Option<User>,
    /// This Telegram account has had its free trial (loaded for the trial button).
    pub trial_used: bool,
}

impl Snapshot {
    pub fn standing(&self) -> Standing {
        if self.policy.admin {
            return Standing::Admin {
                has_user: self.user.is_some(),
            };
        }
        match &self.user {
            Some(u) if u.enabled => Standing::Member,
            Some(_) => Standing::Disabled,
            None => match self.policy.access {
                Access::Open => Standing::Newcomer,
                Access::Allowlist if self.policy.allowlisted => Standing::Newcomer,
                Access::Allowlist => Standing::Stranger,
                Access::Approval => Standing::Applicant,
            },
        }
    }

    /// The language of the person asking: the one they chose, else their client's.
    pub fn lang(&self, client_code: Option<&str>) -> Lang {
        self.chat
            .as_ref()
            .and_then(|c| c.lang.as_deref())
            .and_then(Lang::parse)
            .unwrap_or_else(|| Lang::from_code(client_code))
    }

    /// The language of a chat we write to unprompted.
    pub fn lang_of(&self, chat: i64) -> Lang {
        self.chat_langs.get(&chat).copied().unwrap_or(Lang::En)
    }

    /// What the chat waits for (e.g. an admin's broadcast text), bot format.
    pub fn pending(&self) -> Option<&serde_json::Value> {
        self.chat.as_ref()?.pending.as_ref()
    }
}

/// A user name for a Telegram person, in order of preference: their @username when it is a
/// valid name, then `tg<id>` (which only an operator could have taken), then `tg<id>-<n>`.
pub(crate) fn name_candidates(username: Option<&str>, telegram_id: i64) -> Vec<String> {
    let mut candidates: Vec<String> = Vec::new();
    if let Some(u) = username {
        if vpnkeeper_domain::validate::name("name", u).is_ok() {
            candidates.push(u.to_string());
        }
    }
    candidates.push(format!("tg{telegram_id}"));
    for n in 2..5 {
        candidates.push(format!("tg{telegram_id}-{n}"));
    }
    candidates
}

/// The @username at the end of an access request's display (`Ann Lee @ann`).
pub(crate) fn username_of(request: &AccessRequest) -> Option<&str> {
    request
        .display
        .rsplit(' ')
        .next()
        .and_then(|w| w.strip_prefix('@'))
}

/// A chat's stored language: the one language rule for chats we write to unprompted and
/// for rows rendered later.
pub(crate) async fn stored_lang(read: &ReadStore, chat: i64) -> Result<Option<Lang>, ReadError> {
    Ok(read
        .tg_chat(chat)
        .await?
        .and_then(|c| c.lang)
        .and_then(|l| Lang::parse(&l)))
}

/// Reads what deciding `inc` needs.
pub(crate) async fn load(ctx: &Ctx, inc: &Incoming<'_>) -> Result<Snapshot, ReadError> {
    let read = ctx.read();
    let tg = inc.telegram_id();
    let mut snap = Snapshot {
        policy: Policy::of(&ctx.settings, tg),
        chat: read.tg_chat(tg).await?,
        user: read.user(&UserRef::TelegramId(tg)).await?,
        now_ms: crate::now_ms(),
        promo: ctx.settings.promo.clone(),
        ..Snapshot::default()
    };
    match snap.standing() {
        Standing::Stranger | Standing::Disabled => return Ok(snap),
        Standing::Applicant => {
            snap.own_request = read.tg_access_request(tg).await?;
            for admin in snap.policy.admin_ids.clone() {
                add_lang(read, &mut snap, admin).await?;
            }
            return Ok(snap);
        }
        Standing::Newcomer | Standing::Admin { has_user: false } => {
            let candidates = name_candidates(inc.from.username.as_deref(), tg);
            add_taken(read, &mut snap, &candidates).await?;
        }
        Standing::Admin { has_user: true } | Standing::Member => {}
    }
    if is_support_text(inc, &snap) {
        if let Some(user) = &snap.user {
            snap.own_devices = read.devices_of_user(user.id, false).await?;
            snap.nodes = read.nodes().await?;
        }
        // The admins' copies are in each admin's language.
        for admin in snap.policy.admin_ids.clone() {
            add_lang(read, &mut snap, admin).await?;
        }
    }
    crate::screens::referral::load_for_start(read, inc, &mut snap).await?;
    if inc.callback() == Some(Cb::Trial) {
        snap.trial_used = read.trial_used(tg).await?;
    }
    if is_plan_draft_text(inc, &snap) {
        let plans = read.plans(true).await?;
        snap.plan_names = plans.into_iter().map(|p| (p.id, p.spec.name)).collect();
    }
    if let Some(cb) = inc.callback() {
        if !cb.is_admin() || snap.policy.admin {
            load_for_button(read, &mut snap, &cb).await?;
            if matches!(cb, Cb::Device(_) | Cb::DeviceProto(..)) {
                snap.headroom = headroom(ctx, &snap.load);
            }
        }
    }
    Ok(snap)
}

/// Plain text of a user (not a command): it may become a support message, which shows
/// the admins the sender's devices.
fn is_support_text(inc: &Incoming<'_>, snap: &Snapshot) -> bool {
    match inc.kind {
        crate::update::Kind::Text(t) => !snap.policy.admin && !t.trim_start().starts_with('/'),
        crate::update::Kind::Voice { .. } => !snap.policy.admin,
        _ => false,
    }
}

/// An admin's typed text while a plan draft waits for a value.
fn is_plan_draft_text(inc: &Incoming<'_>, snap: &Snapshot) -> bool {
    let draft = snap
        .pending()
        .and_then(|p| p.get("kind"))
        .and_then(|k| k.as_str())
        == Some(crate::screens::plan_draft::KIND);
    snap.policy.admin && draft && matches!(inc.kind, crate::update::Kind::Text(_))
}

/// What a button points at.
async fn load_for_button(read: &ReadStore, snap: &mut Snapshot, cb: &Cb) -> Result<(), ReadError> {
    match *cb {
        Cb::Device(_) | Cb::DeviceProto(..) => {
            snap.nodes = read.nodes().await?;
            snap.load = read.node_loads().await?;
        }
        Cb::DeviceCard(id) | Cb::Download(id) | Cb::Revoke(id) | Cb::RevokeYes(id) => {
            snap.device = read.device(&DeviceRef::Id(id)).await?;
        }
        Cb::User(id) | Cb::UserRevoke(id) => {
            snap.target_user = read.user(&UserRef::Id(id)).await?;
        }
        Cb::UserRevokeYes(id) => snap.target_devices = read.devices_of_user(id, false).await?,
        Cb::Approve(tg) | Cb::Deny(tg) => {
            snap.request = read.tg_access_request(tg).await?;
            snap.requester = read.user(&UserRef::TelegramId(tg)).await?;
            add_lang(read, snap, tg).await?;
            if let (Some(request), None) = (&snap.request, &snap.requester) {
                let candidates = name_candidates(username_of(request), tg);
                add_taken(read, snap, &candidates).await?;
            }
        }
        Cb::Node(id)
        | Cb::Reboot(id)
        | Cb::RebootYes(id, _)
        | Cb::RebootNo(id)
        | Cb::SpeedTest(id)
        | Cb::NodeChart(id, _)
        | Cb::NodeDrain(id)
        | Cb::NodeUndrain(id) => {
            snap.node = read.node(id).await?;
        }
        Cb::Broadcast => snap.broadcast_running = read.tg_active_broadcast().await?.is_some(),
        Cb::PlanCard(id) | Cb::PlanArchive(id) | Cb::PlanEdit(id) => {
            snap.plan = read.plan(id).await?
        }
        Cb::UserPlans(user) => snap.target_user = read.user(&UserRef::Id(user)).await?,
        Cb::BuyPlan(id) => snap.plan = read.plan(id).await?,
        Cb::AssignPlan(user, plan) => {
            snap.target_user = read.user(&UserRef::Id(user)).await?;
            snap.plan = read.plan(plan).await?;
        }
        _ => {}
    }
    Ok(())
}

/// Each node's latest load report this node holds (fetched every few seconds over the
/// node RPC; none for a node not heard from lately).
fn headroom(
    ctx: &Ctx,
    loads: &[vpnkeeper_store::NodeLoad],
) -> Vec<(
    vpnkeeper_domain::NodeId,
    vpnkeeper_domain::placement::NodeLoad,
)> {
    loads
        .iter()
        .filter_map(|l| {
            let r = ctx.cluster.node_load(l.id)?;
            Some((l.id, r.placement_load()))
        })
        .collect()
}

async fn add_lang(read: &ReadStore, snap: &mut Snapshot, chat: i64) -> Result<(), ReadError> {
    if let Some(lang) = stored_lang(read, chat).await? {
        snap.chat_langs.insert(chat, lang);
    }
    Ok(())
}

/// Marks candidates taken up to the first free one (the only ones `decide` looks at).
async fn add_taken(
    read: &ReadStore,
    snap: &mut Snapshot,
    candidates: &[String],
) -> Result<(), ReadError> {
    for c in candidates {
        if read.user(&UserRef::Name(c.clone())).await?.is_none() {
            break;
        }
        snap.taken_names.insert(c.clone());
    }
    Ok(())
}

//! The bot's screens, one module per family. Each family owns, for its buttons and screens:
//!
//! - what a press decides (`fn`s taking the [`Turn`](crate::decide::Turn)), plain code
//!   over the turn's snapshot;
//! - what its screens read ([`load`], async, the only store reads of rendering);
//! - how its screens look ([`render`], plain code over the loaded [`View`]).

use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};
use vpnkeeper_domain::telegram::AccessRequest;
use vpnkeeper_domain::{CommandError, Device, DeviceType, Node, NodeId, Protocol, User};
use vpnkeeper_store::ReadError;

use crate::callback::Cb;
use crate::outbox::{Outcomes, Screen};
use crate::texts::{html, num, s, t, tr, Lang};
use crate::{Access, Ctx};

pub(crate) mod access;
pub(crate) mod admin;
pub(crate) mod admin_users;
pub(crate) mod balance;
pub(crate) mod broadcast;
pub(crate) mod buy;
pub(crate) mod devices;
pub(crate) mod invite;
pub(crate) mod issue;
pub(crate) mod main_menu;
pub(crate) mod node_card;
pub(crate) mod nodes;
pub(crate) mod payments;
pub(crate) mod plan_draft;
pub(crate) mod plans;
pub(crate) mod promo;
pub(crate) mod referral;
pub(crate) mod stats;
pub(crate) mod support;

/// A Telegram message: HTML text and an optional inline keyboard.
pub(crate) type Rendered = (String, Option<InlineKeyboardMarkup>);

/// What a screen shows, read when its outbox row is performed (so it shows the state as it
/// is then). Fields a screen does not show stay empty.
#[derive(Debug, Clone, Default)]
pub(crate) struct View {
    /// The chat is an admin's.
    pub admin: bool,
    pub access: Access,
    /// `api.public_url`: subscription URLs are `<base>/sub/<token>`.
    pub subscription_base: String,
    /// The chat's user.
    pub user: Option<User>,
    /// Active devices: the chat user's, or the shown user's.
    pub devices: Vec<Device>,
    /// The device a screen is about.
    pub device: Option<Device>,
    /// The user a screen is about, and a page of users.
    pub target: Option<User>,
    pub users: Vec<User>,
    pub users_total: i64,
    /// Protocols the fleet offers.
    pub offered: Vec<Protocol>,
    /// Pending access requests: their number, and the page shown.
    pub pending_total: i64,
    pub requests: Vec<AccessRequest>,
    /// The access request a screen is about.
    pub request: Option<AccessRequest>,
    /// Nodes with their status as the leader sees it, the leader's id, and the active
    /// devices of the node a screen is about.
    pub nodes: Vec<(Node, nodes::NodeStatus)>,
    pub leader: NodeId,
    pub node_devices: i64,
    /// The broadcast draft and how many would receive it.
    pub draft: Option<String>,
    pub recipients: i64,
    /// Active plans (lists, choices), and the plan a screen is about.
    pub plans: Vec<vpnkeeper_store::plan_queries::Plan>,
    pub plan: Option<vpnkeeper_store::plan_queries::Plan>,
    /// The node card's current values (issue #14), or when the node was last seen when it
    /// does not answer.
    pub node_now: Option<vpnkeeper_domain::telemetry::Sample>,
    pub node_last_seen_ms: Option<i64>,
    /// The admin stats (issue #15 item 8).
    pub admin_stats: vpnkeeper_store::stats_queries::AdminStats,
    /// The plan draft of the chat (creating or editing a plan).
    pub plan_draft: Option<plan_draft::Draft>,
    /// The last speed test of the node a card is about, measured from this node.
    pub node_speed: Option<vpnkeeper_cluster::node_ops::SpeedResult>,
    /// An operator marked the node a card is about draining (no new devices).
    pub node_draining: bool,
    /// Payments (admin list, newest first) and the payment a screen is about.
    pub payments: Vec<vpnkeeper_store::payment_queries::Payment>,
    pub payment: Option<vpnkeeper_store::payment_queries::Payment>,
    /// Revenue for the stats screen.
    pub revenue: vpnkeeper_store::payment_queries::Revenue,
    /// The main menu offers the free trial.
    pub trial_offer: bool,
    /// The account screen: balance, referral standing, the bot's @username for the link.
    pub balance_stars: i64,
    pub referral: vpnkeeper_store::promo_queries::ReferralInfo,
    pub bot_username: Option<String>,
    /// Every promo code (admin list).
    pub promo_codes: Vec<vpnkeeper_store::promo_queries::PromoCodeRow>,
}

/// Reads what `screen` shows to `chat`.
pub(crate) async fn load(ctx: &Ctx, chat: i64, screen: &Screen) -> Result<View, ReadError> {
    let mut view = View {
        admin: ctx.is_admin(chat),
        access: ctx.settings.access,
        subscription_base: ctx.settings.subscription_base.clone(),
        ..View::default()
    };
    match screen {
        Screen::Main { .. } | Screen::Help => main_menu::load(ctx, chat, screen, &mut view).await?,
        Screen::Protocols { .. } | Screen::Issued { .. } => {
            issue::load(ctx, screen, &mut view).await?
        }
        Screen::Devices
        | Screen::Device { .. }
        | Screen::ConfirmRevoke { .. }
        | Screen::Revoked { .. } => devices::load(ctx, chat, screen, &mut view).await?,
        Screen::Admin => admin::load(ctx, screen, &mut view).await?,
        Screen::Stats => stats::load(ctx, &mut view).await?,
        Screen::Users { .. } | Screen::User { .. } | Screen::ConfirmUserRevoke { .. } => {
            admin_users::load(ctx, screen, &mut view).await?
        }
        Screen::Pending { .. } | Screen::AccessDecided { .. } => {
            access::load(ctx, screen, &mut view).await?
        }
        Screen::Nodes
        | Screen::Node { .. }
        | Screen::ConfirmReboot { .. }
        | Screen::RebootRequested { .. } => nodes::load(ctx, screen, &mut view).await?,
        Screen::BroadcastAsk | Screen::BroadcastPreview | Screen::BroadcastStarted => {
            broadcast::load(ctx, chat, screen, &mut view).await?
        }
        Screen::Support => {}
        Screen::Plans | Screen::PlanCard { .. } | Screen::UserPlans { .. } => {
            plans::load(ctx, screen, &mut view).await?
        }
        Screen::PlanDraft | Screen::PlanSaved { .. } => {
            plan_draft::load(ctx, chat, screen, &mut view).await?
        }
        Screen::Buy => buy::load(ctx, &mut view).await?,
        Screen::Payments { .. } | Screen::ConfirmRefund { .. } | Screen::RefundRequested { .. } => {
            payments::load(ctx, screen, &mut view).await?
        }
        Screen::Account => referral::load(ctx, chat, &mut view).await?,
        Screen::PromoCodes => view.promo_codes = ctx.read().promo_codes().await?,
    }
    Ok(view)
}

/// `screen` as a message, from what [`load`] read.
pub(crate) fn render(lang: Lang, screen: &Screen, view: &View, outcomes: Outcomes<'_>) -> Rendered {
    match screen {
        Screen::Main { name } => main_menu::main_screen(lang, name, view),
        Screen::Help => main_menu::help_screen(lang),
        Screen::Protocols { device_type } => issue::protocols(lang, *device_type, view),
        Screen::Issued {
            device_type,
            outcome,
            vless,
        } => issue::issued(lang, *device_type, *outcome, *vless, outcomes),
        Screen::Devices => devices::list_screen(lang, view),
        Screen::Device { .. } => devices::card_screen(lang, view, false),
        Screen::ConfirmRevoke { .. } => devices::card_screen(lang, view, true),
        Screen::Revoked { .. } => devices::revoked_screen(lang, view, outcomes),
        Screen::Admin => admin::menu_screen(lang, view),
        Screen::Stats => stats::stats_screen(lang, view),
        Screen::Users { page } => admin_users::list_screen(lang, *page, view),
        Screen::User { .. } => admin_users::card_screen(lang, view, false, outcomes),
        Screen::ConfirmUserRevoke { .. } => admin_users::card_screen(lang, view, true, outcomes),
        Screen::Pending { page } => access::pending_screen(lang, *page, view),
        Screen::AccessDecided {
            telegram_id,
            approved,
        } => access::decided_screen(lang, *telegram_id, *approved, view, outcomes),
        Screen::Nodes => nodes::list_screen(lang, view),
        Screen::Node { .. } | Screen::ConfirmReboot { .. } | Screen::RebootRequested { .. } => {
            nodes::node_screen(lang, screen, view, outcomes)
        }
        Screen::BroadcastAsk => broadcast::ask_screen(lang),
        Screen::BroadcastPreview => broadcast::preview_screen(lang, view),
        Screen::BroadcastStarted => broadcast::started_screen(lang, outcomes),
        Screen::Support => support::support_screen(lang),
        Screen::Plans => plans::list_screen(lang, view),
        Screen::PlanCard { .. } => plans::card_screen(lang, view, outcomes),
        Screen::UserPlans { .. } => plans::user_plans_screen(lang, view),
        Screen::PlanDraft => plan_draft::draft_screen(lang, view),
        Screen::PlanSaved { outcome } => plan_draft::saved_screen(lang, view, outcomes, *outcome),
        Screen::Buy => buy::buy_screen(lang, view),
        Screen::Payments { page } => payments::list_screen(lang, *page, view),
        Screen::ConfirmRefund { .. } => payments::confirm_screen(lang, view),
        Screen::RefundRequested { .. } => payments::requested_screen(lang, view, outcomes),
        Screen::Account => referral::account_screen(lang, view),
        Screen::PromoCodes => promo::list_screen(lang, view),
    }
}

pub(crate) fn btn(text: impl Into<String>, cb: Cb) -> InlineKeyboardButton {
    InlineKeyboardButton::callback(text.into(), cb.encode())
}

/// A keyboard of the non-empty rows.
pub(crate) fn kb(rows: Vec<Vec<InlineKeyboardButton>>) -> Option<InlineKeyboardMarkup> {
    Some(InlineKeyboardMarkup::new(
        rows.into_iter().filter(|r| !r.is_empty()),
    ))
}

pub(crate) fn back_menu(lang: Lang) -> Vec<InlineKeyboardButton> {
    vec![btn(t(lang, "btn-menu"), Cb::Main)]
}

pub(crate) fn back_admin(lang: Lang) -> Vec<InlineKeyboardButton> {
    vec![btn(t(lang, "btn-back"), Cb::Admin)]
}

/// "My devices" and "Menu", under the result of an action on a device.
pub(crate) fn devices_and_menu(lang: Lang) -> Option<InlineKeyboardMarkup> {
    kb(vec![vec![
        btn(t(lang, "btn-my-devices"), Cb::MyDevices),
        btn(t(lang, "btn-menu"), Cb::Main),
    ]])
}

/// Previous/next buttons of a paged list (`page` is already clamped).
pub(crate) fn nav(
    lang: Lang,
    page: i64,
    pages: i64,
    to: fn(i64) -> Cb,
) -> Vec<InlineKeyboardButton> {
    let mut nav = Vec::new();
    if page > 0 {
        nav.push(btn(t(lang, "btn-prev"), to(page - 1)));
    }
    if page + 1 < pages {
        nav.push(btn(t(lang, "btn-next"), to(page + 1)));
    }
    nav
}

/// The number of pages of `total` items (at least one) and `page` clamped into them.
pub(crate) fn paged(page: i64, total: i64, per_page: i64) -> (i64, i64) {
    let pages = ((total + per_page - 1) / per_page).max(1);
    (page.clamp(0, pages - 1), pages)
}

pub(crate) fn device_label(lang: Lang, t_: DeviceType) -> String {
    t(
        lang,
        match t_ {
            DeviceType::Phone => "device-phone",
            DeviceType::Laptop => "device-laptop",
            DeviceType::Router => "device-router",
        },
    )
}

pub(crate) fn protocol_label(lang: Lang, p: Protocol) -> String {
    t(
        lang,
        match p {
            Protocol::Awg => "proto-awg",
            Protocol::Wireguard => "proto-wireguard",
            Protocol::Vless => "proto-vless",
        },
    )
}

/// A refusal from apply in words for the person who caused it.
pub(crate) fn reason(lang: Lang, e: &CommandError) -> String {
    match e {
        CommandError::PoolExhausted { .. } => t(lang, "err-pool"),
        CommandError::Conflict {
            field: Some(field),
            message,
        } if field == "device_limit" => match device_limit_of(message) {
            Some(limit) => tr(lang, "err-device-limit", &[("limit", num(limit))]),
            None => html(message),
        },
        CommandError::Conflict { message, .. } if message.contains("disabled") => {
            t(lang, "err-disabled")
        }
        other => html(&other.to_string()),
    }
}

/// The limit in apply's device-limit refusal ("… the plan's limit of N; revoke one first").
fn device_limit_of(message: &str) -> Option<i64> {
    let rest = message.split("limit of ").nth(1)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// "Something went wrong: <reason>" for a refusal.
pub(crate) fn error_text(lang: Lang, e: &CommandError) -> String {
    tr(lang, "error-generic", &[("reason", s(reason(lang, e)))])
}

/// The first refusal among the update's commands, in words.
pub(crate) fn failed_text(lang: Lang, outcomes: Outcomes<'_>) -> Option<String> {
    outcomes.first_refusal().map(|e| error_text(lang, e))
}

#[cfg(test)]
mod tests;

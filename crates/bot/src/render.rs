//! Screens and notices as Telegram messages (HTML text plus inline keyboard), rendered from
//! the current state when an outbox row is performed.

use teloxide::types::{InlineKeyboardButton, InlineKeyboardMarkup};
use vpnkeeper_domain::command::UserRef;
use vpnkeeper_domain::telegram::MAX_BROADCAST_CHARS;
use vpnkeeper_domain::{Applied, ApplyOutcome, CommandError, DeviceRef, DeviceType, Protocol};
use vpnkeeper_store::{Page, ReadError};

use crate::callback::Cb;
use crate::outbox::{Notice, Screen};
use crate::texts::{html, num, s, t, tr, Lang};
use crate::Ctx;

pub(crate) type Rendered = (String, Option<InlineKeyboardMarkup>);

const USERS_PER_PAGE: i64 = 8;
const REQUESTS_PER_PAGE: i64 = 6;
/// The preview of a broadcast stays under Telegram's 4096 characters with its header.
const PREVIEW_CHARS: usize = 3500;
const _: () = assert!(PREVIEW_CHARS < MAX_BROADCAST_CHARS);

fn btn(text: impl Into<String>, cb: Cb) -> InlineKeyboardButton {
    InlineKeyboardButton::callback(text.into(), cb.encode())
}

fn kb(rows: Vec<Vec<InlineKeyboardButton>>) -> Option<InlineKeyboardMarkup> {
    Some(InlineKeyboardMarkup::new(
        rows.into_iter().filter(|r| !r.is_empty()),
    ))
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
        CommandError::Conflict { message, .. } if message.contains("disabled") => {
            t(lang, "err-disabled")
        }
        other => html(&other.to_string()),
    }
}

fn outcome(outcomes: &[ApplyOutcome], i: usize) -> Option<&ApplyOutcome> {
    outcomes.get(i)
}

fn failed_text(lang: Lang, outcomes: &[ApplyOutcome]) -> Option<String> {
    outcomes.iter().find_map(|o| match o {
        Err(e) => Some(tr(lang, "error-generic", &[("reason", s(reason(lang, e)))])),
        Ok(_) => None,
    })
}

fn date(ms: i64) -> String {
    // Days since the epoch to a civil date (UTC), without a date crate.
    let days = ms.div_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

pub(crate) async fn screen(
    ctx: &Ctx,
    chat: i64,
    lang: Lang,
    screen: &Screen,
    outcomes: &[ApplyOutcome],
) -> Result<Rendered, ReadError> {
    let read = ctx.read();
    let back_menu = || vec![btn(t(lang, "btn-menu"), Cb::Main)];
    let back_admin = || vec![btn(t(lang, "btn-back"), Cb::Admin)];
    Ok(match screen {
        Screen::Main { name } => {
            let mut text = tr(lang, "main", &[("name", s(html(name)))]);
            if let Some(u) = read.user(&UserRef::TelegramId(chat)).await? {
                let count = read.devices_of_user(u.id, false).await?.len() as i64;
                text.push_str("\n\n");
                text.push_str(&tr(lang, "main-devices", &[("count", num(count))]));
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
                vec![btn(t(lang, "btn-language"), Cb::SetLang(lang.other()))],
            ];
            if ctx.is_admin(chat) {
                rows.push(vec![btn(t(lang, "btn-admin"), Cb::Admin)]);
            }
            (text, kb(rows))
        }
        Screen::Help => (t(lang, "help"), kb(vec![back_menu()])),
        Screen::Protocols { device_type } => {
            let text = tr(
                lang,
                "protocol-choose",
                &[("device", s(device_label(lang, *device_type)))],
            );
            let mut rows: Vec<Vec<InlineKeyboardButton>> = crate::decide::offered_protocols(ctx)
                .await?
                .into_iter()
                .map(|p| {
                    vec![btn(
                        protocol_label(lang, p),
                        Cb::DeviceProto(*device_type, p),
                    )]
                })
                .collect();
            rows.push(back_menu());
            (text, kb(rows))
        }
        Screen::Issued {
            device_type,
            outcome: i,
            vless,
        } => {
            let device = s(device_label(lang, *device_type));
            let text = match outcome(outcomes, *i) {
                Some(Ok(_)) => tr(
                    lang,
                    if *vless { "issued-link" } else { "issued" },
                    &[("device", device)],
                ),
                Some(Err(e)) => tr(lang, "issue-failed", &[("reason", s(reason(lang, e)))]),
                None => failed_text(lang, outcomes).unwrap_or_else(|| t(lang, "outdated")),
            };
            (
                text,
                kb(vec![vec![
                    btn(t(lang, "btn-my-devices"), Cb::MyDevices),
                    btn(t(lang, "btn-menu"), Cb::Main),
                ]]),
            )
        }
        Screen::Devices => {
            let user = read.user(&UserRef::TelegramId(chat)).await?;
            let devices = match &user {
                Some(u) => read.devices_of_user(u.id, false).await?,
                None => Vec::new(),
            };
            let mut text = tr(
                lang,
                "devices-title",
                &[("count", num(devices.len() as i64))],
            );
            // One URL that client apps (v2rayNG, Hiddify, Streisand, Clash, sing-box) import
            // and refresh: every device of the user, current whatever changes later.
            if let (Some(u), false) = (&user, devices.is_empty()) {
                let url = format!(
                    "{}/sub/{}",
                    ctx.settings.subscription_base.trim_end_matches('/'),
                    u.sub_token
                );
                text.push_str("\n\n");
                text.push_str(&t(lang, "subscription-title"));
                text.push_str(&format!("\n<code>{}</code>", html(&url)));
            }
            let mut rows: Vec<Vec<InlineKeyboardButton>> = devices
                .iter()
                .take(50)
                .map(|d| {
                    vec![btn(
                        format!(
                            "{} · {}",
                            device_label(lang, d.device_type),
                            protocol_label(lang, d.protocol)
                        ),
                        Cb::DeviceCard(d.id),
                    )]
                })
                .collect();
            rows.push(back_menu());
            (text, kb(rows))
        }
        Screen::Device { id } | Screen::ConfirmRevoke { id } => {
            let device = read.device(&DeviceRef::Id(*id)).await?;
            let owner = read.user(&UserRef::TelegramId(chat)).await?;
            let Some(d) = device
                .filter(|d| d.is_active() && owner.as_ref().is_some_and(|u| u.id == d.user_id))
            else {
                return Ok((t(lang, "not-found"), kb(vec![back_menu()])));
            };
            let label = device_label(lang, d.device_type);
            if matches!(screen, Screen::ConfirmRevoke { .. }) {
                (
                    tr(lang, "revoke-confirm", &[("device", s(label))]),
                    kb(vec![vec![
                        btn(t(lang, "btn-yes-revoke"), Cb::RevokeYes(d.id)),
                        btn(t(lang, "btn-cancel"), Cb::DeviceCard(d.id)),
                    ]]),
                )
            } else {
                let address = d.address_v4.clone().unwrap_or_else(|| "—".to_string());
                (
                    tr(
                        lang,
                        "device-card",
                        &[
                            ("device", s(label)),
                            ("protocol", s(protocol_label(lang, d.protocol))),
                            ("created", s(date(d.created_at_ms))),
                            ("address", s(html(&address))),
                        ],
                    ),
                    kb(vec![
                        vec![
                            btn(t(lang, "btn-download"), Cb::Download(d.id)),
                            btn(t(lang, "btn-revoke"), Cb::Revoke(d.id)),
                        ],
                        vec![btn(t(lang, "btn-back"), Cb::MyDevices)],
                    ]),
                )
            }
        }
        Screen::Revoked { id } => {
            let text = match failed_text(lang, outcomes) {
                Some(f) => f,
                None => {
                    let label = read
                        .device(&DeviceRef::Id(*id))
                        .await?
                        .map(|d| device_label(lang, d.device_type))
                        .unwrap_or_default();
                    tr(lang, "revoked", &[("device", s(label))])
                }
            };
            (
                text,
                kb(vec![vec![
                    btn(t(lang, "btn-my-devices"), Cb::MyDevices),
                    btn(t(lang, "btn-menu"), Cb::Main),
                ]]),
            )
        }
        Screen::Admin => {
            let (_, pending) = read
                .tg_pending_requests(Page {
                    limit: 1,
                    offset: 0,
                })
                .await?;
            let mut rows = vec![
                vec![
                    btn(t(lang, "btn-stats"), Cb::Stats),
                    btn(t(lang, "btn-users"), Cb::Users(0)),
                ],
                vec![
                    btn(t(lang, "btn-nodes"), Cb::Nodes),
                    btn(t(lang, "btn-broadcast"), Cb::Broadcast),
                ],
            ];
            if pending > 0 || ctx.settings.access == crate::Access::Approval {
                rows.push(vec![btn(
                    tr(lang, "btn-pending", &[("count", num(pending))]),
                    Cb::Pending(0),
                )]);
            }
            rows.push(back_menu());
            (t(lang, "admin-title"), kb(rows))
        }
        Screen::Stats => {
            let since = crate::now_ms() - 24 * 3600 * 1000;
            let st = read.bot_stats(since).await?;
            (
                tr(
                    lang,
                    "stats",
                    &[
                        ("users", num(st.users)),
                        ("enabled", num(st.users_enabled)),
                        ("devices", num(st.devices_active)),
                        ("seen", num(st.devices_seen)),
                        ("rx", s(crate::texts::bytes(st.rx_bytes))),
                        ("tx", s(crate::texts::bytes(st.tx_bytes))),
                    ],
                ),
                kb(vec![back_admin()]),
            )
        }
        Screen::Users { page } => {
            let total = read.counts().await?.users;
            let pages = ((total + USERS_PER_PAGE - 1) / USERS_PER_PAGE).max(1);
            let page = (*page).clamp(0, pages - 1);
            let users = read
                .users(
                    Page {
                        limit: USERS_PER_PAGE,
                        offset: page * USERS_PER_PAGE,
                    },
                    None,
                )
                .await?;
            let text = if total == 0 {
                t(lang, "users-empty")
            } else {
                tr(
                    lang,
                    "users-title",
                    &[
                        ("total", num(total)),
                        ("page", num(page + 1)),
                        ("pages", num(pages)),
                    ],
                )
            };
            let mut rows: Vec<Vec<InlineKeyboardButton>> = users
                .iter()
                .map(|u| {
                    let mark = if u.enabled { "✅" } else { "🚫" };
                    vec![btn(format!("{mark} {}", u.name), Cb::User(u.id))]
                })
                .collect();
            let mut nav = Vec::new();
            if page > 0 {
                nav.push(btn(t(lang, "btn-prev"), Cb::Users(page - 1)));
            }
            if page + 1 < pages {
                nav.push(btn(t(lang, "btn-next"), Cb::Users(page + 1)));
            }
            rows.push(nav);
            rows.push(back_admin());
            (text, kb(rows))
        }
        Screen::User { id } | Screen::ConfirmUserRevoke { id } => {
            let Some(u) = read.user(&UserRef::Id(*id)).await? else {
                return Ok((t(lang, "outdated"), kb(vec![back_admin()])));
            };
            let devices = read.devices_of_user(u.id, false).await?.len() as i64;
            if matches!(screen, Screen::ConfirmUserRevoke { .. }) {
                return Ok((
                    tr(
                        lang,
                        "user-revoke-confirm",
                        &[("count", num(devices)), ("name", s(html(&u.name)))],
                    ),
                    kb(vec![vec![
                        btn(t(lang, "btn-yes-revoke"), Cb::UserRevokeYes(u.id)),
                        btn(t(lang, "btn-cancel"), Cb::User(u.id)),
                    ]]),
                ));
            }
            let mut text = tr(
                lang,
                "user-card",
                &[
                    ("name", s(html(&u.name))),
                    ("id", num(u.id)),
                    (
                        "tg",
                        s(u.telegram_id.map(|t| t.to_string()).unwrap_or("—".into())),
                    ),
                    (
                        "status",
                        s(t(
                            lang,
                            if u.enabled {
                                "user-enabled"
                            } else {
                                "user-disabled"
                            },
                        )),
                    ),
                    ("devices", num(devices)),
                ],
            );
            if let Some(f) = failed_text(lang, outcomes) {
                text = format!("{f}\n\n{text}");
            }
            let toggle = if u.enabled {
                btn(t(lang, "btn-disable"), Cb::UserDisable(u.id))
            } else {
                btn(t(lang, "btn-enable"), Cb::UserEnable(u.id))
            };
            let mut row = vec![toggle];
            if devices > 0 {
                row.push(btn(t(lang, "btn-revoke-all"), Cb::UserRevoke(u.id)));
            }
            (
                text,
                kb(vec![row, vec![btn(t(lang, "btn-back"), Cb::Users(0))]]),
            )
        }
        Screen::Pending { page } => {
            let (first, total) = read
                .tg_pending_requests(Page {
                    limit: 1,
                    offset: 0,
                })
                .await?;
            drop(first);
            let pages = ((total + REQUESTS_PER_PAGE - 1) / REQUESTS_PER_PAGE).max(1);
            let page = (*page).clamp(0, pages - 1);
            let (requests, _) = read
                .tg_pending_requests(Page {
                    limit: REQUESTS_PER_PAGE,
                    offset: page * REQUESTS_PER_PAGE,
                })
                .await?;
            let text = if total == 0 {
                t(lang, "pending-empty")
            } else {
                let mut text = tr(lang, "pending-title", &[("count", num(total))]);
                for r in &requests {
                    text.push_str(&format!("\n• {} (id {})", html(&r.display), r.telegram_id));
                }
                text
            };
            let mut rows: Vec<Vec<InlineKeyboardButton>> = requests
                .iter()
                .map(|r| {
                    let who: String = r.display.chars().take(24).collect();
                    vec![
                        btn(format!("✅ {who}"), Cb::Approve(r.telegram_id)),
                        btn("❌", Cb::Deny(r.telegram_id)),
                    ]
                })
                .collect();
            let mut nav = Vec::new();
            if page > 0 {
                nav.push(btn(t(lang, "btn-prev"), Cb::Pending(page - 1)));
            }
            if page + 1 < pages {
                nav.push(btn(t(lang, "btn-next"), Cb::Pending(page + 1)));
            }
            rows.push(nav);
            rows.push(back_admin());
            (text, kb(rows))
        }
        Screen::AccessDecided {
            telegram_id,
            approved,
        } => {
            let display = read
                .tg_access_request(*telegram_id)
                .await?
                .map(|r| r.display)
                .unwrap_or_default();
            let text = if outcomes.iter().any(|o| o.is_err()) {
                t(lang, "access-decided-already")
            } else {
                tr(
                    lang,
                    if *approved {
                        "access-approved-admin"
                    } else {
                        "access-denied-admin"
                    },
                    &[
                        ("who", s(html(&display))),
                        ("id", s(telegram_id.to_string())),
                    ],
                )
            };
            let (_, pending) = read
                .tg_pending_requests(Page {
                    limit: 1,
                    offset: 0,
                })
                .await?;
            (
                text,
                kb(vec![vec![btn(
                    tr(lang, "btn-pending", &[("count", num(pending))]),
                    Cb::Pending(0),
                )]]),
            )
        }
        Screen::Nodes => {
            let nodes = read.nodes().await?;
            let mut text = tr(lang, "nodes-title", &[("count", num(nodes.len() as i64))]);
            let mut rows = Vec::new();
            for n in &nodes {
                let status = node_status(ctx, n.id);
                let leader = if n.id == ctx.cluster.node_id() {
                    format!(" · {}", t(lang, "node-leader"))
                } else {
                    String::new()
                };
                text.push_str(&format!(
                    "\n{} <b>{}</b> ({}){}",
                    status.icon(),
                    html(&n.name),
                    html(&n.public_host),
                    leader
                ));
                rows.push(vec![btn(
                    format!("{} {}", status.icon(), n.name),
                    Cb::Node(n.id),
                )]);
            }
            rows.push(back_admin());
            (text, kb(rows))
        }
        Screen::Node { id } | Screen::ConfirmReboot { id } | Screen::RebootRequested { id } => {
            let Some(n) = read.node(*id).await? else {
                return Ok((t(lang, "outdated"), kb(vec![back_admin()])));
            };
            let back_nodes = vec![btn(t(lang, "btn-back"), Cb::Nodes)];
            match screen {
                Screen::ConfirmReboot { .. } => (
                    tr(lang, "reboot-confirm", &[("name", s(html(&n.name)))]),
                    kb(vec![vec![
                        btn(t(lang, "btn-yes-reboot"), Cb::RebootYes(n.id)),
                        btn(t(lang, "btn-cancel"), Cb::RebootNo(n.id)),
                    ]]),
                ),
                Screen::RebootRequested { .. } => (
                    failed_text(lang, outcomes).unwrap_or_else(|| {
                        tr(lang, "reboot-requested", &[("name", s(html(&n.name)))])
                    }),
                    kb(vec![back_nodes]),
                ),
                _ => {
                    let devices = read
                        .active_devices_per_node()
                        .await?
                        .into_iter()
                        .find(|(nid, _)| *nid == n.id)
                        .map(|(_, c)| c)
                        .unwrap_or(0);
                    let status = node_status(ctx, n.id);
                    (
                        tr(
                            lang,
                            "node-card",
                            &[
                                ("name", s(html(&n.name))),
                                ("id", s(n.id.to_string())),
                                ("host", s(html(&n.public_host))),
                                ("status", s(t(lang, status.key()))),
                                ("devices", num(devices)),
                            ],
                        ),
                        kb(vec![
                            vec![btn(t(lang, "btn-reboot"), Cb::Reboot(n.id))],
                            back_nodes,
                        ]),
                    )
                }
            }
        }
        Screen::BroadcastAsk => (
            t(lang, "broadcast-ask"),
            kb(vec![vec![btn(t(lang, "btn-cancel"), Cb::BroadcastCancel)]]),
        ),
        Screen::BroadcastPreview => {
            let draft = read
                .tg_chat(chat)
                .await?
                .and_then(|c| c.pending)
                .filter(|p| p.get("kind").and_then(|k| k.as_str()) == Some("broadcast_draft"))
                .and_then(|p| p.get("text").and_then(|t| t.as_str()).map(str::to_string));
            let Some(draft) = draft else {
                return Ok((t(lang, "outdated"), kb(vec![back_admin()])));
            };
            let count = read.tg_recipient_count().await?;
            let mut shown: String = draft.chars().take(PREVIEW_CHARS).collect();
            if draft.chars().count() > PREVIEW_CHARS {
                shown.push('…');
            }
            (
                format!(
                    "{}\n\n{}",
                    tr(lang, "broadcast-preview", &[("count", num(count))]),
                    html(&shown)
                ),
                kb(vec![vec![
                    btn(t(lang, "btn-send"), Cb::BroadcastSend),
                    btn(t(lang, "btn-cancel"), Cb::BroadcastCancel),
                ]]),
            )
        }
        Screen::BroadcastStarted => {
            let text = match outcomes.first() {
                Some(Ok(_)) | None => t(lang, "broadcast-started"),
                Some(Err(CommandError::Conflict { .. })) => t(lang, "broadcast-running"),
                Some(Err(e)) => tr(lang, "error-generic", &[("reason", s(reason(lang, e)))]),
            };
            (text, kb(vec![back_admin()]))
        }
    })
}

pub(crate) fn notice(lang: Lang, notice: &Notice, outcomes: &[ApplyOutcome]) -> Rendered {
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
        Notice::Failed { outcome: i } => match outcomes.get(*i) {
            Some(Err(e)) => (
                tr(lang, "error-generic", &[("reason", s(reason(lang, e)))]),
                None,
            ),
            _ => plain("user-done"),
        },
    }
}

/// A node's state as the leader sees it.
#[derive(Clone, Copy)]
pub(crate) enum NodeStatus {
    Online,
    Offline,
    Absent,
}

impl NodeStatus {
    fn icon(self) -> &'static str {
        match self {
            NodeStatus::Online => "🟢",
            NodeStatus::Offline => "🔴",
            NodeStatus::Absent => "⚪",
        }
    }
    fn key(self) -> &'static str {
        match self {
            NodeStatus::Online => "node-online",
            NodeStatus::Offline => "node-offline",
            NodeStatus::Absent => "node-absent",
        }
    }
}

/// Online when it is this node (the leader) or the leader's replication to it is close to
/// the end of the log; unreachable when it lags; absent when it is not a Raft member.
fn node_status(ctx: &Ctx, id: u64) -> NodeStatus {
    let m = ctx.cluster.metrics();
    if id == m.id {
        return NodeStatus::Online;
    }
    let member = m
        .membership_config
        .membership()
        .nodes()
        .any(|(nid, _)| *nid == id);
    if !member {
        return NodeStatus::Absent;
    }
    let last = m.last_log_index.unwrap_or(0);
    let matched = m
        .replication
        .as_ref()
        .and_then(|r| r.get(&id).cloned().flatten())
        .map(|l| l.index);
    match matched {
        Some(i) if last.saturating_sub(i) <= 100 => NodeStatus::Online,
        _ => NodeStatus::Offline,
    }
}

/// The device a config row refers to: by id, or the one returned by the update's command.
pub(crate) fn device_id(sel: crate::outbox::DeviceSel, outcomes: &[ApplyOutcome]) -> Option<i64> {
    match sel {
        crate::outbox::DeviceSel::Id(id) => Some(id),
        crate::outbox::DeviceSel::Outcome(i) => match outcomes.get(i) {
            Some(Ok(Applied::Device { id, .. })) => Some(*id),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(1_700_000_000_000), "2023-11-14");
        assert_eq!(date(951_782_400_000), "2000-02-29");
    }
}

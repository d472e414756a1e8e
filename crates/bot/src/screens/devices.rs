//! "My devices": the list with the subscription URL, a device's card, its config again,
//! and revoking it.

use vpnkeeper_domain::command::UserRef;
use vpnkeeper_domain::{Command, Device, DeviceRef};
use vpnkeeper_store::ReadError;

use super::{back_menu, btn, device_label, devices_and_menu, failed_text, kb, protocol_label};
use super::{Rendered, View};
use crate::callback::Cb;
use crate::decide::Turn;
use crate::outbox::{DeviceSel, Out, Outcomes, Screen};
use crate::texts::{html, num, s, t, tr, Lang};
use crate::Ctx;

// ---- decide ----

pub(crate) fn list(turn: &mut Turn<'_>) {
    turn.ok(Screen::Devices);
}

pub(crate) fn card(turn: &mut Turn<'_>, id: i64) {
    if owned(turn, id) {
        turn.ok(Screen::Device { id });
    }
}

/// The config file and QR code again.
pub(crate) fn download(turn: &mut Turn<'_>, id: i64) {
    if owned(turn, id) {
        let lang = turn.lang;
        turn.answer(None, false);
        turn.out(Out::ConfigFile {
            lang,
            device: DeviceSel::Id(id),
        });
        turn.out(Out::ConfigQr {
            lang,
            device: DeviceSel::Id(id),
        });
    }
}

pub(crate) fn revoke(turn: &mut Turn<'_>, id: i64) {
    if owned(turn, id) {
        turn.ok(Screen::ConfirmRevoke { id });
    }
}

pub(crate) fn revoke_yes(turn: &mut Turn<'_>, id: i64) {
    if owned(turn, id) {
        turn.plan.command(Command::RevokeDevice {
            device: DeviceRef::Id(id),
        });
        turn.ok(Screen::Revoked { id });
    }
}

/// The id comes from the client: it must be an active device of the presser. When it is
/// not, the press is answered as outdated and the list shown again.
fn owned(turn: &mut Turn<'_>, id: i64) -> bool {
    let snap = turn.snap;
    let owned = match (&snap.user, &snap.device) {
        (Some(u), Some(d)) => d.id == id && d.user_id == u.id && d.is_active(),
        _ => false,
    };
    if !owned {
        turn.outdated();
        turn.show(Screen::Devices);
    }
    owned
}

// ---- load ----

pub(super) async fn load(
    ctx: &Ctx,
    chat: i64,
    screen: &Screen,
    view: &mut View,
) -> Result<(), ReadError> {
    let read = ctx.read();
    match screen {
        Screen::Devices => {
            view.user = read.user(&UserRef::TelegramId(chat)).await?;
            if let Some(u) = &view.user {
                view.devices = read.devices_of_user(u.id, false).await?;
            }
        }
        Screen::Device { id } | Screen::ConfirmRevoke { id } => {
            view.device = read.device(&DeviceRef::Id(*id)).await?;
            view.user = read.user(&UserRef::TelegramId(chat)).await?;
        }
        Screen::Revoked { id } => view.device = read.device(&DeviceRef::Id(*id)).await?,
        _ => {}
    }
    Ok(())
}

// ---- render ----

/// The chat user's devices and their subscription URL.
pub(super) fn list_screen(lang: Lang, view: &View) -> Rendered {
    let devices = &view.devices;
    let mut text = tr(
        lang,
        "devices-title",
        &[("count", num(devices.len() as i64))],
    );
    // One URL that client apps (v2rayNG, Hiddify, Streisand, Clash, sing-box) import
    // and refresh: every device of the user, current whatever changes later.
    if let (Some(u), false) = (&view.user, devices.is_empty()) {
        let url = format!(
            "{}/sub/{}",
            view.subscription_base.trim_end_matches('/'),
            u.sub_token
        );
        text.push_str("\n\n");
        text.push_str(&t(lang, "subscription-title"));
        text.push_str(&format!("\n<code>{}</code>", html(&url)));
    }
    let mut rows: Vec<_> = devices
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
    rows.push(back_menu(lang));
    (text, kb(rows))
}

/// The shown device, when it is still an active device of the chat's user.
fn shown(view: &View) -> Option<&Device> {
    let owner = view.user.as_ref()?;
    view.device
        .as_ref()
        .filter(|d| d.is_active() && d.user_id == owner.id)
}

/// A device's card, or the question whether to revoke it (`confirm`).
pub(super) fn card_screen(lang: Lang, view: &View, confirm: bool) -> Rendered {
    let Some(d) = shown(view) else {
        return (t(lang, "not-found"), kb(vec![back_menu(lang)]));
    };
    let label = device_label(lang, d.device_type);
    if confirm {
        return (
            tr(lang, "revoke-confirm", &[("device", s(label))]),
            kb(vec![vec![
                btn(t(lang, "btn-yes-revoke"), Cb::RevokeYes(d.id)),
                btn(t(lang, "btn-cancel"), Cb::DeviceCard(d.id)),
            ]]),
        );
    }
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

pub(super) fn revoked_screen(lang: Lang, view: &View, outcomes: Outcomes<'_>) -> Rendered {
    let text = failed_text(lang, outcomes).unwrap_or_else(|| {
        let label = view
            .device
            .as_ref()
            .map(|d| device_label(lang, d.device_type))
            .unwrap_or_default();
        tr(lang, "revoked", &[("device", s(label))])
    });
    (text, devices_and_menu(lang))
}

fn date(ms: i64) -> String {
    // Days since the epoch to a civil date (UTC), without a date crate.
    let days = ms.div_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// "2026-12-04 13:05 UTC".
pub(crate) fn date_time(ms: i64) -> String {
    let minute = ms.div_euclid(60_000).rem_euclid(1440);
    format!("{} {:02}:{:02} UTC", date(ms), minute / 60, minute % 60)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(1_700_000_000_000), "2023-11-14");
        assert_eq!(date(951_782_400_000), "2000-02-29");
        assert_eq!(date_time(1_700_000_000_000), "2023-11-14 22:13 UTC");
    }
}

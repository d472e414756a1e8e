//! Inline-button payloads (`callback_data`): short, strictly parsed strings.
//!
//! Telegram caps callback data at 64 bytes and hands back whatever a client sends, so the
//! data of a button is untrusted input: anything that does not parse exactly is "outdated",
//! and every id in it is checked against the presser's rights before use.

use vpnkeeper_domain::reset::ResetStrategy;
use vpnkeeper_domain::{DeviceType, Protocol};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cb {
    Main,
    Help,
    Language,
    SetLang(crate::texts::Lang),
    /// A device type pressed in the main menu.
    Device(DeviceType),
    /// Device type and protocol, from the protocol choice.
    DeviceProto(DeviceType, Protocol),
    MyDevices,
    DeviceCard(i64),
    Download(i64),
    Revoke(i64),
    RevokeYes(i64),
    // admin
    Admin,
    Stats,
    Users(i64),
    User(i64),
    UserDisable(i64),
    UserEnable(i64),
    UserRevoke(i64),
    UserRevokeYes(i64),
    Pending(i64),
    Approve(i64),
    Deny(i64),
    Nodes,
    Node(u64),
    Reboot(u64),
    /// The confirmation, with the one-time nonce the confirm screen was shown with (empty
    /// when the data carried none: an old button or a hand-made one, which confirms nothing).
    RebootYes(u64, String),
    RebootNo(u64),
    Broadcast,
    BroadcastSend,
    BroadcastCancel,
    Support,
    TicketReply(i64),
    TicketClose(i64),
    // plans (issue #15)
    Plans,
    PlanCard(i64),
    PlanArchive(i64),
    /// The active plans to put a user on.
    UserPlans(i64),
    /// Assign (or extend) plan `.1` for user `.0`.
    AssignPlan(i64, i64),
    // creating and editing a plan (screens/plan_draft.rs)
    PlanNew,
    PlanEdit(i64),
    /// Ask a field of the draft again, from its check screen.
    PlanStep(crate::screens::plan_draft::Step),
    PlanDays(i64),
    /// A quota in GiB; 0 = unlimited.
    PlanQuota(i64),
    PlanReset(ResetStrategy),
    PlanResetDay(i64),
    PlanDevices(i64),
    PlanSave,
    PlanCancel,
    /// The renewal button under a reminder (issue #15). The payments issue makes it a
    /// purchase; for now it opens the user's devices.
    Renew,
    // node operations (issue #14)
    /// Run a speed test between the leader and the node.
    SpeedTest(u64),
    /// Node `.0`'s chart over range `.1` (issue #14), pressed on the chart photo.
    NodeChart(u64, vpnkeeper_domain::telemetry::Range),
    /// Mark node `.0` draining: it gets no new devices, its devices stay (issue #14 item 6).
    NodeDrain(u64),
    /// Node `.0` takes new devices again.
    NodeUndrain(u64),
    // payments (issue #16)
    /// The plans on sale, with their prices (also what `Renew` opens).
    Buy,
    /// Buy plan `.0`: an order and its invoice.
    BuyPlan(i64),
    /// Admin: payments, page `.0`.
    Payments(i64),
    /// Admin: refund payment `.0` (asks to confirm).
    Refund(i64),
    /// Admin: the confirmed refund of payment `.0`.
    RefundYes(i64),
    // balances, promo codes, trials and referrals (issue #16)
    /// The user's account: balance, referral link, promo and trial buttons.
    Account,
    /// How to enter a promo code.
    Promo,
    /// Take the free trial.
    Trial,
}

impl Cb {
    /// Buttons only admins may press.
    pub fn is_admin(&self) -> bool {
        matches!(
            self,
            Cb::Admin
                | Cb::Stats
                | Cb::Users(_)
                | Cb::User(_)
                | Cb::UserDisable(_)
                | Cb::UserEnable(_)
                | Cb::UserRevoke(_)
                | Cb::UserRevokeYes(_)
                | Cb::Pending(_)
                | Cb::Approve(_)
                | Cb::Deny(_)
                | Cb::Nodes
                | Cb::Node(_)
                | Cb::Reboot(_)
                | Cb::RebootYes(..)
                | Cb::RebootNo(_)
                | Cb::Broadcast
                | Cb::BroadcastSend
                | Cb::BroadcastCancel
                | Cb::TicketReply(_)
                | Cb::TicketClose(_)
                | Cb::Plans
                | Cb::PlanCard(_)
                | Cb::PlanArchive(_)
                | Cb::UserPlans(_)
                | Cb::AssignPlan(..)
                | Cb::PlanNew
                | Cb::PlanEdit(_)
                | Cb::PlanStep(_)
                | Cb::PlanDays(_)
                | Cb::PlanQuota(_)
                | Cb::PlanReset(_)
                | Cb::PlanResetDay(_)
                | Cb::PlanDevices(_)
                | Cb::PlanSave
                | Cb::PlanCancel
                | Cb::SpeedTest(_)
                | Cb::NodeChart(..)
                | Cb::NodeDrain(_)
                | Cb::NodeUndrain(_)
                | Cb::Payments(_)
                | Cb::Refund(_)
                | Cb::RefundYes(_)
        )
    }

    pub fn encode(&self) -> String {
        match self {
            Cb::Main => "m".into(),
            Cb::Help => "h".into(),
            Cb::Language => "lg".into(),
            Cb::SetLang(l) => format!("lg:{}", l.as_str()),
            Cb::Device(t) => format!("d:{}", t.as_str()),
            Cb::DeviceProto(t, p) => format!("dp:{}:{}", t.as_str(), p.as_str()),
            Cb::MyDevices => "ls".into(),
            Cb::DeviceCard(id) => format!("dv:{id}"),
            Cb::Download(id) => format!("dl:{id}"),
            Cb::Revoke(id) => format!("rv:{id}"),
            Cb::RevokeYes(id) => format!("rvy:{id}"),
            Cb::Admin => "a".into(),
            Cb::Stats => "as".into(),
            Cb::Users(p) => format!("au:{p}"),
            Cb::User(id) => format!("ad:{id}"),
            Cb::UserDisable(id) => format!("ax:{id}"),
            Cb::UserEnable(id) => format!("ae:{id}"),
            Cb::UserRevoke(id) => format!("ar:{id}"),
            Cb::UserRevokeYes(id) => format!("ary:{id}"),
            Cb::Pending(p) => format!("ap:{p}"),
            Cb::Approve(tg) => format!("aa:{tg}"),
            Cb::Deny(tg) => format!("an:{tg}"),
            Cb::Nodes => "ao".into(),
            Cb::Node(id) => format!("ok:{id}"),
            Cb::Reboot(id) => format!("rb:{id}"),
            Cb::RebootYes(id, nonce) if nonce.is_empty() => format!("rby:{id}"),
            Cb::RebootYes(id, nonce) => format!("rby:{id}:{nonce}"),
            Cb::RebootNo(id) => format!("rbn:{id}"),
            Cb::Broadcast => "bc".into(),
            Cb::BroadcastSend => "bcy".into(),
            Cb::BroadcastCancel => "bcn".into(),
            Cb::Support => "sp".into(),
            Cb::TicketReply(id) => format!("tr:{id}"),
            Cb::TicketClose(id) => format!("tx:{id}"),
            Cb::Plans => "pl".into(),
            Cb::PlanCard(id) => format!("pc:{id}"),
            Cb::PlanArchive(id) => format!("px:{id}"),
            Cb::UserPlans(id) => format!("up:{id}"),
            Cb::AssignPlan(user, plan) => format!("ua:{user}:{plan}"),
            Cb::PlanNew => "pn".into(),
            Cb::PlanEdit(id) => format!("pe:{id}"),
            Cb::PlanStep(step) => format!("pds:{}", step.as_str()),
            Cb::PlanDays(d) => format!("pdd:{d}"),
            Cb::PlanQuota(g) => format!("pdq:{g}"),
            Cb::PlanReset(r) => format!("pdr:{}", r.as_str()),
            Cb::PlanResetDay(d) => format!("pdrd:{d}"),
            Cb::PlanDevices(n) => format!("pdv:{n}"),
            Cb::PlanSave => "pdy".into(),
            Cb::PlanCancel => "pdn".into(),
            Cb::Renew => "rn".into(),
            Cb::SpeedTest(id) => format!("st:{id}"),
            Cb::NodeChart(id, range) => format!("nc:{id}:{}", range.hours()),
            Cb::NodeDrain(id) => format!("ndr:{id}"),
            Cb::NodeUndrain(id) => format!("nud:{id}"),
            Cb::Buy => "by".into(),
            Cb::BuyPlan(id) => format!("bp:{id}"),
            Cb::Payments(p) => format!("py:{p}"),
            Cb::Refund(id) => format!("rf:{id}"),
            Cb::RefundYes(id) => format!("rfy:{id}"),
            Cb::Account => "acct".into(),
            Cb::Promo => "promo".into(),
            Cb::Trial => "trial".into(),
        }
    }

    /// Parses callback data; `None` for anything we did not produce.
    pub fn parse(data: &str) -> Option<Cb> {
        if data.len() > 64 {
            return None;
        }
        let mut parts = data.split(':');
        let head = parts.next()?;
        let arg = parts.next();
        let arg2 = parts.next();
        if parts.next().is_some() {
            return None;
        }
        let id = || -> Option<i64> {
            let a = arg?;
            // Digits only: no signs, spaces or leading `+` sneaking through `parse`.
            if a.is_empty() || a.len() > 19 || !a.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            a.parse().ok().filter(|v: &i64| *v >= 0)
        };
        let node = || id().map(|v| v as u64);
        let id2 = || digits(arg2?);
        let none = arg.is_none();
        let cb = match head {
            "m" if none => Cb::Main,
            "h" if none => Cb::Help,
            "lg" if none => Cb::Language,
            "lg" => Cb::SetLang(crate::texts::Lang::parse(arg?)?),
            "d" => Cb::Device(device_type(arg?)?),
            "dp" => Cb::DeviceProto(device_type(arg?)?, protocol(arg2?)?),
            "ls" if none => Cb::MyDevices,
            "dv" => Cb::DeviceCard(id()?),
            "dl" => Cb::Download(id()?),
            "rv" => Cb::Revoke(id()?),
            "rvy" => Cb::RevokeYes(id()?),
            "a" if none => Cb::Admin,
            "as" if none => Cb::Stats,
            "au" => Cb::Users(id()?),
            "ad" => Cb::User(id()?),
            "ax" => Cb::UserDisable(id()?),
            "ae" => Cb::UserEnable(id()?),
            "ar" => Cb::UserRevoke(id()?),
            "ary" => Cb::UserRevokeYes(id()?),
            "ap" => Cb::Pending(id()?),
            "aa" => Cb::Approve(id()?),
            "an" => Cb::Deny(id()?),
            "ao" if none => Cb::Nodes,
            "ok" => Cb::Node(node()?),
            "rb" => Cb::Reboot(node()?),
            "rby" => Cb::RebootYes(node()?, nonce(arg2)?),
            "rbn" => Cb::RebootNo(node()?),
            "bc" if none => Cb::Broadcast,
            "bcy" if none => Cb::BroadcastSend,
            "bcn" if none => Cb::BroadcastCancel,
            "sp" if none => Cb::Support,
            "tr" => Cb::TicketReply(id()?),
            "tx" => Cb::TicketClose(id()?),
            "pl" if none => Cb::Plans,
            "pc" => Cb::PlanCard(id()?),
            "px" => Cb::PlanArchive(id()?),
            "up" => Cb::UserPlans(id()?),
            "ua" => Cb::AssignPlan(id()?, id2()?),
            "pn" if none => Cb::PlanNew,
            "pe" => Cb::PlanEdit(id()?),
            "pds" => Cb::PlanStep(crate::screens::plan_draft::Step::parse(arg?)?),
            "pdd" => Cb::PlanDays(id()?),
            "pdq" => Cb::PlanQuota(id()?),
            "pdr" => Cb::PlanReset(ResetStrategy::parse(arg?)?),
            "pdrd" => Cb::PlanResetDay(id()?),
            "pdv" => Cb::PlanDevices(id()?),
            "pdy" if none => Cb::PlanSave,
            "pdn" if none => Cb::PlanCancel,
            "rn" if none => Cb::Renew,
            "st" => Cb::SpeedTest(node()?),
            "nc" => Cb::NodeChart(
                node()?,
                vpnkeeper_domain::telemetry::Range::from_hours(id2()?)?,
            ),
            "ndr" => Cb::NodeDrain(node()?),
            "nud" => Cb::NodeUndrain(node()?),
            "by" if none => Cb::Buy,
            "bp" => Cb::BuyPlan(id()?),
            "py" => Cb::Payments(id()?),
            "rf" => Cb::Refund(id()?),
            "rfy" => Cb::RefundYes(id()?),
            "acct" if none => Cb::Account,
            "promo" if none => Cb::Promo,
            "trial" if none => Cb::Trial,
            _ => return None,
        };
        // Arguments a variant does not take make the data foreign.
        let takes_two = matches!(
            cb,
            Cb::DeviceProto(..) | Cb::AssignPlan(..) | Cb::RebootYes(..) | Cb::NodeChart(..)
        );
        if arg2.is_some() && !takes_two {
            return None;
        }
        Some(cb)
    }
}

/// Longest reboot nonce accepted (the bot makes 22 characters).
const NONCE_MAX: usize = 32;

/// A reboot confirmation's nonce: absent (empty), or URL-safe base64 characters.
fn nonce(a: Option<&str>) -> Option<String> {
    let Some(a) = a else {
        return Some(String::new());
    };
    let ok = !a.is_empty()
        && a.len() <= NONCE_MAX
        && a.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then(|| a.to_string())
}

/// A non-negative id: digits only (no signs, spaces or a leading `+`).
fn digits(a: &str) -> Option<i64> {
    if a.is_empty() || a.len() > 19 || !a.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    a.parse().ok()
}

fn device_type(s: &str) -> Option<DeviceType> {
    match s {
        "phone" => Some(DeviceType::Phone),
        "laptop" => Some(DeviceType::Laptop),
        "router" => Some(DeviceType::Router),
        _ => None,
    }
}

fn protocol(s: &str) -> Option<Protocol> {
    match s {
        "awg" => Some(Protocol::Awg),
        "wireguard" => Some(Protocol::Wireguard),
        "vless" => Some(Protocol::Vless),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::texts::Lang;

    #[test]
    fn round_trip_and_size() {
        let all = [
            Cb::Main,
            Cb::Help,
            Cb::Language,
            Cb::SetLang(Lang::Ru),
            Cb::Device(DeviceType::Router),
            Cb::DeviceProto(DeviceType::Laptop, Protocol::Wireguard),
            Cb::MyDevices,
            Cb::DeviceCard(i64::MAX),
            Cb::Download(1),
            Cb::Revoke(2),
            Cb::RevokeYes(3),
            Cb::Admin,
            Cb::Stats,
            Cb::Users(0),
            Cb::User(5),
            Cb::UserDisable(5),
            Cb::UserEnable(5),
            Cb::UserRevoke(5),
            Cb::UserRevokeYes(5),
            Cb::Pending(1),
            Cb::Approve(9_000_000_000),
            Cb::Deny(7),
            Cb::Nodes,
            Cb::Node(3),
            Cb::Reboot(3),
            Cb::RebootYes(3, String::new()),
            Cb::RebootYes(u64::MAX >> 1, "A".repeat(NONCE_MAX)),
            Cb::RebootNo(3),
            Cb::Broadcast,
            Cb::BroadcastSend,
            Cb::BroadcastCancel,
            Cb::Support,
            Cb::TicketReply(4),
            Cb::TicketClose(4),
            Cb::Plans,
            Cb::PlanCard(4),
            Cb::PlanArchive(4),
            Cb::UserPlans(5),
            Cb::AssignPlan(i64::MAX, i64::MAX),
            Cb::PlanNew,
            Cb::PlanEdit(4),
            Cb::PlanStep(crate::screens::plan_draft::Step::ResetDay),
            Cb::PlanDays(36_500),
            Cb::PlanQuota(500),
            Cb::PlanReset(ResetStrategy::MonthRolling),
            Cb::PlanReset(ResetStrategy::DayOfMonth),
            Cb::PlanResetDay(31),
            Cb::PlanDevices(0),
            Cb::PlanSave,
            Cb::PlanCancel,
            Cb::Renew,
            Cb::SpeedTest(7),
            Cb::NodeChart(3, vpnkeeper_domain::telemetry::Range::Hour),
            Cb::NodeChart(u64::MAX >> 1, vpnkeeper_domain::telemetry::Range::Day),
            Cb::NodeDrain(2),
            Cb::NodeUndrain(u64::MAX >> 1),
            Cb::Account,
            Cb::Promo,
            Cb::Trial,
        ];
        for cb in all {
            let data = cb.encode();
            assert!(data.len() <= 64, "{data}");
            assert_eq!(Cb::parse(&data), Some(cb.clone()), "{data}");
        }
    }

    #[test]
    fn forged_data_is_refused() {
        for bad in [
            "",
            "x",
            "m:1",
            "dv:",
            "dv:-1",
            "dv:+1",
            "dv: 1",
            "dv:1:2",
            "dv:99999999999999999999",
            "d:tablet",
            "dp:phone",
            "dp:phone:ipsec",
            "lg:de",
            "a:1",
            "rby:abc",
            "rby:1:",
            "rby:1:a b",
            "rby:1:a+b",
            "rby:1:x:y",
            "st:",
            "st:1:2",
            "pl:1",
            "ua:1",
            "ua:1:",
            "ua:1:-2",
            "ua:1:2:3",
            "pc:1:2",
            "pn:1",
            "pdr:fortnight",
            "pds:price",
            "pdd:-1",
            "pdy:1",
            "rn:1",
            "nc:1",
            "nc:1:2",
            "nc:1:6:7",
            "nc:x:6",
            "ndr",
            "ndr:1:2",
            "nud:-1",
            &"m".repeat(65),
        ] {
            assert_eq!(Cb::parse(bad), None, "{bad:?}");
        }
    }
}

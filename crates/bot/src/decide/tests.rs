//! `decide` per screen family and per button, on hand-made snapshots and deterministic
//! randomness: no runtime, no store. Each test asserts the exact commands and replies.

use rand::rngs::StdRng;
use rand::SeedableRng;
use teloxide::types::{User as TgUser, UserId};
use uuid::Uuid;
use vpnkeeper_domain::awg::{AwgParams, AwgVersion};
use vpnkeeper_domain::command::{UserRef, WgMaterial};
use vpnkeeper_domain::keys::wg_material;
use vpnkeeper_domain::secrets::Sealer;
use vpnkeeper_domain::telegram::{
    AccessRequest, AccessStatus, ChatChange, OutboxItem, TelegramChat, MAX_BROADCAST_CHARS,
    MAX_UPDATE_COMMANDS,
};
use vpnkeeper_domain::{
    Command, Device, DeviceRef, DeviceType, Node, NodeWireguard, NodeXray, Protocol, User,
};

use super::{decide, Plan};
use crate::callback::Cb;
use crate::entropy::Entropy;
use crate::outbox::{CommandRef, DeviceSel, Notice, Out, Screen};
use crate::snapshot::{Policy, Snapshot};
use crate::texts::Lang;
use crate::update::{Incoming, Kind};
use crate::Access;

const ME: i64 = 2002;
const ADMIN: i64 = 1001;
const OTHER_ADMIN: i64 = 1002;
const APPLICANT: i64 = 3003;
/// The message whose button is pressed.
const MSG: i64 = 77;
const MY_USER: i64 = 5;

// ---- deterministic randomness ----

/// Counts: the n-th uuid is `n`, the n-th token `token-n`, keys from a seeded generator.
#[derive(Default)]
struct Counting {
    n: u64,
}

impl Counting {
    fn next(&mut self) -> u64 {
        self.n += 1;
        self.n
    }
}

fn sealer() -> Sealer {
    Sealer::new(&[7; 32])
}

fn material(n: u64) -> WgMaterial {
    wg_material(&mut StdRng::seed_from_u64(n), &sealer())
}

impl Entropy for Counting {
    fn uuid(&mut self) -> Uuid {
        Uuid::from_u128(self.next() as u128)
    }
    fn sub_token(&mut self) -> String {
        format!("token-{}", self.next())
    }
    fn wg_material(&mut self) -> WgMaterial {
        material(self.next())
    }
    fn nonce(&mut self) -> String {
        format!("nonce-{}", self.next())
    }
}

// ---- people, state ----

fn person(id: i64, first: &str, username: Option<&str>, code: &str) -> TgUser {
    TgUser {
        id: UserId(id as u64),
        is_bot: false,
        first_name: first.into(),
        last_name: None,
        username: username.map(str::to_string),
        language_code: Some(code.into()),
        is_premium: false,
        added_to_attachment_menu: false,
    }
}

fn alice() -> TgUser {
    person(ME, "Alice", Some("alice"), "en")
}

fn root() -> TgUser {
    person(ADMIN, "Root", Some("root"), "en")
}

fn user(id: i64, name: &str, tg: i64, enabled: bool) -> User {
    User {
        id,
        name: name.into(),
        telegram_id: Some(tg),
        enabled,
        sub_token: format!("sub-{id}"),
        created_at_ms: 0,
        updated_at_ms: 0,
    }
}

fn device(id: i64, user_id: i64) -> Device {
    Device {
        id,
        uuid: Uuid::from_u128(1000 + id as u128),
        user_id,
        node_id: 1,
        name: "phone".into(),
        device_type: DeviceType::Phone,
        protocol: Protocol::Awg,
        wg_public_key: None,
        wg_private_key: None,
        wg_psk: None,
        address_v4: Some("10.8.0.2/32".into()),
        created_at_ms: 0,
        revoked_at_ms: None,
        last_handshake_ms: None,
        rx_bytes: 0,
        tx_bytes: 0,
    }
}

/// A node serving AmneziaWG (`awg`), plain WireGuard, and/or VLESS.
fn node(id: u64, wg: Option<bool>, vless: bool) -> Node {
    let wireguard = wg.map(|awg| NodeWireguard {
        listen_port: 51820,
        address_pool: "10.8.0.0/24".parse().unwrap(),
        public_key: "pk".into(),
        private_key: None,
        awg: awg.then(|| AwgParams::generate(&mut StdRng::seed_from_u64(1), AwgVersion::V1)),
        dns: Vec::new(),
        mtu: None,
    });
    let xray = vless.then(|| {
        serde_json::to_value(NodeXray {
            port: 443,
            reality_public_key: "rpk".into(),
            reality_private_key: None,
            short_ids: vec!["ab".into()],
            server_names: vec!["example.com".into()],
            dest: "example.com:443".into(),
            fingerprint: "chrome".into(),
        })
        .unwrap()
    });
    Node {
        id,
        name: format!("n{id}"),
        raft_addr: String::new(),
        api_addr: String::new(),
        public_host: format!("n{id}.example"),
        wireguard,
        xray,
        created_at_ms: 0,
        updated_at_ms: 0,
    }
}

fn request(tg: i64, display: &str, status: AccessStatus) -> AccessRequest {
    AccessRequest {
        telegram_id: tg,
        display: display.into(),
        status,
        requested_at_ms: 0,
        decided_at_ms: None,
        decided_by: None,
    }
}

fn chat(tg: i64, lang: Option<&str>, pending: Option<serde_json::Value>) -> TelegramChat {
    TelegramChat {
        telegram_id: tg,
        lang: lang.map(str::to_string),
        main_message_id: None,
        pending,
    }
}

/// Alice, an enabled user on the allowlist.
fn member() -> Snapshot {
    Snapshot {
        policy: Policy {
            admin: false,
            access: Access::Allowlist,
            allowlisted: true,
            admin_ids: vec![ADMIN, OTHER_ADMIN],
        },
        user: Some(user(MY_USER, "alice", ME, true)),
        ..Snapshot::default()
    }
}

/// Root, an admin with a user row.
fn admin() -> Snapshot {
    Snapshot {
        policy: Policy {
            admin: true,
            access: Access::Approval,
            allowlisted: false,
            admin_ids: vec![ADMIN, OTHER_ADMIN],
        },
        user: Some(user(9, "root", ADMIN, true)),
        ..Snapshot::default()
    }
}

// ---- turns ----

fn run(from: &TgUser, kind: Kind<'_>, snap: &Snapshot) -> Plan {
    let inc = Incoming {
        from,
        chat_id: from.id.0 as i64,
        kind,
    };
    decide(&inc, snap, &mut Counting::default())
}

fn press_as(from: &TgUser, snap: &Snapshot, data: &str) -> Plan {
    let kind = Kind::Callback {
        id: "q1",
        data: Some(data),
        message_id: Some(MSG),
    };
    run(from, kind, snap)
}

/// Alice presses the button with callback data `cb`.
fn press(snap: &Snapshot, cb: Cb) -> Plan {
    press_as(&alice(), snap, &cb.encode())
}

/// Root presses `cb`.
fn admin_press(snap: &Snapshot, cb: Cb) -> Plan {
    press_as(&root(), snap, &cb.encode())
}

fn say_as(from: &TgUser, snap: &Snapshot, text: &str) -> Plan {
    run(from, Kind::Text(text), snap)
}

// ---- expected replies ----

fn answer_to(chat: i64, lang: Lang, notice: Option<Notice>, alert: bool) -> OutboxItem {
    Out::Answer {
        callback_id: "q1".into(),
        lang,
        notice,
        alert,
    }
    .to(chat)
}

/// Alice's press answered without a toast.
fn ack() -> OutboxItem {
    answer_to(ME, Lang::En, None, false)
}

fn ack_admin() -> OutboxItem {
    answer_to(ADMIN, Lang::En, None, false)
}

fn alert(chat: i64, notice: Notice) -> OutboxItem {
    answer_to(chat, Lang::En, Some(notice), true)
}

fn toast(chat: i64, notice: Notice) -> OutboxItem {
    answer_to(chat, Lang::En, Some(notice), false)
}

/// A screen edited into the pressed message.
fn edit(chat: i64, screen: Screen) -> OutboxItem {
    Out::Screen {
        lang: Lang::En,
        screen,
        edit: Some(MSG),
    }
    .to(chat)
}

/// A screen sent as a new main message (after typed text).
fn fresh(chat: i64, screen: Screen) -> OutboxItem {
    Out::Screen {
        lang: Lang::En,
        screen,
        edit: None,
    }
    .to(chat)
}

fn notice_to(chat: i64, lang: Lang, notice: Notice) -> OutboxItem {
    Out::Notice { lang, notice }.to(chat)
}

fn main_screen(name: &str) -> Screen {
    Screen::Main { name: name.into() }
}

fn pending_cleared(tg: i64) -> Command {
    Command::TelegramChat {
        telegram_id: tg,
        change: ChatChange {
            lang: None,
            pending: Some(None),
        },
    }
}

fn lang_set(tg: i64, lang: &str) -> Command {
    Command::TelegramChat {
        telegram_id: tg,
        change: ChatChange {
            lang: Some(lang.into()),
            pending: None,
        },
    }
}

fn plan(commands: Vec<Command>, outbox: Vec<OutboxItem>) -> Plan {
    Plan { commands, outbox }
}

mod admin_screens;
mod member_screens;
mod node_charts;
mod payments;
mod plan_draft;
mod plan_screens;
mod promo_screens;
mod standing;
mod support;

//! What the API shows: JSON views of the domain rows, with their OpenAPI schemas.
//!
//! Views are separate from the domain types on purpose: sealed secrets are left out by
//! construction (not by remembering to blank them), and the published schema changes only
//! when these structs do.

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use vpnkeeper_domain::{ApiKey, ApiScope, AuditEntry, Device, DeviceType, Node, Protocol};
use vpnkeeper_store::queries::UserAccount;

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeviceTypeView {
    Phone,
    Laptop,
    Router,
}

impl From<DeviceType> for DeviceTypeView {
    fn from(t: DeviceType) -> Self {
        match t {
            DeviceType::Phone => DeviceTypeView::Phone,
            DeviceType::Laptop => DeviceTypeView::Laptop,
            DeviceType::Router => DeviceTypeView::Router,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProtocolView {
    Awg,
    Wireguard,
    Vless,
}

impl From<Protocol> for ProtocolView {
    fn from(p: Protocol) -> Self {
        match p {
            Protocol::Awg => ProtocolView::Awg,
            Protocol::Wireguard => ProtocolView::Wireguard,
            Protocol::Vless => ProtocolView::Vless,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScopeView {
    Admin,
    ReadOnly,
}

impl From<ApiScope> for ScopeView {
    fn from(s: ApiScope) -> Self {
        match s {
            ApiScope::Admin => ScopeView::Admin,
            ApiScope::ReadOnly => ScopeView::ReadOnly,
        }
    }
}

/// A user and their account figures.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserView {
    pub id: i64,
    pub name: String,
    pub telegram_id: Option<i64>,
    /// Set by enable/disable.
    pub enabled: bool,
    /// Enabled, not expired and within the traffic quota: what the data planes and the
    /// subscription serve.
    pub active: bool,
    /// `active`, `disabled`, `limited` (quota reached), `expired` or `on_hold` (waits for the
    /// first connection to start the clock).
    pub status: String,
    /// Bytes used in the current reset period (what the quota counts).
    pub used_bytes: i64,
    /// The plan the user is on, if any.
    pub plan_id: Option<i64>,
    /// Unix ms after which access stops; null = never.
    pub expires_at_ms: Option<i64>,
    /// Quota of upload + download in bytes; null = unlimited.
    pub traffic_limit_bytes: Option<i64>,
    /// Bytes the user's devices sent, over every device ever issued.
    pub upload_bytes: i64,
    /// Bytes the user's devices received.
    pub download_bytes: i64,
    pub devices_active: i64,
    /// The URL client apps import (v2rayNG, Hiddify, Streisand, sing-box, Clash/Mihomo).
    /// It grants access, so it is shown to admin keys only (null for read-only keys).
    pub subscription_url: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl UserView {
    pub fn new(a: UserAccount, now_ms: i64, sub_base: Option<&str>) -> UserView {
        let active = a.is_active_at(now_ms);
        UserView {
            subscription_url: sub_base.map(|b| format!("{b}/sub/{}", a.user.sub_token)),
            id: a.user.id,
            name: a.user.name,
            telegram_id: a.user.telegram_id,
            enabled: a.user.enabled,
            active,
            status: a.status,
            used_bytes: a.used_bytes,
            plan_id: a.plan_id,
            expires_at_ms: a.expires_at_ms,
            traffic_limit_bytes: a.traffic_limit_bytes,
            upload_bytes: a.upload_bytes,
            download_bytes: a.download_bytes,
            devices_active: a.devices_active,
            created_at_ms: a.user.created_at_ms,
            updated_at_ms: a.user.updated_at_ms,
        }
    }
}

/// A device (a config or link of one user on one node). Keys stay out of this view.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeviceView {
    pub id: i64,
    pub uuid: Uuid,
    pub user_id: i64,
    pub node_id: u64,
    pub name: String,
    pub device_type: DeviceTypeView,
    pub protocol: ProtocolView,
    /// WireGuard public key (awg/wireguard devices).
    pub wg_public_key: Option<String>,
    /// Tunnel address with prefix, e.g. `10.8.0.2/32`.
    pub address_v4: Option<String>,
    /// Not revoked.
    pub active: bool,
    pub created_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
    pub last_handshake_ms: Option<i64>,
    /// Bytes received from the device.
    pub rx_bytes: i64,
    /// Bytes sent to the device.
    pub tx_bytes: i64,
}

impl From<Device> for DeviceView {
    fn from(d: Device) -> Self {
        DeviceView {
            active: d.is_active(),
            id: d.id,
            uuid: d.uuid,
            user_id: d.user_id,
            node_id: d.node_id,
            name: d.name,
            device_type: d.device_type.into(),
            protocol: d.protocol.into(),
            wg_public_key: d.wg_public_key,
            address_v4: d.address_v4,
            created_at_ms: d.created_at_ms,
            revoked_at_ms: d.revoked_at_ms,
            last_handshake_ms: d.last_handshake_ms,
            rx_bytes: d.rx_bytes,
            tx_bytes: d.tx_bytes,
        }
    }
}

/// A node's WireGuard-family interface as clients see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NodeWireguardView {
    pub listen_port: u16,
    /// e.g. `10.8.0.0/24`.
    pub address_pool: String,
    pub public_key: String,
    /// AmneziaWG obfuscation parameters (Jc, Jmin, Jmax, S1–S4, H1–H4, I1–I5); null =
    /// plain WireGuard only.
    #[schema(value_type = Option<Object>)]
    pub awg: Option<serde_json::Value>,
    pub dns: Vec<String>,
    pub mtu: Option<u16>,
}

/// A node of the cluster as the replicated state knows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NodeView {
    pub id: u64,
    pub name: String,
    pub raft_addr: String,
    pub api_addr: String,
    pub public_host: String,
    pub wireguard: Option<NodeWireguardView>,
    /// VLESS+Reality inbound settings (public parts only); null when the node serves no VLESS.
    #[schema(value_type = Option<Object>)]
    pub xray: Option<serde_json::Value>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl From<Node> for NodeView {
    fn from(n: Node) -> Self {
        let wireguard = n.wireguard.map(|wg| NodeWireguardView {
            listen_port: wg.listen_port,
            address_pool: wg.address_pool.to_string(),
            public_key: wg.public_key,
            awg: wg.awg.and_then(|a| serde_json::to_value(a).ok()),
            dns: wg.dns.iter().map(ToString::to_string).collect(),
            mtu: wg.mtu,
        });
        // Sealed values have no business in an API answer, encrypted or not.
        let xray = n.xray.map(|mut x| {
            if let Some(obj) = x.as_object_mut() {
                obj.retain(|k, _| !k.contains("private"));
            }
            x
        });
        NodeView {
            id: n.id,
            name: n.name,
            raft_addr: n.raft_addr,
            api_addr: n.api_addr,
            public_host: n.public_host,
            wireguard,
            xray,
            created_at_ms: n.created_at_ms,
            updated_at_ms: n.updated_at_ms,
        }
    }
}

/// An API key; its secret is never shown again after creation.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApiKeyView {
    /// The public part of the token (`vk_<id>_…`), used to revoke it.
    pub id: String,
    pub name: String,
    pub scope: ScopeView,
    pub active: bool,
    pub created_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
}

impl From<ApiKey> for ApiKeyView {
    fn from(k: ApiKey) -> Self {
        ApiKeyView {
            active: k.revoked_at_ms.is_none(),
            id: k.id,
            name: k.name,
            scope: k.scope.into(),
            created_at_ms: k.created_at_ms,
            revoked_at_ms: k.revoked_at_ms,
        }
    }
}

/// One audited action (including refusals).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditView {
    pub id: i64,
    pub at_ms: i64,
    /// `key:<id>`, `tg:<telegram id>` or `node:<id>`.
    pub actor: String,
    /// e.g. `user.create`, `device.revoke`.
    pub action: String,
    /// e.g. `user:5`, `device:12`.
    pub target: Option<String>,
    /// Set when the action was refused: why.
    pub detail: Option<String>,
}

impl From<AuditEntry> for AuditView {
    fn from(a: AuditEntry) -> Self {
        AuditView {
            id: a.id,
            at_ms: a.at_ms,
            actor: a.actor,
            action: a.action,
            target: a.target,
            detail: a.detail,
        }
    }
}

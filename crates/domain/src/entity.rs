//! Read models: the rows of the replicated state as the API, bot and CLI see them.
//! Secrets stay sealed here; only code that holds the cluster secret can open them.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::model::{DeviceType, Protocol};
use crate::secrets::Sealed;

pub type UserId = i64;
pub type DeviceId = i64;
/// Raft node id. The first node of a cluster is 1.
pub type NodeId = u64;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub name: String,
    pub telegram_id: Option<i64>,
    pub enabled: bool,
    /// Secret-ish: whoever has it can fetch the user's subscription. Not logged.
    #[serde(skip_serializing)]
    pub sub_token: String,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub id: DeviceId,
    pub uuid: Uuid,
    pub user_id: UserId,
    pub node_id: NodeId,
    pub name: String,
    pub device_type: DeviceType,
    pub protocol: Protocol,
    pub wg_public_key: Option<String>,
    #[serde(skip)]
    pub wg_private_key: Option<Sealed>,
    #[serde(skip)]
    pub wg_psk: Option<Sealed>,
    /// Tunnel address with prefix, e.g. `10.8.0.2/32`.
    pub address_v4: Option<String>,
    pub created_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
    pub last_handshake_ms: Option<i64>,
    pub rx_bytes: i64,
    pub tx_bytes: i64,
}

impl Device {
    pub fn is_active(&self) -> bool {
        self.revoked_at_ms.is_none()
    }
}

/// WireGuard-family settings of a node, replicated so every node can render client configs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeWireguard {
    pub listen_port: u16,
    /// The pool devices get addresses from, e.g. `10.8.0.0/24`; the node itself takes the
    /// first host address.
    pub address_pool: ipnet::Ipv4Net,
    pub public_key: String,
    /// Sealed with the cluster secret; API views must leave it out.
    pub private_key: Option<Sealed>,
    /// AmneziaWG obfuscation parameters; `None` serves plain WireGuard only.
    pub awg: Option<crate::awg::AwgParams>,
    pub dns: Vec<std::net::IpAddr>,
    pub mtu: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub id: NodeId,
    pub name: String,
    pub raft_addr: String,
    pub api_addr: String,
    /// The host clients connect to (DNS name or IP).
    pub public_host: String,
    pub wireguard: Option<NodeWireguard>,
    /// Xray settings as JSON of [`NodeXray`]; kept as JSON in the command so older nodes
    /// can carry settings they do not understand yet. Read it with [`Node::xray_settings`].
    pub xray: Option<serde_json::Value>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl Node {
    /// The node's VLESS+Reality settings, when it serves VLESS.
    pub fn xray_settings(&self) -> Option<NodeXray> {
        self.xray
            .as_ref()
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    /// How a device of this node is named in client apps (share-link fragment, subscription
    /// entries): "fra-1 phone". The node name tells a user's devices on several nodes apart.
    pub fn device_label(&self, device: &Device) -> String {
        format!("{} {}", self.name, device.name)
    }
}

/// What every node must know about another node's VLESS+Reality inbound to hand out links.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeXray {
    pub port: u16,
    /// Reality x25519 public key (base64url, no padding): the links' `pbk`.
    pub reality_public_key: String,
    /// Sealed with the cluster secret (purpose `node/reality-private-key`).
    pub reality_private_key: Option<Sealed>,
    pub short_ids: Vec<String>,
    pub server_names: Vec<String>,
    /// Reality target `host:port`.
    pub dest: String,
    pub fingerprint: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiScope {
    Admin,
    ReadOnly,
}

impl ApiScope {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiScope::Admin => "admin",
            ApiScope::ReadOnly => "read_only",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(ApiScope::Admin),
            "read_only" | "read-only" | "readonly" => Some(ApiScope::ReadOnly),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub scope: ApiScope,
    #[serde(skip_serializing)]
    pub secret_hash: String,
    pub created_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invite {
    pub id: String,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    pub used_at_ms: Option<i64>,
    pub used_by_node: Option<NodeId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at_ms: i64,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub detail: Option<String>,
}

/// Counts shown by `status`, the admin stats and `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub users: i64,
    pub users_enabled: i64,
    pub devices_active: i64,
    pub devices_revoked: i64,
    pub nodes: i64,
}

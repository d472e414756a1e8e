//! The links a user's subscription carries: one per active device, whatever its protocol.
//!
//! Each [`SubLink`] keeps the resolved parameters, not just a URI, so every output format
//! (base64/plain links, sing-box JSON, Clash/Mihomo YAML) renders from the same values.
//!
//! XRAY INTEGRATION POINT: [`vless_link`] turns a vless device into its share link from the
//! node's replicated `xray` settings, using `vpnkeeper_xray::ShareLink`. It returns `None`
//! while a node has no Xray settings, and the device is then left out of the subscription
//! (and its config endpoint answers 409). When the Xray integration changes what a node
//! publishes, this is the one function to adapt.

use axum::http::StatusCode;
use vpnkeeper_domain::wgconf::{ClientConfig, ClientKeys, WgConfError};
use vpnkeeper_domain::{Device, Node, Protocol};

use crate::error::ApiError;
use crate::state::ApiState;

/// One entry of a subscription.
#[derive(Debug, Clone)]
pub struct SubLink {
    /// What the client app shows: `node device`, e.g. `node-1 phone`.
    pub name: String,
    pub kind: LinkKind,
}

#[derive(Debug, Clone)]
pub enum LinkKind {
    /// VLESS+Reality through Xray.
    Vless(VlessLink),
    /// An AmneziaWG/WireGuard device. Link-list formats carry `config_url` (a download of the
    /// `.conf`, authorised by the subscription token); Clash/Mihomo and sing-box get the
    /// parameters themselves.
    WireGuard {
        config_url: String,
        config: Box<ClientConfig>,
        /// AmneziaWG obfuscation on (protocol `awg`).
        amnezia: bool,
    },
}

/// A VLESS+Reality link and its parts.
#[derive(Debug, Clone)]
pub struct VlessLink {
    /// `vless://…` as v2rayNG, Hiddify, Streisand, sing-box and Mihomo import it.
    pub uri: String,
    pub uuid: uuid::Uuid,
    pub host: String,
    pub port: u16,
    pub public_key: String,
    pub short_id: String,
    pub sni: String,
    pub fingerprint: String,
    pub flow: String,
}

/// The public part of a node's Xray settings that links need (the replicated `xray` JSON;
/// fields the links do not use are ignored).
/// A vless device's share link, or `None` when its node publishes no Xray settings.
pub fn vless_link(node: &Node, device: &Device) -> Option<VlessLink> {
    let link = vpnkeeper_xray::link::for_device(node, device)?;
    Some(VlessLink {
        uri: link.to_uri(),
        uuid: link.uuid,
        host: link.host,
        port: link.port,
        public_key: link.public_key,
        short_id: link.short_id,
        sni: link.sni,
        fingerprint: link.fingerprint,
        flow: link.flow,
    })
}

/// The resolved client config of an awg/wireguard device.
pub fn wg_client_config(
    state: &ApiState,
    node: &Node,
    device: &Device,
) -> Result<ClientConfig, ApiError> {
    let conflict = |e: WgConfError| ApiError::new(StatusCode::CONFLICT, "no_config", e.to_string());
    let keys = ClientKeys::open(state.sealer(), device).map_err(|e| match e {
        WgConfError::Sealed { .. } => {
            tracing::error!(
                device = device.id,
                "device keys cannot be opened with this node's cluster key"
            );
            ApiError::internal("the device's keys cannot be opened with this node's cluster key")
        }
        other => conflict(other),
    })?;
    ClientConfig::build(node, device, &keys, state.client_options()).map_err(conflict)
}

pub fn display_name(node: &Node, device: &Device) -> String {
    node.device_label(device)
}

/// A file-name-safe version of a device name.
pub fn safe_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() {
        "device".into()
    } else {
        s
    }
}

/// The links of `devices` (a user's active devices), in device order. A device whose node is
/// gone or cannot render it is left out with a log line rather than failing the whole list.
pub fn links_for(
    state: &ApiState,
    nodes: &[Node],
    devices: &[Device],
    config_url: impl Fn(&Device) -> String,
) -> Vec<SubLink> {
    let mut out = Vec::with_capacity(devices.len());
    // Clash proxy names and sing-box tags must be unique, or the client refuses the whole
    // profile; a user may well have "phone" over both AmneziaWG and VLESS on one node.
    let mut used = std::collections::HashSet::new();
    for device in devices.iter().filter(|d| d.is_active()) {
        let Some(node) = nodes.iter().find(|n| n.id == device.node_id) else {
            continue;
        };
        let kind = if device.protocol.is_wireguard_family() {
            match wg_client_config(state, node, device) {
                Ok(config) => LinkKind::WireGuard {
                    config_url: config_url(device),
                    config: Box::new(config),
                    amnezia: device.protocol == Protocol::Awg,
                },
                Err(e) => {
                    tracing::warn!(device = device.id, error = %e.message, "device left out of a subscription");
                    continue;
                }
            }
        } else {
            match vless_link(node, device) {
                Some(link) => LinkKind::Vless(link),
                None => continue,
            }
        };
        let mut name = display_name(node, device);
        if used.contains(&name) {
            name = format!("{name} ({})", device.protocol);
        }
        if used.contains(&name) {
            name = format!("{name} #{}", device.id);
        }
        used.insert(name.clone());
        out.push(SubLink { name, kind });
    }
    out
}

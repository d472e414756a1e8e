//! The entries a user's subscription carries: one per active device that renders, whatever
//! its protocol. Each entry is the device's [`ClientArtifact`] (the one renderer the API's
//! config endpoint and the bot use too) under a name unique within the subscription, so
//! every output format (link lists, sing-box JSON, mihomo YAML) renders from the same values.

use std::collections::HashSet;

use vpnkeeper_domain::artifact::ClientArtifact;
use vpnkeeper_domain::{Device, Node, User};

use crate::state::ApiState;

/// One entry of a subscription.
#[derive(Debug, Clone)]
pub struct SubLink {
    /// What the client app shows: `node device`, e.g. `node-1 phone`; unique in the list.
    pub name: String,
    /// For the device's download URL (`/sub/{token}/devices/{uuid}/config`).
    pub device_uuid: uuid::Uuid,
    pub artifact: ClientArtifact,
}

/// A file-name-safe version of a name.
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

/// The entries of `user`'s active `devices`, in device order. A device whose node is gone
/// or cannot render it is left out with a log line rather than failing the whole list.
pub fn links_for(
    state: &ApiState,
    nodes: &[Node],
    user: &User,
    devices: &[Device],
) -> Vec<SubLink> {
    let mut out = Vec::with_capacity(devices.len());
    // Clash proxy names and sing-box tags must be unique, or the client refuses the whole
    // profile; a user may well have "phone" over both AmneziaWG and VLESS on one node.
    let mut used = HashSet::new();
    for device in devices.iter().filter(|d| d.is_active()) {
        let Some(node) = nodes.iter().find(|n| n.id == device.node_id) else {
            continue;
        };
        let artifact = match super::artifact::render(state, node, device, user) {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(device = device.id, error = %e.message, "device left out of a subscription");
                continue;
            }
        };
        let mut name = artifact.label.clone();
        if used.contains(&name) {
            name = format!("{name} ({})", device.protocol);
        }
        if used.contains(&name) {
            name = format!("{name} #{}", device.id);
        }
        used.insert(name.clone());
        out.push(SubLink {
            name,
            device_uuid: device.uuid,
            artifact,
        });
    }
    out
}

//! The entries a user's subscription carries: one per active device that renders, whatever
//! its protocol. Each entry is the device's [`ClientArtifact`] (the one renderer the API's
//! config endpoint and the bot use too) under a name unique within the subscription, so
//! every output format (link lists, sing-box JSON, mihomo YAML) renders from the same values.

use std::collections::HashSet;

use vpnkeeper_domain::artifact::ClientArtifact;
use vpnkeeper_domain::{Device, Node, NodeId, Protocol, User};

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

/// The nodes that serve `device` to its user right now: the device's own node for
/// WireGuard/AmneziaWG, every node running Xray for VLESS (the same UUID is a user on each,
/// as in Marzban), and in both cases only nodes the leader counts online, so a dead node's
/// entry drops out until it is back.
pub fn serving_nodes<'n>(nodes: &'n [Node], online: &[NodeId], device: &Device) -> Vec<&'n Node> {
    nodes
        .iter()
        .filter(|n| online.contains(&n.id))
        .filter(|n| match device.protocol {
            Protocol::Vless => n.xray_settings().is_some(),
            _ => n.id == device.node_id,
        })
        .collect()
}

/// The entries of `user`'s active `devices`, in device order (a VLESS device once per
/// serving node, in node order). An entry its node cannot render is left out with a log
/// line rather than failing the whole list.
pub fn links_for(
    state: &ApiState,
    nodes: &[Node],
    online: &[NodeId],
    user: &User,
    devices: &[Device],
) -> Vec<SubLink> {
    let mut out = Vec::with_capacity(devices.len());
    // Clash proxy names and sing-box tags must be unique, or the client refuses the whole
    // profile; a user may well have "phone" over both AmneziaWG and VLESS on one node.
    let mut used = HashSet::new();
    for device in devices.iter().filter(|d| d.is_active()) {
        for node in serving_nodes(nodes, online, device) {
            let artifact = match super::artifact::render(state, node, device, user) {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(device = device.id, node = node.id, error = %e.message, "device left out of a subscription");
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
    }
    out
}

#[cfg(test)]
mod tests {
    use vpnkeeper_domain::DeviceType;

    use super::*;

    fn node(id: NodeId, xray: bool) -> Node {
        Node {
            id,
            name: format!("node-{id}"),
            raft_addr: format!("10.0.0.{id}:8090"),
            api_addr: format!("10.0.0.{id}:8080"),
            public_host: format!("n{id}.example.com"),
            wireguard: None,
            xray: xray.then(|| {
                serde_json::json!({"port": 443, "reality_public_key": "pbk", "short_ids": ["ab"],
                    "server_names": ["www.example.com"], "dest": "www.example.com:443",
                    "fingerprint": "chrome", "reality_private_key": null})
            }),
            created_at_ms: 0,
            updated_at_ms: 0,
        }
    }

    fn device(node_id: NodeId, protocol: Protocol) -> Device {
        Device {
            id: 7,
            uuid: uuid::Uuid::nil(),
            user_id: 1,
            node_id,
            name: "phone".into(),
            device_type: DeviceType::Phone,
            protocol,
            wg_public_key: None,
            wg_private_key: None,
            wg_psk: None,
            address_v4: None,
            created_at_ms: 0,
            revoked_at_ms: None,
            last_handshake_ms: None,
            rx_bytes: 0,
            tx_bytes: 0,
        }
    }

    fn ids(nodes: Vec<&Node>) -> Vec<NodeId> {
        nodes.into_iter().map(|n| n.id).collect()
    }

    #[test]
    fn a_vless_device_is_served_by_every_online_xray_node() {
        // Node 2 runs no Xray; node 4 runs Xray but is offline.
        let nodes = [node(1, true), node(2, false), node(3, true), node(4, true)];
        let online = [1, 2, 3];
        assert!(
            nodes[0].xray_settings().is_some(),
            "the test's Xray settings parse"
        );
        let d = device(1, Protocol::Vless);
        assert_eq!(ids(serving_nodes(&nodes, &online, &d)), vec![1, 3]);
        // Placed on an offline node, it is still served by the others.
        assert_eq!(
            ids(serving_nodes(&nodes, &[3], &device(4, Protocol::Vless))),
            vec![3]
        );
    }

    #[test]
    fn a_wireguard_device_is_served_by_its_own_node_while_it_is_online() {
        let nodes = [node(1, true), node(2, false)];
        let d = device(2, Protocol::Awg);
        assert_eq!(ids(serving_nodes(&nodes, &[1, 2], &d)), vec![2]);
        assert!(serving_nodes(&nodes, &[1], &d).is_empty());
    }
}

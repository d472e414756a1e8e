//! Where a new device goes when nobody says: the least-loaded online node that serves its
//! protocol, load being active devices per unit of the node's `capacity` (`[node] capacity`,
//! carried in its registration). A node with twice the capacity takes twice the devices
//! before it counts as equally loaded. Pure: callers read the candidates from the state.

use crate::entity::{Node, NodeId};
use crate::model::Protocol;

/// What a node gets when its registration carries no capacity (older nodes).
pub const DEFAULT_CAPACITY: u32 = 100;

/// One node as placement sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub id: NodeId,
    /// Active (not revoked) devices placed on it.
    pub active_devices: i64,
    /// Relative size; `None` = [`DEFAULT_CAPACITY`], 0 counts as 1.
    pub capacity: Option<u32>,
    pub online: bool,
    /// It serves the protocol asked for.
    pub serves: bool,
}

impl Candidate {
    fn capacity(&self) -> u64 {
        u64::from(self.capacity.unwrap_or(DEFAULT_CAPACITY).max(1))
    }
}

/// Whether `node` can serve `protocol`: VLESS when it runs Xray, AmneziaWG when its
/// interface has obfuscation parameters, plain WireGuard on any WireGuard interface.
pub fn serves(node: &Node, protocol: Protocol) -> bool {
    match protocol {
        Protocol::Vless => node.xray_settings().is_some(),
        Protocol::Awg => node.wireguard.as_ref().is_some_and(|w| w.awg.is_some()),
        Protocol::Wireguard => node.wireguard.is_some(),
    }
}

/// The least-loaded online node serving the protocol (lowest id on a tie); `None` when no
/// online node serves it.
pub fn choose(candidates: &[Candidate]) -> Option<NodeId> {
    candidates
        .iter()
        .filter(|c| c.online && c.serves)
        .min_by(|a, b| {
            // a.devices / a.capacity < b.devices / b.capacity, without floating point.
            let la = u128::from(a.active_devices.max(0) as u64) * u128::from(b.capacity());
            let lb = u128::from(b.active_devices.max(0) as u64) * u128::from(a.capacity());
            la.cmp(&lb).then(a.id.cmp(&b.id))
        })
        .map(|c| c.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: NodeId, active_devices: i64, capacity: Option<u32>) -> Candidate {
        Candidate {
            id,
            active_devices,
            capacity,
            online: true,
            serves: true,
        }
    }

    #[test]
    fn the_least_loaded_by_capacity_wins() {
        // 50/100 vs 80/200: node 2 is less loaded although it has more devices.
        assert_eq!(
            choose(&[node(1, 50, Some(100)), node(2, 80, Some(200))]),
            Some(2)
        );
        // Equal load: the lower id.
        assert_eq!(
            choose(&[node(2, 20, Some(200)), node(1, 10, Some(100))]),
            Some(1)
        );
        // No capacity = the default.
        assert_eq!(
            choose(&[node(1, 60, None), node(2, 50, Some(100))]),
            Some(2)
        );
        assert_eq!(
            choose(&[node(1, 40, None), node(2, 50, Some(100))]),
            Some(1)
        );
    }

    #[test]
    fn offline_nodes_and_nodes_without_the_protocol_are_skipped() {
        let mut offline = node(1, 0, None);
        offline.online = false;
        let mut no_xray = node(2, 0, None);
        no_xray.serves = false;
        assert_eq!(choose(&[offline, no_xray, node(3, 90, None)]), Some(3));
        assert_eq!(choose(&[offline, no_xray]), None);
        assert_eq!(choose(&[]), None);
    }

    #[test]
    fn a_zero_capacity_counts_as_one_and_fills_last() {
        assert_eq!(
            choose(&[node(1, 1, Some(0)), node(2, 5, Some(100))]),
            Some(2)
        );
        assert_eq!(
            choose(&[node(1, 0, Some(0)), node(2, 5, Some(100))]),
            Some(1)
        );
    }

    #[test]
    fn devices_are_spread_in_proportion_to_capacity() {
        let mut nodes = [node(1, 0, Some(100)), node(2, 0, Some(300))];
        for _ in 0..400 {
            let id = choose(&nodes).unwrap();
            nodes
                .iter_mut()
                .find(|n| n.id == id)
                .unwrap()
                .active_devices += 1;
        }
        assert_eq!(nodes[0].active_devices, 100);
        assert_eq!(nodes[1].active_devices, 300);
    }
}

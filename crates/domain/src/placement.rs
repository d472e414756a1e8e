//! Where a new device goes when nobody says: the least-loaded online node that serves its
//! protocol, load being active devices per unit of the node's `capacity` (`[node] capacity`,
//! carried in its registration). A node with twice the capacity takes twice the devices
//! before it counts as equally loaded. A node an operator marked `draining` gets no new
//! devices; a node with no headroom left ([`NodeLoad::saturated`]: CPU or its link nearly
//! full) gets them only when every other available node is saturated too. Pure: callers read the candidates from the state and the load reports.

use crate::entity::{Node, NodeId};
use crate::model::Protocol;

/// What a node gets when its registration carries no capacity (older nodes).
pub const DEFAULT_CAPACITY: u32 = 100;

/// CPU busy (all cores, percent) from which a node counts as saturated.
pub const CPU_SATURATED_PCT: f32 = 90.0;
/// Share of a node's configured bandwidth from which it counts as saturated.
pub const NET_SATURATED_SHARE: f32 = 0.9;

/// A node's recent CPU and network use: the headroom inputs of placement. Filled from the
/// node's latest load sample (telemetry, never in the Raft log).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct NodeLoad {
    /// CPU busy, 0–100.
    pub cpu_pct: f32,
    /// Traffic in + out, Mbit/s.
    pub net_mbps: f32,
    /// The link's capacity (`[node] bandwidth_mbps`); `None`: unknown, so the network
    /// cannot saturate it as far as placement knows.
    pub bandwidth_mbps: Option<u32>,
}

impl NodeLoad {
    /// No headroom left: CPU at [`CPU_SATURATED_PCT`] or more, or traffic at
    /// [`NET_SATURATED_SHARE`] of the configured bandwidth or more.
    pub fn saturated(&self) -> bool {
        let cpu = self.cpu_pct >= CPU_SATURATED_PCT;
        let net = self
            .bandwidth_mbps
            .is_some_and(|b| self.net_mbps >= b as f32 * NET_SATURATED_SHARE);
        cpu || net
    }
}

/// One node as placement sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub id: NodeId,
    /// Active (not revoked) devices placed on it.
    pub active_devices: i64,
    /// Relative size; `None` = [`DEFAULT_CAPACITY`], 0 counts as 1.
    pub capacity: Option<u32>,
    pub online: bool,
    /// It serves the protocol asked for.
    pub serves: bool,
    /// An operator marked it draining (`vpnkeeper node drain`): no new devices.
    pub draining: bool,
    /// Its latest load; `None` when unknown (no recent report), which does not exclude it.
    pub load: Option<NodeLoad>,
}

impl Candidate {
    fn capacity(&self) -> u64 {
        u64::from(self.capacity.unwrap_or(DEFAULT_CAPACITY).max(1))
    }

    /// Online, serving the protocol asked for, and not draining.
    fn available(&self) -> bool {
        self.online && self.serves && !self.draining
    }

    /// Available and not saturated: preferred for a new device.
    pub fn eligible(&self) -> bool {
        self.available() && !self.load.is_some_and(|l| l.saturated())
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

/// The least-loaded eligible node ([`Candidate::eligible`]: online, serving the protocol,
/// not draining, not saturated; lowest id on a tie). When every available node is saturated,
/// the least loaded of those: a busy node is better than refusing a customer, and a CPU
/// spike on a small fleet (or every node of a test on one machine) would refuse them all.
/// `None` only when no node is online, serving the protocol and not draining.
pub fn choose(candidates: &[Candidate]) -> Option<NodeId> {
    let ids = shortlist(candidates);
    least_loaded(candidates.iter().filter(|c| ids.contains(&c.id)))
}

/// The nodes [`choose`] weighs: the eligible ones, or when every available node is
/// saturated, the available ones. Empty when none is online, serving and not draining.
pub fn shortlist(candidates: &[Candidate]) -> Vec<NodeId> {
    let ids = |keep: fn(&Candidate) -> bool| -> Vec<NodeId> {
        candidates
            .iter()
            .filter(|c| keep(c))
            .map(|c| c.id)
            .collect()
    };
    let eligible = ids(Candidate::eligible);
    if eligible.is_empty() {
        ids(Candidate::available)
    } else {
        eligible
    }
}

fn least_loaded<'a>(candidates: impl Iterator<Item = &'a Candidate>) -> Option<NodeId> {
    candidates
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
            draining: false,
            load: None,
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

    fn loaded(cpu_pct: f32, net_mbps: f32, bandwidth_mbps: Option<u32>) -> Option<NodeLoad> {
        Some(NodeLoad {
            cpu_pct,
            net_mbps,
            bandwidth_mbps,
        })
    }

    #[test]
    fn a_saturated_node_gets_no_new_devices() {
        // Node 1 has the fewest devices but its CPU is at 95 %: node 2 gets the device.
        let mut busy = node(1, 0, None);
        busy.load = loaded(95.0, 1.0, None);
        let mut calm = node(2, 50, None);
        calm.load = loaded(20.0, 1.0, Some(1000));
        assert_eq!(choose(&[busy, calm]), Some(2));
        // Its link at 950 of 1000 Mbit/s is as full as a busy CPU.
        let mut full_link = node(1, 0, None);
        full_link.load = loaded(5.0, 950.0, Some(1000));
        assert_eq!(choose(&[full_link, calm]), Some(2));
        // Just under both thresholds still counts as headroom.
        let mut almost = node(1, 0, None);
        almost.load = loaded(89.9, 899.0, Some(1000));
        assert_eq!(choose(&[almost, calm]), Some(1));
        // Without a configured bandwidth the traffic alone never saturates a node.
        let mut unknown_link = node(1, 0, None);
        unknown_link.load = loaded(5.0, 10_000.0, None);
        assert_eq!(choose(&[unknown_link, calm]), Some(1));
        // An unknown load (no recent report) does not exclude a node.
        assert_eq!(choose(&[node(1, 0, None), calm]), Some(1));
        // When every node is saturated, the least loaded of them still takes it.
        assert_eq!(choose(&[busy, full_link]), Some(1));
    }

    #[test]
    fn a_draining_node_gets_no_new_devices() {
        let mut draining = node(1, 0, Some(1000));
        draining.draining = true;
        assert_eq!(choose(&[draining, node(2, 99, None)]), Some(2));
        assert_eq!(choose(&[draining]), None);
        // Undrained, it is the least loaded again.
        draining.draining = false;
        assert_eq!(choose(&[draining, node(2, 99, None)]), Some(1));
    }

    #[test]
    fn saturation_thresholds() {
        let l = |cpu, net, bw| NodeLoad {
            cpu_pct: cpu,
            net_mbps: net,
            bandwidth_mbps: bw,
        };
        assert!(l(90.0, 0.0, None).saturated());
        assert!(!l(89.0, 0.0, None).saturated());
        assert!(l(0.0, 90.0, Some(100)).saturated());
        assert!(!l(0.0, 89.0, Some(100)).saturated());
        assert!(!NodeLoad::default().saturated());
    }
}

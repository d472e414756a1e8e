//! Keeps this node's row in the replicated state in line with its config.
//!
//! The node's WireGuard key and AmneziaWG parameters are generated once (on first
//! registration) and then kept; addresses, ports, pool and DNS follow the config file.

use anyhow::{Context, Result};
use rand::rngs::OsRng;
use vpnkeeper_cluster::Cluster;
use vpnkeeper_domain::awg::{AwgParams, AwgVersion};
use vpnkeeper_domain::command::NodeSpec;
use vpnkeeper_domain::keys::wg_keypair;
use vpnkeeper_domain::secrets::{purpose, Sealer};
use vpnkeeper_domain::{Actor, Command, Envelope, NodeWireguard};

use crate::config::Config;

/// Proposes an `UpsertNode` when the replicated row is missing or differs from the config.
pub async fn ensure_registered(cluster: &Cluster, config: &Config, sealer: &Sealer) -> Result<()> {
    let existing = cluster.read().node(config.node.id).await?;
    let (public_key, private_key, awg) = match existing.as_ref().and_then(|n| n.wireguard.clone()) {
        Some(wg) => (wg.public_key, wg.private_key, wg.awg),
        None => {
            let (private, public) = wg_keypair(&mut OsRng);
            let sealed = sealer.seal(&mut OsRng, purpose::NODE_WG_PRIVATE_KEY, private.as_bytes());
            let awg = AwgParams::generate(&mut OsRng, AwgVersion::V1);
            (public, Some(sealed), Some(awg))
        }
    };
    let spec = NodeSpec {
        id: config.node.id,
        name: config.node.name.clone(),
        raft_addr: config.raft.advertised(),
        api_addr: config.api.listen.to_string(),
        public_host: config.endpoint_host().to_string(),
        wireguard: Some(NodeWireguard {
            listen_port: config.wireguard.listen_port,
            address_pool: config.wireguard.address_pool,
            public_key,
            private_key,
            awg,
            dns: config.wireguard.dns.clone(),
            mtu: config.wireguard.mtu,
        }),
        xray: existing.as_ref().and_then(|n| n.xray.clone()),
    };
    if let Some(node) = &existing {
        let same = node.name == spec.name
            && node.raft_addr == spec.raft_addr
            && node.api_addr == spec.api_addr
            && node.public_host == spec.public_host
            && node.wireguard == spec.wireguard;
        if same {
            return Ok(());
        }
    }
    let command = Command::UpsertNode {
        node: Box::new(spec),
    };
    command
        .validate()
        .map_err(|e| anyhow::anyhow!("invalid node settings: {}: {}", e.field, e.message))?;
    let outcome = cluster
        .propose(Envelope {
            at_ms: vpnkeeper_api::state::now_ms(),
            actor: Actor::System {
                node_id: config.node.id,
            },
            command,
        })
        .await
        .context("registering this node in the cluster state")?;
    outcome.map_err(|e| anyhow::anyhow!("registering this node was refused: {e}"))?;
    tracing::info!(node_id = config.node.id, "node registration updated");
    Ok(())
}

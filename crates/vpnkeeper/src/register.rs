//! Keeps this node's row in the replicated state in line with its config.
//!
//! The node's WireGuard key and AmneziaWG parameters are generated once (on first
//! registration) and then kept; addresses, ports, pool and DNS follow the config file.

use anyhow::{Context, Result};
use rand::rngs::OsRng;
use vpnkeeper_cluster::{Cluster, SubmitError};
use vpnkeeper_domain::awg::AwgParams;
use vpnkeeper_domain::command::NodeSpec;
use vpnkeeper_domain::keys::wg_keypair;
use vpnkeeper_domain::secrets::{purpose, Sealer};
use vpnkeeper_domain::{Actor, Command, NodeWireguard};

use crate::config::Config;

/// Proposes an `UpsertNode` when the replicated row is missing or differs from the config.
pub async fn ensure_registered(cluster: &Cluster, config: &Config, sealer: &Sealer) -> Result<()> {
    let existing = cluster.read().node(config.node.id).await?;
    let (public_key, private_key, old_awg) =
        match existing.as_ref().and_then(|n| n.wireguard.clone()) {
            Some(wg) => (wg.public_key, wg.private_key, wg.awg),
            None => {
                let (private, public) = wg_keypair(&mut OsRng);
                let sealed =
                    sealer.seal(&mut OsRng, purpose::NODE_WG_PRIVATE_KEY, private.as_bytes());
                (public, Some(sealed), None)
            }
        };
    // AmneziaWG parameters are generated once and kept: every issued config carries them.
    // The operator's own parameters win; a change of generation means new parameters.
    let wg = &config.wireguard;
    let generation = wg.amneziawg_version.generation();
    let awg = match (wg.amneziawg, &wg.awg, old_awg) {
        (false, _, _) => None,
        (true, Some(chosen), _) => Some(chosen.clone()),
        (true, None, Some(params)) if params.version() == generation => Some(params),
        (true, None, old) => {
            if old.is_some() {
                tracing::warn!(
                    version = ?wg.amneziawg_version,
                    "wireguard.amneziawg_version changed: new AmneziaWG parameters generated; every client must download its config again"
                );
            }
            Some(AwgParams::generate(&mut OsRng, generation))
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
        xray: xray_spec(config, existing.as_ref(), sealer)?,
        capacity: config.node.capacity,
    };
    if let Some(node) = &existing {
        let same = node.name == spec.name
            && node.raft_addr == spec.raft_addr
            && node.api_addr == spec.api_addr
            && node.public_host == spec.public_host
            && node.wireguard == spec.wireguard
            && node.xray == spec.xray
            // An unset capacity leaves the stored one (apply only writes a given one).
            && (spec.capacity.is_none()
                || cluster.read().node_capacity(node.id).await? == spec.capacity);
        if same {
            return Ok(());
        }
    }
    let command = Command::UpsertNode {
        node: Box::new(spec),
    };
    let actor = Actor::System {
        node_id: config.node.id,
    };
    let outcome = match cluster.submit(actor, command).await {
        Ok(outcome) => outcome,
        Err(SubmitError::Invalid(e)) => {
            anyhow::bail!("invalid node settings: {}: {}", e.field, e.message)
        }
        Err(SubmitError::Propose(e)) => {
            return Err(e).context("registering this node in the cluster state")
        }
    };
    outcome.map_err(|e| anyhow::anyhow!("registering this node was refused: {e}"))?;
    tracing::info!(node_id = config.node.id, "node registration updated");
    Ok(())
}

/// The node's VLESS+Reality settings for the replicated state: the Reality key pair and
/// short ids are generated once and kept; the rest follows `[xray]`. Disabled = `None`, so
/// no links to this node are handed out.
fn xray_spec(
    config: &Config,
    existing: Option<&vpnkeeper_domain::Node>,
    sealer: &Sealer,
) -> Result<Option<serde_json::Value>> {
    if !config.xray.enabled {
        return Ok(None);
    }
    let old = existing.and_then(|n| n.xray_settings());
    let (public_key, private_key) = match old.as_ref() {
        Some(x) if x.reality_private_key.is_some() => {
            (x.reality_public_key.clone(), x.reality_private_key.clone())
        }
        _ => {
            let pair = vpnkeeper_xray::generate_reality_keypair(&mut OsRng);
            let sealed = sealer.seal(
                &mut OsRng,
                purpose::NODE_REALITY_PRIVATE_KEY,
                pair.private_key.expose().as_bytes(),
            );
            (pair.public_key, Some(sealed))
        }
    };
    let short_ids = if !config.xray.short_ids.is_empty() {
        config.xray.short_ids.clone()
    } else if let Some(x) = old.as_ref().filter(|x| !x.short_ids.is_empty()) {
        x.short_ids.clone()
    } else {
        vec![vpnkeeper_xray::generate_short_id(&mut OsRng, 8)]
    };
    let xray = vpnkeeper_domain::NodeXray {
        port: config.xray.port,
        reality_public_key: public_key,
        reality_private_key: private_key,
        short_ids,
        server_names: config.xray.server_names.clone(),
        dest: config.xray.reality_dest.clone(),
        fingerprint: config.xray.fingerprint.clone(),
    };
    Ok(Some(serde_json::to_value(xray)?))
}

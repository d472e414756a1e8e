//! `vpnkeeper join`: makes an empty data directory a member of an existing cluster, from a
//! one-time link made by `vpnkeeper invite create`.
//!
//! The node key is generated here and never leaves; the leader receives a CSR and answers
//! (over TLS pinned to the cluster CA fingerprint in the link) with the node's certificate,
//! the CA, the cluster secret and an admin token. Nothing is written to the directory until
//! the leader has admitted the node, so a refused link leaves no trace.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use vpnkeeper_cluster::tls::{self, write_file};
use vpnkeeper_cluster::{JoinGrant, JoinLink, JoinRequest};
use vpnkeeper_domain::secrets::ClusterSecret;

use crate::config::Config;
use crate::init;
use crate::secret_files::{write_new_secret, ADMIN_TOKEN_FILE, CLUSTER_KEY_FILE};

pub struct JoinArgs {
    pub data_dir: PathBuf,
    pub link: String,
    pub name: Option<String>,
    pub api_listen: SocketAddr,
    pub raft_listen: SocketAddr,
    pub public_host: Option<String>,
    pub wg_backend: Option<String>,
}

/// Joins and returns the config written (its node id is the one the leader chose).
pub async fn join(args: JoinArgs) -> Result<Config> {
    let link = JoinLink::parse(&args.link).map_err(|e| anyhow!(e))?;
    init::ensure_uninitialised(&args.data_dir)?;
    let mut config = Config::default();
    config.api.listen = args.api_listen;
    config.raft.listen = args.raft_listen;
    if let Some(host) = args.public_host {
        config.node.public_host = host;
    }
    config.wireguard.backend = match args.wg_backend {
        Some(b) => b.parse().map_err(|e| anyhow!("--wg-backend: {e}"))?,
        None => {
            let w = &config.wireguard;
            let (kind, line) = init::default_wg_backend(&w.interface, w.listen_port);
            eprintln!("{line}");
            kind
        }
    };
    config.check_all()?;

    let (key_pem, csr_pem) = tls::new_csr()?;
    let request = JoinRequest {
        cluster_id: link.cluster_id.clone(),
        token: link.token.clone(),
        csr_pem,
        name: args.name.clone().unwrap_or_else(|| "node".into()),
        raft_addr: config.raft.advertised(),
        api_addr: config.api.listen.to_string(),
    };
    let grant = vpnkeeper_cluster::request_join(&link, &request)
        .await
        .map_err(|e| anyhow!(e))?;
    let secret = ClusterSecret::from_hex(&grant.cluster_secret_hex)
        .map_err(|e| anyhow!("the leader sent an unusable cluster secret: {e}"))?;
    if vpnkeeper_cluster::cluster_id(&secret) != link.cluster_id {
        bail!(
            "wrong cluster: the leader's secret is not that of cluster {}",
            link.cluster_id
        );
    }
    config.node.id = grant.node_id;
    config.node.name = args
        .name
        .unwrap_or_else(|| format!("node-{}", grant.node_id));
    config.check_all()?;

    let existed = args.data_dir.exists();
    if let Err(e) = write_member(&args.data_dir, &config, &grant, &key_pem) {
        init::remove_partial_node(&args.data_dir);
        let _ = std::fs::remove_file(args.data_dir.join(crate::config::CONFIG_FILE));
        if !existed {
            let _ = std::fs::remove_dir(&args.data_dir);
        }
        return Err(e);
    }
    Ok(config)
}

fn write_member(dir: &Path, config: &Config, grant: &JoinGrant, key_pem: &str) -> Result<()> {
    init::make_private_dir(dir)?;
    write_new_secret(&dir.join(CLUSTER_KEY_FILE), &grant.cluster_secret_hex)?;
    write_file(&dir.join(tls::CA_KEY_FILE), &grant.ca_key_pem, true)?;
    write_file(&dir.join(tls::CA_CERT_FILE), &grant.ca_cert_pem, false)?;
    write_file(&dir.join(tls::NODE_KEY_FILE), key_pem, true)?;
    write_file(&dir.join(tls::NODE_CERT_FILE), &grant.cert_pem, false)?;
    write_new_secret(
        &dir.join(ADMIN_TOKEN_FILE),
        &format!("{}\n", grant.admin_token),
    )
    .context("writing the admin token")?;
    // Last: the config is what marks the directory as a node.
    init::write_config(dir, config)
}

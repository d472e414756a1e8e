//! The fleet verbs: `invite create`, `node list`, `node remove` (clients of the local API)
//! and `cert rotate` (local files).

use std::path::Path;

use anyhow::Result;
use reqwest::Method;
use serde::Deserialize;
use serde_json::json;

use crate::client::ApiClient;
use crate::{node_ops, CertCmd, Cmd, InviteCmd, NodeCmd};

#[derive(Deserialize)]
struct CreatedInvite {
    link: String,
    expires_at_ms: i64,
}

/// Prints the join link as the last line of stdout.
pub async fn invite_create(api: &ApiClient, ttl: Option<String>) -> Result<()> {
    let body = match ttl {
        Some(t) => json!({ "ttl": t }),
        None => json!({}),
    };
    let (_, invite): (_, CreatedInvite) = api
        .call(Method::POST, "/api/v1/invites", Some(body))
        .await?;
    let left_s = (invite.expires_at_ms - vpnkeeper_cluster::now_ms()) / 1000;
    eprintln!(
        "one-time join link, valid for {left_s} s; on the new node run `vpnkeeper join --data-dir DIR --link LINK`:"
    );
    println!("{}", invite.link);
    Ok(())
}

#[derive(Deserialize)]
struct Member {
    id: u64,
    name: String,
    role: String,
    online: bool,
    last_contact_ms: Option<i64>,
    #[serde(default)]
    format: Option<u32>,
    #[serde(default)]
    release: Option<String>,
}

#[derive(Deserialize)]
struct NodeList {
    members: Vec<Member>,
}

/// One line per member: id, name, role, online|offline, last contact, format/release.
pub async fn node_list(api: &ApiClient) -> Result<()> {
    let (_, list): (_, NodeList) = api.call(Method::GET, "/api/v1/nodes", None).await?;
    let now = vpnkeeper_cluster::now_ms();
    for m in list.members {
        let contact = match m.last_contact_ms {
            Some(t) => format!("{:.1}s ago", (now - t).max(0) as f64 / 1000.0),
            None => "never".into(),
        };
        let online = if m.online { "online" } else { "offline" };
        let version = match (m.format, m.release) {
            (Some(f), Some(r)) => format!("{f}/{r}"),
            _ => "unknown".into(),
        };
        println!(
            "{}\t{}\t{}\t{online}\t{contact}\t{version}",
            m.id, m.name, m.role
        );
    }
    Ok(())
}

pub async fn node_remove(api: &ApiClient, id: u64) -> Result<()> {
    let _: (_, serde_json::Value) = api
        .call(Method::DELETE, &format!("/api/v1/nodes/{id}"), None)
        .await?;
    eprintln!("node {id} removed; it stops serving and needs a new invite to come back");
    Ok(())
}

/// Issues this node a new key and certificate from the cluster CA in its data directory.
/// The running node picks it up at its next start.
pub fn cert_rotate(dir: &Path, node_id: u64) -> Result<()> {
    vpnkeeper_cluster::tls::rotate(dir, node_id)?;
    eprintln!(
        "node {node_id}: new certificate in {} (valid {} days); restart the node to use it",
        dir.join(vpnkeeper_cluster::tls::NODE_CERT_FILE).display(),
        vpnkeeper_cluster::tls::NODE_CERT_DAYS
    );
    Ok(())
}

/// Replaces the cluster CA in this data directory and issues this node a certificate from
/// it. The cluster must be stopped: nodes keep the CA they loaded at start, so a running
/// node would refuse this one's new certificate.
pub fn cert_new_ca(dir: &Path, node_id: u64) -> Result<()> {
    let secret = crate::secret_files::read_cluster_secret(dir)?;
    let cluster_id = vpnkeeper_cluster::cluster_id(&secret);
    let fingerprint = vpnkeeper_cluster::tls::new_ca(dir, node_id, &cluster_id)?;
    let (crt, key) = (
        vpnkeeper_cluster::tls::CA_CERT_FILE,
        vpnkeeper_cluster::tls::CA_KEY_FILE,
    );
    eprintln!(
        "new cluster CA sha256:{fingerprint} in {} (the old one kept as {crt}.old / {key}.old); \
         copy {crt} and {key} (0600) into every other node's data directory, then start every \
         node: each re-issues its certificate from the new CA; invites made before now no longer work",
        dir.display()
    );
    Ok(())
}

/// Runs `invite`, `node` or `cert`; `main` routes only them here.
pub(crate) async fn dispatch(cmd: Cmd) -> Result<()> {
    match cmd {
        Cmd::Invite { command, place } => {
            let api = crate::api_client(&place)?;
            match command {
                InviteCmd::Create { ttl } => invite_create(&api, ttl).await,
            }
        }
        Cmd::Node { command, place } => {
            let api = crate::api_client(&place)?;
            match command {
                NodeCmd::List => node_list(&api).await,
                NodeCmd::Remove { id } => node_remove(&api, id).await,
                NodeCmd::Drain { id } => node_ops::drain_verb(&api, id, true).await,
                NodeCmd::Undrain { id } => node_ops::drain_verb(&api, id, false).await,
            }
        }
        Cmd::Cert { command, place } => {
            let (location, config) = crate::load(&place)?;
            match command {
                CertCmd::Rotate => cert_rotate(&location.data_dir, config.node.id),
                CertCmd::NewCa => cert_new_ca(&location.data_dir, config.node.id),
            }
        }
        _ => unreachable!("only invite, node and cert are routed to fleet_verbs"),
    }
}

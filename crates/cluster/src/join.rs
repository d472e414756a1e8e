//! Invites and the join handshake.
//!
//! An invite is a one-time token (stored hashed, with a TTL, by `CreateInvite`) in a link
//! that also names the leader's Raft address and node id, the cluster id and the SHA-256
//! fingerprint of the cluster CA. The joiner generates its node key, connects to the Raft
//! port offering the join ALPN (no client certificate), checks the server's chain against
//! the fingerprint, and posts a CSR with the token. The leader spends the invite
//! (`RedeemInvite`, replicated, so a link works once cluster-wide), signs a certificate for
//! the node id it chose, adds the node as a learner and answers with what a member needs:
//! its certificate, the CA, the cluster secret and an admin API token.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use rand::rngs::OsRng;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use vpnkeeper_domain::secrets::{hash_token, NewApiToken};
use vpnkeeper_domain::{Actor, ApiScope, Command, CommandError};
use vpnkeeper_store::NodeAddr;

use crate::tls::{self, ClusterCa};
use crate::{Cluster, SubmitError};

const LINK_PREFIX: &str = "vpnkeeper://join?";

/// What a join link says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinLink {
    pub leader_id: u64,
    pub raft_addr: String,
    pub cluster_id: String,
    pub token: String,
    pub ca_fingerprint: String,
}

impl std::fmt::Display for JoinLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{LINK_PREFIX}leader={}&addr={}&cluster={}&token={}&ca=sha256:{}",
            self.leader_id, self.raft_addr, self.cluster_id, self.token, self.ca_fingerprint
        )
    }
}

impl JoinLink {
    pub fn parse(text: &str) -> Result<JoinLink, String> {
        let bad = |what: &str| {
            format!("malformed join link: {what}; copy the whole link printed by `vpnkeeper invite create`")
        };
        let query = text
            .trim()
            .strip_prefix(LINK_PREFIX)
            .ok_or_else(|| bad("it does not start with vpnkeeper://join?"))?;
        let field = |name: &str| {
            query
                .split('&')
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                .filter(|v| !v.is_empty())
                .map(str::to_string)
                .ok_or_else(|| bad(&format!("no `{name}`")))
        };
        let ca = field("ca")?;
        let ca_fingerprint = ca
            .strip_prefix("sha256:")
            .filter(|h| h.len() == 64 && h.chars().all(|c| c.is_ascii_hexdigit()))
            .ok_or_else(|| bad("`ca` is not sha256:<64 hex digits>"))?
            .to_ascii_lowercase();
        Ok(JoinLink {
            leader_id: field("leader")?
                .parse()
                .map_err(|_| bad("`leader` is not a node id"))?,
            raft_addr: field("addr")?,
            cluster_id: field("cluster")?,
            token: field("token")?,
            ca_fingerprint,
        })
    }
}

/// Sent by the joiner.
#[derive(Debug, Serialize, Deserialize)]
pub struct JoinRequest {
    pub cluster_id: String,
    pub token: String,
    pub csr_pem: String,
    pub name: String,
    pub raft_addr: String,
    pub api_addr: String,
}

/// What a joiner receives: everything it needs to be a member.
#[derive(Serialize, Deserialize)]
pub struct JoinGrant {
    pub node_id: u64,
    pub cert_pem: String,
    pub ca_cert_pem: String,
    pub ca_key_pem: String,
    pub cluster_secret_hex: String,
    pub admin_token: String,
}

/// The cluster's identity and keys, held by every member.
#[derive(Clone)]
pub struct Pki {
    pub tls: tls::NodeTls,
    pub ca: ClusterCa,
    pub cluster_id: String,
    pub secret_hex: String,
}

impl Pki {
    /// The PKI of node `node_id` in `dir`: creates the cluster CA when the directory has
    /// none (a data directory from before mTLS, or `init`) and renews the node certificate
    /// when it is missing, for another id, or near its end.
    pub fn ensure(
        dir: &std::path::Path,
        node_id: u64,
        secret: &vpnkeeper_domain::secrets::ClusterSecret,
    ) -> Result<Pki, tls::TlsError> {
        let cluster_id = cluster_id(secret);
        if tls::ensure(dir, node_id, &cluster_id)? {
            tracing::info!(node_id, "cluster certificates written");
        }
        Ok(Pki {
            tls: tls::NodeTls::load(dir, node_id)?,
            ca: ClusterCa::load(dir)?,
            cluster_id,
            secret_hex: secret.to_hex(),
        })
    }
}

/// The id of the cluster whose secret is `secret`: public, stable, and the same on every
/// member without being stored anywhere.
pub fn cluster_id(secret: &vpnkeeper_domain::secrets::ClusterSecret) -> String {
    hex::encode(&secret.derive("cluster/id/v1")[..8])
}

/// A new invite: its link and when it expires.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Invite {
    pub link: String,
    pub expires_at_ms: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum InviteError {
    #[error("the cluster has no leader right now; retry in a few seconds")]
    NoLeader,
    #[error(transparent)]
    Submit(#[from] SubmitError),
    #[error("{0}")]
    Refused(CommandError),
}

impl Cluster {
    /// Records a one-time invite valid for `ttl` and returns its link, which points at the
    /// current leader.
    pub async fn create_invite(&self, actor: Actor, ttl: Duration) -> Result<Invite, InviteError> {
        let m = self.metrics();
        let leader_id = m.current_leader.ok_or(InviteError::NoLeader)?;
        let raft_addr = m
            .membership_config
            .membership()
            .get_node(&leader_id)
            .map(|n| n.raft_addr.clone())
            .ok_or(InviteError::NoLeader)?;
        let token = random_hex(32);
        let expires_at_ms = crate::now_ms() + ttl.as_millis() as i64;
        let command = Command::CreateInvite {
            invite_id: random_hex(8),
            token_hash: hash_token(&token),
            expires_at_ms,
        };
        self.submit(actor, command)
            .await?
            .map_err(InviteError::Refused)?;
        let pki = &self.inner.pki;
        let link = JoinLink {
            leader_id,
            raft_addr,
            cluster_id: pki.cluster_id.clone(),
            token,
            ca_fingerprint: pki.tls.ca_fingerprint(),
        };
        Ok(Invite {
            link: link.to_string(),
            expires_at_ms,
        })
    }

    /// The routes served on join connections of the Raft listener.
    pub fn join_router(&self) -> Router {
        Router::new().route("/join", post(join)).with_state(Joins {
            cluster: self.clone(),
            ids: Arc::new(Mutex::new(0)),
        })
    }
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

#[derive(Clone)]
struct Joins {
    cluster: Cluster,
    /// The last id handed out here: two joins at once get different ids.
    ids: Arc<Mutex<u64>>,
}

type Refusal = (StatusCode, String);

async fn join(State(j): State<Joins>, Json(req): Json<JoinRequest>) -> Response {
    match admit(&j, req).await {
        Ok(grant) => Json(grant).into_response(),
        Err((status, message)) => (status, message).into_response(),
    }
}

async fn admit(j: &Joins, req: JoinRequest) -> Result<JoinGrant, Refusal> {
    let c = &j.cluster;
    let pki = &c.inner.pki;
    if req.cluster_id != pki.cluster_id {
        return Err((
            StatusCode::BAD_REQUEST,
            format!(
                "wrong cluster: the link is for cluster {} but this node belongs to cluster {}",
                req.cluster_id, pki.cluster_id
            ),
        ));
    }
    if !c.is_leader() {
        return Err((
            StatusCode::CONFLICT,
            "this node is no longer the leader; create a new invite".into(),
        ));
    }
    let mut last = j.ids.lock().await;
    let node_id = next_node_id(c, *last).await?;
    let actor = Actor::System {
        node_id: c.node_id(),
    };
    let redeem = Command::RedeemInvite {
        token_hash: hash_token(&req.token),
        node_id,
    };
    match c.submit(actor.clone(), redeem).await {
        Ok(Ok(_)) => {}
        Ok(Err(refused)) => return Err((StatusCode::FORBIDDEN, refused.to_string())),
        Err(e) => return Err((StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
    }
    *last = node_id;
    drop(last);
    let cert_pem = pki
        .ca
        .sign_csr(&req.csr_pem, node_id)
        .map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
    let addr = NodeAddr {
        raft_addr: req.raft_addr.clone(),
        api_addr: req.api_addr.clone(),
    };
    c.add_learner(node_id, addr)
        .await
        .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    let admin_token = admin_key(c, actor, &req.name).await?;
    tracing::info!(node_id, name = %req.name, raft = %req.raft_addr, "node joined as a learner");
    Ok(JoinGrant {
        node_id,
        cert_pem,
        ca_cert_pem: pki.ca.cert_pem.clone(),
        ca_key_pem: pki.ca.key_pem.clone(),
        cluster_secret_hex: pki.secret_hex.clone(),
        admin_token,
    })
}

/// One above every id the cluster has seen: members, registered nodes, this node's last.
async fn next_node_id(c: &Cluster, last: u64) -> Result<u64, Refusal> {
    let m = c.metrics();
    let members = m
        .membership_config
        .membership()
        .nodes()
        .map(|(id, _)| *id)
        .max();
    let registered = c
        .read()
        .nodes()
        .await
        .map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?
        .iter()
        .map(|n| n.id)
        .max();
    Ok([members, registered, Some(last)]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(0)
        + 1)
}

/// An admin API key for the new node's own CLI.
async fn admin_key(c: &Cluster, actor: Actor, name: &str) -> Result<String, Refusal> {
    let token = NewApiToken::generate(&mut OsRng);
    let command = Command::CreateApiKey {
        key_id: token.key_id.clone(),
        name: format!("admin-{name}"),
        scope: ApiScope::Admin,
        secret_hash: token.hash(),
    };
    match c.submit(actor, command).await {
        Ok(Ok(_)) => Ok(token.token),
        Ok(Err(e)) => Err((StatusCode::CONFLICT, e.to_string())),
        Err(e) => Err((StatusCode::SERVICE_UNAVAILABLE, e.to_string())),
    }
}

/// The joiner's side: asks the leader named in `link` to admit it.
pub async fn request_join(link: &JoinLink, req: &JoinRequest) -> Result<JoinGrant, String> {
    let config = tls::join_client_config(&link.ca_fingerprint).map_err(|e| e.to_string())?;
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(&link.raft_addr)
        .await
        .map_err(|e| format!("cannot resolve {}: {e}", link.raft_addr))?
        .collect();
    let name = tls::node_dns_name(link.leader_id);
    let port = addrs.first().map(|a| a.port()).unwrap_or_default();
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .resolve_to_addrs(&name, &addrs)
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;
    let resp = client
        .post(format!("https://{name}:{port}/join"))
        .json(req)
        .send()
        .await
        .map_err(|e| {
            format!(
                "cannot reach the leader at {} as a member of cluster {}: {}",
                link.raft_addr,
                link.cluster_id,
                error_chain(&e)
            )
        })?;
    if !resp.status().is_success() {
        let text = resp.text().await.unwrap_or_default();
        return Err(format!("the cluster refused the invite: {}", text.trim()));
    }
    resp.json()
        .await
        .map_err(|e| format!("unreadable answer from the leader: {e}"))
}

/// An error and its causes on one line (rustls' reason is deep in reqwest's chain).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_round_trips_and_bad_ones_say_what_is_missing() {
        let link = JoinLink {
            leader_id: 1,
            raft_addr: "10.0.0.1:8090".into(),
            cluster_id: "abcd".into(),
            token: "t0k".into(),
            ca_fingerprint: "ab".repeat(32),
        };
        assert_eq!(JoinLink::parse(&link.to_string()).unwrap(), link);
        let no_token = link.to_string().replace("&token=t0k", "");
        assert!(JoinLink::parse(&no_token)
            .unwrap_err()
            .contains("no `token`"));
        assert!(JoinLink::parse("https://x")
            .unwrap_err()
            .contains("malformed join link"));
        let short_ca = link.to_string().replace(&"ab".repeat(32), "abcd");
        assert!(JoinLink::parse(&short_ca).unwrap_err().contains("`ca`"));
    }
}

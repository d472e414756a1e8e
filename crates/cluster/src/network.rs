//! The client half of node-to-node RPC: openraft's `RaftNetwork` over HTTPS + JSON with
//! mutual TLS. Every connection presents this node's certificate; the peer's must chain to
//! the cluster CA and name the node id called (`https://node-<id>.vpnkeeper:<port>`,
//! resolved to the peer's Raft address), so a node cannot be impersonated by another.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use vpnkeeper_store::{NodeAddr, TypeConfig};

use crate::tls::{node_dns_name, NodeTls};
use crate::version::{self, PeerVersions, VERSION_HEADER};

/// What a peer answers (403, with this text) to a node that is not in its membership.
pub(crate) const NOT_A_MEMBER: &str = "is not a member of this cluster";

/// Creates one [`PeerClient`] per target. Clients are cached per (node id, address), so
/// connections (and their TLS sessions) are reused.
#[derive(Clone)]
pub struct HttpNetwork {
    tls: Arc<rustls::ClientConfig>,
    clients: Arc<Mutex<HashMap<(u64, String), reqwest::Client>>>,
    /// Unix ms of the last successful exchange with each peer (either direction).
    contacts: Arc<Mutex<HashMap<u64, i64>>>,
    /// The version each peer last advertised (see [`crate::version`]).
    pub(crate) versions: PeerVersions,
}

impl HttpNetwork {
    pub fn new(tls: &NodeTls) -> Result<Self, crate::tls::TlsError> {
        Ok(HttpNetwork {
            tls: Arc::new(tls.client_config()?),
            clients: Arc::default(),
            contacts: Arc::default(),
            versions: PeerVersions::default(),
        })
    }

    /// An HTTPS client that reaches node `target` at `raft_addr`, and the base URL to use.
    pub(crate) async fn client_for(
        &self,
        target: u64,
        raft_addr: &str,
    ) -> Result<(reqwest::Client, String), String> {
        let key = (target, raft_addr.to_string());
        let port = raft_addr
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse::<u16>().ok())
            .ok_or_else(|| format!("raft address {raft_addr} has no port"))?;
        let base = format!("https://{}:{port}", node_dns_name(target));
        if let Some(c) = self.clients.lock().expect("not poisoned").get(&key) {
            return Ok((c.clone(), base));
        }
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host(raft_addr)
            .await
            .map_err(|e| format!("cannot resolve {raft_addr}: {e}"))?
            .collect();
        let client = reqwest::Client::builder()
            .use_preconfigured_tls((*self.tls).clone())
            .resolve_to_addrs(&node_dns_name(target), &addrs)
            .connect_timeout(Duration::from_secs(2))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| format!("building the client for node {target}: {e}"))?;
        self.clients
            .lock()
            .expect("not poisoned")
            .insert(key, client.clone());
        Ok((client, base))
    }

    pub(crate) fn saw(&self, node: u64) {
        self.contacts
            .lock()
            .expect("not poisoned")
            .insert(node, crate::now_ms());
    }

    /// Unix ms of the last successful exchange with each peer.
    pub fn contacts(&self) -> HashMap<u64, i64> {
        self.contacts.lock().expect("not poisoned").clone()
    }

    /// POSTs `req` to `path` on node `target`.
    pub(crate) async fn post<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        target: u64,
        raft_addr: &str,
        path: &str,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp, PostError> {
        let (client, base) = self
            .client_for(target, raft_addr)
            .await
            .map_err(PostError::Unreachable)?;
        let resp = client
            .post(format!("{base}{path}"))
            .timeout(timeout)
            .header(VERSION_HEADER, version::header_value())
            .json(req)
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    PostError::Unreachable(format!("{e:#}"))
                } else {
                    PostError::Network(format!("{e:#}"))
                }
            })?;
        let status = resp.status();
        if status.is_success() {
            let version = resp.headers().get(VERSION_HEADER);
            self.versions
                .saw(target, version.map(|v| v.to_str().unwrap_or("?")));
        } else {
            let text = resp.text().await.unwrap_or_default();
            let message = format!("node {target} answered HTTP {status} on {path}: {text}");
            if status == StatusCode::FORBIDDEN && text.contains(NOT_A_MEMBER) {
                return Err(PostError::NotMember(message));
            }
            if status == StatusCode::NOT_FOUND {
                return Err(PostError::NoRoute(message));
            }
            return Err(PostError::Network(message));
        }
        let out = resp
            .json()
            .await
            .map_err(|e| PostError::Network(e.to_string()))?;
        self.saw(target);
        Ok(out)
    }
}

#[derive(Debug)]
pub(crate) enum PostError {
    Unreachable(String),
    Network(String),
    /// The peer does not count the caller as a member.
    NotMember(String),
    /// The peer's build does not serve this path (an older release).
    NoRoute(String),
}

impl std::fmt::Display for PostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PostError::Unreachable(s)
            | PostError::Network(s)
            | PostError::NotMember(s)
            | PostError::NoRoute(s) => f.write_str(s),
        }
    }
}

impl RaftNetworkFactory<TypeConfig> for HttpNetwork {
    type Network = PeerClient;

    async fn new_client(&mut self, target: u64, node: &NodeAddr) -> Self::Network {
        PeerClient {
            target,
            raft_addr: node.raft_addr.clone(),
            net: self.clone(),
        }
    }
}

pub struct PeerClient {
    target: u64,
    raft_addr: String,
    net: HttpNetwork,
}

impl PeerClient {
    /// POSTs `req` and decodes the peer's `Result<Resp, E>`: transport failures become
    /// `Unreachable`/`Network` (openraft backs off), a Raft-level error from the peer becomes
    /// `RemoteError`.
    async fn call<Req, Resp, E>(
        &self,
        path: &str,
        req: &Req,
        timeout: Duration,
    ) -> Result<Resp, RPCError<u64, NodeAddr, E>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let result: Result<Resp, E> = self
            .net
            .post(self.target, &self.raft_addr, path, req, timeout)
            .await
            .map_err(|e| match e {
                PostError::Unreachable(s) => {
                    RPCError::Unreachable(Unreachable::new(&std::io::Error::other(s)))
                }
                PostError::Network(s) | PostError::NotMember(s) | PostError::NoRoute(s) => {
                    RPCError::Network(NetworkError::new(&std::io::Error::other(s)))
                }
            })?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        req: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, NodeAddr, RaftError<u64>>> {
        self.call("/raft/append", &req, option.hard_ttl()).await
    }

    async fn install_snapshot(
        &mut self,
        req: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, NodeAddr, RaftError<u64, InstallSnapshotError>>,
    > {
        self.call("/raft/snapshot", &req, option.hard_ttl()).await
    }

    async fn vote(
        &mut self,
        req: VoteRequest<u64>,
        option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, NodeAddr, RaftError<u64>>> {
        self.call("/raft/vote", &req, option.hard_ttl()).await
    }
}

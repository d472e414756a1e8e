//! The client half of node-to-node RPC: openraft's `RaftNetwork` over HTTP + JSON.
//!
//! Every request carries the cluster's RPC token (derived from the cluster secret), so a
//! stranger who can reach the Raft port cannot vote or append entries.

use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use vpnkeeper_store::{NodeAddr, TypeConfig};

/// Creates one [`PeerClient`] per target; all share a connection pool.
#[derive(Clone)]
pub struct HttpNetwork {
    http: reqwest::Client,
    rpc_token: String,
}

impl HttpNetwork {
    pub fn new(rpc_token: String) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .expect("building an HTTP client with static settings cannot fail");
        HttpNetwork { http, rpc_token }
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn rpc_token(&self) -> &str {
        &self.rpc_token
    }
}

impl RaftNetworkFactory<TypeConfig> for HttpNetwork {
    type Network = PeerClient;

    async fn new_client(&mut self, target: u64, node: &NodeAddr) -> Self::Network {
        PeerClient {
            target,
            base: format!("http://{}", node.raft_addr),
            http: self.http.clone(),
            rpc_token: self.rpc_token.clone(),
        }
    }
}

pub struct PeerClient {
    target: u64,
    base: String,
    http: reqwest::Client,
    rpc_token: String,
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
        let resp = self
            .http
            .post(format!("{}{}", self.base, path))
            .bearer_auth(&self.rpc_token)
            .timeout(timeout)
            .json(req)
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    RPCError::Unreachable(Unreachable::new(&e))
                } else {
                    RPCError::Network(NetworkError::new(&e))
                }
            })?;
        if !resp.status().is_success() {
            let status = resp.status();
            let msg = format!("peer {} answered HTTP {status} on {path}", self.target);
            return Err(RPCError::Network(NetworkError::new(
                &std::io::Error::other(msg),
            )));
        }
        let result: Result<Resp, E> = resp
            .json()
            .await
            .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
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

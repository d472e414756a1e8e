//! What every handler can reach: the cluster (for proposals), the read store, the sealer.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use vpnkeeper_cluster::Cluster;
use vpnkeeper_domain::secrets::Sealer;
use vpnkeeper_domain::wgconf::ClientOptions;
use vpnkeeper_domain::{Actor, ApplyOutcome, Command, Envelope};
use vpnkeeper_store::ReadStore;

use crate::error::ApiError;

#[derive(Clone)]
pub struct ApiState {
    inner: Arc<Inner>,
}

struct Inner {
    cluster: Cluster,
    sealer: Sealer,
    client_options: ClientOptions,
}

impl ApiState {
    pub fn new(cluster: Cluster, sealer: Sealer, client_options: ClientOptions) -> Self {
        ApiState {
            inner: Arc::new(Inner {
                cluster,
                sealer,
                client_options,
            }),
        }
    }

    /// How client configs are shaped (router DNS/MTU/keepalive), from the node's config.
    pub fn client_options(&self) -> &ClientOptions {
        &self.inner.client_options
    }

    pub fn cluster(&self) -> &Cluster {
        &self.inner.cluster
    }

    pub fn read(&self) -> &ReadStore {
        self.inner.cluster.read()
    }

    pub fn sealer(&self) -> &Sealer {
        &self.inner.sealer
    }

    /// Validates `command`, proposes it and waits until it is applied. A refusal decided by
    /// `apply` (not found, conflict) comes back as a 4xx [`ApiError`].
    pub async fn execute(
        &self,
        actor: Actor,
        command: Command,
    ) -> Result<vpnkeeper_domain::Applied, ApiError> {
        command.validate()?;
        let env = Envelope {
            at_ms: now_ms(),
            actor,
            command,
        };
        let outcome: ApplyOutcome = self.inner.cluster.propose(env).await?;
        Ok(outcome?)
    }
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

//! WireGuard / AmneziaWG data-plane backends for vpnkeeper.
//!
//! The reconciler holds an `Arc<dyn WgBackend>`, reads [`WgBackend::state`], computes
//! [`diff`] against the desired peers and hands the whole difference to
//! [`WgBackend::apply`] as one batch (one UAPI transaction, one `wg syncconf`). Or it calls
//! [`WgBackend::reconcile`], which does exactly that — and which the Amnezia backend
//! overrides with the "deleted in the app" rule.
//!
//! Backends:
//! - [`uapi::UapiBackend`]: the cross-platform UAPI socket of wireguard-go, amneziawg-go
//!   and boringtun (userspace daemons).
//! - [`cli::CliBackend`]: the `wg`/`awg` tool, for kernel interfaces.
//! - [`amnezia_docker::AmneziaDockerBackend`]: the Amnezia self-hosted container.
//! - [`embedded::EmbeddedBackend`]: the AmneziaWG data plane inside this process.
//!
//! This crate knows nothing about the store or the domain; it speaks peers and keys.
//!
//! ## Running a userspace daemon for the `uapi` backend
//!
//! The operator runs the daemon; vpnkeeper then configures the interface completely
//! (private key, listen port, address, link up) through [`WgBackend::ensure_interface`].
//! A systemd unit for amneziawg-go (wireguard-go takes the same flags; its socket lands in
//! /var/run/wireguard instead of /var/run/amneziawg, and both are probed):
//!
//! ```text
//! [Unit]
//! Description=AmneziaWG userspace interface awg0 (configured by vpnkeeper)
//! Before=vpnkeeper.service
//!
//! [Service]
//! ExecStart=/usr/local/bin/amneziawg-go -f awg0
//! Restart=always
//!
//! [Install]
//! WantedBy=multi-user.target
//! ```
//!
//! When the daemon restarts, its interface comes back empty; the reconciler's next pass
//! (`ensure_interface` + `reconcile`) restores the key and every peer.

pub mod amnezia_docker;
pub mod cli;
pub mod conf;
pub mod config;
pub mod embedded;
pub mod error;
mod exec;
mod ip;
pub mod model;
pub mod nat;
pub mod reconciler;
pub mod uapi;

pub use config::{build_backend, BackendConfig, BackendKind};
pub use error::BackendError;
pub use model::{
    canonical_key, diff, normalize_ips, InterfaceSpec, InterfaceState, Key, PeerDiff, PeerSpec,
    PeerState, PskFingerprint, Secret, SecretString,
};
pub use reconciler::{Desired, DesiredSource, Observation, PassOutcome, PeerChanges, Reconciler};

/// How a backend is doing, for the node's status page and metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackendHealth {
    /// The data plane answered; `peers` is how many peers it has.
    Healthy { peers: usize },
    /// The data plane could not be reached or read; `reason` is a one-line explanation
    /// with what to do.
    Unavailable { reason: String },
}

impl BackendHealth {
    pub fn is_healthy(&self) -> bool {
        matches!(self, BackendHealth::Healthy { .. })
    }
}

/// What a [`WgBackend::reconcile`] pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub added: usize,
    pub updated: usize,
    pub removed: usize,
    /// Public keys (base64) of desired peers that someone deleted on purpose in the Amnezia
    /// app (gone from the server config AND from clientsTable). They were *not* restored;
    /// the caller should revoke them in the replicated state.
    pub deleted_in_app: Vec<String>,
    /// Public keys of desired peers that had vanished from the server but were still in
    /// clientsTable (drift, e.g. the app rewrote the config); they were restored.
    pub restored: Vec<String>,
    /// Public keys of peers on the server that vpnkeeper never installed (created in the
    /// Amnezia app). Left alone; the caller may import them.
    pub foreign: Vec<String>,
}

/// A WireGuard-compatible data plane. Object-safe: the node holds `Arc<dyn WgBackend>`.
#[async_trait::async_trait]
pub trait WgBackend: Send + Sync + std::fmt::Debug {
    /// Configure the interface completely (private key, listen port, AWG parameters,
    /// address, MTU, link up). Idempotent: re-running it with the same spec changes nothing
    /// and does not drop sessions.
    async fn ensure_interface(&self, spec: &InterfaceSpec) -> Result<(), BackendError>;

    /// Read the interface and its peers.
    async fn state(&self) -> Result<InterfaceState, BackendError>;

    /// Apply a whole diff as one batch. Everything is validated before anything is sent,
    /// so a bad key in the diff changes nothing.
    async fn apply(&self, diff: &PeerDiff) -> Result<(), BackendError>;

    /// Whether the data plane answers.
    async fn health(&self) -> BackendHealth {
        match self.state().await {
            Ok(s) => BackendHealth::Healthy {
                peers: s.peers.len(),
            },
            Err(e) => BackendHealth::Unavailable {
                reason: e.to_string(),
            },
        }
    }

    /// Data-plane counters for /metrics (name, total since the interface came up): drops
    /// by reason, handshakes, junk sent. Only the embedded plane has them.
    fn counters(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }

    /// Short name for logs and metrics: "uapi", "cli", "amnezia-docker".
    fn name(&self) -> &'static str;

    /// Whether a change may be applied as a bare diff against what the last pass left,
    /// without reading the interface first (the reconciler's fast path for single changes).
    /// Backends whose [`WgBackend::reconcile`] has rules of its own say no.
    fn incremental(&self) -> bool {
        true
    }

    /// Converge the peers to `desired`: state → diff → apply. Backends with extra rules
    /// (Amnezia's clientsTable) override it.
    async fn reconcile(&self, desired: &[PeerSpec]) -> Result<SyncReport, BackendError> {
        let actual = self.state().await?;
        let d = diff(desired, &actual);
        if !d.is_empty() {
            self.apply(&d).await?;
        }
        Ok(SyncReport {
            added: d.add.len(),
            updated: d.update.len(),
            removed: d.remove.len(),
            ..Default::default()
        })
    }
}

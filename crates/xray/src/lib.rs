//! vpnkeeper's Xray-core data plane: VLESS+Reality users managed live over
//! Xray's gRPC API.
//!
//! The crate knows nothing about the replicated store: callers hand it the
//! node's [`XraySettings`] and the desired users, and get back reports and
//! traffic deltas.
//!
//! - [`settings`]: node settings, validation, Reality keys, UUID checks.
//! - [`client`]: the gRPC client (HandlerService, StatsService) with retries.
//! - [`reconcile`]: desired-vs-actual convergence and the per-node queue.
//! - [`cut`]: cutting a revoked user's live connections.
//! - [`config`]: the full server config, validated and written atomically.
//! - [`supervisor`]: running Xray as a child, restart with backoff.
//! - [`link`]: `vless://` share links.

pub mod client;
pub mod config;
pub mod cut;
pub mod error;
pub mod link;
pub mod proto;
pub mod reconcile;
pub mod settings;
pub mod supervisor;

pub use client::{Backoff, Traffic, XrayApi};
pub use config::{
    install_config, render_server_config, write_config_atomic, write_validated_config, AccessLog,
    ConfigFile,
};
pub use cut::{ConnTracker, Cutter};
pub use error::{ValidationError, XrayError};
pub use link::ShareLink;
pub use reconcile::{
    reconcile, reconcile_on_start, ReconcileReport, UserDelta, UserSync, XrayNode,
};
pub use settings::{generate_reality_keypair, generate_short_id, XraySettings, XrayUser};
pub use supervisor::{Supervisor, SupervisorConfig, XrayStart};

//! A node's own telemetry (issue #14): the sampler (`/proc` and `statvfs`), the local time
//! series in the node's own SQLite file (not in the Raft log), and PNG charts of a series.
//!
//! The shapes that cross the wire (`Sample`, `Series`, `NodeMetrics`, `Range`) live in
//! `vpnkeeper_domain::telemetry`; the binary wires the sampler to a timer and the node RPC
//! (`crates/vpnkeeper/src/metrics/`).

pub mod chart;
pub mod procfs;
pub mod sampler;
pub mod series;

pub use chart::{render_png, ChartError, Panel, Words};
pub use sampler::{Interfaces, Sampler};
pub use series::{SeriesError, SeriesStore};

//! One module per resource; [`crate::router`] mounts them.

pub mod audit;
pub mod backup;
pub mod balances;
pub mod devices;
pub mod docs;
pub mod health;
pub mod imports;
pub mod invites;
pub mod keys;
pub mod node_metrics;
pub mod node_ops;
pub mod nodes;
pub mod payments;
pub mod plans;
pub mod promo_codes;
pub mod stats;
pub mod tickets;
#[cfg(feature = "upgrade-next")]
pub mod upgrade_probe;
pub mod users;

//! One module per resource; [`crate::router`] mounts them.

pub mod devices;
pub mod health;
pub mod nodes;
pub mod users;

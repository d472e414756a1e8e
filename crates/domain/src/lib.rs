//! vpnkeeper's domain model. Pure: no IO, no clocks, no global state.
//!
//! Everything that changes replicated state is a [`command::Command`]. Anything random or
//! time-dependent (ids, keys, timestamps) is chosen by the proposer and carried inside the
//! command, so that applying the same log yields the same database on every node.

pub mod artifact;
pub mod awg;
pub mod backup;
pub mod command;
pub mod entity;
pub mod keys;
pub mod model;
pub mod placement;
pub mod reset;
pub mod schedule;
pub mod secrets;
pub mod size;
pub mod telegram;
pub mod telemetry;
pub mod ticket;
pub mod validate;
pub mod version;
pub mod wgconf;

pub use command::{
    Actor, Applied, ApplyOutcome, Command, CommandError, DeviceRef, Envelope, UserRef,
};
pub use entity::*;
pub use model::{DeviceType, Protocol};

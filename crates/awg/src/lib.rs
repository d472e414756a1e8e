//! vpnkeeper's embedded AmneziaWG data plane.
//!
//! The Noise_IKpsk2 handshake, sessions and timers are boringtun's (`noise`
//! module, used as a library: one `Tunn` per peer). This crate adds what boringtun does not
//! know about:
//! - [`wire`]: the AmneziaWG layer — S1–S4 prefixes, H1–H4 type values (single or ranges),
//!   junk and I1–I5 packets before every initiation, classification of incoming datagrams;
//! - [`cookie`]: MAC2 and cookie replies over the on-wire (H-valued) messages;
//! - [`device`]: the TUN device, the UDP socket, the peer table (index, key, allowed-IPs trie)
//!   and the worker/timer threads;
//! - [`uapi`]: the standard UAPI socket with the AmneziaWG keys, so `wg show`/`awg show` work.
//!
//! With every parameter unset it is plain WireGuard and talks to wireguard-go/boringtun.

pub mod cookie;
pub mod device;
pub mod itag;
pub mod metrics;
pub mod params;
pub mod peers;
pub mod uapi;
pub mod wire;

pub use device::{Device, DeviceConfig};
pub use metrics::MetricsSnapshot;
pub use params::{AwgParams, HRange};
pub use peers::{PeerConfig, PeerStats};

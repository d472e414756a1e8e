//! Counters of what the data plane did and dropped (exported on the node's /metrics).

use std::sync::atomic::{AtomicU64, Ordering};

use boringtun::noise::errors::WireGuardError;

macro_rules! counters {
    ($($name:ident: $doc:literal,)*) => {
        /// Monotonic counters since the device came up.
        #[derive(Default, Debug)]
        pub struct Metrics { $(#[doc = $doc] pub $name: AtomicU64,)* }

        /// A copy of [`Metrics`] at one moment.
        #[derive(Default, Debug, Clone, PartialEq, Eq)]
        pub struct MetricsSnapshot { $(#[doc = $doc] pub $name: u64,)* }

        impl Metrics {
            pub fn snapshot(&self) -> MetricsSnapshot {
                MetricsSnapshot { $($name: self.$name.load(Ordering::Relaxed),)* }
            }
        }

        impl MetricsSnapshot {
            /// (name, value) pairs for an exporter.
            pub fn pairs(&self) -> Vec<(&'static str, u64)> {
                vec![$((stringify!($name), self.$name),)*]
            }
        }
    };
}

counters! {
    rx_datagrams: "UDP datagrams received.",
    tx_datagrams: "UDP datagrams sent (messages, junk and I packets).",
    junk_sent: "Junk and I packets sent before initiations.",
    handshakes_completed: "Handshake initiations answered or responses accepted.",
    cookies_sent: "Cookie replies sent because the node was under load.",
    dropped_unclassified: "Datagrams that are no message under the parameters (junk, garbage).",
    dropped_bad_mac: "Handshake messages with a wrong MAC1.",
    dropped_unknown_peer: "Messages for a key or index that is not configured.",
    dropped_replay: "Replayed handshakes or transport counters.",
    dropped_invalid: "Messages that failed decryption or parsing.",
    dropped_under_load: "Handshakes refused under load without a valid cookie.",
    dropped_no_route: "TUN packets for an address no peer's allowed IPs cover.",
    dropped_no_endpoint: "TUN packets for a peer with no known endpoint.",
    dropped_source: "Decrypted packets whose source is outside the sender's allowed IPs.",
}

pub(crate) fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Metrics {
    /// Count a Noise error in the right bucket.
    pub(crate) fn noise_error(&self, e: &WireGuardError) {
        use WireGuardError as E;
        match e {
            E::DuplicateCounter | E::InvalidCounter | E::WrongTai64nTimestamp => {
                inc(&self.dropped_replay)
            }
            E::InvalidMac => inc(&self.dropped_bad_mac),
            E::UnderLoad => inc(&self.dropped_under_load),
            E::WrongIndex | E::WrongKey | E::NoCurrentSession => inc(&self.dropped_unknown_peer),
            // ConnectionExpired is the timer telling us the session is over, not a drop.
            E::ConnectionExpired => {}
            _ => inc(&self.dropped_invalid),
        }
    }
}

//! The randomness a turn needs, passed into `decide` so that deciding is a plain function.
//!
//! Everything random in a Command (device UUIDs, WireGuard keys, subscription tokens,
//! broadcast ids) is drawn by the proposer, so apply stays deterministic on every node.

use rand::rngs::OsRng;
use uuid::Uuid;
use vpnkeeper_domain::command::WgMaterial;
use vpnkeeper_domain::keys::wg_material;
use vpnkeeper_domain::secrets::{random_url_token, Sealer};

/// Length of the random subscription token of users the bot creates (as the API does).
pub(crate) const SUB_TOKEN_BYTES: usize = 24;

/// What `decide` may draw. Tests pass a deterministic implementation.
pub(crate) trait Entropy {
    /// A random (v4) UUID: a new device's id for Xray, a broadcast's id.
    fn uuid(&mut self) -> Uuid;
    /// A new user's subscription token.
    fn sub_token(&mut self) -> String;
    /// A new WireGuard-family device's key pair and PSK, sealed with the cluster secret.
    fn wg_material(&mut self) -> WgMaterial;
    /// A one-time nonce for a confirmation button (a node reboot), URL-safe, 22 characters.
    fn nonce(&mut self) -> String;
}

/// The operating system's generator, sealing keys with the cluster's sealer.
pub(crate) struct OsEntropy<'a> {
    pub sealer: &'a Sealer,
}

impl Entropy for OsEntropy<'_> {
    fn uuid(&mut self) -> Uuid {
        Uuid::new_v4()
    }

    fn sub_token(&mut self) -> String {
        random_url_token(&mut OsRng, SUB_TOKEN_BYTES)
    }

    fn wg_material(&mut self) -> WgMaterial {
        wg_material(&mut OsRng, self.sealer)
    }

    fn nonce(&mut self) -> String {
        random_url_token(&mut OsRng, 16)
    }
}

//! Secret material: the cluster secret, sealing of private keys stored in the replicated state,
//! and API tokens.
//!
//! Why sealing: the Raft log, the SQLite state and every backup of them travel between nodes and
//! end up in places an operator does not think of as secret. Private keys inside them are
//! encrypted (XChaCha20-Poly1305) under a key derived from the cluster secret, which only lives in
//! `DATA_DIR/cluster.key` (0600). A copied database alone leaks nothing.

use std::fmt;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// 32 random bytes shared by every node of a cluster. Never logged: `Debug` is redacted.
#[derive(Clone)]
pub struct ClusterSecret([u8; 32]);

impl fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClusterSecret(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("cluster secret file is malformed: expected 64 hex characters")]
    MalformedClusterSecret,
    #[error("sealed value is malformed (expected `v1:` followed by base64)")]
    MalformedSealed,
    #[error(
        "sealed value cannot be opened: it was sealed with another cluster secret or is corrupt"
    )]
    OpenFailed,
}

impl ClusterSecret {
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// The on-disk form: 64 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(text: &str) -> Result<Self, SecretError> {
        let bytes = hex::decode(text.trim()).map_err(|_| SecretError::MalformedClusterSecret)?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| SecretError::MalformedClusterSecret)?;
        Ok(Self(bytes))
    }

    /// Derives an independent 32-byte key for one purpose (HKDF-SHA256), so that the sealing
    /// key, the node-to-node RPC key and any later key never share material.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        let hk = Hkdf::<Sha256>::new(Some(b"vpnkeeper"), &self.0);
        let mut out = [0u8; 32];
        hk.expand(purpose.as_bytes(), &mut out)
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        out
    }

    pub fn sealer(&self) -> Sealer {
        Sealer::new(&self.derive("seal/v1"))
    }
}

/// An encrypted value as stored in the replicated state: `v1:` + base64(nonce ‖ ciphertext).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sealed(String);

impl fmt::Debug for Sealed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealed(..)")
    }
}

impl Sealed {
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Wraps a value read back from storage; it is checked when opened.
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }
}

/// Seals and opens values with the cluster's sealing key. The `purpose` string is bound as
/// associated data, so a sealed PSK cannot be passed off as a sealed private key.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sealer(<redacted>)")
    }
}

impl Sealer {
    pub fn new(key: &[u8; 32]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// The nonce is random (24 bytes, so collisions are not a concern) and chosen by the
    /// proposer: the sealed value is part of the Command and identical on every node.
    pub fn seal<R: RngCore + CryptoRng>(
        &self,
        rng: &mut R,
        purpose: &str,
        plaintext: &[u8],
    ) -> Sealed {
        let mut nonce = [0u8; 24];
        rng.fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: purpose.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&ciphertext);
        Sealed(format!("v1:{}", STANDARD.encode(blob)))
    }

    pub fn open(&self, purpose: &str, sealed: &Sealed) -> Result<SecretBytes, SecretError> {
        let b64 = sealed
            .0
            .strip_prefix("v1:")
            .ok_or(SecretError::MalformedSealed)?;
        let blob = STANDARD
            .decode(b64)
            .map_err(|_| SecretError::MalformedSealed)?;
        if blob.len() < 24 + 16 {
            return Err(SecretError::MalformedSealed);
        }
        let (nonce, ciphertext) = blob.split_at(24);
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: purpose.as_bytes(),
                },
            )
            .map_err(|_| SecretError::OpenFailed)?;
        Ok(SecretBytes(plain))
    }

    /// Convenience for base64 keys (WireGuard private keys and PSKs).
    pub fn open_string(&self, purpose: &str, sealed: &Sealed) -> Result<String, SecretError> {
        let bytes = self.open(purpose, sealed)?;
        String::from_utf8(bytes.0.clone()).map_err(|_| SecretError::OpenFailed)
    }
}

/// Decrypted secret bytes; `Debug` is redacted so they cannot leak through `{:?}`.
pub struct SecretBytes(pub Vec<u8>);

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBytes(<redacted>)")
    }
}

impl Drop for SecretBytes {
    fn drop(&mut self) {
        // Best effort: overwrite the plaintext before the allocation is returned.
        for b in self.0.iter_mut() {
            // SAFETY-free volatile-ish wipe; `write_volatile` keeps the compiler from eliding it.
            unsafe { std::ptr::write_volatile(b, 0) };
        }
    }
}

/// Purposes (associated data) for sealed values. One constant per kind of secret.
pub mod purpose {
    pub const DEVICE_WG_PRIVATE_KEY: &str = "device/wg-private-key";
    pub const DEVICE_WG_PSK: &str = "device/wg-psk";
    pub const NODE_WG_PRIVATE_KEY: &str = "node/wg-private-key";
    pub const NODE_REALITY_PRIVATE_KEY: &str = "node/reality-private-key";
    /// An imported panel's subscription-token secret (`import marzban`).
    pub const LEGACY_SUB_SECRET: &str = "import/legacy-sub-secret";
}

/// A freshly generated API token: `vk_<key id>_<secret>`. The key id is public (it appears in
/// listings and audit entries); only the SHA-256 of the whole token is stored.
pub struct NewApiToken {
    pub key_id: String,
    pub token: String,
}

impl fmt::Debug for NewApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NewApiToken({}, <redacted>)", self.key_id)
    }
}

impl NewApiToken {
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        let mut id = [0u8; 6];
        rng.fill_bytes(&mut id);
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        let key_id = hex::encode(id);
        let token = format!("vk_{key_id}_{}", URL_SAFE_NO_PAD.encode(secret));
        Self { key_id, token }
    }

    pub fn hash(&self) -> String {
        hash_token(&self.token)
    }
}

/// Splits a presented token into its key id, or `None` when it is not of our format.
pub fn token_key_id(token: &str) -> Option<&str> {
    let rest = token.strip_prefix("vk_")?;
    let (id, secret) = rest.split_once('_')?;
    if id.len() == 12 && id.chars().all(|c| c.is_ascii_hexdigit()) && !secret.is_empty() {
        Some(id)
    } else {
        None
    }
}

/// Tokens carry 256 bits of entropy, so a plain SHA-256 is an adequate one-way hash here (a
/// slow password hash would only add latency to every API request).
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Constant-time comparison of a presented token against a stored hash.
pub fn token_matches(token: &str, stored_hash: &str) -> bool {
    let presented = hash_token(token);
    presented.as_bytes().ct_eq(stored_hash.as_bytes()).into()
}

/// A random URL-safe token (subscription tokens, invite tokens).
pub fn random_url_token<R: RngCore + CryptoRng>(rng: &mut R, bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rng.fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;

    #[test]
    fn seal_round_trip_and_purpose_binding() {
        let secret = ClusterSecret::generate(&mut OsRng);
        let sealer = secret.sealer();
        let sealed = sealer.seal(&mut OsRng, purpose::DEVICE_WG_PSK, b"hello");
        assert_eq!(
            sealer.open(purpose::DEVICE_WG_PSK, &sealed).unwrap().0,
            b"hello"
        );
        assert_eq!(
            sealer
                .open(purpose::DEVICE_WG_PRIVATE_KEY, &sealed)
                .unwrap_err(),
            SecretError::OpenFailed
        );
        let other = ClusterSecret::generate(&mut OsRng).sealer();
        assert_eq!(
            other.open(purpose::DEVICE_WG_PSK, &sealed).unwrap_err(),
            SecretError::OpenFailed
        );
        assert!(!format!("{sealed:?}").contains("v1:"));
    }

    #[test]
    fn cluster_secret_hex_round_trip() {
        let secret = ClusterSecret::generate(&mut OsRng);
        let back = ClusterSecret::from_hex(&secret.to_hex()).unwrap();
        assert_eq!(back.derive("x"), secret.derive("x"));
        assert_ne!(secret.derive("x"), secret.derive("y"));
        assert!(ClusterSecret::from_hex("abc").is_err());
        assert_eq!(format!("{secret:?}"), "ClusterSecret(<redacted>)");
    }

    #[test]
    fn api_tokens() {
        let t = NewApiToken::generate(&mut OsRng);
        assert_eq!(token_key_id(&t.token), Some(t.key_id.as_str()));
        assert!(token_matches(&t.token, &t.hash()));
        assert!(!token_matches("vk_000000000000_x", &t.hash()));
        assert_eq!(token_key_id("Bearer x"), None);
        assert!(!format!("{t:?}").contains(&t.token));
    }
}

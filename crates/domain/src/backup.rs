//! The backup file: a readable manifest, then the sealed payload (the state machine's copy of
//! the replicated state, and the cluster secret when sealed with a passphrase).
//!
//! ```text
//! VKBACKUP1\n
//! {manifest JSON}\n
//! XChaCha20-Poly1305(key, nonce, payload, associated data = the manifest line)
//! ```
//!
//! The key is derived from the cluster secret (HKDF, purpose `backup/v1`) or from a
//! passphrase (PBKDF2-HMAC-SHA256, salt and rounds in the manifest), so a passphrase backup
//! restores without the old cluster. Binding the manifest as associated data means a manifest
//! edited by hand (counts, cluster id) fails to open like a corrupt payload does. Every way
//! of failing is one [`BackupError`] line; opening writes nothing.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::secrets::ClusterSecret;

pub const MAGIC: &[u8] = b"VKBACKUP1\n";
/// PBKDF2 rounds for a passphrase (OWASP's figure for PBKDF2-HMAC-SHA256).
pub const PASSPHRASE_ROUNDS: u32 = 600_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// vpnkeeper version that wrote it.
    pub version: String,
    /// Names the cluster without revealing its secret (a hash derived from it).
    pub cluster_id: String,
    pub created_at_ms: i64,
    pub last_log_index: u64,
    pub counts: serde_json::Value,
    /// SHA-256 of the (unsealed) payload, hex.
    pub sha256: String,
    pub sealing: Sealing,
    /// 24-byte XChaCha20 nonce, hex.
    pub nonce: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Sealing {
    /// Key derived from the cluster secret: restore needs that cluster's `cluster.key`.
    Cluster,
    /// Key derived from a passphrase; the payload carries the cluster secret.
    Passphrase { salt: String, rounds: u32 },
}

/// What a backup restores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contents {
    /// The state machine's copy of `state.db`.
    pub state_db: Vec<u8>,
    /// The cluster secret (present in passphrase backups).
    pub cluster_secret: Option<String>,
}

/// How to open (or seal) a backup.
pub enum BackupKey<'a> {
    Cluster(&'a ClusterSecret),
    Passphrase(&'a str),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackupError {
    #[error("not a vpnkeeper backup (no VKBACKUP1 header)")]
    NotABackup,
    #[error("the backup's manifest is damaged or the file is truncated")]
    BadManifest,
    #[error("this backup is of format {0}, newer than this vpnkeeper understands; restore with a newer version")]
    NewerFormat(u32),
    #[error("this backup is sealed with a passphrase: give it with --passphrase-file")]
    NeedsPassphrase,
    #[error("this backup is sealed with its cluster's key: give that cluster's cluster.key with --cluster-key, or make passphrase backups")]
    NeedsClusterKey,
    #[error("this backup belongs to cluster {backup}, the key given is of cluster {given}")]
    ForeignCluster { backup: String, given: String },
    #[error("the backup does not open: wrong passphrase, or the file is corrupt or truncated")]
    DoesNotOpen,
    #[error("the backup's content does not match its checksum: the file is corrupt")]
    Checksum,
}

/// A cluster's public id: 16 hex characters derived from its secret.
pub fn cluster_id(secret: &ClusterSecret) -> String {
    hex::encode(&secret.derive("cluster-id/v1")[..8])
}

/// Seals `contents` into a backup file.
pub fn seal<R: RngCore + CryptoRng>(
    rng: &mut R,
    key: BackupKey<'_>,
    mut manifest: Manifest,
    contents: &Contents,
) -> Vec<u8> {
    let payload = encode_payload(contents);
    manifest.format = 1;
    manifest.sha256 = hex::encode(Sha256::digest(&payload));
    let mut nonce = [0u8; 24];
    rng.fill_bytes(&mut nonce);
    manifest.nonce = hex::encode(nonce);
    let cipher_key = match key {
        BackupKey::Cluster(secret) => {
            manifest.sealing = Sealing::Cluster;
            secret.derive("backup/v1")
        }
        BackupKey::Passphrase(p) => {
            let mut salt = [0u8; 16];
            rng.fill_bytes(&mut salt);
            manifest.sealing = Sealing::Passphrase {
                salt: hex::encode(salt),
                rounds: PASSPHRASE_ROUNDS,
            };
            passphrase_key(p, &salt, PASSPHRASE_ROUNDS)
        }
    };
    let line = serde_json::to_vec(&manifest).expect("a manifest serializes");
    let sealed = XChaCha20Poly1305::new((&cipher_key).into())
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: &payload,
                aad: &line,
            },
        )
        .expect("sealing in memory does not fail");
    let mut out = Vec::with_capacity(MAGIC.len() + line.len() + 1 + sealed.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&line);
    out.push(b'\n');
    out.extend_from_slice(&sealed);
    out
}

/// The manifest alone (readable without any key).
pub fn read_manifest(file: &[u8]) -> Result<(Manifest, &[u8], &[u8]), BackupError> {
    let rest = file.strip_prefix(MAGIC).ok_or(BackupError::NotABackup)?;
    let end = rest
        .iter()
        .position(|b| *b == b'\n')
        .ok_or(BackupError::BadManifest)?;
    let (line, sealed) = (&rest[..end], &rest[end + 1..]);
    let manifest: Manifest = serde_json::from_slice(line).map_err(|_| BackupError::BadManifest)?;
    if manifest.format > 1 {
        return Err(BackupError::NewerFormat(manifest.format));
    }
    Ok((manifest, line, sealed))
}

/// Opens a backup file: checks the key fits, decrypts, verifies the checksum.
pub fn open(file: &[u8], key: BackupKey<'_>) -> Result<(Manifest, Contents), BackupError> {
    let (manifest, line, sealed) = read_manifest(file)?;
    let cipher_key = match (&manifest.sealing, key) {
        (Sealing::Cluster, BackupKey::Cluster(secret)) => {
            let given = cluster_id(secret);
            if given != manifest.cluster_id {
                return Err(BackupError::ForeignCluster {
                    backup: manifest.cluster_id.clone(),
                    given,
                });
            }
            secret.derive("backup/v1")
        }
        (Sealing::Cluster, BackupKey::Passphrase(_)) => return Err(BackupError::NeedsClusterKey),
        (Sealing::Passphrase { .. }, BackupKey::Cluster(_)) => {
            return Err(BackupError::NeedsPassphrase)
        }
        (Sealing::Passphrase { salt, rounds }, BackupKey::Passphrase(p)) => {
            let salt = hex::decode(salt).map_err(|_| BackupError::BadManifest)?;
            passphrase_key(p, &salt, *rounds)
        }
    };
    let nonce: [u8; 24] = hex::decode(&manifest.nonce)
        .ok()
        .and_then(|n| n.try_into().ok())
        .ok_or(BackupError::BadManifest)?;
    let payload = XChaCha20Poly1305::new((&cipher_key).into())
        .decrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: sealed,
                aad: line,
            },
        )
        .map_err(|_| BackupError::DoesNotOpen)?;
    if hex::encode(Sha256::digest(&payload)) != manifest.sha256 {
        return Err(BackupError::Checksum);
    }
    let contents = decode_payload(&payload).ok_or(BackupError::Checksum)?;
    Ok((manifest, contents))
}

fn passphrase_key(passphrase: &str, salt: &[u8], rounds: u32) -> [u8; 32] {
    let mut key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(passphrase.as_bytes(), salt, rounds.max(1), &mut key);
    key
}

/// `u32 length of the JSON header ‖ header ‖ state.db bytes`.
fn encode_payload(c: &Contents) -> Vec<u8> {
    let header = serde_json::json!({ "cluster_secret": c.cluster_secret });
    let header = serde_json::to_vec(&header).expect("a header serializes");
    let mut out = Vec::with_capacity(4 + header.len() + c.state_db.len());
    out.extend_from_slice(&(header.len() as u32).to_be_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(&c.state_db);
    out
}

fn decode_payload(p: &[u8]) -> Option<Contents> {
    let len = u32::from_be_bytes(p.get(..4)?.try_into().ok()?) as usize;
    let header: serde_json::Value = serde_json::from_slice(p.get(4..4 + len)?).ok()?;
    Some(Contents {
        state_db: p.get(4 + len..)?.to_vec(),
        cluster_secret: header["cluster_secret"].as_str().map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::OsRng;

    fn manifest(secret: &ClusterSecret) -> Manifest {
        Manifest {
            format: 1,
            version: "test".into(),
            cluster_id: cluster_id(secret),
            created_at_ms: 1,
            last_log_index: 7,
            counts: serde_json::json!({"users": 2}),
            sha256: String::new(),
            sealing: Sealing::Cluster,
            nonce: String::new(),
        }
    }

    fn contents() -> Contents {
        Contents {
            state_db: b"SQLite format 3\0 pretend".to_vec(),
            cluster_secret: Some("ab".repeat(32)),
        }
    }

    #[test]
    fn cluster_sealed_backups_open_only_with_their_cluster_key() {
        let secret = ClusterSecret::generate(&mut OsRng);
        let file = seal(
            &mut OsRng,
            BackupKey::Cluster(&secret),
            manifest(&secret),
            &contents(),
        );
        let (m, c) = open(&file, BackupKey::Cluster(&secret)).unwrap();
        assert_eq!(c, contents());
        assert_eq!(m.last_log_index, 7);
        let other = ClusterSecret::generate(&mut OsRng);
        assert!(matches!(
            open(&file, BackupKey::Cluster(&other)),
            Err(BackupError::ForeignCluster { .. })
        ));
        assert_eq!(
            open(&file, BackupKey::Passphrase("x")),
            Err(BackupError::NeedsClusterKey)
        );
    }

    #[test]
    fn passphrase_backups_refuse_wrong_passphrases_corruption_and_truncation() {
        let secret = ClusterSecret::generate(&mut OsRng);
        let file = seal(
            &mut OsRng,
            BackupKey::Passphrase("correct horse"),
            manifest(&secret),
            &contents(),
        );
        assert_eq!(
            open(&file, BackupKey::Passphrase("correct horse"))
                .unwrap()
                .1,
            contents()
        );
        assert_eq!(
            open(&file, BackupKey::Passphrase("wrong")),
            Err(BackupError::DoesNotOpen)
        );
        let mut flipped = file.clone();
        let last = flipped.len() - 3;
        flipped[last] ^= 1;
        assert_eq!(
            open(&flipped, BackupKey::Passphrase("correct horse")),
            Err(BackupError::DoesNotOpen)
        );
        assert_eq!(
            open(
                &file[..file.len() - 10],
                BackupKey::Passphrase("correct horse")
            ),
            Err(BackupError::DoesNotOpen)
        );
        assert_eq!(
            open(&file[..20], BackupKey::Passphrase("correct horse")),
            Err(BackupError::BadManifest)
        );
        assert_eq!(
            open(b"hello", BackupKey::Passphrase("x")),
            Err(BackupError::NotABackup)
        );
        // A manifest edited by hand no longer opens.
        let at = file.windows(9).position(|w| w == b"\"users\":2").unwrap();
        let mut edited = file.clone();
        edited[at + 8] = b'3';
        assert_eq!(
            open(&edited, BackupKey::Passphrase("correct horse")),
            Err(BackupError::DoesNotOpen)
        );
    }
}

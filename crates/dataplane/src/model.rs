//! Pure data types shared by every backend, and the desired-vs-actual [`diff`].
//!
//! Nothing in this module does IO, so the reconciler's decisions can be unit- and
//! property-tested without a WireGuard daemon.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ipnet::IpNet;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::BackendError;

/// A secret (private key, preshared key) as base64 text.
///
/// `Debug` prints a placeholder and the memory is wiped on drop, so a secret can sit inside
/// structs that are logged with `?spec` without leaking. There is deliberately no `Display`
/// and no `Serialize`: getting the text out needs an explicit [`SecretString::expose_secret`].
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretString(Zeroizing<String>);

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(SecretString::new)
    }
}

/// The spec calls the interface private key type `Secret`; it is the same thing.
pub type Secret = SecretString;

impl SecretString {
    pub fn new(s: impl Into<String>) -> Self {
        Self(Zeroizing::new(s.into()))
    }
    /// The secret text. Call only where it is written to a daemon or a 0600 file.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl From<String> for SecretString {
    fn from(s: String) -> Self {
        Self::new(s)
    }
}
impl From<&str> for SecretString {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(<redacted>)")
    }
}

/// A 32-byte Curve25519 key or preshared key, in the two encodings WireGuard uses:
/// base64 in configs and the `wg` tool, lowercase hex on the UAPI wire.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(pub [u8; 32]);

// Lets `Zeroizing<Key>` wipe private keys and PSKs when they go out of scope.
impl zeroize::DefaultIsZeroes for Key {}

impl Key {
    pub fn from_base64(s: &str) -> Option<Key> {
        let bytes = B64.decode(s.trim()).ok()?;
        Some(Key(bytes.try_into().ok()?))
    }
    pub fn from_hex(s: &str) -> Option<Key> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut out).ok()?;
        Some(Key(out))
    }
    pub fn to_base64(&self) -> String {
        B64.encode(self.0)
    }
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
    pub fn is_zero(&self) -> bool {
        self.0 == [0u8; 32]
    }
    /// The public key for this private key (X25519 base-point multiplication, with the
    /// clamping x25519-dalek applies — the same as `wg pubkey`).
    pub fn public_from_private(&self) -> Key {
        let secret = x25519_dalek::StaticSecret::from(self.0);
        Key(x25519_dalek::PublicKey::from(&secret).to_bytes())
    }
}

impl fmt::Debug for Key {
    // Keys of this type may be private: never print the bytes.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

/// Parse a base64 public key, with an error that says which field was wrong.
pub(crate) fn parse_public_key(s: &str) -> Result<Key, BackendError> {
    Key::from_base64(s).ok_or_else(|| BackendError::InvalidInput {
        what: "peer public key",
        detail: format!(
            "{:?} is not 32 bytes of base64 (expected 44 characters like `wg pubkey` prints)",
            truncate(s, 60)
        ),
    })
}

/// Parse a base64 secret key. The error never contains the (possibly secret) text.
pub(crate) fn parse_secret_key(s: &SecretString, what: &'static str) -> Result<Key, BackendError> {
    Key::from_base64(s.expose_secret()).ok_or(BackendError::InvalidInput {
        what,
        detail: "not 32 bytes of base64 (generate one with `wg genkey` / `wg genpsk`)".into(),
    })
}

pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

/// The canonical text form of a public key, so `diff` matches keys that differ only in
/// surrounding whitespace. Unparseable keys are kept as they are (apply rejects them).
pub fn canonical_key(s: &str) -> String {
    match Key::from_base64(s) {
        Some(k) => k.to_base64(),
        None => s.trim().to_string(),
    }
}

/// A short, one-way digest of a preshared key.
///
/// Backends can read PSKs back from the daemon, but we never want to keep or compare the
/// secret itself outside the backend; the fingerprint is enough to notice a rotated PSK.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PskFingerprint(pub [u8; 16]);

impl PskFingerprint {
    pub fn of(key: &Key) -> Self {
        let mut h = Sha256::new();
        h.update(b"vpnkeeper-psk-fingerprint-v1");
        h.update(key.0);
        let d = h.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&d[..16]);
        PskFingerprint(out)
    }
    pub fn of_secret(s: &SecretString) -> Option<Self> {
        Key::from_base64(s.expose_secret()).map(|k| Self::of(&k))
    }
}

impl fmt::Debug for PskFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PskFingerprint({})", hex::encode(&self.0[..4]))
    }
}

/// A peer as the control plane wants it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerSpec {
    /// base64, as `wg pubkey` prints it.
    pub public_key: String,
    pub preshared_key: Option<SecretString>,
    pub allowed_ips: Vec<IpNet>,
    /// Seconds; `None` or `Some(0)` = off.
    pub persistent_keepalive: Option<u16>,
    /// A human label kept by backends that have one (the Amnezia app's `clientName`);
    /// ignored by the others and by [`diff`].
    pub label: Option<String>,
}

impl PeerSpec {
    pub fn new(public_key: impl Into<String>, allowed_ips: Vec<IpNet>) -> Self {
        PeerSpec {
            public_key: public_key.into(),
            preshared_key: None,
            allowed_ips,
            persistent_keepalive: None,
            label: None,
        }
    }
}

/// The interface as the control plane wants it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceSpec {
    pub name: String,
    pub private_key: Secret,
    pub listen_port: u16,
    /// The pool's first address with its prefix, e.g. `10.8.0.1/24`.
    pub address: IpNet,
    /// Extra UAPI `key=value` lines for AmneziaWG (`jc=4`, `s1=…`, `h1=…`), one per line.
    /// Opaque here: they are passed to the daemon as they are.
    pub awg: Option<String>,
    pub mtu: Option<u16>,
}

/// A peer as the data plane reports it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PeerState {
    pub public_key: String,
    pub endpoint: Option<SocketAddr>,
    pub allowed_ips: Vec<IpNet>,
    /// Absolute unix seconds of the last handshake, whatever the implementation reports
    /// (boringtun reports an age; the UAPI parser converts it). `None` = never.
    pub last_handshake_unix: Option<i64>,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub preshared_key_set: bool,
    /// Digest of the PSK when the backend could read it; lets [`diff`] notice rotation.
    pub preshared_key_fingerprint: Option<PskFingerprint>,
    pub persistent_keepalive: Option<u16>,
}

/// The interface as the data plane reports it.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct InterfaceState {
    pub public_key: Option<String>,
    pub listen_port: Option<u16>,
    pub peers: Vec<PeerState>,
}

/// What to change on the data plane. Sorted by public key so output is deterministic.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerDiff {
    pub add: Vec<PeerSpec>,
    /// Peers that exist but whose allowed IPs, PSK or keepalive differ; updated in place
    /// (or removed and re-added in the same transaction where the daemon cannot update).
    pub update: Vec<PeerSpec>,
    /// Public keys (base64) of peers to remove.
    pub remove: Vec<String>,
}

impl PeerDiff {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.update.is_empty() && self.remove.is_empty()
    }
    pub fn len(&self) -> usize {
        self.add.len() + self.update.len() + self.remove.len()
    }
}

/// Allowed IPs in the form the kernel stores them: host bits cleared, sorted, no duplicates.
pub fn normalize_ips(ips: &[IpNet]) -> Vec<IpNet> {
    let mut v: Vec<IpNet> = ips.iter().map(|n| n.trunc()).collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn keepalive(k: Option<u16>) -> Option<u16> {
    k.filter(|&k| k != 0)
}

fn needs_update(want: &PeerSpec, have: &PeerState) -> bool {
    if normalize_ips(&want.allowed_ips) != normalize_ips(&have.allowed_ips) {
        return true;
    }
    if keepalive(want.persistent_keepalive) != keepalive(have.persistent_keepalive) {
        return true;
    }
    match (&want.preshared_key, have.preshared_key_fingerprint) {
        // The daemon told us which PSK it has: compare digests. An unparseable desired PSK
        // yields `None` here and so counts as a change; apply then reports it clearly.
        (Some(psk), Some(fp)) => PskFingerprint::of_secret(psk) != Some(fp),
        (Some(_), None) => !have.preshared_key_set,
        (None, _) => have.preshared_key_set,
    }
}

/// Compare the desired peers with what the interface has.
///
/// Peers are matched by public key; desired peers listed twice keep the last entry.
/// Runs in O(n log n): one hash index of the actual peers and one sort of the output.
pub fn diff(desired: &[PeerSpec], actual: &InterfaceState) -> PeerDiff {
    let have: HashMap<String, &PeerState> = actual
        .peers
        .iter()
        .map(|p| (canonical_key(&p.public_key), p))
        .collect();
    // BTreeMap both de-duplicates and sorts the desired peers.
    let want: BTreeMap<String, &PeerSpec> = desired
        .iter()
        .map(|p| (canonical_key(&p.public_key), p))
        .collect();

    let mut out = PeerDiff::default();
    for (key, spec) in &want {
        match have.get(key) {
            None => out.add.push((*spec).clone()),
            Some(state) if needs_update(spec, state) => out.update.push((*spec).clone()),
            Some(_) => {}
        }
    }
    out.remove = have
        .keys()
        .filter(|k| !want.contains_key(*k))
        .cloned()
        .collect();
    out.remove.sort_unstable();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(n: u32) -> String {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&n.to_be_bytes());
        b[31] = 1;
        Key(b).to_base64()
    }
    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }
    fn state_of(spec: &PeerSpec) -> PeerState {
        PeerState {
            public_key: spec.public_key.clone(),
            allowed_ips: spec.allowed_ips.clone(),
            preshared_key_set: spec.preshared_key.is_some(),
            preshared_key_fingerprint: spec
                .preshared_key
                .as_ref()
                .and_then(PskFingerprint::of_secret),
            persistent_keepalive: spec.persistent_keepalive,
            ..Default::default()
        }
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let psk = Key([7u8; 32]).to_base64();
        let spec = PeerSpec {
            preshared_key: Some(SecretString::new(psk.clone())),
            ..PeerSpec::new(key(1), vec![net("10.8.0.2/32")])
        };
        let iface = InterfaceSpec {
            name: "wg0".into(),
            private_key: SecretString::new(psk.clone()),
            listen_port: 1,
            address: net("10.8.0.1/24"),
            awg: None,
            mtu: None,
        };
        let dbg = format!("{spec:?} {iface:?} {:?}", Key([7u8; 32]));
        assert!(!dbg.contains(&psk), "{dbg}");
        assert!(!dbg.contains(&Key([7u8; 32]).to_hex()), "{dbg}");
        assert!(dbg.contains("redacted"));
    }

    #[test]
    fn key_roundtrip_and_pubkey() {
        // RFC 7748 test vector (Alice).
        let sk = Key::from_hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
            .unwrap();
        assert_eq!(
            sk.public_from_private().to_hex(),
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
        );
        assert_eq!(Key::from_base64(&sk.to_base64()), Some(sk));
        assert_eq!(Key::from_base64("short"), None);
        assert_eq!(Key::from_hex("zz"), None);
    }

    #[test]
    fn diff_add_update_remove() {
        let a = PeerSpec::new(key(1), vec![net("10.8.0.2/32")]);
        let b = PeerSpec::new(key(2), vec![net("10.8.0.3/32")]);
        let c = PeerSpec::new(key(3), vec![net("10.8.0.4/32")]);
        let actual = InterfaceState {
            peers: vec![
                state_of(&a),
                PeerState {
                    allowed_ips: vec![net("10.8.0.99/32")],
                    ..state_of(&b)
                },
                state_of(&PeerSpec::new(key(9), vec![])),
            ],
            ..Default::default()
        };
        let d = diff(&[a.clone(), b.clone(), c.clone()], &actual);
        assert_eq!(d.add, vec![c]);
        assert_eq!(d.update, vec![b]);
        assert_eq!(d.remove, vec![key(9)]);
    }

    #[test]
    fn diff_ignores_order_and_host_bits_but_sees_psk_and_keepalive() {
        let psk1 = SecretString::new(Key([1; 32]).to_base64());
        let psk2 = SecretString::new(Key([2; 32]).to_base64());
        let mut a = PeerSpec::new(key(1), vec![net("10.8.0.2/32"), net("fd00::5/64")]);
        a.preshared_key = Some(psk1.clone());
        let mut st = state_of(&a);
        st.allowed_ips = vec![net("fd00::/64"), net("10.8.0.2/32")];
        let actual = InterfaceState {
            peers: vec![st.clone()],
            ..Default::default()
        };
        assert!(diff(std::slice::from_ref(&a), &actual).is_empty());

        let mut rotated = a.clone();
        rotated.preshared_key = Some(psk2);
        assert_eq!(diff(&[rotated.clone()], &actual).update, vec![rotated]);

        let mut no_psk = a.clone();
        no_psk.preshared_key = None;
        assert_eq!(diff(&[no_psk.clone()], &actual).update.len(), 1);

        // A backend that only knows "a PSK is set" must not cause endless updates.
        let mut blind = st.clone();
        blind.preshared_key_fingerprint = None;
        let actual_blind = InterfaceState {
            peers: vec![blind],
            ..Default::default()
        };
        assert!(diff(std::slice::from_ref(&a), &actual_blind).is_empty());

        let mut ka = a.clone();
        ka.persistent_keepalive = Some(25);
        assert_eq!(diff(&[ka], &actual).update.len(), 1);
        let mut ka0 = a.clone();
        ka0.persistent_keepalive = Some(0);
        assert!(diff(&[ka0], &actual).is_empty());
    }

    #[test]
    fn diff_10k_is_fast_and_complete() {
        let desired: Vec<PeerSpec> = (0..10_000u32)
            .map(|i| {
                PeerSpec::new(
                    key(i),
                    vec![net(&format!("10.{}.{}.2/32", i / 256, i % 256))],
                )
            })
            .collect();
        let t = std::time::Instant::now();
        let d = diff(&desired, &InterfaceState::default());
        assert_eq!(d.add.len(), 10_000);
        let actual = InterfaceState {
            peers: desired.iter().map(state_of).collect(),
            ..Default::default()
        };
        assert!(diff(&desired, &actual).is_empty());
        // Not a timing assertion (benchmarks live in benches/); just make sure nothing is
        // quadratic enough to hang a debug build.
        assert!(t.elapsed().as_secs() < 30);
    }

    fn arb_spec() -> impl Strategy<Value = PeerSpec> {
        (
            0u32..40,
            proptest::collection::vec((0u8..4, 0u8..4), 0..3),
            proptest::option::of(0u8..3),
            proptest::option::of(0u16..3),
        )
            .prop_map(|(k, ips, psk, ka)| PeerSpec {
                public_key: key(k),
                preshared_key: psk.map(|p| SecretString::new(Key([p; 32]).to_base64())),
                allowed_ips: ips
                    .into_iter()
                    .map(|(a, b)| net(&format!("10.{a}.{b}.1/32")))
                    .collect(),
                persistent_keepalive: ka,
                label: None,
            })
    }

    /// Apply a diff to a state the way a daemon would.
    fn apply_model(actual: &InterfaceState, d: &PeerDiff) -> InterfaceState {
        let mut peers: BTreeMap<String, PeerState> = actual
            .peers
            .iter()
            .map(|p| (p.public_key.clone(), p.clone()))
            .collect();
        for r in &d.remove {
            peers.remove(r);
        }
        for s in d.update.iter().chain(&d.add) {
            peers.insert(s.public_key.clone(), state_of(s));
        }
        InterfaceState {
            peers: peers.into_values().collect(),
            ..Default::default()
        }
    }

    proptest! {
        #[test]
        fn diff_converges_in_one_step(
            desired in proptest::collection::vec(arb_spec(), 0..30),
            actual in proptest::collection::vec(arb_spec(), 0..30),
        ) {
            let mut seen = std::collections::HashSet::new();
            let actual = InterfaceState {
                peers: actual.iter().filter(|s| seen.insert(s.public_key.clone())).map(state_of).collect(),
                ..Default::default()
            };
            let d = diff(&desired, &actual);
            // Every key appears in at most one list.
            let mut keys: Vec<&String> = d.add.iter().map(|p| &p.public_key)
                .chain(d.update.iter().map(|p| &p.public_key)).chain(d.remove.iter()).collect();
            let n = keys.len();
            keys.sort(); keys.dedup();
            prop_assert_eq!(keys.len(), n);
            let after = apply_model(&actual, &d);
            prop_assert!(diff(&desired, &after).is_empty());
        }
    }
}

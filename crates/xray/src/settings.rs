//! Node-level Xray settings, their validation, and Reality key material.
//!
//! Every validation error is one line that names the offending field, because
//! these messages reach an operator who typed the value into a config file.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::{CryptoRng, RngCore};
use serde::{Deserialize, Serialize};
use x25519_dalek::{PublicKey, StaticSecret};

use crate::error::ValidationError;

/// The only flow vpnkeeper hands out: Vision over Reality.
pub const FLOW_VISION: &str = vpnkeeper_domain::artifact::FLOW_VISION;

/// uTLS fingerprints Xray's Reality client accepts.
pub const FINGERPRINTS: &[&str] = &[
    "chrome",
    "firefox",
    "safari",
    "ios",
    "android",
    "edge",
    "360",
    "qq",
    "random",
    "randomized",
];

/// A secret string (the Reality private key). `Debug` and `Display` print a
/// placeholder so the value cannot leak through `tracing` or error chains.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The raw value. Call sites are few and greppable on purpose.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How a revoked user's open connections are cut (Xray itself keeps them
/// alive: it checks credentials only at the handshake).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum CutMode {
    /// Ask Xray for the user's online client IPs and destroy the TCP sockets
    /// from those IPs to the VLESS port with `ss -K` (needs CAP_NET_ADMIN and
    /// Xray in this network namespace).
    #[default]
    SsKill,
    /// Only refuse new connections.
    Off,
}

/// Settings of the Xray data plane on one node.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct XraySettings {
    /// Address the VLESS+Reality inbound listens on.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Port of the VLESS+Reality inbound.
    pub port: u16,
    /// Reality x25519 private key, base64url without padding.
    pub reality_private_key: Secret,
    /// Matching public key (handed to clients as `pbk`).
    pub reality_public_key: String,
    /// Accepted Reality short ids; the first one goes into share links.
    pub short_ids: Vec<String>,
    /// SNI values the Reality inbound accepts; the first goes into links.
    pub server_names: Vec<String>,
    /// Reality target (`host:port`) whose TLS handshake is borrowed.
    pub dest: String,
    /// uTLS fingerprint clients should use.
    #[serde(default = "default_fingerprint")]
    pub fingerprint: String,
    /// Where Xray's gRPC API (dokodemo-door inbound) listens. Keep it on
    /// loopback: the API has no authentication.
    pub api_addr: SocketAddr,
    /// Tag of the VLESS inbound, used in every AlterInbound call.
    #[serde(default = "default_inbound_tag")]
    pub inbound_tag: String,
    /// CIDRs the freedom outbound may reach although Xray >= 26 blocks
    /// private/loopback targets by default (tests need 127.0.0.1/32).
    #[serde(default)]
    pub allow_private_targets: Vec<String>,
    /// Seconds an idle proxied connection lives (Xray `policy.connIdle`).
    #[serde(default = "default_conn_idle")]
    pub conn_idle_secs: u32,
    /// Command line that runs Xray, `{config}` replaced by the config path.
    /// `None`: Xray is run by someone else and only reached at `api_addr`.
    #[serde(default)]
    pub command: Option<String>,
    /// Directory holding `config.json` (normally `DATA_DIR/xray`).
    pub config_dir: PathBuf,
    /// How live connections are cut on revoke.
    #[serde(default)]
    pub cut_mode: CutMode,
}

fn default_listen() -> String {
    "0.0.0.0".into()
}
fn default_fingerprint() -> String {
    "chrome".into()
}
fn default_inbound_tag() -> String {
    "vless-reality".into()
}
fn default_conn_idle() -> u32 {
    300
}

impl XraySettings {
    /// Checks every field; the first problem is returned as a one-line error.
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.port == 0 {
            return Err(ValidationError::new("port", "must be 1-65535, got 0"));
        }
        if self.listen.parse::<std::net::IpAddr>().is_err() {
            return Err(ValidationError::new(
                "listen",
                format!("{:?} is not an IP address", self.listen),
            ));
        }
        let private = decode_key(self.reality_private_key.expose())
            .map_err(|why| ValidationError::new("reality_private_key", why))?;
        let public = decode_key(&self.reality_public_key)
            .map_err(|why| ValidationError::new("reality_public_key", why))?;
        let derived = PublicKey::from(&StaticSecret::from(private));
        if derived.as_bytes() != &public {
            return Err(ValidationError::new(
                "reality_public_key",
                "does not match reality_private_key; regenerate the pair",
            ));
        }
        if self.short_ids.is_empty() {
            return Err(ValidationError::new(
                "short_ids",
                "needs at least one short id (hex, even length, <= 16 chars)",
            ));
        }
        for sid in &self.short_ids {
            validate_short_id(sid)?;
        }
        if self.server_names.is_empty() {
            return Err(ValidationError::new(
                "server_names",
                "needs at least one SNI (e.g. the dest host name)",
            ));
        }
        for name in &self.server_names {
            validate_server_name(name)?;
        }
        validate_host_port(&self.dest).map_err(|why| ValidationError::new("dest", why))?;
        validate_fingerprint(&self.fingerprint)?;
        if self.api_addr.port() == 0 {
            return Err(ValidationError::new("api_addr", "port must be 1-65535"));
        }
        if self.api_addr.port() == self.port && self.api_addr.ip().is_unspecified() {
            return Err(ValidationError::new(
                "api_addr",
                "must not use the VLESS port",
            ));
        }
        if self.inbound_tag.is_empty() || self.inbound_tag == "api" {
            return Err(ValidationError::new(
                "inbound_tag",
                "must be non-empty and not \"api\" (reserved for the API inbound)",
            ));
        }
        for cidr in &self.allow_private_targets {
            validate_cidr(cidr)
                .map_err(|why| ValidationError::new("allow_private_targets", why))?;
        }
        if self.conn_idle_secs == 0 {
            return Err(ValidationError::new("conn_idle_secs", "must be >= 1"));
        }
        if let Some(cmd) = &self.command {
            crate::config::command_argv(cmd, &self.config_dir)?;
        }
        Ok(())
    }
}

/// A user as the VLESS inbound knows it.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct XrayUser {
    /// Stable id chosen by the caller (e.g. `dev-<id>`); Xray's user key.
    pub email: String,
    /// The VLESS credential.
    pub uuid: uuid::Uuid,
    /// `xtls-rprx-vision` (or empty for no flow).
    pub flow: String,
}

impl XrayUser {
    pub fn vision(email: impl Into<String>, uuid: uuid::Uuid) -> Self {
        Self {
            email: email.into(),
            uuid,
            flow: FLOW_VISION.into(),
        }
    }

    pub fn validate(&self) -> Result<(), ValidationError> {
        validate_email(&self.email)?;
        if self.uuid.is_nil() {
            return Err(ValidationError::new("uuid", "must not be the nil UUID"));
        }
        if !self.flow.is_empty() && self.flow != FLOW_VISION {
            return Err(ValidationError::new(
                "flow",
                format!("must be empty or {FLOW_VISION:?}, got {:?}", self.flow),
            ));
        }
        Ok(())
    }
}

impl fmt::Debug for XrayUser {
    // Only a UUID prefix: the UUID is the user's password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XrayUser")
            .field("email", &self.email)
            .field("uuid", &uuid_prefix(&self.uuid))
            .field("flow", &self.flow)
            .finish()
    }
}

/// First 8 hex digits of a UUID followed by an ellipsis, for logs.
pub fn uuid_prefix(uuid: &uuid::Uuid) -> String {
    let s = uuid.simple().to_string();
    format!("{}…", &s[..8])
}

/// Parses a UUID given as text, with a field-naming error.
pub fn parse_uuid(field: &'static str, text: &str) -> Result<uuid::Uuid, ValidationError> {
    let u = uuid::Uuid::parse_str(text.trim())
        .map_err(|_| ValidationError::new(field, "is not a valid UUID (8-4-4-4-12 hex)"))?;
    if u.is_nil() {
        return Err(ValidationError::new(field, "must not be the nil UUID"));
    }
    Ok(u)
}

/// Xray uses the email as a map key and inside stats counter names
/// (`user>>>EMAIL>>>traffic>>>uplink`), so `>>>`-free printable text only.
pub fn validate_email(email: &str) -> Result<(), ValidationError> {
    if email.is_empty() || email.len() > 128 {
        return Err(ValidationError::new("email", "must be 1-128 characters"));
    }
    if !email
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.@+".contains(c))
    {
        return Err(ValidationError::new(
            "email",
            format!("{email:?} may only contain ASCII letters, digits and - _ . @ +"),
        ));
    }
    Ok(())
}

/// Reality short id: hex, even length, at most 16 chars (empty is allowed by
/// Xray and means "no short id").
pub fn validate_short_id(sid: &str) -> Result<(), ValidationError> {
    if sid.len() > 16 {
        return Err(ValidationError::new(
            "short_ids",
            format!("{sid:?} is longer than 16 hex chars"),
        ));
    }
    if sid.len() % 2 != 0 {
        return Err(ValidationError::new(
            "short_ids",
            format!("{sid:?} must have an even number of hex chars"),
        ));
    }
    if !sid.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ValidationError::new(
            "short_ids",
            format!("{sid:?} must be hex (0-9, a-f)"),
        ));
    }
    Ok(())
}

fn validate_server_name(name: &str) -> Result<(), ValidationError> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if !ok {
        return Err(ValidationError::new(
            "server_names",
            format!("{name:?} is not a DNS name"),
        ));
    }
    Ok(())
}

pub fn validate_fingerprint(fp: &str) -> Result<(), ValidationError> {
    if !FINGERPRINTS.contains(&fp) {
        return Err(ValidationError::new(
            "fingerprint",
            format!("{fp:?} is not one of {}", FINGERPRINTS.join("/")),
        ));
    }
    Ok(())
}

/// `host:port` or `[v6]:port`, port 1-65535.
fn validate_host_port(s: &str) -> Result<(), String> {
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("{s:?} must be host:port"))?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("{s:?}: port must be 1-65535"))?;
    if port == 0 {
        return Err(format!("{s:?}: port must be 1-65535"));
    }
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .map_or_else(
            || {
                if host.contains(':') {
                    Err(format!("{s:?}: put an IPv6 host in brackets"))
                } else {
                    Ok(host)
                }
            },
            |inner| {
                inner
                    .parse::<std::net::Ipv6Addr>()
                    .map(|_| inner)
                    .map_err(|_| format!("{s:?}: bad IPv6 address"))
            },
        )?;
    if host.is_empty()
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == ':')
    {
        return Err(format!("{s:?}: bad host"));
    }
    Ok(())
}

fn validate_cidr(s: &str) -> Result<(), String> {
    let (ip, len) = s.split_once('/').unwrap_or((s, ""));
    let ip: std::net::IpAddr = ip.parse().map_err(|_| format!("{s:?} is not an IP/CIDR"))?;
    if !len.is_empty() {
        let len: u8 = len
            .parse()
            .map_err(|_| format!("{s:?}: bad prefix length"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        if len > max {
            return Err(format!("{s:?}: prefix length > {max}"));
        }
    }
    Ok(())
}

fn decode_key(text: &str) -> Result<[u8; 32], String> {
    // Xray prints keys base64url without padding; accept padded input too,
    // operators paste keys from many tools.
    let bytes = URL_SAFE_NO_PAD
        .decode(text.trim().trim_end_matches('='))
        .map_err(|_| "must be base64url (as `xray x25519` prints it)".to_string())?;
    bytes
        .try_into()
        .map_err(|_| "must decode to 32 bytes".to_string())
}

/// A Reality x25519 key pair in Xray's text encoding.
#[derive(Clone, Debug)]
pub struct RealityKeypair {
    pub private_key: Secret,
    pub public_key: String,
}

/// Generates a Reality key pair like `xray x25519` does: x25519 with the
/// private scalar clamped, both keys base64url without padding.
pub fn generate_reality_keypair<R: RngCore + CryptoRng>(rng: &mut R) -> RealityKeypair {
    let mut bytes = [0u8; 32];
    rng.fill_bytes(&mut bytes);
    // Clamp like Xray does, so the stored private key is byte-identical to
    // what Xray itself would print for the same scalar.
    bytes[0] &= 248;
    bytes[31] &= 127;
    bytes[31] |= 64;
    let secret = StaticSecret::from(bytes);
    let public = PublicKey::from(&secret);
    RealityKeypair {
        private_key: Secret::new(URL_SAFE_NO_PAD.encode(secret.to_bytes())),
        public_key: URL_SAFE_NO_PAD.encode(public.as_bytes()),
    }
}

/// Derives the public key from a private key in Xray's encoding.
pub fn reality_public_key(private_key: &Secret) -> Result<String, ValidationError> {
    let private = decode_key(private_key.expose())
        .map_err(|why| ValidationError::new("reality_private_key", why))?;
    Ok(URL_SAFE_NO_PAD.encode(PublicKey::from(&StaticSecret::from(private)).as_bytes()))
}

/// A random short id of `bytes` bytes (1..=8) as lowercase hex.
pub fn generate_short_id<R: RngCore>(rng: &mut R, bytes: usize) -> String {
    let mut buf = vec![0u8; bytes.clamp(1, 8)];
    rng.fill_bytes(&mut buf);
    hex::encode(buf)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rand::rngs::OsRng;

    pub(crate) fn sample(dir: PathBuf) -> XraySettings {
        let kp = generate_reality_keypair(&mut OsRng);
        XraySettings {
            listen: "127.0.0.1".into(),
            port: 4443,
            reality_private_key: kp.private_key,
            reality_public_key: kp.public_key,
            short_ids: vec!["0123abcd".into()],
            server_names: vec!["example.com".into()],
            dest: "example.com:443".into(),
            fingerprint: "chrome".into(),
            api_addr: "127.0.0.1:10085".parse().unwrap(),
            inbound_tag: "vless-reality".into(),
            allow_private_targets: vec![],
            conn_idle_secs: 300,
            command: None,
            config_dir: dir,
            cut_mode: CutMode::SsKill,
        }
    }

    #[test]
    fn valid_sample_passes() {
        sample("/tmp".into()).validate().unwrap();
    }

    #[test]
    fn bad_fields_are_named() {
        type Mutation = Box<dyn Fn(&mut XraySettings)>;
        let cases: Vec<(Mutation, &str)> = vec![
            (Box::new(|s| s.port = 0), "port"),
            (Box::new(|s| s.short_ids = vec!["abc".into()]), "short_ids"),
            (Box::new(|s| s.short_ids = vec!["zz".into()]), "short_ids"),
            (
                Box::new(|s| s.short_ids = vec!["00112233445566778899".into()]),
                "short_ids",
            ),
            (Box::new(|s| s.dest = "example.com".into()), "dest"),
            (Box::new(|s| s.dest = "example.com:0".into()), "dest"),
            (Box::new(|s| s.dest = "::1:443".into()), "dest"),
            (Box::new(|s| s.fingerprint = "opera".into()), "fingerprint"),
            (
                Box::new(|s| s.reality_public_key = "AAAA".into()),
                "reality_public_key",
            ),
            (
                Box::new(|s| s.reality_private_key = Secret::new("!!")),
                "reality_private_key",
            ),
            (Box::new(|s| s.server_names = vec![]), "server_names"),
            (Box::new(|s| s.command = Some("xray run".into())), "command"),
            (
                Box::new(|s| s.allow_private_targets = vec!["1.2.3.4/40".into()]),
                "allow_private_targets",
            ),
        ];
        for (mutate, field) in cases {
            let mut s = sample("/tmp".into());
            mutate(&mut s);
            let err = s.validate().unwrap_err();
            assert_eq!(err.field, field, "{err}");
            let text = err.to_string();
            assert!(!text.contains('\n') && text.contains(field), "{text}");
        }
        let mut s = sample("/tmp".into());
        s.dest = "[::1]:443".into();
        s.validate().unwrap();
    }

    #[test]
    fn mismatched_keypair_is_refused() {
        let mut s = sample("/tmp".into());
        s.reality_public_key = generate_reality_keypair(&mut OsRng).public_key;
        assert_eq!(s.validate().unwrap_err().field, "reality_public_key");
    }

    #[test]
    fn secrets_do_not_leak_through_debug() {
        let s = sample("/tmp".into());
        let dbg = format!("{s:?}");
        assert!(!dbg.contains(s.reality_private_key.expose()));
        let u = XrayUser::vision("dev-1", uuid::Uuid::new_v4());
        let dbg = format!("{u:?}");
        assert!(!dbg.contains(&u.uuid.to_string()));
        assert!(!dbg.contains(&u.uuid.simple().to_string()));
    }

    #[test]
    fn keypair_roundtrip_and_encoding() {
        let kp = generate_reality_keypair(&mut OsRng);
        assert_eq!(kp.public_key.len(), 43);
        assert!(!kp.public_key.contains('='));
        assert_eq!(reality_public_key(&kp.private_key).unwrap(), kp.public_key);
    }

    #[test]
    fn short_ids_generate_valid() {
        for n in 1..=8 {
            let sid = generate_short_id(&mut OsRng, n);
            assert_eq!(sid.len(), n * 2);
            validate_short_id(&sid).unwrap();
        }
        validate_short_id("").unwrap();
    }

    #[test]
    fn uuid_and_email_validation() {
        assert_eq!(parse_uuid("uuid", "not-a-uuid").unwrap_err().field, "uuid");
        parse_uuid("uuid", "8f0a2c6e-1b1d-4a59-9d2e-3c1f6b7d9e10").unwrap();
        assert!(validate_email("a>>>b").is_err());
        assert!(validate_email("").is_err());
        validate_email("dev-42").unwrap();
        let u = XrayUser {
            email: "dev-1".into(),
            uuid: uuid::Uuid::nil(),
            flow: FLOW_VISION.into(),
        };
        assert_eq!(u.validate().unwrap_err().field, "uuid");
    }
}

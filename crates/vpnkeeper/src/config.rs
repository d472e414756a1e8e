//! The node's typed configuration: `vpnkeeper.toml`, overridden by `VPNKEEPER_A__B` env vars.
//!
//! Every section denies unknown keys, so a typo stops start-up with one line that names the
//! key and where it came from, instead of being silently ignored.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// File name of the node config inside a data directory.
pub const CONFIG_FILE: &str = "vpnkeeper.toml";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub node: NodeSection,
    pub api: ApiSection,
    pub raft: RaftSection,
    pub wireguard: WireguardSection,
    pub xray: XraySection,
    pub telegram: TelegramSection,
    pub log: LogSection,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeSection {
    /// Raft node id; the first node of a cluster is 1.
    pub id: u64,
    pub name: String,
    /// Where the databases and secrets live. Defaults to the directory of the config file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// The host clients connect to (DNS name or IP).
    pub public_host: String,
}

impl Default for NodeSection {
    fn default() -> Self {
        NodeSection {
            id: 1,
            name: "node-1".into(),
            data_dir: None,
            public_host: "127.0.0.1".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSection {
    pub listen: SocketAddr,
    /// The URL clients reach this API at (subscription and config links), e.g.
    /// `https://vpn.example.com`. Default: http(s)://node.public_host:<listen port>.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// PEM certificate chain; with `tls_key`, the API is served over HTTPS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// Per-API-key limits (per minute, 0 = off): GET calls, changes, and key creations.
    pub rate_limit_reads_per_min: u32,
    pub rate_limit_writes_per_min: u32,
    pub rate_limit_key_create_per_min: u32,
    /// Per-client-address limit on requests without a valid key (subscription fetches,
    /// docs, failed authentication), per minute, 0 = off.
    pub rate_limit_anonymous_per_ip_per_min: u32,
    /// Take client addresses from `X-Forwarded-For` (only behind a proxy that sets it).
    pub trust_forwarded_for: bool,
    /// Serve `/metrics` without an API key.
    pub metrics_public: bool,
    /// `profile-title` of subscriptions (the user's name is appended).
    pub sub_title: String,
    /// `profile-update-interval` of subscriptions, hours.
    pub sub_update_interval_hours: u32,
    /// `support-url` of subscriptions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub support_url: Option<String>,
}

impl Default for ApiSection {
    fn default() -> Self {
        let limits = vpnkeeper_api::ratelimit::RateLimits::default();
        ApiSection {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: None,
            tls_cert: None,
            tls_key: None,
            rate_limit_reads_per_min: limits.reads_per_min,
            rate_limit_writes_per_min: limits.writes_per_min,
            rate_limit_key_create_per_min: limits.key_create_per_min,
            rate_limit_anonymous_per_ip_per_min: limits.anonymous_per_ip_per_min,
            trust_forwarded_for: false,
            metrics_public: false,
            sub_title: "vpnkeeper".into(),
            sub_update_interval_hours: 12,
            support_url: None,
        }
    }
}

impl ApiSection {
    pub fn tls_enabled(&self) -> bool {
        self.tls_cert.is_some() && self.tls_key.is_some()
    }

    /// The API's options, with the public URL defaulted from the node's public host.
    pub fn options(&self, node: &NodeSection) -> vpnkeeper_api::ApiOptions {
        let public_url = self.public_url.clone().unwrap_or_else(|| {
            let scheme = if self.tls_enabled() { "https" } else { "http" };
            let host = match node.public_host.parse::<std::net::Ipv6Addr>() {
                Ok(v6) => format!("[{v6}]"),
                Err(_) => node.public_host.clone(),
            };
            format!("{scheme}://{host}:{}", self.listen.port())
        });
        vpnkeeper_api::ApiOptions {
            public_url: public_url.trim_end_matches('/').to_string(),
            limits: vpnkeeper_api::ratelimit::RateLimits {
                reads_per_min: self.rate_limit_reads_per_min,
                writes_per_min: self.rate_limit_writes_per_min,
                key_create_per_min: self.rate_limit_key_create_per_min,
                anonymous_per_ip_per_min: self.rate_limit_anonymous_per_ip_per_min,
            },
            trust_forwarded_for: self.trust_forwarded_for,
            metrics_public: self.metrics_public,
            sub: vpnkeeper_api::SubOptions {
                title: self.sub_title.clone(),
                update_interval_hours: self.sub_update_interval_hours,
                support_url: self.support_url.clone(),
            },
        }
    }

    fn check(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, msg: &str| {
            Err(ConfigError(format!(
                "invalid config key `api.{key}`: {msg}"
            )))
        };
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) => return bad("tls_key", "must be set together with api.tls_cert"),
            (None, Some(_)) => return bad("tls_cert", "must be set together with api.tls_key"),
            _ => {}
        }
        for (key, path) in [("tls_cert", &self.tls_cert), ("tls_key", &self.tls_key)] {
            if let Some(p) = path {
                if !p.is_file() {
                    return bad(key, &format!("{} is not a readable file", p.display()));
                }
            }
        }
        for (key, url) in [
            ("public_url", &self.public_url),
            ("support_url", &self.support_url),
        ] {
            if let Some(u) = url {
                let rest = u
                    .strip_prefix("https://")
                    .or_else(|| u.strip_prefix("http://"));
                let ok = rest.is_some_and(|r| {
                    !r.is_empty()
                        && !r.starts_with('/')
                        && !r.chars().any(|c| c.is_whitespace() || c.is_control())
                });
                if !ok {
                    return bad(
                        key,
                        &format!("`{u}` is not an http(s) URL, e.g. https://vpn.example.com"),
                    );
                }
            }
        }
        if self.sub_title.trim().is_empty() || self.sub_title.chars().any(char::is_control) {
            return bad(
                "sub_title",
                "must be non-empty text without control characters",
            );
        }
        if !(1..=24 * 365).contains(&self.sub_update_interval_hours) {
            return bad("sub_update_interval_hours", "must be between 1 and 8760");
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RaftSection {
    /// Node-to-node RPC listener.
    pub listen: SocketAddr,
    /// The address other nodes use to reach this one; defaults to `listen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advertise: Option<String>,
    pub heartbeat_ms: u64,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    /// Snapshot (and compact the log) after this many entries.
    pub snapshot_every: u64,
}

impl Default for RaftSection {
    fn default() -> Self {
        let t = vpnkeeper_cluster::RaftTiming::default();
        RaftSection {
            listen: SocketAddr::from(([127, 0, 0, 1], 8090)),
            advertise: None,
            heartbeat_ms: t.heartbeat_ms,
            election_timeout_min_ms: t.election_timeout_min_ms,
            election_timeout_max_ms: t.election_timeout_max_ms,
            snapshot_every: t.snapshot_every,
        }
    }
}

impl RaftSection {
    pub fn advertised(&self) -> String {
        self.advertise
            .clone()
            .unwrap_or_else(|| self.listen.to_string())
    }

    pub fn timing(&self) -> vpnkeeper_cluster::RaftTiming {
        vpnkeeper_cluster::RaftTiming {
            heartbeat_ms: self.heartbeat_ms,
            election_timeout_min_ms: self.election_timeout_min_ms,
            election_timeout_max_ms: self.election_timeout_max_ms,
            snapshot_every: self.snapshot_every,
        }
    }
}

/// Which data plane drives the WireGuard/AmneziaWG interface: `uapi`, `cli`,
/// `amnezia-docker` or `none` (control plane only).
pub use vpnkeeper_dataplane::BackendKind as WgBackendKind;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WireguardSection {
    pub backend: WgBackendKind,
    pub interface: String,
    /// Serve AmneziaWG (obfuscation parameters generated at first start) rather than plain
    /// WireGuard. Plain WireGuard clients cannot talk to an AmneziaWG interface and vice
    /// versa, so a node serves one flavour; devices default to it.
    pub amneziawg: bool,
    /// Which AmneziaWG generation fresh parameters target: `1.0` (Jc/Jmin/Jmax, S1/S2,
    /// single H1–H4: every Amnezia client), or `1.5`/`2.0` (adds S3/S4 and H ranges; newer
    /// clients only). Changing it later generates new parameters (clients re-download).
    pub amneziawg_version: AwgVersionSetting,
    /// Operator-chosen AmneziaWG parameters (`[wireguard.awg]`: jc, jmin, jmax, s1, s2,
    /// h1–h4, optionally s3, s4, i1–i5) instead of generated ones; checked at start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub awg: Option<vpnkeeper_domain::awg::AwgParams>,
    /// uapi: directory of `IFACE.sock`; unset = /var/run/amneziawg, then /var/run/wireguard.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socket_dir: Option<PathBuf>,
    /// uapi/cli: network namespace the interface lives in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netns: Option<String>,
    /// cli/amnezia-docker: the tool, `wg` or `awg` (or a path).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// amnezia-docker: the docker client program.
    pub docker: String,
    /// Seconds before a hung daemon, tool or container is given up on.
    pub timeout_secs: u64,
    /// Seconds between usage (handshake, traffic) reports into the replicated state.
    pub usage_interval_secs: u64,
    /// embedded/uapi/cli: enable IP forwarding and keep an nftables table `inet vpnkeeper`
    /// (forward accept, masquerade of the address pool) for full-tunnel clients.
    pub manage_nat: bool,
    pub listen_port: u16,
    pub address_pool: ipnet::Ipv4Net,
    /// Host in client configs' `Endpoint`; defaults to `node.public_host`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_host: Option<String>,
    pub dns: Vec<IpAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u16>,
    /// Seconds between drift-repair passes of the reconciler.
    pub reconcile_interval_secs: u64,
    /// Docker container of the Amnezia self-hosted server (backend `amnezia-docker`).
    pub container: String,
    /// DNS servers written into router configs; empty = no DNS line (the router's own resolver).
    pub router_dns: Vec<IpAddr>,
    /// Router tunnel MTU (default 1280).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub router_mtu: Option<u16>,
    /// Router PersistentKeepalive in seconds (default 25; 0 = off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub router_keepalive: Option<u16>,
}

impl WireguardSection {
    /// The data-plane backend settings for this section.
    pub fn backend_config(&self) -> vpnkeeper_dataplane::BackendConfig {
        let mut cfg = vpnkeeper_dataplane::BackendConfig::new(self.backend, self.interface.clone());
        cfg.socket_dir = self.socket_dir.clone();
        cfg.netns = self.netns.clone();
        cfg.tool = self.tool.clone();
        cfg.container = self.container.clone();
        cfg.docker = self.docker.clone();
        cfg.timeout_secs = self.timeout_secs;
        cfg.manage_nat = self.manage_nat;
        cfg
    }

    pub fn client_options(&self) -> vpnkeeper_domain::wgconf::ClientOptions {
        vpnkeeper_domain::wgconf::ClientOptions {
            router_dns: self.router_dns.clone(),
            router_mtu: self.router_mtu,
            router_keepalive: self.router_keepalive,
            keepalive: None,
        }
    }
}

impl Default for WireguardSection {
    fn default() -> Self {
        WireguardSection {
            backend: WgBackendKind::None,
            interface: "awg0".into(),
            amneziawg: true,
            amneziawg_version: AwgVersionSetting::V1_0,
            awg: None,
            socket_dir: None,
            netns: None,
            tool: None,
            docker: "docker".into(),
            timeout_secs: 30,
            usage_interval_secs: 60,
            manage_nat: false,
            listen_port: 51820,
            address_pool: "10.8.0.0/24".parse().expect("static CIDR"),
            endpoint_host: None,
            dns: vec![IpAddr::from([1, 1, 1, 1]), IpAddr::from([1, 0, 0, 1])],
            mtu: None,
            reconcile_interval_secs: 10,
            container: "amnezia-awg".into(),
            router_dns: Vec::new(),
            router_mtu: None,
            router_keepalive: None,
        }
    }
}

/// `wireguard.amneziawg_version`, as operators know the versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum AwgVersionSetting {
    #[serde(rename = "1.0")]
    V1_0,
    #[serde(rename = "1.5")]
    V1_5,
    #[serde(rename = "2.0")]
    V2_0,
}

// By hand: `amneziawg_version = 2.0` in TOML, or `…_VERSION=2.0` in the environment, arrive
// as numbers, `"2.0"` as a string; all mean the same.
impl<'de> Deserialize<'de> for AwgVersionSetting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = AwgVersionSetting;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("one of `1.0`, `1.5`, `2.0`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                match v.trim() {
                    "1" | "1.0" => Ok(AwgVersionSetting::V1_0),
                    "1.5" => Ok(AwgVersionSetting::V1_5),
                    "2" | "2.0" => Ok(AwgVersionSetting::V2_0),
                    other => Err(E::custom(format!(
                        "unknown AmneziaWG version `{other}`; use one of `1.0`, `1.5`, `2.0`"
                    ))),
                }
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
                self.visit_str(&format!("{v:.1}"))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                self.visit_str(&v.to_string())
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl AwgVersionSetting {
    pub fn generation(self) -> vpnkeeper_domain::awg::AwgVersion {
        match self {
            AwgVersionSetting::V1_0 => vpnkeeper_domain::awg::AwgVersion::V1,
            AwgVersionSetting::V1_5 | AwgVersionSetting::V2_0 => {
                vpnkeeper_domain::awg::AwgVersion::V2
            }
        }
    }
}

/// VLESS+Reality through Xray-core, managed live over Xray's gRPC API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct XraySection {
    pub enabled: bool,
    /// Port of the VLESS+Reality inbound.
    pub port: u16,
    /// Address the inbound listens on.
    pub listen: String,
    /// Reality target `host:port` whose TLS handshake is borrowed.
    pub reality_dest: String,
    /// SNI values accepted; the first one goes into links.
    pub server_names: Vec<String>,
    /// uTLS fingerprint clients use.
    pub fingerprint: String,
    /// Reality short ids (hex, even length, <= 16); empty = one is generated at first start.
    pub short_ids: Vec<String>,
    /// Xray's gRPC API (keep it on loopback: it has no authentication).
    pub api_addr: SocketAddr,
    /// Command that runs Xray, `{config}` replaced by DATA_DIR/xray/config.json. Unset:
    /// an Xray run by someone else is managed at `api_addr`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// CIDRs Xray's freedom outbound may reach although they are private (tests, LAN services).
    pub allow_private_targets: Vec<String>,
    /// How a revoked user's open connections are cut: `ss-kill` or `off`.
    pub cut_mode: vpnkeeper_xray::settings::CutMode,
    /// Idle timeout of proxied connections, seconds.
    pub conn_idle_secs: u32,
    /// Seconds between drift-repair passes.
    pub reconcile_interval_secs: u64,
    /// Seconds between traffic reports into the replicated state.
    pub usage_interval_secs: u64,
}

impl Default for XraySection {
    fn default() -> Self {
        XraySection {
            enabled: false,
            port: 443,
            listen: "0.0.0.0".into(),
            reality_dest: "www.microsoft.com:443".into(),
            server_names: vec!["www.microsoft.com".into()],
            fingerprint: "chrome".into(),
            short_ids: Vec::new(),
            api_addr: SocketAddr::from(([127, 0, 0, 1], 10085)),
            command: None,
            allow_private_targets: Vec::new(),
            cut_mode: Default::default(),
            conn_idle_secs: 300,
            reconcile_interval_secs: 10,
            usage_interval_secs: 60,
        }
    }
}

impl XraySection {
    /// The data-plane settings for this node, given its Reality key pair and short ids.
    pub fn settings(
        &self,
        data_dir: &Path,
        private_key: vpnkeeper_xray::settings::Secret,
        public_key: String,
        short_ids: Vec<String>,
    ) -> vpnkeeper_xray::XraySettings {
        vpnkeeper_xray::XraySettings {
            listen: self.listen.clone(),
            port: self.port,
            reality_private_key: private_key,
            reality_public_key: public_key,
            short_ids,
            server_names: self.server_names.clone(),
            dest: self.reality_dest.clone(),
            fingerprint: self.fingerprint.clone(),
            api_addr: self.api_addr,
            inbound_tag: "vless-reality".into(),
            allow_private_targets: self.allow_private_targets.clone(),
            conn_idle_secs: self.conn_idle_secs,
            command: self.command.clone(),
            config_dir: data_dir.join("xray"),
            cut_mode: self.cut_mode.clone(),
        }
    }
}

/// The Telegram bot. Without a token the node runs without it.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelegramSection {
    /// From @BotFather. Secret: never serialized back, never in `Debug`.
    #[serde(skip_serializing)]
    pub token: Option<String>,
    /// Bot API base URL (a local Bot API server, or a test's fake).
    pub api_url: String,
    /// `allowlist`, `approval` or `open`.
    pub access: vpnkeeper_bot::Access,
    /// Telegram user ids allowed in (`allowlist` mode). A list, or ids separated by commas.
    #[serde(deserialize_with = "telegram_ids")]
    pub allowed_ids: Vec<i64>,
    /// Telegram user ids of the admins (always allowed in).
    #[serde(deserialize_with = "telegram_ids")]
    pub admin_ids: Vec<i64>,
    /// Seconds one getUpdates long poll waits.
    pub poll_timeout_secs: u64,
    /// Broadcast messages per second (Telegram allows about 30).
    pub broadcast_per_sec: u32,
}

impl Default for TelegramSection {
    fn default() -> Self {
        TelegramSection {
            token: None,
            api_url: "https://api.telegram.org".into(),
            access: vpnkeeper_bot::Access::Allowlist,
            allowed_ids: Vec::new(),
            admin_ids: Vec::new(),
            poll_timeout_secs: 25,
            broadcast_per_sec: 25,
        }
    }
}

impl std::fmt::Debug for TelegramSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramSection")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("api_url", &self.api_url)
            .field("access", &self.access)
            .field("allowed_ids", &self.allowed_ids)
            .field("admin_ids", &self.admin_ids)
            .field("poll_timeout_secs", &self.poll_timeout_secs)
            .field("broadcast_per_sec", &self.broadcast_per_sec)
            .finish()
    }
}

/// Ids as a TOML list, or (handy in env vars) `"1,2,3"` or a single number.
fn telegram_ids<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Ids {
        List(Vec<i64>),
        One(i64),
        Text(String),
    }
    match Ids::deserialize(d)? {
        Ids::List(v) => Ok(v),
        Ids::One(v) => Ok(vec![v]),
        Ids::Text(t) => t
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                p.parse::<i64>().map_err(|_| {
                    serde::de::Error::custom(format!(
                        "`{p}` is not a Telegram user id; give numbers like [123456789]"
                    ))
                })
            })
            .collect(),
    }
}

impl TelegramSection {
    fn check(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, msg: &str| {
            Err(ConfigError(format!(
                "invalid config key `telegram.{key}`: {msg}"
            )))
        };
        let Some(token) = &self.token else {
            return Ok(());
        };
        if let Err(e) = vpnkeeper_bot::Token::new(token) {
            return bad("token", &e);
        }
        match reqwest::Url::parse(&self.api_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => {
                return bad(
                    "api_url",
                    "must be an http(s) URL such as https://api.telegram.org",
                )
            }
        }
        for (key, ids) in [
            ("allowed_ids", &self.allowed_ids),
            ("admin_ids", &self.admin_ids),
        ] {
            if let Some(id) = ids.iter().find(|id| **id <= 0) {
                return bad(
                    key,
                    &format!("{id} is not a Telegram user id (they are positive)"),
                );
            }
        }
        if self.access == vpnkeeper_bot::Access::Allowlist
            && self.allowed_ids.is_empty()
            && self.admin_ids.is_empty()
        {
            return bad(
                "allowed_ids",
                "with access = \"allowlist\" nobody could use the bot; list Telegram ids in allowed_ids or admin_ids, or set access to \"approval\" or \"open\"",
            );
        }
        if self.access == vpnkeeper_bot::Access::Approval && self.admin_ids.is_empty() {
            return bad(
                "admin_ids",
                "access = \"approval\" needs at least one admin to approve requests",
            );
        }
        if !(1..=50).contains(&self.poll_timeout_secs) {
            return bad("poll_timeout_secs", "must be between 1 and 50");
        }
        if !(1..=30).contains(&self.broadcast_per_sec) {
            return bad(
                "broadcast_per_sec",
                "must be between 1 and 30 (Telegram's limit)",
            );
        }
        Ok(())
    }

    /// The bot's settings, or `None` when no token is configured.
    pub fn settings(
        &self,
        client_options: vpnkeeper_domain::wgconf::ClientOptions,
        subscription_base: String,
    ) -> Option<vpnkeeper_bot::Settings> {
        let token = vpnkeeper_bot::Token::new(self.token.as_deref()?).ok()?;
        Some(vpnkeeper_bot::Settings {
            token,
            api_url: reqwest::Url::parse(&self.api_url).ok()?,
            access: self.access,
            allowed_ids: self.allowed_ids.iter().copied().collect(),
            admin_ids: self.admin_ids.iter().copied().collect(),
            poll_timeout: std::time::Duration::from_secs(self.poll_timeout_secs),
            client_options,
            broadcast_per_sec: self.broadcast_per_sec,
            subscription_base,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `info,vpnkeeper_cluster=debug`.
    pub level: String,
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            format: LogFormat::Text,
            level: "info,openraft=warn".into(),
        }
    }
}

/// A config problem, already phrased as the one line the operator sees.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The environment provider: `VPNKEEPER_API__LISTEN` → `api.listen`.
///
/// Only variables with a `__` are config keys; single-word ones (`VPNKEEPER_DATA_DIR`, the
/// test switches) belong to the CLI and must not trip the unknown-key check.
fn env_provider() -> Env {
    Env::prefixed("VPNKEEPER_")
        .filter(|key| key.as_str().contains("__"))
        .split("__")
}

/// Loads `file` (when it exists) plus env overrides, and checks the values.
pub fn load(file: &Path) -> Result<Config, ConfigError> {
    let mut figment = Figment::new();
    if file.exists() {
        figment = figment.merge(Toml::file_exact(file));
    }
    let config: Config = figment
        .merge(env_provider())
        .extract()
        .map_err(|e| ConfigError(describe(&e)))?;
    config.check()?;
    Ok(config)
}

/// One line: which key, what is wrong with it, and where the value came from.
fn describe(e: &figment::Error) -> String {
    use figment::error::Kind;
    let mut path = e.path.clone();
    let problem = match &e.kind {
        Kind::UnknownField(field, expected) => {
            if path.last() != Some(field) {
                path.push(field.clone());
            }
            format!("unknown key; valid keys here are: {}", expected.join(", "))
        }
        Kind::Message(m) => m.split_whitespace().collect::<Vec<_>>().join(" "),
        other => other.to_string(),
    };
    let origin = e.metadata.as_ref().map(|m| match &m.source {
        Some(src) => format!("{} {src}", m.name),
        // figment's own interpolation prints `API.LISTEN`; name the variable the operator set.
        None if m.name.contains("environment") => {
            let var = format!("VPNKEEPER_{}", path.join("__").to_uppercase());
            if path.len() == 1 {
                format!("environment variable {var}__*")
            } else {
                format!("environment variable {var}")
            }
        }
        None => m.name.to_string(),
    });
    let where_ = origin.map(|o| format!(" (from {o})")).unwrap_or_default();
    if path.is_empty() {
        format!("invalid config{where_}: {problem}")
    } else {
        format!("invalid config key `{}`{where_}: {problem}", path.join("."))
    }
}

impl Config {
    /// Checks that serde cannot express: ranges and relations between keys.
    pub fn check_all(&self) -> Result<(), ConfigError> {
        self.check()
    }

    fn check(&self) -> Result<(), ConfigError> {
        let bad =
            |key: &str, msg: &str| Err(ConfigError(format!("invalid config key `{key}`: {msg}")));
        if self.node.id == 0 {
            return bad("node.id", "node ids start at 1");
        }
        if let Err(e) = vpnkeeper_domain::validate::name("node.name", &self.node.name) {
            return bad("node.name", &e.message);
        }
        if let Err(e) = vpnkeeper_domain::validate::host("node.public_host", &self.node.public_host)
        {
            return bad("node.public_host", &e.message);
        }
        if self.wireguard.listen_port == 0 {
            return bad("wireguard.listen_port", "must be 1-65535");
        }
        if self.wireguard.address_pool.prefix_len() > 30 {
            return bad(
                "wireguard.address_pool",
                "leaves no room for clients; use /30 or wider, e.g. 10.8.0.0/24",
            );
        }
        if self.wireguard.interface.is_empty()
            || self.wireguard.interface.len() > 15
            || !self
                .wireguard
                .interface
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        {
            return bad(
                "wireguard.interface",
                "must be 1-15 characters of letters, digits, `-`, `_`, `.`",
            );
        }
        if let Some(mtu) = self.wireguard.mtu {
            if !(1280..=9000).contains(&mtu) {
                return bad("wireguard.mtu", "must be between 1280 and 9000");
            }
        }
        if let Some(params) = &self.wireguard.awg {
            if !self.wireguard.amneziawg {
                return bad(
                    "wireguard.awg",
                    "AmneziaWG parameters on a plain WireGuard node; remove them or set wireguard.amneziawg = true",
                );
            }
            if let Err(e) = params.validate() {
                return bad(&format!("wireguard.awg.{}", e.field), &e.reason);
            }
        }
        if self.wireguard.timeout_secs == 0 {
            return bad("wireguard.timeout_secs", "must be at least 1");
        }
        if self.wireguard.usage_interval_secs == 0 {
            return bad("wireguard.usage_interval_secs", "must be at least 1");
        }
        if self.wireguard.reconcile_interval_secs == 0 {
            return bad("wireguard.reconcile_interval_secs", "must be at least 1");
        }
        if self.raft.heartbeat_ms == 0
            || self.raft.election_timeout_min_ms <= self.raft.heartbeat_ms
        {
            return bad(
                "raft.election_timeout_min_ms",
                "must be greater than raft.heartbeat_ms (> 0)",
            );
        }
        if self.raft.election_timeout_max_ms <= self.raft.election_timeout_min_ms {
            return bad(
                "raft.election_timeout_max_ms",
                "must be greater than raft.election_timeout_min_ms",
            );
        }
        if self.raft.snapshot_every == 0 {
            return bad("raft.snapshot_every", "must be at least 1");
        }
        self.api.check()?;
        if self.xray.enabled {
            // Validate with a throw-away key pair: the real one lives sealed in the state.
            let pair = vpnkeeper_xray::generate_reality_keypair(&mut rand::rngs::OsRng);
            let short_ids = if self.xray.short_ids.is_empty() {
                vec!["00".to_string()]
            } else {
                self.xray.short_ids.clone()
            };
            let settings =
                self.xray
                    .settings(Path::new("."), pair.private_key, pair.public_key, short_ids);
            if let Err(e) = settings.validate() {
                let key = match e.field {
                    "dest" => "reality_dest",
                    other => other,
                };
                return bad(&format!("xray.{key}"), &e.message);
            }
            if self.xray.reconcile_interval_secs == 0 || self.xray.usage_interval_secs == 0 {
                return bad(
                    "xray.reconcile_interval_secs",
                    "intervals must be at least 1 second",
                );
            }
        }
        self.telegram.check()?;
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            return bad(
                "log.level",
                &format!("not a valid filter ({e}); try `info` or `debug`"),
            );
        }
        Ok(())
    }

    pub fn endpoint_host(&self) -> &str {
        self.wireguard
            .endpoint_host
            .as_deref()
            .unwrap_or(&self.node.public_host)
    }
}

/// Where a command's config and data live, from `--data-dir` or `--config`.
#[derive(Debug, Clone)]
pub struct Location {
    pub data_dir: PathBuf,
    pub config_file: PathBuf,
    /// `--config` was given, so the file must exist.
    pub explicit_config: bool,
}

impl Location {
    pub fn from_args(data_dir: Option<PathBuf>, config: Option<PathBuf>) -> Location {
        let explicit_config = config.is_some();
        let (data_dir, config_file) = match (data_dir, config) {
            (Some(dir), Some(file)) => (dir, file),
            (Some(dir), None) => (dir.clone(), dir.join(CONFIG_FILE)),
            (None, Some(file)) => (
                file.parent()
                    .map(Path::to_path_buf)
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or_else(|| PathBuf::from(".")),
                file,
            ),
            (None, None) => {
                let dir = PathBuf::from(crate::DEFAULT_DATA_DIR);
                (dir.clone(), dir.join(CONFIG_FILE))
            }
        };
        Location {
            data_dir,
            config_file,
            explicit_config,
        }
    }

    /// Loads the config; `node.data_dir` in the file overrides the directory from the args.
    pub fn load(mut self) -> Result<(Location, Config), ConfigError> {
        if self.explicit_config && !self.config_file.exists() {
            return Err(ConfigError(format!(
                "config file {} does not exist; pass the vpnkeeper.toml written by `vpnkeeper init`",
                self.config_file.display()
            )));
        }
        let config = load(&self.config_file)?;
        if let Some(dir) = &config.node.data_dir {
            self.data_dir = dir.clone();
        }
        Ok((self, config))
    }
}

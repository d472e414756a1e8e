//! The node's typed configuration: `vpnkeeper.toml`, overridden by `VPNKEEPER_A__B` env vars.
//!
//! Every section denies unknown keys, so a typo stops start-up with one line that names the
//! key and where it came from, instead of being silently ignored.
//!
//! One file per `[section]`: its keys and defaults, its checks (ranges and relations serde
//! cannot express), and its conversion into the settings of the crate it configures. This
//! file holds what is shared: loading (file + env), the one-line error, and [`Location`].

mod api;
mod backup;
mod log;
mod node;
mod payments;
mod raft;
mod subscription;
mod telegram;
mod voice;
mod wireguard;
mod xray;

use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

pub use self::api::ApiSection;
pub use self::backup::BackupSection;
pub use self::log::{LogFormat, LogSection};
pub use self::node::NodeSection;
pub use self::payments::PaymentsSection;
pub use self::raft::RaftSection;
pub use self::telegram::TelegramSection;
pub use self::voice::VoiceSection;
pub use self::wireguard::{WgBackendKind, WireguardSection};
pub use self::xray::XraySection;

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
    /// Owned by the API crate (`SubscriptionSettings`): client table, header templates,
    /// Reality constraints.
    pub subscription: vpnkeeper_api::SubscriptionSettings,
    /// Scheduled backups (ops, issue #18).
    pub backup: BackupSection,
    /// Transcription of support voice notes (issue #17).
    pub voice: VoiceSection,
    /// Free trial and referral reward (issue #16).
    pub payments: PaymentsSection,
}

/// A config problem, already phrased as the one line the operator sees.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The one line for a bad value: `invalid config key `section.key`: what is wrong`.
pub(crate) fn invalid(key: impl std::fmt::Display, msg: impl std::fmt::Display) -> ConfigError {
    ConfigError(format!("invalid config key `{key}`: {msg}"))
}

/// `key` must be an absolute http(s) URL with a host and no spaces.
pub(crate) fn check_http_url(key: &str, url: &str) -> Result<(), ConfigError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let ok = rest.is_some_and(|r| {
        !r.is_empty()
            && !r.starts_with('/')
            && !r.chars().any(|c| c.is_whitespace() || c.is_control())
    });
    if ok {
        Ok(())
    } else {
        Err(invalid(
            key,
            format!("`{url}` is not an http(s) URL, e.g. https://vpn.example.com"),
        ))
    }
}

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

    /// Each section checks its own keys, in file order; the first problem is the one line
    /// the operator sees.
    fn check(&self) -> Result<(), ConfigError> {
        self.node.check()?;
        self.wireguard.check()?;
        self.raft.check()?;
        self.api.check()?;
        subscription::check(&self.subscription)?;
        self.xray.check()?;
        self.telegram.check()?;
        self.log.check()?;
        self.backup.check()?;
        self.voice.check()?;
        self.payments.check()
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

#[cfg(test)]
// figment's Jail closures return figment::Error, which is large; it is figment's API.
#[allow(clippy::result_large_err)]
pub(crate) mod tests {
    use super::*;

    /// `result` is the one-line error for `key`, mentioning `says`.
    #[track_caller]
    pub(crate) fn assert_bad(result: Result<(), ConfigError>, key: &str, says: &str) {
        let line = match result {
            Ok(()) => panic!("expected `{key}` to be refused"),
            Err(e) => e.to_string(),
        };
        let prefix = format!("invalid config key `{key}`: ");
        assert!(
            line.starts_with(&prefix),
            "expected {prefix:?}…, got {line:?}"
        );
        assert!(line.contains(says), "expected {says:?} in {line:?}");
        assert!(!line.contains('\n'), "one line: {line:?}");
    }

    #[test]
    fn the_default_config_passes() {
        Config::default().check_all().unwrap();
    }

    #[test]
    fn sections_are_checked_in_file_order() {
        let mut c = Config::default();
        c.log.level = "x=loud".into();
        c.raft.snapshot_every = 0;
        assert_bad(c.check_all(), "raft.snapshot_every", "");
        c.node.id = 0;
        assert_bad(c.check_all(), "node.id", "");
    }

    #[test]
    fn toml_and_env_keys_reach_their_section() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                CONFIG_FILE,
                "[node]\nid = 3\n[xray]\nport = 8443\n[wireguard]\namneziawg_version = 2.0\n",
            )?;
            jail.set_env("VPNKEEPER_API__LISTEN", "127.0.0.1:9999");
            jail.set_env("VPNKEEPER_TELEGRAM__ADMIN_IDS", "5,6");
            let c = load(Path::new(CONFIG_FILE)).map_err(|e| e.0)?;
            assert_eq!(c.node.id, 3);
            assert_eq!(c.xray.port, 8443);
            assert_eq!(
                c.wireguard.amneziawg_version,
                wireguard::AwgVersionSetting::V2_0
            );
            assert_eq!(c.api.listen.port(), 9999);
            assert_eq!(c.telegram.admin_ids, [5, 6]);
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_and_bad_values_are_one_line() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(CONFIG_FILE, "[raft]\nheartbeat = 5\n")?;
            let e = load(Path::new(CONFIG_FILE)).unwrap_err().0;
            assert!(e.starts_with("invalid config key `raft.heartbeat`"), "{e}");
            assert!(
                e.contains("unknown key") && e.contains("heartbeat_ms"),
                "{e}"
            );
            jail.create_file(CONFIG_FILE, "")?;
            jail.set_env("VPNKEEPER_XRAY__PORT", "http");
            let e = load(Path::new(CONFIG_FILE)).unwrap_err().0;
            assert!(
                e.contains("`xray.port`") && e.contains("VPNKEEPER_XRAY__PORT"),
                "{e}"
            );
            Ok(())
        });
    }
}

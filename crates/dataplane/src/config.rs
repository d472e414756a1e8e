//! Choosing and building a backend from the node's configuration.
//!
//! The binary maps its `[wireguard]` section onto [`BackendConfig`] and calls
//! [`build_backend`]; `kind = "none"` runs the node as control plane only.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::amnezia_docker::{AmneziaDockerBackend, AmneziaDockerConfig};
use crate::cli::CliBackend;
use crate::embedded::EmbeddedBackend;
use crate::error::BackendError;
use crate::uapi::UapiBackend;
use crate::WgBackend;

/// Which data plane drives the WireGuard/AmneziaWG interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum BackendKind {
    /// The UAPI socket of a userspace daemon (amneziawg-go, wireguard-go, boringtun).
    #[default]
    Uapi,
    /// The `wg`/`awg` tool, for kernel interfaces.
    Cli,
    /// The Amnezia self-hosted Docker container (`docker exec`, clientsTable).
    AmneziaDocker,
    /// No data plane on this node: control plane only.
    None,
    /// The AmneziaWG data plane inside this process (crates/awg): TUN + UDP, no daemon.
    Embedded,
}

impl BackendKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            BackendKind::Uapi => "uapi",
            BackendKind::Cli => "cli",
            BackendKind::AmneziaDocker => "amnezia-docker",
            BackendKind::None => "none",
            BackendKind::Embedded => "embedded",
        }
    }
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for BackendKind {
    type Err = BackendError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "uapi" => Ok(BackendKind::Uapi),
            "cli" => Ok(BackendKind::Cli),
            "amnezia-docker" | "amnezia_docker" => Ok(BackendKind::AmneziaDocker),
            "none" => Ok(BackendKind::None),
            "embedded" => Ok(BackendKind::Embedded),
            other => Err(BackendError::Config(format!(
                "unknown backend {other:?}: use one of embedded, uapi, cli, amnezia-docker, none"
            ))),
        }
    }
}

fn default_interface() -> String {
    "wg0".into()
}
fn default_tool() -> String {
    "wg".into()
}
fn default_container() -> String {
    "amnezia-awg".into()
}
fn default_docker() -> String {
    "docker".into()
}
fn default_timeout() -> u64 {
    30
}

/// How to reach the data plane. Every field but `kind` has a default, so
/// `{"kind": "uapi"}` is a complete config for interface `wg0`.
///
/// Unknown fields are ignored rather than refused so the binary can `#[serde(flatten)]`
/// this into its `[wireguard]` section (listen_port, address_pool, dns… live there too);
/// checking that section for typos is the binary's job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendConfig {
    /// `uapi`, `cli`, `amnezia-docker` or `none`. Also accepted as `backend`, the key name
    /// in the node's `[wireguard]` section.
    #[serde(alias = "backend")]
    pub kind: BackendKind,
    /// Interface name (on the host, or inside the container for `amnezia-docker`).
    #[serde(default = "default_interface")]
    pub interface: String,
    /// uapi: directory holding `IFACE.sock`; unset = look in /var/run/amneziawg, then
    /// /var/run/wireguard. embedded: where to serve `IFACE.sock`; unset = /var/run/amneziawg.
    #[serde(default)]
    pub socket_dir: Option<PathBuf>,
    /// uapi/cli: network namespace the interface lives in (for `ip` and the tool).
    #[serde(default)]
    pub netns: Option<String>,
    /// cli and amnezia-docker: the tool, `wg` or `awg` (or a path). For amnezia-docker the
    /// default is `awg`, the name inside Amnezia's image, unless set here.
    #[serde(default)]
    pub tool: Option<String>,
    /// amnezia-docker: the container name.
    #[serde(default = "default_container")]
    pub container: String,
    /// amnezia-docker: the docker client program (a path, or a name looked up in PATH).
    #[serde(default = "default_docker")]
    pub docker: String,
    /// amnezia-docker: directory of the server config and clientsTable inside the
    /// container; unset = /opt/amnezia/awg.
    #[serde(default)]
    pub config_dir: Option<String>,
    /// amnezia-docker: the server config file name in `config_dir`; unset = whichever of
    /// `awg0.conf`, `wg0.conf` exists, preferring the one named after the interface.
    #[serde(default)]
    pub config_file: Option<String>,
    /// Seconds before a hung daemon or tool is given up on.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// embedded/uapi/cli: keep forwarding on and an nftables table `inet vpnkeeper`
    /// (forward accept, masquerade of the pool) for full-tunnel clients ([`crate::nat`]).
    #[serde(default)]
    pub manage_nat: bool,
}

impl BackendConfig {
    /// A config of this kind with every other field at its default.
    pub fn new(kind: BackendKind, interface: impl Into<String>) -> Self {
        BackendConfig {
            kind,
            interface: interface.into(),
            socket_dir: None,
            netns: None,
            tool: None,
            container: default_container(),
            docker: default_docker(),
            config_dir: None,
            config_file: None,
            timeout_secs: default_timeout(),
            manage_nat: false,
        }
    }

    fn timeout(&self) -> Result<Duration, BackendError> {
        if self.timeout_secs == 0 {
            return Err(BackendError::Config(
                "timeout_secs must be at least 1".into(),
            ));
        }
        Ok(Duration::from_secs(self.timeout_secs))
    }
}

/// Build the backend `cfg` names. `Ok(None)` for `kind = "none"` (control plane only).
///
/// Fails with a one-line error for a config that can never work (bad interface name,
/// zero timeout); a daemon that is not running yet is *not* an error here, since the
/// reconciler retries until it appears.
pub fn build_backend(cfg: &BackendConfig) -> Result<Option<Arc<dyn WgBackend>>, BackendError> {
    let timeout = cfg.timeout()?;
    let backend: Arc<dyn WgBackend> = match cfg.kind {
        BackendKind::None => {
            tracing::info!(
                "wireguard backend is \"none\": this node runs the control plane only and configures no interface"
            );
            return Ok(None);
        }
        BackendKind::Embedded => Arc::new(EmbeddedBackend::new(
            cfg.interface.clone(),
            cfg.socket_dir.clone(),
            cfg.netns.clone(),
        )),
        BackendKind::Uapi => Arc::new(UapiBackend::new(
            cfg.interface.clone(),
            cfg.socket_dir.clone(),
            cfg.netns.clone(),
            timeout,
        )?),
        BackendKind::Cli => Arc::new(CliBackend::new(
            cfg.interface.clone(),
            cfg.tool.clone().unwrap_or_else(default_tool),
            cfg.netns.clone(),
            timeout,
        )?),
        BackendKind::AmneziaDocker => {
            let mut c = AmneziaDockerConfig::new(cfg.container.clone());
            c.interface = cfg.interface.clone();
            c.docker = cfg.docker.clone();
            if let Some(t) = &cfg.tool {
                c.tool = t.clone();
            }
            if let Some(d) = &cfg.config_dir {
                c.config_dir = d.clone();
            }
            c.config_file = cfg.config_file.clone();
            c.timeout = timeout;
            Arc::new(AmneziaDockerBackend::new(c)?)
        }
    };
    let backend = if cfg.manage_nat {
        if cfg.kind == BackendKind::AmneziaDocker {
            return Err(BackendError::Config(
                "manage_nat = true does not apply to backend amnezia-docker (its container does its own NAT): remove it".into(),
            ));
        }
        Arc::new(crate::nat::NatBackend::new(backend, cfg.netns.clone()))
    } else {
        backend
    };
    tracing::info!(backend = backend.name(), interface = %cfg.interface, manage_nat = cfg.manage_nat, "wireguard backend configured");
    Ok(Some(backend))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_from_json_and_text() {
        for (text, kind) in [
            ("uapi", BackendKind::Uapi),
            ("cli", BackendKind::Cli),
            ("amnezia-docker", BackendKind::AmneziaDocker),
            ("none", BackendKind::None),
            ("embedded", BackendKind::Embedded),
        ] {
            let json = format!("{{\"kind\":\"{text}\"}}");
            let cfg: BackendConfig = serde_json::from_str(&json).unwrap();
            assert_eq!(cfg.kind, kind);
            assert_eq!(cfg.interface, "wg0");
            assert_eq!(cfg.container, "amnezia-awg");
            assert_eq!(text.parse::<BackendKind>().unwrap(), kind);
            assert_eq!(kind.to_string(), text);
            assert_eq!(serde_json::to_string(&kind).unwrap(), format!("\"{text}\""));
        }
        let cfg: BackendConfig =
            serde_json::from_str(r#"{"backend":"cli","interface":"awg0","tool":"awg"}"#).unwrap();
        assert_eq!(cfg.kind, BackendKind::Cli);
        let e = "kernel".parse::<BackendKind>().unwrap_err().to_string();
        assert!(
            e.contains("embedded, uapi, cli, amnezia-docker, none"),
            "{e}"
        );
        assert!(serde_json::from_str::<BackendConfig>(r#"{"kind":"Kernel"}"#).is_err());
        // Flattened into a bigger section, the other keys pass through.
        let cfg: BackendConfig =
            serde_json::from_str(r#"{"backend":"uapi","listen_port":51820,"dns":"1.1.1.1"}"#)
                .unwrap();
        assert_eq!(cfg.kind, BackendKind::Uapi);
    }

    #[test]
    fn build_each_kind() {
        assert!(build_backend(&BackendConfig::new(BackendKind::None, "wg0"))
            .unwrap()
            .is_none());
        for (kind, name) in [
            (BackendKind::Uapi, "uapi"),
            (BackendKind::Cli, "cli"),
            (BackendKind::AmneziaDocker, "amnezia-docker"),
            (BackendKind::Embedded, "embedded"),
        ] {
            let b = build_backend(&BackendConfig::new(kind, "wg0"))
                .unwrap()
                .unwrap();
            assert_eq!(b.name(), name);
        }
        let e = build_backend(&BackendConfig::new(BackendKind::Uapi, "bad/name"))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("interface name"), "{e}");
        let mut zero = BackendConfig::new(BackendKind::Cli, "wg0");
        zero.timeout_secs = 0;
        assert!(build_backend(&zero).is_err());
    }

    #[test]
    fn manage_nat_wraps_the_backend_and_is_refused_for_amnezia_docker() {
        let cfg: BackendConfig =
            serde_json::from_str(r#"{"backend":"uapi","manage_nat":true}"#).unwrap();
        assert!(cfg.manage_nat);
        let b = build_backend(&cfg).unwrap().unwrap();
        assert_eq!(b.name(), "uapi", "the NAT wrapper keeps the backend's name");
        assert!(format!("{b:?}").contains("NatBackend"));
        let mut docker = BackendConfig::new(BackendKind::AmneziaDocker, "awg0");
        docker.manage_nat = true;
        let e = build_backend(&docker).unwrap_err().to_string();
        assert!(e.contains("manage_nat") && !e.contains('\n'), "{e}");
    }
}

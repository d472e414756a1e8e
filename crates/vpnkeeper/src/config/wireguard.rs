//! `[wireguard]`: the WireGuard/AmneziaWG data plane (backend, interface, address pool) and
//! what goes into client configs.

use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{invalid, ConfigError};

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

    pub(super) fn check(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, msg: &str| Err(invalid(format!("wireguard.{key}"), msg));
        if self.listen_port == 0 {
            return bad("listen_port", "must be 1-65535");
        }
        if self.address_pool.prefix_len() > 30 {
            return bad(
                "address_pool",
                "leaves no room for clients; use /30 or wider, e.g. 10.8.0.0/24",
            );
        }
        if !valid_interface_name(&self.interface) {
            return bad(
                "interface",
                "must be 1-15 characters of letters, digits, `-`, `_`, `.`",
            );
        }
        // Refused here, before Raft starts, so the operator sees this one line and nothing
        // from a half-started node.
        if self.manage_nat && self.backend == WgBackendKind::AmneziaDocker {
            return bad(
                "manage_nat",
                "does not apply to backend amnezia-docker (its container does its own NAT); remove it",
            );
        }
        if let Some(mtu) = self.mtu {
            if !(1280..=9000).contains(&mtu) {
                return bad("mtu", "must be between 1280 and 9000");
            }
        }
        if let Some(params) = &self.awg {
            if !self.amneziawg {
                return bad(
                    "awg",
                    "AmneziaWG parameters on a plain WireGuard node; remove them or set wireguard.amneziawg = true",
                );
            }
            if let Err(e) = params.validate() {
                return bad(&format!("awg.{}", e.field), &e.reason);
            }
        }
        for (key, value) in [
            ("timeout_secs", self.timeout_secs),
            ("usage_interval_secs", self.usage_interval_secs),
            ("reconcile_interval_secs", self.reconcile_interval_secs),
        ] {
            if value == 0 {
                return bad(key, "must be at least 1");
            }
        }
        Ok(())
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

/// Linux interface names: at most 15 bytes (IFNAMSIZ - 1), no `/` or spaces.
fn valid_interface_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::assert_bad;

    fn with(f: impl FnOnce(&mut WireguardSection)) -> Result<(), ConfigError> {
        let mut s = WireguardSection::default();
        f(&mut s);
        s.check()
    }

    #[test]
    fn defaults_and_good_values_pass() {
        WireguardSection::default().check().unwrap();
        with(|s| {
            s.interface = "wg-0_a.b".into();
            s.address_pool = "10.9.0.0/30".parse().unwrap();
            s.mtu = Some(1280);
            s.awg = Some(vpnkeeper_domain::awg::AwgParams::generate(
                &mut rand::rngs::OsRng,
                vpnkeeper_domain::awg::AwgVersion::V1,
            ));
        })
        .unwrap();
        with(|s| s.mtu = Some(9000)).unwrap();
    }

    #[test]
    fn each_bad_value_names_its_key() {
        assert_bad(
            with(|s| s.listen_port = 0),
            "wireguard.listen_port",
            "1-65535",
        );
        assert_bad(
            with(|s| s.address_pool = "10.8.0.0/31".parse().unwrap()),
            "wireguard.address_pool",
            "no room for clients",
        );
        for name in ["", "sixteen-chars-xx", "wg 0", "wg/0"] {
            assert_bad(
                with(|s| s.interface = name.into()),
                "wireguard.interface",
                "1-15 characters",
            );
        }
        assert_bad(
            with(|s| {
                s.backend = WgBackendKind::AmneziaDocker;
                s.manage_nat = true;
            }),
            "wireguard.manage_nat",
            "amnezia-docker",
        );
        for mtu in [1279, 9001] {
            assert_bad(
                with(|s| s.mtu = Some(mtu)),
                "wireguard.mtu",
                "1280 and 9000",
            );
        }
        let params = vpnkeeper_domain::awg::AwgParams::generate(
            &mut rand::rngs::OsRng,
            vpnkeeper_domain::awg::AwgVersion::V1,
        );
        assert_bad(
            with(|s| {
                s.amneziawg = false;
                s.awg = Some(params.clone());
            }),
            "wireguard.awg",
            "plain WireGuard node",
        );
        let mut broken = params;
        broken.jmin = broken.jmax + 1;
        let err = with(|s| s.awg = Some(broken)).unwrap_err().to_string();
        assert!(
            err.starts_with("invalid config key `wireguard.awg."),
            "{err}"
        );
        for (key, f) in [
            (
                "timeout_secs",
                (|s: &mut WireguardSection| s.timeout_secs = 0) as fn(&mut _),
            ),
            ("usage_interval_secs", |s| s.usage_interval_secs = 0),
            ("reconcile_interval_secs", |s| s.reconcile_interval_secs = 0),
        ] {
            assert_bad(with(f), &format!("wireguard.{key}"), "at least 1");
        }
    }
}

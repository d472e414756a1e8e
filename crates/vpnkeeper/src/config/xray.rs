//! `[xray]`: VLESS+Reality through Xray-core: the inbound, the Reality target, how Xray is
//! run and how often it is reconciled.

use std::net::SocketAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{invalid, ConfigError};

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
    /// Checked only when enabled: a disabled section may hold anything parseable.
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if !self.enabled {
            return Ok(());
        }
        // Validate with a throw-away key pair: the real one lives sealed in the state.
        let pair = vpnkeeper_xray::generate_reality_keypair(&mut rand::rngs::OsRng);
        let short_ids = if self.short_ids.is_empty() {
            vec!["00".to_string()]
        } else {
            self.short_ids.clone()
        };
        let settings = self.settings(Path::new("."), pair.private_key, pair.public_key, short_ids);
        if let Err(e) = settings.validate() {
            let key = match e.field {
                "dest" => "reality_dest",
                other => other,
            };
            return Err(invalid(format!("xray.{key}"), e.message));
        }
        if self.reconcile_interval_secs == 0 || self.usage_interval_secs == 0 {
            return Err(invalid(
                "xray.reconcile_interval_secs",
                "intervals must be at least 1 second",
            ));
        }
        Ok(())
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::assert_bad;

    fn with(f: impl FnOnce(&mut XraySection)) -> Result<(), ConfigError> {
        let mut s = XraySection {
            enabled: true,
            ..Default::default()
        };
        f(&mut s);
        s.check()
    }

    #[test]
    fn defaults_and_good_values_pass() {
        XraySection::default().check().unwrap();
        with(|_| {}).unwrap();
        with(|s| {
            s.short_ids = vec!["0123456789abcdef".into(), "ab".into()];
            s.command = Some("xray run -c {config}".into());
            s.allow_private_targets = vec!["10.0.0.0/8".into()];
        })
        .unwrap();
    }

    #[test]
    fn a_disabled_section_is_not_checked() {
        let s = XraySection {
            port: 0,
            ..Default::default()
        };
        s.check().unwrap();
    }

    #[test]
    fn each_bad_value_names_its_key() {
        assert_bad(with(|s| s.port = 0), "xray.port", "");
        assert_bad(
            with(|s| s.reality_dest = "no-port".into()),
            "xray.reality_dest",
            "",
        );
        assert_bad(with(|s| s.server_names = vec![]), "xray.server_names", "");
        assert_bad(
            with(|s| s.short_ids = vec!["xyz".into()]),
            "xray.short_ids",
            "",
        );
        assert_bad(
            with(|s| s.command = Some("xray run".into())),
            "xray.command",
            "{config}",
        );
        assert_bad(
            with(|s| s.listen = "any".into()),
            "xray.listen",
            "not an IP address",
        );
        assert_bad(
            with(|s| s.fingerprint = "netscape".into()),
            "xray.fingerprint",
            "",
        );
        assert_bad(with(|s| s.api_addr.set_port(0)), "xray.api_addr", "1-65535");
        assert_bad(
            with(|s| s.conn_idle_secs = 0),
            "xray.conn_idle_secs",
            ">= 1",
        );
        assert_bad(
            with(|s| s.allow_private_targets = vec!["10.0.0.0/99".into()]),
            "xray.allow_private_targets",
            "",
        );
        for f in [
            (|s: &mut XraySection| s.reconcile_interval_secs = 0) as fn(&mut XraySection),
            |s| s.usage_interval_secs = 0,
        ] {
            assert_bad(with(f), "xray.reconcile_interval_secs", "at least 1 second");
        }
    }
}

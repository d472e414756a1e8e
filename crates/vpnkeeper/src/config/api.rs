//! `[api]`: the HTTP API's listener, TLS, limits and subscription headers.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::node::NodeSection;
use super::{check_http_url, invalid, ConfigError};

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
            format!("{scheme}://{}:{}", node.url_host(), self.listen.port())
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
                settings: Default::default(),
            },
        }
    }

    pub(super) fn check(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, msg: &str| Err(invalid(format!("api.{key}"), msg));
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
                check_http_url(&format!("api.{key}"), u)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::assert_bad;

    fn with(f: impl FnOnce(&mut ApiSection)) -> Result<(), ConfigError> {
        let mut s = ApiSection::default();
        f(&mut s);
        s.check()
    }

    #[test]
    fn defaults_and_good_values_pass() {
        ApiSection::default().check().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        std::fs::write(&cert, "x").unwrap();
        std::fs::write(&key, "x").unwrap();
        with(|s| {
            s.tls_cert = Some(cert);
            s.tls_key = Some(key);
            s.public_url = Some("https://vpn.example.com".into());
            s.support_url = Some("http://t.me/support".into());
            s.sub_update_interval_hours = 8760;
        })
        .unwrap();
    }

    #[test]
    fn each_bad_value_names_its_key() {
        // The missing half is the key named.
        assert_bad(
            with(|s| s.tls_cert = Some("/x".into())),
            "api.tls_key",
            "together with api.tls_cert",
        );
        assert_bad(
            with(|s| s.tls_key = Some("/x".into())),
            "api.tls_cert",
            "together with api.tls_key",
        );
        assert_bad(
            with(|s| {
                s.tls_cert = Some("/nonexistent/c.pem".into());
                s.tls_key = Some("/nonexistent/k.pem".into());
            }),
            "api.tls_cert",
            "not a readable file",
        );
        for url in [
            "ftp://x",
            "https://",
            "https:///x",
            "https://a b",
            "vpn.example.com",
        ] {
            assert_bad(
                with(|s| s.public_url = Some(url.into())),
                "api.public_url",
                "is not an http(s) URL",
            );
            assert_bad(
                with(|s| s.support_url = Some(url.into())),
                "api.support_url",
                "is not an http(s) URL",
            );
        }
        assert_bad(
            with(|s| s.sub_title = " ".into()),
            "api.sub_title",
            "non-empty",
        );
        assert_bad(
            with(|s| s.sub_title = "a\u{7}".into()),
            "api.sub_title",
            "control",
        );
        for h in [0, 8761] {
            assert_bad(
                with(|s| s.sub_update_interval_hours = h),
                "api.sub_update_interval_hours",
                "between 1 and 8760",
            );
        }
    }

    #[test]
    fn public_url_defaults_from_the_node() {
        let node = NodeSection {
            public_host: "2001:db8::1".into(),
            ..Default::default()
        };
        let o = ApiSection::default().options(&node);
        assert_eq!(o.public_url, "http://[2001:db8::1]:8080");
        let s = ApiSection {
            public_url: Some("https://vpn.example.com/".into()),
            ..Default::default()
        };
        assert_eq!(s.options(&node).public_url, "https://vpn.example.com");
    }
}

//! `[telegram]`: the bot's token, who may use it, and its pacing.

use serde::{Deserialize, Serialize};

use super::{invalid, ConfigError};

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
    /// Checked only with a token: without one the bot does not run.
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, msg: &str| Err(invalid(format!("telegram.{key}"), msg));
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
            promo: Default::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::assert_bad;

    const TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw_";

    fn with(f: impl FnOnce(&mut TelegramSection)) -> Result<(), ConfigError> {
        let mut s = TelegramSection {
            token: Some(TOKEN.into()),
            admin_ids: vec![42],
            ..Default::default()
        };
        f(&mut s);
        s.check()
    }

    #[test]
    fn defaults_and_good_values_pass() {
        TelegramSection::default().check().unwrap();
        with(|_| {}).unwrap();
        with(|s| {
            s.access = vpnkeeper_bot::Access::Open;
            s.admin_ids.clear();
            s.poll_timeout_secs = 50;
            s.broadcast_per_sec = 30;
            s.api_url = "http://127.0.0.1:9".into();
        })
        .unwrap();
        with(|s| s.access = vpnkeeper_bot::Access::Approval).unwrap();
    }

    #[test]
    fn each_bad_value_names_its_key() {
        assert_bad(
            with(|s| s.token = Some("nope".into())),
            "telegram.token",
            "",
        );
        for url in ["ftp://x", "not a url", "http://"] {
            assert_bad(
                with(|s| s.api_url = url.into()),
                "telegram.api_url",
                "http(s) URL",
            );
        }
        assert_bad(
            with(|s| s.allowed_ids = vec![0]),
            "telegram.allowed_ids",
            "positive",
        );
        assert_bad(
            with(|s| s.admin_ids = vec![-5]),
            "telegram.admin_ids",
            "positive",
        );
        assert_bad(
            with(|s| s.admin_ids.clear()),
            "telegram.allowed_ids",
            "nobody could use the bot",
        );
        assert_bad(
            with(|s| {
                s.access = vpnkeeper_bot::Access::Approval;
                s.admin_ids.clear();
                s.allowed_ids = vec![7];
            }),
            "telegram.admin_ids",
            "at least one admin",
        );
        for t in [0, 51] {
            assert_bad(
                with(|s| s.poll_timeout_secs = t),
                "telegram.poll_timeout_secs",
                "1 and 50",
            );
        }
        for r in [0, 31] {
            assert_bad(
                with(|s| s.broadcast_per_sec = r),
                "telegram.broadcast_per_sec",
                "1 and 30",
            );
        }
    }

    #[test]
    fn ids_come_as_a_list_a_number_or_text() {
        let parse = |toml_value: &str| -> Result<Vec<i64>, String> {
            let doc = format!("token = \"{TOKEN}\"\nadmin_ids = {toml_value}\n");
            figment::Figment::from(
                <figment::providers::Toml as figment::providers::Format>::string(&doc),
            )
            .extract::<TelegramSection>()
            .map(|s| s.admin_ids)
            .map_err(|e| e.to_string())
        };
        assert_eq!(parse("[1, 2]").unwrap(), [1, 2]);
        assert_eq!(parse("7").unwrap(), [7]);
        assert_eq!(parse("\"1, 2,3\"").unwrap(), [1, 2, 3]);
        let err = parse("\"1,x\"").unwrap_err();
        assert!(err.contains("`x` is not a Telegram user id"), "{err}");
    }

    #[test]
    fn the_token_is_never_in_debug() {
        let s = TelegramSection {
            token: Some(TOKEN.into()),
            ..Default::default()
        };
        assert!(!format!("{s:?}").contains("AAHdq"));
    }
}

//! The `[subscription]` section of the node config: which client app gets which format
//! (an ordered User-Agent rule table), the header templates client apps show, and what the
//! cluster's Xray demands of Reality clients.

use serde::{Deserialize, Serialize};

use super::formats::Format;

/// The engine inside a client app: what it can connect to decides what the subscription
/// offers it (see [`SubscriptionSettings::reality_requires_pq`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Engine {
    /// Xray-core (v2rayNG, v2rayN, Happ, Streisand).
    Xray,
    /// mihomo, formerly Clash.Meta (Clash Verge, FlClash, Clash Meta for Android).
    Mihomo,
    /// sing-box (SFA/SFI/SFM, Hiddify, Karing, NekoBox).
    SingBox,
    /// Anything else (Shadowrocket, unknown agents, browsers).
    Other,
}

/// One row of the User-Agent table: the first row whose `user_agent` occurs in the request's
/// User-Agent (case-insensitive) decides the format and the engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientRule {
    /// Case-insensitive substring of the User-Agent, e.g. `v2rayng`.
    pub user_agent: String,
    pub format: Format,
    pub engine: Engine,
    /// The app's name, for the browser page and logs.
    #[serde(default)]
    pub app: String,
}

fn rule(user_agent: &str, format: Format, engine: Engine, app: &str) -> ClientRule {
    ClientRule {
        user_agent: user_agent.into(),
        format,
        engine,
        app: app.into(),
    }
}

/// The default table. Order matters: `v2rayng` before `v2rayn`, the Clash apps before the
/// bare `clash`, `sing-box` apps before anything that might contain their names.
pub fn default_rules() -> Vec<ClientRule> {
    use Engine as E;
    use Format as F;
    vec![
        rule("happ", F::Base64, E::Xray, "Happ"),
        rule("v2rayng", F::Base64, E::Xray, "v2rayNG"),
        rule("v2rayn", F::Base64, E::Xray, "v2rayN"),
        rule("streisand", F::Base64, E::Xray, "Streisand"),
        rule("hiddify", F::SingBox, E::SingBox, "Hiddify"),
        rule("sfa", F::SingBox, E::SingBox, "sing-box for Android"),
        rule("sfi", F::SingBox, E::SingBox, "sing-box for iOS"),
        rule("sfm", F::SingBox, E::SingBox, "sing-box for macOS"),
        rule("sft", F::SingBox, E::SingBox, "sing-box for Apple TV"),
        rule("sing-box", F::SingBox, E::SingBox, "sing-box"),
        rule("karing", F::SingBox, E::SingBox, "Karing"),
        rule("nekobox", F::Base64, E::SingBox, "NekoBox"),
        rule("nekoray", F::Base64, E::SingBox, "NekoRay"),
        rule("clash-verge", F::Clash, E::Mihomo, "Clash Verge"),
        rule("clash verge", F::Clash, E::Mihomo, "Clash Verge"),
        rule("flclash", F::Clash, E::Mihomo, "FlClash"),
        rule("mihomo", F::Clash, E::Mihomo, "mihomo"),
        rule("clash.meta", F::Clash, E::Mihomo, "Clash Meta"),
        rule("clash-meta", F::Clash, E::Mihomo, "Clash Meta"),
        rule("clashmeta", F::Clash, E::Mihomo, "Clash Meta"),
        rule("clash", F::Clash, E::Mihomo, "Clash"),
        rule("stash", F::Clash, E::Other, "Stash"),
        rule("shadowrocket", F::Base64, E::Other, "Shadowrocket"),
    ]
}

/// The settings; every field has a default, so an absent section is fine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SubscriptionSettings {
    /// `profile-title` template. Variables: `{title}` (api.sub_title), `{username}`,
    /// `{days_left}`, `{traffic_left}`, `{expire_date}`.
    pub profile_title: String,
    /// `announce` template (same variables), shown by apps that read it (Happ, v2RayTun,
    /// Hiddify); empty for none. Notes about what a client app cannot use are added to it.
    pub announce: String,
    /// `profile-web-page-url`; default: the subscription URL itself, which shows the
    /// browser page.
    pub web_page_url: Option<String>,
    /// Ordered User-Agent → format/engine table; the first match wins, `?format=` overrides
    /// the format. Unmatched agents get base64 links.
    pub clients: Vec<ClientRule>,
    /// True when the cluster's Xray requires an X25519MLKEM768 key share in the Reality
    /// ClientHello (Xray ≥ 26.9.8). sing-box cannot send one, so sing-box-based apps then get
    /// no VLESS+Reality entries, and an announce that names apps that work. Set it to false
    /// on Xray 26.7.x, where sing-box connects.
    pub reality_requires_pq: bool,
}

impl Default for SubscriptionSettings {
    fn default() -> Self {
        SubscriptionSettings {
            profile_title: "{title} ({username})".into(),
            announce: String::new(),
            web_page_url: None,
            clients: default_rules(),
            reality_requires_pq: true,
        }
    }
}

/// The template variables, in `{name}` form.
pub const VARIABLES: [&str; 5] = [
    "{title}",
    "{username}",
    "{days_left}",
    "{traffic_left}",
    "{expire_date}",
];

impl SubscriptionSettings {
    /// One line naming the key and what is wrong with it.
    pub fn check(&self) -> Result<(), String> {
        for (key, template) in [
            ("profile_title", &self.profile_title),
            ("announce", &self.announce),
        ] {
            check_template(template).map_err(|m| format!("subscription.{key}: {m}"))?;
        }
        if self.profile_title.trim().is_empty() {
            return Err("subscription.profile_title: must not be empty".into());
        }
        if let Some(u) = &self.web_page_url {
            if !(u.starts_with("https://") || u.starts_with("http://")) || u.contains(' ') {
                return Err(format!(
                    "subscription.web_page_url: `{u}` is not an http(s) URL"
                ));
            }
        }
        for (i, r) in self.clients.iter().enumerate() {
            if r.user_agent.trim().is_empty() {
                return Err(format!(
                    "subscription.clients[{i}].user_agent: must not be empty (it would match every app)"
                ));
            }
        }
        Ok(())
    }

    /// The client behind `user_agent`: the first matching rule, or base64 for an unknown app.
    pub fn detect(&self, user_agent: &str) -> Option<&ClientRule> {
        let ua = user_agent.to_lowercase();
        self.clients
            .iter()
            .find(|r| ua.contains(&r.user_agent.to_lowercase()))
    }
}

/// Refuses control characters and `{…}` placeholders that are not variables, so a typo
/// shows at start-up instead of in every user's app.
fn check_template(t: &str) -> Result<(), String> {
    if t.chars().any(|c| c.is_control() && c != '\n') {
        return Err("must not contain control characters".into());
    }
    let mut rest = t;
    while let Some(start) = rest.find('{') {
        let end = rest[start..]
            .find('}')
            .map(|e| start + e + 1)
            .ok_or("has a `{` without `}`")?;
        let var = &rest[start..end];
        if !VARIABLES.contains(&var) {
            return Err(format!(
                "unknown variable {var}; use one of {}",
                VARIABLES.join(" ")
            ));
        }
        rest = &rest[end..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_table_knows_the_listed_apps() {
        let s = SubscriptionSettings::default();
        let cases = [
            ("Happ/3.5.2", Format::Base64, Engine::Xray),
            ("v2rayNG/1.9.16", Format::Base64, Engine::Xray),
            ("v2rayN/7.4", Format::Base64, Engine::Xray),
            ("Streisand/1.6", Format::Base64, Engine::Xray),
            ("HiddifyNext/2.5.7", Format::SingBox, Engine::SingBox),
            ("SFA/1.11.4 (Android 14)", Format::SingBox, Engine::SingBox),
            ("SFI/1.11", Format::SingBox, Engine::SingBox),
            ("SFM/1.11", Format::SingBox, Engine::SingBox),
            ("sing-box 1.14.3", Format::SingBox, Engine::SingBox),
            ("Karing/1.1.2", Format::SingBox, Engine::SingBox),
            ("mihomo/1.19.0", Format::Clash, Engine::Mihomo),
            ("clash.meta/1.18", Format::Clash, Engine::Mihomo),
            ("clash-verge/v2.0.3", Format::Clash, Engine::Mihomo),
            ("FlClash/v0.8", Format::Clash, Engine::Mihomo),
            ("Shadowrocket/2.2", Format::Base64, Engine::Other),
            ("NekoBox/Android/1.3", Format::Base64, Engine::SingBox),
        ];
        for (ua, format, engine) in cases {
            let r = s.detect(ua).unwrap_or_else(|| panic!("{ua} not detected"));
            assert_eq!((r.format, r.engine), (format, engine), "{ua}");
        }
        assert!(s.detect("Mozilla/5.0 (X11; Linux x86_64)").is_none());
    }

    #[test]
    fn the_first_matching_rule_wins() {
        let mut s = SubscriptionSettings::default();
        s.clients
            .insert(0, rule("hiddify", Format::Clash, Engine::SingBox, "H"));
        assert_eq!(s.detect("HiddifyNext/2").unwrap().format, Format::Clash);
    }

    #[test]
    fn checks_name_the_key() {
        let mut s = SubscriptionSettings::default();
        assert_eq!(s.check(), Ok(()));
        s.announce = "Hi {user}".into();
        let e = s.check().unwrap_err();
        assert!(
            e.starts_with("subscription.announce: unknown variable {user}"),
            "{e}"
        );
        s.announce = "{days_left} days left".into();
        s.clients.push(rule(" ", Format::Plain, Engine::Other, ""));
        let e = s.check().unwrap_err();
        assert!(e.contains("clients[23].user_agent"), "{e}");
        s.clients.pop();
        s.web_page_url = Some("ftp://x".into());
        assert!(s.check().unwrap_err().contains("web_page_url"));
    }

    #[test]
    fn a_config_table_parses() {
        let s: SubscriptionSettings = serde_json::from_value(serde_json::json!({
            "clients": [{"user_agent": "myapp", "format": "clash", "engine": "mihomo"}],
            "reality_requires_pq": false,
        }))
        .unwrap();
        assert_eq!(s.clients.len(), 1);
        assert_eq!(s.detect("MyApp/1").unwrap().engine, Engine::Mihomo);
        assert_eq!(s.profile_title, "{title} ({username})");
    }
}

//! The headers client apps read from a subscription answer, with the conventions the apps
//! share (Marzban, Remnawave, Hiddify, Happ):
//! - `subscription-userinfo: upload=…; download=…; total=…; expire=…` (bytes and unix
//!   seconds; 0 = unlimited / never);
//! - `profile-title`, `announce`: `base64:` + UTF-8 text, so non-ASCII survives a header;
//! - `profile-update-interval` (hours), `support-url`, `profile-web-page-url`.

use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use vpnkeeper_store::queries::UserAccount;

use crate::state::SubOptions;

const DAY_MS: i64 = 86_400_000;

/// The values the templates' variables stand for.
pub struct Vars {
    pub title: String,
    pub username: String,
    /// Whole days left, rounded up; `∞` without an expiry, 0 once expired.
    pub days_left: String,
    /// Human-readable traffic left; `∞` without a limit.
    pub traffic_left: String,
    /// `YYYY-MM-DD` (UTC), or `never`.
    pub expire_date: String,
}

impl Vars {
    pub fn of(opts: &SubOptions, account: &UserAccount, now_ms: i64) -> Vars {
        let days_left = match account.expires_at_ms {
            None => "∞".into(),
            Some(e) => ((e - now_ms).max(0) + DAY_MS - 1)
                .div_euclid(DAY_MS)
                .to_string(),
        };
        let traffic_left = match account.traffic_limit_bytes {
            None | Some(0) => "∞".into(),
            Some(limit) => {
                let used = account.upload_bytes.max(0) + account.download_bytes.max(0);
                human_bytes((limit - used).max(0))
            }
        };
        Vars {
            title: opts.title.clone(),
            username: account.user.name.clone(),
            days_left,
            traffic_left,
            expire_date: account
                .expires_at_ms
                .map(|e| civil_date(e.div_euclid(DAY_MS)))
                .unwrap_or_else(|| "never".into()),
        }
    }

    /// `template` with its variables replaced.
    pub fn fill(&self, template: &str) -> String {
        template
            .replace("{title}", &self.title)
            .replace("{username}", &self.username)
            .replace("{days_left}", &self.days_left)
            .replace("{traffic_left}", &self.traffic_left)
            .replace("{expire_date}", &self.expire_date)
    }
}

/// `1.5 GB`-style, decimal units as the apps show them.
pub fn human_bytes(n: i64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// `YYYY-MM-DD` of a day number since 1970-01-01 (Howard Hinnant's civil-from-days).
pub fn civil_date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn base64_value(text: &str) -> HeaderValue {
    header_value(&format!("base64:{}", STANDARD.encode(text)))
}

/// What the answer says besides its body.
pub struct Meta<'a> {
    pub content_type: &'static str,
    /// The subscription's own URL: the default `profile-web-page-url`.
    pub sub_url: &'a str,
    /// Lines appended to the operator's announce (what this app cannot use, or why the
    /// profile is empty).
    pub notes: &'a [String],
    /// Replaces the title when the profile has nothing usable.
    pub warning: Option<&'a str>,
}

pub fn build(opts: &SubOptions, account: &UserAccount, now_ms: i64, meta: Meta) -> HeaderMap {
    let settings = &opts.settings;
    let vars = Vars::of(opts, account, now_ms);
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(meta.content_type),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let userinfo = format!(
        "upload={}; download={}; total={}; expire={}",
        account.upload_bytes.max(0),
        account.download_bytes.max(0),
        account.traffic_limit_bytes.unwrap_or(0).max(0),
        account.expires_at_ms.map(|e| e / 1000).unwrap_or(0).max(0),
    );
    h.insert(
        HeaderName::from_static("subscription-userinfo"),
        header_value(&userinfo),
    );
    let title = match meta.warning {
        Some(w) => format!("⚠ {w}"),
        None => vars.fill(&settings.profile_title),
    };
    h.insert(
        HeaderName::from_static("profile-title"),
        base64_value(&title),
    );
    let mut announce: Vec<String> = Vec::new();
    if !settings.announce.trim().is_empty() {
        announce.push(vars.fill(&settings.announce));
    }
    announce.extend(meta.notes.iter().cloned());
    if !announce.is_empty() {
        h.insert(
            HeaderName::from_static("announce"),
            base64_value(&announce.join("\n")),
        );
    }
    h.insert(
        HeaderName::from_static("profile-update-interval"),
        HeaderValue::from(opts.update_interval_hours),
    );
    if let Some(url) = &opts.support_url {
        h.insert(HeaderName::from_static("support-url"), header_value(url));
    }
    let page = settings.web_page_url.as_deref().unwrap_or(meta.sub_url);
    h.insert(
        HeaderName::from_static("profile-web-page-url"),
        header_value(page),
    );
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_sizes_read_like_the_apps_show_them() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(20_454), "2026-01-01");
        assert_eq!(civil_date(11_016), "2000-02-29");
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(5_000_000_000), "5.0 GB");
        assert_eq!(human_bytes(1_250_000), "1.2 MB");
    }
}

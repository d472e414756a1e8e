//! `GET /sub/{token}`: the subscription URL client apps import.
//!
//! The token is per user, random (192 bits) and revocable (`POST
//! /api/v1/users/{user}/subscription/rotate`). The answer lists the user's links in the format
//! asked for by `?format=` or guessed from the User-Agent (see [`formats`]), with the headers
//! the apps read: `subscription-userinfo`, `profile-title`, `profile-update-interval`,
//! `support-url`. A disabled, expired or over-quota user gets an empty list with the same
//! headers, so the app shows why instead of an error.
//!
//! AmneziaWG/WireGuard devices appear in link lists as
//! `/sub/{token}/devices/{uuid}/config`, a download of the device's `.conf` authorised by
//! the same token.
//!
//! Rendered answers are cached per (token, format) until the next applied log entry (any
//! state change) or the user's expiry, whichever is first: rendering opens sealed keys and
//! reads three tables, a cache hit is a hash lookup.

pub mod formats;
pub mod links;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use vpnkeeper_store::queries::UserAccount;

use crate::auth::Anonymous;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Path, Query};
use crate::routes::devices::{attachment, parse_ref, render_config};
use crate::state::{now_ms, ApiState};
use formats::Format;

/// Output formats of `?format=` (the names other panels use are accepted too).
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
pub enum FormatParam {
    #[serde(rename = "base64")]
    Base64,
    #[serde(rename = "v2ray")]
    V2ray,
    #[serde(rename = "plain")]
    Plain,
    #[serde(rename = "links")]
    Links,
    #[serde(rename = "sing-box")]
    SingBox,
    #[serde(rename = "singbox")]
    SingBoxAlias,
    #[serde(rename = "clash")]
    Clash,
    #[serde(rename = "clash-meta")]
    ClashMeta,
    #[serde(rename = "mihomo")]
    Mihomo,
}

impl From<FormatParam> for Format {
    fn from(f: FormatParam) -> Self {
        match f {
            FormatParam::Base64 | FormatParam::V2ray => Format::Base64,
            FormatParam::Plain | FormatParam::Links => Format::Plain,
            FormatParam::SingBox | FormatParam::SingBoxAlias => Format::SingBox,
            FormatParam::Clash | FormatParam::ClashMeta | FormatParam::Mihomo => Format::Clash,
        }
    }
}

// Unknown query parameters are ignored, not refused: client apps append their own
// (cache busters, flags), and a refused update would leave their users stuck.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SubParams {
    /// Output format; without it, the User-Agent decides (base64 links by default).
    #[serde(default)]
    pub format: Option<FormatParam>,
}

/// One rendered answer.
struct Rendered {
    body: Bytes,
    headers: HeaderMap,
    /// Unix ms until which this answer holds (the user's expiry, if active).
    valid_until_ms: i64,
}

/// Most cached answers kept; past that the cache starts over (a burst of distinct tokens
/// should not grow memory without bound).
const CACHE_MAX: usize = 10_000;

#[derive(Default)]
pub(crate) struct SubCache {
    inner: Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    /// Last applied log index the entries were rendered at.
    generation: u64,
    map: HashMap<(String, Format), Arc<Rendered>>,
}

impl SubCache {
    fn get(&self, generation: u64, key: &(String, Format), now: i64) -> Option<Arc<Rendered>> {
        let mut c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if c.generation != generation {
            c.map.clear();
            c.generation = generation;
            return None;
        }
        c.map.get(key).filter(|r| now < r.valid_until_ms).cloned()
    }

    fn put(&self, generation: u64, key: (String, Format), value: Arc<Rendered>) {
        let mut c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if c.generation != generation {
            // Rendered against an older state than the cache now holds: don't keep it.
            return;
        }
        if c.map.len() >= CACHE_MAX {
            c.map.clear();
        }
        c.map.insert(key, value);
    }
}

/// Tokens are URL-safe base64 of 24 random bytes; anything else cannot exist.
fn plausible_token(token: &str) -> bool {
    (16..=64).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn not_found() -> ApiError {
    ApiError::not_found("subscription")
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn headers(state: &ApiState, account: &UserAccount, format: Format) -> HeaderMap {
    let opts = &state.options().sub;
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
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
    // Apps decode `base64:` titles, which keeps non-ASCII names intact in a header.
    let title = format!("{} ({})", opts.title, account.user.name);
    h.insert(
        HeaderName::from_static("profile-title"),
        header_value(&format!("base64:{}", STANDARD.encode(title))),
    );
    h.insert(
        HeaderName::from_static("profile-update-interval"),
        HeaderValue::from(opts.update_interval_hours),
    );
    if let Some(url) = &opts.support_url {
        h.insert(HeaderName::from_static("support-url"), header_value(url));
    }
    h.insert(
        header::CONTENT_DISPOSITION,
        header_value(&format!(
            "attachment; filename=\"{}\"",
            links::safe_name(&opts.title)
        )),
    );
    h
}

async fn render(
    state: &ApiState,
    token: &str,
    format: Format,
    now: i64,
) -> Result<Rendered, ApiError> {
    let account = state
        .read()
        .user_account_by_sub_token(token)
        .await?
        .ok_or_else(not_found)?;
    let active = account.is_active_at(now);
    let links = if active {
        let devices = state.read().devices_of_user(account.user.id, false).await?;
        let nodes = state.read().nodes().await?;
        let base = &state.options().public_url;
        links::links_for(state, &nodes, &devices, |d| {
            format!("{base}/sub/{token}/devices/{}/config", d.uuid)
        })
    } else {
        Vec::new()
    };
    let body = formats::render(format, &links);
    Ok(Rendered {
        headers: headers(state, &account, format),
        body: Bytes::from(body),
        valid_until_ms: match (active, account.expires_at_ms) {
            (true, Some(e)) => e,
            _ => i64::MAX,
        },
    })
}

#[utoipa::path(get, path = "/sub/{token}", tag = "subscription",
    params(
        ("token" = String, Path, description = "The user's subscription token", pattern = "^[A-Za-z0-9_-]{16,64}$"),
        SubParams,
        ("user-agent" = Option<String>, Header, description = "Picks the format when `format` is absent"),
    ),
    responses(
        (status = 200, description = "The user's links; empty when the user is disabled, expired or over quota",
            headers(
                ("subscription-userinfo" = String, description = "upload=…; download=…; total=…; expire=… (bytes, unix seconds; 0 = unlimited/never)"),
                ("profile-title" = String, description = "`base64:` + the profile name"),
                ("profile-update-interval" = String, description = "Hours between refreshes"),
            ),
            content(
                (String = "text/plain"),
                (Object = "application/json"),
                (String = "application/yaml"),
            )),
        (status = 400, description = "Unknown format", body = ErrorBody),
        (status = 404, description = "No such subscription", body = ErrorBody),
        (status = 429, description = "Rate limited (per client address)", body = ErrorBody),
    ))]
pub async fn subscription(
    State(state): State<ApiState>,
    _anon: Anonymous,
    Path(token): Path<String>,
    Query(params): Query<SubParams>,
    request_headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !plausible_token(&token) {
        return Err(not_found());
    }
    let format = match params.format {
        Some(f) => f.into(),
        None => request_headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(Format::from_user_agent)
            .unwrap_or(Format::Base64),
    };
    let now = now_ms();
    let generation = state.read().last_applied().map(|l| l.index).unwrap_or(0);
    let key = (token, format);
    let rendered = match state.sub_cache().get(generation, &key, now) {
        Some(r) => r,
        None => {
            let r = Arc::new(render(&state, &key.0, format, now).await?);
            state.sub_cache().put(generation, key, r.clone());
            r
        }
    };
    Ok((
        StatusCode::OK,
        rendered.headers.clone(),
        rendered.body.clone(),
    )
        .into_response())
}

#[utoipa::path(get, path = "/sub/{token}/devices/{device}/config", tag = "subscription",
    params(
        ("token" = String, Path, description = "The user's subscription token", pattern = "^[A-Za-z0-9_-]{16,64}$"),
        ("device" = String, Path, description = "Device UUID or id (of this user)"),
    ),
    responses(
        (status = 200, description = "The device's client config (.conf) or share link", content_type = "text/plain", body = String),
        (status = 400, description = "Neither a device id nor a UUID", body = ErrorBody),
        (status = 404, description = "No such subscription or device, or access has ended", body = ErrorBody),
        (status = 409, description = "The node cannot render this device", body = ErrorBody),
        (status = 429, description = "Rate limited (per client address)", body = ErrorBody),
    ))]
pub async fn device_config(
    State(state): State<ApiState>,
    _anon: Anonymous,
    Path((token, device)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    if !plausible_token(&token) {
        return Err(not_found());
    }
    let device = parse_ref(&device)?;
    let account = state
        .read()
        .user_account_by_sub_token(&token)
        .await?
        .ok_or_else(not_found)?;
    if !account.is_active_at(now_ms()) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "this subscription's access has ended (the user is disabled, expired or over quota)",
        ));
    }
    let device = state
        .read()
        .device(&device)
        .await?
        .filter(|d| d.user_id == account.user.id && d.is_active())
        .ok_or_else(|| ApiError::not_found(format!("device {device} in this subscription")))?;
    let (file_name, text) = render_config(&state, &device).await?;
    Ok(attachment(&file_name, text))
}

//! `GET /sub/{token}`: the subscription URL client apps import.
//!
//! The token is per user, random (192 bits) and revocable (`POST
//! /api/v1/users/{user}/subscription/rotate`). The answer is:
//! - for a browser (`Accept: text/html`, no `?format=`): a page with QR codes, downloads and
//!   app links ([`page`]);
//! - for a client app: a profile in the format asked for by `?format=` or found by the
//!   ordered User-Agent table in `[subscription]` ([`settings`]), holding what that app can
//!   use ([`formats::usable`]), with the headers the apps read ([`headers`]). A profile with
//!   nothing usable (access ended, no devices, nothing this app can connect with) blocks all
//!   traffic and says why in its title and `announce`, never routes everything direct.
//!
//! Every device renders through its `ClientArtifact` (vpnkeeper_domain::artifact), as the
//! API's config endpoint and the bot do. `/sub/{token}/devices/{uuid}/config` downloads one
//! device's file, authorised by the same token.
//!
//! Rendered answers are cached per (token, variant) until the next applied log entry (any
//! state change) or the user's expiry, whichever is first: rendering opens sealed keys and
//! reads three tables, a cache hit is a hash lookup.

pub mod artifact;
pub mod formats;
mod headers;
mod legacy;
pub mod links;
mod page;
pub mod settings;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use vpnkeeper_store::queries::UserAccount;

use crate::auth::Anonymous;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Path, Query};
use crate::state::{now_ms, ApiState};
use formats::Format;
use settings::Engine;

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

/// What one request asks for: a page for a browser, or a profile for a client app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Variant {
    Page,
    Profile { format: Format, engine: Engine },
}

impl Variant {
    /// `?format=` decides the format; the User-Agent table decides the engine (and the
    /// format when `?format=` is absent). A sing-box profile is only read by sing-box, a
    /// mihomo one by mihomo or a compatible engine.
    fn of(state: &ApiState, params: &SubParams, request: &HeaderMap) -> Variant {
        let header = |name| {
            request
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
        };
        if params.format.is_none() && page::wants_html(header(header::ACCEPT)) {
            return Variant::Page;
        }
        let rule =
            header(header::USER_AGENT).and_then(|ua| state.options().sub.settings.detect(ua));
        let format = params
            .format
            .map(Format::from)
            .or(rule.map(|r| r.format))
            .unwrap_or(Format::Base64);
        let engine = match (format, rule) {
            (Format::SingBox, _) => Engine::SingBox,
            (_, Some(r)) => r.engine,
            (Format::Clash, None) => Engine::Mihomo,
            _ => Engine::Other,
        };
        Variant::Profile { format, engine }
    }
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
    map: HashMap<(String, Variant), Arc<Rendered>>,
}

impl SubCache {
    fn get(&self, generation: u64, key: &(String, Variant), now: i64) -> Option<Arc<Rendered>> {
        let mut c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if c.generation != generation {
            c.map.clear();
            c.generation = generation;
            return None;
        }
        c.map.get(key).filter(|r| now < r.valid_until_ms).cloned()
    }

    fn put(&self, generation: u64, key: (String, Variant), value: Arc<Rendered>) {
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

async fn render(
    state: &ApiState,
    token: &str,
    variant: Variant,
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
        let online = state.read().online_node_ids().await?;
        links::links_for(state, &nodes, &online, &account.user, &devices)
    } else {
        Vec::new()
    };
    let sub_url = format!("{}/sub/{token}", state.options().public_url);
    let (headers, body) = match variant {
        Variant::Page => page_answer(state, &account, &sub_url, &links, active, now),
        Variant::Profile { format, engine } => profile_answer(
            state,
            &account,
            &sub_url,
            &links,
            active,
            now,
            (format, engine),
        ),
    };
    Ok(Rendered {
        headers,
        body: Bytes::from(body),
        valid_until_ms: match (active, account.expires_at_ms) {
            (true, Some(e)) => e,
            _ => i64::MAX,
        },
    })
}

fn page_answer(
    state: &ApiState,
    account: &UserAccount,
    sub_url: &str,
    links: &[links::SubLink],
    active: bool,
    now: i64,
) -> (HeaderMap, String) {
    let opts = &state.options().sub;
    let vars = headers::Vars::of(opts, account, now);
    let title = vars.fill(&opts.settings.profile_title);
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // The page embeds configs: it must not be framed or leak its URL to links it holds.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    (h, page::render(&vars, &title, sub_url, links, active))
}

/// Why a profile has nothing usable, in the user's terms.
fn empty_reason(active: bool, any_device: bool, left_out: &[formats::LeftOut]) -> String {
    if !active {
        "Access has ended (disabled, expired or over the traffic limit): contact support".into()
    } else if !any_device {
        "No devices yet: add one in the bot or ask your administrator".into()
    } else if left_out.contains(&formats::LeftOut::RealityForSingBox) {
        "Nothing this app can use: import this subscription in Happ, v2rayNG, Clash Verge or FlClash".into()
    } else {
        "Nothing this app can use: open the subscription link in a browser for your device configs"
            .into()
    }
}

fn profile_answer(
    state: &ApiState,
    account: &UserAccount,
    sub_url: &str,
    links: &[links::SubLink],
    active: bool,
    now: i64,
    (format, engine): (Format, Engine),
) -> (HeaderMap, String) {
    let opts = &state.options().sub;
    let (kept, left_out) =
        formats::usable(format, engine, opts.settings.reality_requires_pq, links);
    let mut notes: Vec<String> = left_out.iter().map(|l| l.message().to_string()).collect();
    let (body, warning) = if kept.is_empty() {
        let reason = empty_reason(active, !links.is_empty(), &left_out);
        notes.insert(0, reason.clone());
        (formats::unusable(format, &reason), Some(reason))
    } else {
        (formats::render(format, &kept), None)
    };
    let mut h = headers::build(
        opts,
        account,
        now,
        headers::Meta {
            content_type: format.content_type(),
            sub_url,
            notes: &notes,
            warning: warning.as_deref(),
        },
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&format!(
            "attachment; filename=\"{}\"",
            links::safe_name(&opts.title)
        ))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
    );
    (h, body)
}

#[utoipa::path(get, path = "/sub/{token}", tag = "subscription",
    params(
        ("token" = String, Path, description = "The user's subscription token", pattern = "^[A-Za-z0-9_-]{16,64}$"),
        SubParams,
        ("user-agent" = Option<String>, Header, description = "Picks the format (when `format` is absent) and the app's engine, by the `[subscription] clients` table"),
    ),
    responses(
        (status = 200, description = "The profile this client app can use (a browser sending `Accept: text/html` gets a page with QR codes); when nothing is usable, a profile that blocks all traffic, with the reason in the title and `announce`",
            headers(
                ("subscription-userinfo" = String, description = "upload=…; download=…; total=…; expire=… (bytes, unix seconds; 0 = unlimited/never)"),
                ("profile-title" = String, description = "`base64:` + the profile name"),
                ("announce" = String, description = "`base64:` + notes: the operator's announce, what this app cannot use and why"),
                ("profile-update-interval" = String, description = "Hours between refreshes"),
                ("profile-web-page-url" = String, description = "The page for this subscription"),
            ),
            content(
                (String = "text/plain"),
                (Object = "application/json"),
                (String = "application/yaml"),
                (String = "text/html"),
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
    // A URL handed out by an imported panel answers as the user's own subscription.
    let token = legacy::resolve(&state, &token).await?.unwrap_or(token);
    if !plausible_token(&token) {
        return Err(not_found());
    }
    let variant = Variant::of(&state, &params, &request_headers);
    let now = now_ms();
    let generation = state.read().last_applied().map(|l| l.index).unwrap_or(0);
    let key = (token, variant);
    let rendered = match state.sub_cache().get(generation, &key, now) {
        Some(r) => r,
        None => {
            let r = Arc::new(render(&state, &key.0, variant, now).await?);
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
    let device = vpnkeeper_domain::DeviceRef::parse(&device)?;
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
    let artifact = links_artifact(&state, &device, &account.user).await?;
    Ok(artifact::attachment(&artifact))
}

/// The artifact of one of the subscription's own devices.
async fn links_artifact(
    state: &ApiState,
    device: &vpnkeeper_domain::Device,
    user: &vpnkeeper_domain::User,
) -> Result<vpnkeeper_domain::artifact::ClientArtifact, ApiError> {
    let node = state.read().node(device.node_id).await?.ok_or_else(|| {
        ApiError::not_found(format!("node {} of device {}", device.node_id, device.id))
    })?;
    artifact::render(state, &node, device, user)
}

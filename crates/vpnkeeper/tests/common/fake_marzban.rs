//! A fake Marzban panel for import tests: the REST endpoints `vpnkeeper import marzban
//! --url` uses, with Marzban's real JSON shapes (Gozargah/Marzban `app/routers/admin.py`,
//! `app/routers/user.py`, `app/models/user.py`):
//! - `POST /api/admin/token`, an OAuth2 password form → `{"access_token", "token_type":
//!   "bearer"}`, or 401 `{"detail": "Incorrect username or password"}`;
//! - `GET /api/users?offset=&limit=` with the bearer token → `{"users": [UserResponse…],
//!   "total": n}`, or 401 `{"detail": "Could not validate credentials"}`.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

pub const ADMIN: &str = "admin";
pub const PASSWORD: &str = "s3cret pass+word";
const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.fake-marzban-admin.sig";

/// One Marzban user as the test describes it.
#[derive(Clone)]
pub struct MzUser {
    pub username: String,
    pub status: &'static str,
    pub used_traffic: i64,
    pub data_limit: Option<i64>,
    pub expire: Option<i64>,
    pub vless_id: Option<String>,
}

impl MzUser {
    /// `UserResponse` as Marzban serialises it.
    fn json(&self) -> Value {
        let mut proxies = json!({});
        let mut inbounds = json!({});
        if let Some(id) = &self.vless_id {
            proxies["vless"] = json!({ "id": id, "flow": "" });
            inbounds["vless"] = json!(["VLESS TCP REALITY"]);
        }
        json!({
            "proxies": proxies,
            "expire": self.expire,
            "data_limit": self.data_limit,
            "data_limit_reset_strategy": "no_reset",
            "inbounds": inbounds,
            "note": null,
            "sub_updated_at": null,
            "sub_last_user_agent": null,
            "online_at": null,
            "on_hold_expire_duration": null,
            "on_hold_timeout": null,
            "auto_delete_in_days": null,
            "username": self.username,
            "status": self.status,
            "used_traffic": self.used_traffic,
            "lifetime_used_traffic": self.used_traffic,
            "created_at": "2024-05-01T10:00:00",
            "links": [],
            "subscription_url": format!("/sub/{}", self.username),
            "excluded_inbounds": { "vless": [] },
            "admin": { "username": ADMIN, "is_sudo": true, "telegram_id": null, "discord_webhook": null, "users_usage": 0 }
        })
    }
}

#[derive(Default)]
struct Inner {
    users: Vec<MzUser>,
    /// (offset, limit) of every users page asked for.
    pages: Vec<(usize, usize)>,
}

pub struct FakeMarzban {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeMarzban {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeMarzban {
    pub async fn start(users: Vec<MzUser>) -> FakeMarzban {
        let inner = Arc::new(Mutex::new(Inner {
            users,
            pages: Vec::new(),
        }));
        let app = Router::new()
            .route("/api/admin/token", post(token))
            .route("/api/users", get(users_page))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeMarzban { url, inner, server }
    }

    pub fn pages(&self) -> Vec<(usize, usize)> {
        self.inner.lock().unwrap().pages.clone()
    }
}

fn detail(status: StatusCode, text: &str) -> Response {
    (status, Json(json!({ "detail": text }))).into_response()
}

/// `application/x-www-form-urlencoded` value decoding (`+` and `%XX`).
fn form_decode(v: &str) -> String {
    let bytes = v.replace('+', " ").into_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn token(headers: HeaderMap, body: Bytes) -> Response {
    let ctype = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ctype.starts_with("application/x-www-form-urlencoded") {
        return detail(StatusCode::UNPROCESSABLE_ENTITY, "form data expected");
    }
    let text = String::from_utf8_lossy(&body);
    let field = |name: &str| {
        text.split('&')
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| form_decode(v))
    };
    if field("username").as_deref() != Some(ADMIN) || field("password").as_deref() != Some(PASSWORD)
    {
        return detail(StatusCode::UNAUTHORIZED, "Incorrect username or password");
    }
    Json(json!({ "access_token": TOKEN, "token_type": "bearer" })).into_response()
}

async fn users_page(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if auth != format!("Bearer {TOKEN}") {
        return detail(StatusCode::UNAUTHORIZED, "Could not validate credentials");
    }
    let mut g = inner.lock().unwrap();
    let total = g.users.len();
    let offset: usize = q.get("offset").and_then(|v| v.parse().ok()).unwrap_or(0);
    let limit: usize = q.get("limit").and_then(|v| v.parse().ok()).unwrap_or(total);
    g.pages.push((offset, limit));
    let users: Vec<Value> = g
        .users
        .iter()
        .skip(offset)
        .take(limit)
        .map(MzUser::json)
        .collect();
    Json(json!({ "users": users, "total": total })).into_response()
}

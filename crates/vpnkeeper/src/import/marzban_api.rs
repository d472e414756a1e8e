//! Reads a running Marzban panel over its REST API (Gozargah/Marzban `app/routers/`):
//! `POST /api/admin/token` (OAuth2 password form) for a bearer token, then
//! `GET /api/users?offset=&limit=` page by page (`{"users": [UserResponse…], "total": n}`).
//! Each user is mapped exactly as the database reader maps it (`marzban::plan`).
//!
//! What the API does not give: the secret Marzban signs subscription tokens with (pass it
//! with `--secret` to keep old subscription URLs working) and when a user's subscription was
//! last revoked (through the database, URLs revoked in Marzban stay refused).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use reqwest::StatusCode;
use serde_json::Value;

use super::marzban::{datetime_ms, plan, MarzbanUser};
use super::ImportPlan;

/// Users asked for per page.
const PAGE: usize = 200;

/// Where and as whom to log in.
pub struct Panel<'a> {
    pub url: &'a str,
    pub username: &'a str,
    pub password: &'a str,
}

pub async fn read(panel: &Panel<'_>, secret: Option<String>) -> Result<ImportPlan> {
    let base = panel.url.trim_end_matches('/').to_string();
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        bail!("--url {base}: give the panel's address with http:// or https://");
    }
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(120))
        .build()?;
    let token = login(&http, &base, panel).await?;
    let users = all_users(&http, &base, &token).await?;
    let mut notes = Vec::new();
    if secret.is_none() {
        notes.push("Marzban's REST API does not give its subscription secret: pass --secret (its jwt.secret_key) to keep old subscription URLs working".into());
    }
    let users = users
        .iter()
        .map(|u| user_of(u).ok_or_else(|| not_marzban(&base, "a user without a username")))
        .collect::<Result<Vec<_>>>()?;
    Ok(plan(users, secret, notes))
}

fn not_marzban(base: &str, why: &str) -> anyhow::Error {
    anyhow!("{base} does not look like a Marzban panel ({why}); give the panel's address, e.g. https://panel.example.com:8000")
}

/// `POST /api/admin/token` → the access token.
async fn login(http: &reqwest::Client, base: &str, panel: &Panel<'_>) -> Result<String> {
    let form = [("username", panel.username), ("password", panel.password)];
    let r = http
        .post(format!("{base}/api/admin/token"))
        .form(&form)
        .send()
        .await
        .map_err(|e| cannot_reach(base, &e))?;
    let status = r.status();
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        bail!("Marzban at {base} refused the username or password ({status}); check --username and --password-file");
    }
    if !status.is_success() {
        return Err(not_marzban(
            base,
            &format!("POST /api/admin/token answered {status}"),
        ));
    }
    let body: Value = r
        .json()
        .await
        .map_err(|_| not_marzban(base, "its token answer is not JSON"))?;
    body["access_token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| not_marzban(base, "no access_token in its token answer"))
}

fn cannot_reach(base: &str, e: &reqwest::Error) -> anyhow::Error {
    // reqwest's message names the URL (no secret in it); the source says why.
    let why = std::error::Error::source(e)
        .map(|s| s.to_string())
        .unwrap_or_else(|| e.to_string());
    anyhow!("cannot reach Marzban at {base}: {}", why.replace('\n', " "))
}

/// Every user, page by page, each username once (a user added meanwhile may shift pages).
async fn all_users(http: &reqwest::Client, base: &str, token: &str) -> Result<Vec<Value>> {
    let mut by_name: BTreeMap<String, Value> = BTreeMap::new();
    let mut order = Vec::new();
    let mut offset = 0;
    loop {
        let r = http
            .get(format!("{base}/api/users"))
            .query(&[("offset", offset), ("limit", PAGE)])
            .bearer_auth(token)
            .send()
            .await
            .map_err(|e| cannot_reach(base, &e))?;
        let status = r.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            bail!("Marzban at {base} did not let this admin list users ({status}); log in as a sudo admin");
        }
        if !status.is_success() {
            return Err(not_marzban(
                base,
                &format!("GET /api/users answered {status}"),
            ));
        }
        let body: Value = r
            .json()
            .await
            .map_err(|_| not_marzban(base, "its users list is not JSON"))?;
        let (Some(page), Some(total)) = (body["users"].as_array(), body["total"].as_u64()) else {
            return Err(not_marzban(base, "its users list has no users/total"));
        };
        for u in page {
            let name = u["username"].as_str().unwrap_or_default().to_string();
            if by_name.insert(name.clone(), u.clone()).is_none() {
                order.push(name);
            }
        }
        offset += page.len();
        if page.is_empty() || offset as u64 >= total {
            break;
        }
    }
    Ok(order
        .into_iter()
        .filter_map(|n| by_name.remove(&n))
        .collect())
}

/// A `UserResponse` as the mapping's input, with its VLESS client UUID.
fn user_of(u: &Value) -> Option<(MarzbanUser, Option<String>)> {
    let username = u["username"]
        .as_str()
        .filter(|n| !n.is_empty())?
        .to_string();
    let int = |v: &Value| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64));
    // `expire` is unix seconds; some versions answer an ISO datetime instead.
    let expire = int(&u["expire"]).or_else(|| {
        u["expire"]
            .as_str()
            .and_then(datetime_ms)
            .map(|ms| ms / 1000)
    });
    let uuid = u["proxies"]["vless"]["id"].as_str().map(str::to_string);
    let user = MarzbanUser {
        username,
        status: u["status"].as_str().unwrap_or("active").to_string(),
        used_traffic: int(&u["used_traffic"]).unwrap_or(0),
        data_limit: int(&u["data_limit"]),
        expire,
        sub_revoked_at: None,
    };
    Some((user, uuid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_user_response_maps_to_the_importers_input() {
        let u = json!({
            "username": "alice", "status": "disabled", "used_traffic": 123,
            "lifetime_used_traffic": 500, "data_limit": 1024, "expire": 1_893_456_000,
            "proxies": {"vless": {"id": "6f0d1c2b-3a49-4e58-8b6a-1c2d3e4f5a6b", "flow": ""},
                        "vmess": {"id": "0b9c8d7e-6f5a-4b3c-9d2e-1f0a9b8c7d6e"}},
            "created_at": "2024-01-01T00:00:00", "links": [], "subscription_url": "/sub/x"
        });
        let (m, uuid) = user_of(&u).unwrap();
        assert_eq!(m.username, "alice");
        assert_eq!(m.status, "disabled");
        assert_eq!(
            (m.used_traffic, m.data_limit, m.expire),
            (123, Some(1024), Some(1_893_456_000))
        );
        assert_eq!(
            uuid.as_deref(),
            Some("6f0d1c2b-3a49-4e58-8b6a-1c2d3e4f5a6b")
        );
        let iso = json!({"username": "bob", "expire": "2030-01-01T00:00:00", "data_limit": null, "proxies": {}});
        let (m, uuid) = user_of(&iso).unwrap();
        assert_eq!(
            (m.expire, m.data_limit, uuid),
            (Some(1_893_456_000), None, None)
        );
        assert!(user_of(&json!({"status": "active"})).is_none());
    }
}

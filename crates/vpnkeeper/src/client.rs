//! The CLI verbs (`user add`, `device add`, `status`…) as clients of the running node's API,
//! authenticated with `DATA_DIR/admin.token`.

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::config::{Config, Location};
use crate::secret_files::{read_secret, ADMIN_TOKEN_FILE};

pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl ApiClient {
    pub fn new(location: &Location, config: &Config) -> Result<ApiClient> {
        let token_path = location.data_dir.join(ADMIN_TOKEN_FILE);
        if !token_path.exists() {
            bail!(
                "{} not found: is {} an initialised vpnkeeper data directory? (create one with `vpnkeeper init --data-dir DIR`)",
                token_path.display(),
                location.data_dir.display()
            );
        }
        let token = read_secret(&token_path)?;
        let mut http = reqwest::Client::builder().timeout(Duration::from_secs(30));
        let scheme = match &config.api.tls_cert {
            Some(cert) if config.api.tls_enabled() => {
                // The node serves HTTPS with this very certificate: trust exactly it, for
                // the loopback address the CLI dials even though it names the public host.
                let tls = vpnkeeper_api::tls::pinned_client_config(cert)?;
                http = http.use_preconfigured_tls(tls);
                "https"
            }
            _ => "http",
        };
        let http = http.build().context("building the HTTP client")?;
        // A wildcard listen address is reached through loopback.
        let mut addr = config.api.listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(if addr.is_ipv4() {
                std::net::Ipv4Addr::LOCALHOST.into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        Ok(ApiClient {
            http,
            base: format!("{scheme}://{addr}"),
            token,
        })
    }

    /// Sends a request; an API error comes back as its one-line message.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, T)> {
        let resp = self
            .send_retrying(|| {
                let mut req = self
                    .http
                    .request(method.clone(), format!("{}{}", self.base, path))
                    .bearer_auth(&self.token);
                if let Some(body) = &body {
                    req = req.json(body);
                }
                req
            })
            .await?;
        let status = resp.status();
        let bytes = resp.bytes().await.context("reading the node's answer")?;
        if !status.is_success() {
            let msg = serde_json::from_slice::<ErrorBody>(&bytes)
                .map(|b| match b.error.field {
                    Some(f) => format!("{f}: {}", b.error.message),
                    None => b.error.message,
                })
                .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).trim().to_string());
            bail!("{msg}");
        }
        let value =
            serde_json::from_slice(&bytes).context("the node answered with unexpected JSON")?;
        Ok((status, value))
    }

    /// Sends a request; when the node answers 429 (its per-key rate limit), waits for its
    /// `Retry-After` and sends again, so a scripted loop of verbs slows down instead of failing.
    async fn send_retrying(
        &self,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response> {
        let mut waited = Duration::ZERO;
        loop {
            let resp = build().send().await.map_err(|e| self.send_error(&e))?;
            if resp.status() != StatusCode::TOO_MANY_REQUESTS || waited >= MAX_RATE_LIMIT_WAIT {
                return Ok(resp);
            }
            let wait = retry_after(&resp).min(MAX_RATE_LIMIT_WAIT - waited);
            tokio::time::sleep(wait).await;
            waited += wait;
        }
    }

    fn send_error(&self, e: &reqwest::Error) -> anyhow::Error {
        if e.is_connect() && !is_tls_failure(e) {
            anyhow!(
                "no vpnkeeper node is running at {} (start it with `vpnkeeper run --data-dir DIR`)",
                self.base
            )
        } else {
            anyhow!(
                "request to the node at {} failed: {}",
                self.base,
                error_chain(e)
            )
        }
    }

    /// GETs a binary body (a backup file); an API error comes back as its one-line message.
    pub async fn get_bytes(&self, path: &str) -> Result<Vec<u8>> {
        let resp = self
            .send_retrying(|| {
                self.http
                    .get(format!("{}{}", self.base, path))
                    .bearer_auth(&self.token)
                    .timeout(Duration::from_secs(600))
            })
            .await?;
        let status = resp.status();
        let bytes = resp.bytes().await.context("reading the node's answer")?;
        if !status.is_success() {
            let msg = serde_json::from_slice::<ErrorBody>(&bytes)
                .map(|b| b.error.message)
                .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).trim().to_string());
            bail!("{msg}");
        }
        Ok(bytes.to_vec())
    }

    pub async fn get_text(&self, path: &str) -> Result<String> {
        let resp = self
            .send_retrying(|| {
                self.http
                    .get(format!("{}{}", self.base, path))
                    .bearer_auth(&self.token)
            })
            .await?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            bail!("{}", text.trim());
        }
        Ok(text)
    }
}

/// Longest a verb waits out the node's rate limit in total before reporting the 429.
const MAX_RATE_LIMIT_WAIT: Duration = Duration::from_secs(120);

/// The `Retry-After` of a 429 in seconds (1 s when absent or unreadable, at least 100 ms).
fn retry_after(resp: &reqwest::Response) -> Duration {
    resp.headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::from_secs(1))
        .max(Duration::from_millis(100))
}

/// The API's one error shape: `{"error": {"message": …, "field": …}}`.
#[derive(serde::Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(serde::Deserialize)]
struct ErrorDetail {
    message: String,
    field: Option<String>,
}

pub fn url_segment(s: &str) -> String {
    // Path segments from the command line: escape what would change the URL's meaning.
    s.chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' | '.' | '~' => c.to_string(),
            _ => {
                let mut buf = [0u8; 4];
                c.encode_utf8(&mut buf)
                    .bytes()
                    .map(|b| format!("%{b:02X}"))
                    .collect()
            }
        })
        .collect()
}

/// The error and its causes on one line ("error sending request: … : invalid peer
/// certificate: …"), which is where TLS problems say what is wrong.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cur = c.source();
    }
    out
}

/// A connection that reached the node but failed its TLS handshake is not "no node running".
fn is_tls_failure(e: &reqwest::Error) -> bool {
    let chain = error_chain(e).to_ascii_lowercase();
    chain.contains("certificate") || chain.contains("tls") || chain.contains("handshake")
}

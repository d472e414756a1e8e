//! A JSON client for the API tests (every error answer must have the one shape), and a
//! node with the rate limits off.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::Node;

/// Limits off: these tests exercise resources, `api_limits.rs` exercises the limits.
pub const NO_LIMITS: [(&str, &str); 4] = [
    ("VPNKEEPER_API__RATE_LIMIT_READS_PER_MIN", "0"),
    ("VPNKEEPER_API__RATE_LIMIT_WRITES_PER_MIN", "0"),
    ("VPNKEEPER_API__RATE_LIMIT_KEY_CREATE_PER_MIN", "0"),
    ("VPNKEEPER_API__RATE_LIMIT_ANONYMOUS_PER_IP_PER_MIN", "0"),
];

pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Api {
    pub fn new(node: &Node) -> Api {
        Api {
            http: reqwest::Client::new(),
            base: node.base(),
            token: node.token.clone(),
        }
    }

    pub async fn call_as(
        &self,
        token: Option<&str>,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: not JSON: {text}"))
        };
        if status.is_client_error() || status.is_server_error() {
            // Every error has the one shape.
            assert!(
                value["error"]["code"].is_string() && value["error"]["message"].is_string(),
                "{path}: error shape: {value}"
            );
        }
        (status, value)
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call_as(Some(&self.token), method, path, body).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }
}

pub fn start() -> Node {
    let mut node = Node::init();
    node.start_env(&NO_LIMITS);
    node
}

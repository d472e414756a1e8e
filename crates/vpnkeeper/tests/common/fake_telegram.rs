//! A fake Telegram Bot API server for tests: the real `vpnkeeper` binary long-polls it over
//! HTTP exactly as it would poll api.telegram.org.
//!
//! It speaks the wire protocol the bot uses: `/bot<TOKEN>/<method>` (method names in any
//! case; teloxide sends PascalCase), JSON or multipart bodies (`attach://` file parts),
//! `{"ok":true,"result":…}` / `{"ok":false,"error_code":…,"description":…}` answers, and a
//! real long poll in getUpdates honouring `offset` (which confirms older updates), `limit`
//! and `timeout`. Unknown methods get 400. Tests can make it fail (5xx, dropped
//! connections, 429 flood control), hold replies as if the network ate them, and re-deliver
//! confirmed updates as a forged duplicate.
#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use serde_json::{json, Value};
use tokio::sync::Notify;

pub const BOT_ID: i64 = 7_000_000_001;
pub const TOKEN: &str = "7000000001:AAFakeTokenForTests-0123456789abcdef";

/// A Telegram user the tests act as.
#[derive(Debug, Clone)]
pub struct TgUser {
    pub id: i64,
    pub first_name: String,
    pub username: Option<String>,
    pub language_code: Option<String>,
}

impl TgUser {
    pub fn new(id: i64, first_name: &str, username: Option<&str>, lang: &str) -> TgUser {
        TgUser {
            id,
            first_name: first_name.into(),
            username: username.map(str::to_string),
            language_code: Some(lang.into()),
        }
    }

    fn json(&self) -> Value {
        let mut v = json!({ "id": self.id, "is_bot": false, "first_name": self.first_name });
        if let Some(u) = &self.username {
            v["username"] = json!(u);
        }
        if let Some(l) = &self.language_code {
            v["language_code"] = json!(l);
        }
        v
    }

    fn chat(&self) -> Value {
        json!({ "id": self.id, "type": "private", "first_name": self.first_name })
    }
}

/// One request the bot made (that "reached Telegram").
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub params: Value,
    /// File parts by part name: (file name, bytes).
    pub files: BTreeMap<String, (String, Vec<u8>)>,
    pub at: Instant,
    /// The message id returned for sends.
    pub message_id: Option<i64>,
    /// HTTP status answered.
    pub status: u16,
    /// The path prefix the request came through (`<url>/<via>/bot<TOKEN>/<method>`), when
    /// the node was given one: which node of a fleet made the call.
    pub via: Option<String>,
}

impl Call {
    pub fn chat(&self) -> Option<i64> {
        as_i64(&self.params["chat_id"])
    }
    pub fn text(&self) -> String {
        self.params["text"].as_str().unwrap_or("").to_string()
    }
    /// All callback_data strings of the inline keyboard.
    pub fn buttons(&self) -> Vec<String> {
        let markup = match &self.params["reply_markup"] {
            Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
            v => v.clone(),
        };
        let mut out = Vec::new();
        if let Some(rows) = markup["inline_keyboard"].as_array() {
            for row in rows {
                for b in row.as_array().into_iter().flatten() {
                    if let Some(d) = b["callback_data"].as_str() {
                        out.push(d.to_string());
                    }
                }
            }
        }
        out
    }
    /// The bytes of an uploaded file field (`document`, `photo`), resolving `attach://`.
    pub fn file(&self, field: &str) -> Option<(String, Vec<u8>)> {
        if let Some(f) = self.files.get(field) {
            return Some(f.clone());
        }
        let reference = self.params[field].as_str()?;
        let name = reference.strip_prefix("attach://")?;
        self.files.get(name).cloned()
    }
    /// The photo of an `editMessageMedia` (its `media` JSON names an `attach://` part).
    pub fn media_file(&self) -> Option<(String, Vec<u8>)> {
        let media: Value = match &self.params["media"] {
            Value::String(s) => serde_json::from_str(s).ok()?,
            v => v.clone(),
        };
        let name = media["media"].as_str()?.strip_prefix("attach://")?;
        self.files.get(name).cloned()
    }
    /// The caption of a photo (sent or edited in).
    pub fn caption(&self) -> String {
        if let Some(c) = self.params["caption"].as_str() {
            return c.to_string();
        }
        let media: Value = match &self.params["media"] {
            Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
            v => v.clone(),
        };
        media["caption"].as_str().unwrap_or("").to_string()
    }
    pub fn is_send(&self) -> bool {
        matches!(
            self.method.as_str(),
            "sendMessage" | "sendDocument" | "sendPhoto" | "sendVoice"
        )
    }
}

fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// How the fake misbehaves right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// Every method answers 502 Bad Gateway.
    ServerError,
    /// Every connection is cut before a response completes.
    Drop,
}

#[derive(Default)]
struct Inner {
    next_update_id: i64,
    next_message_id: i64,
    /// Updates not yet confirmed by an offset.
    queue: VecDeque<Value>,
    /// Every update ever queued, by id (for forged redelivery).
    all: BTreeMap<i64, Value>,
    /// Updates to hand out regardless of offset (forged duplicates).
    forced: VecDeque<Value>,
    calls: Vec<Call>,
    /// (time, offset asked, ids returned) of every getUpdates.
    polls: Vec<(Instant, i64, Vec<i64>)>,
    /// Update id → when a getUpdates response first carried it.
    delivered_at: BTreeMap<i64, Instant>,
    failure: Option<(Failure, Instant)>,
    /// Answer this many sends with 429.
    flood: u32,
    flood_retry_after: u64,
    /// Hold sends as if the network ate them (never recorded).
    hold: bool,
    /// Rejected attempts (5xx/429/drop), by method.
    rejected: Vec<(String, u16, Instant)>,
    /// The getUpdates being held right now (its sequence number), if any.
    active_poll: Option<u64>,
    next_poll: u64,
    /// Polls ended early by a newer overlapping getUpdates (answered 409, as Telegram does).
    terminated: std::collections::BTreeSet<u64>,
    /// Overlapping getUpdates seen: two pollers at once.
    conflicts: u32,
    /// (arrival, path prefix) of every getUpdates, answered or not.
    poll_arrivals: Vec<(Instant, Option<String>)>,
    /// Files users sent (voice notes), by file id: (file_path, bytes).
    files: BTreeMap<String, (String, Vec<u8>)>,
    /// getFile calls answered, by file id.
    get_files: Vec<(String, Instant)>,
    /// File downloads (`/file/bot<TOKEN>/<file_path>`) answered, by file path.
    downloads: Vec<(String, Instant)>,
    /// Methods answered with a permanent error (status, description), as Telegram refuses
    /// e.g. a document above its size limit (`refuse`).
    refusals: BTreeMap<String, (u16, String)>,
    /// Dropped connections still to answer, by method (payments: retry tests).
    fail_next: BTreeMap<String, u32>,
}

struct Shared {
    inner: Mutex<Inner>,
    updates: Notify,
    released: Notify,
}

pub struct FakeTelegram {
    pub url: String,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FakeTelegram {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeTelegram {
    pub async fn start() -> FakeTelegram {
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                next_update_id: 100_000,
                next_message_id: 1,
                ..Default::default()
            }),
            updates: Notify::new(),
            released: Notify::new(),
        });
        let app = Router::new()
            .route("/{bot}/{method}", any(handle))
            .route("/{via}/{bot}/{method}", any(handle_via))
            .route("/file/{bot}/{*path}", get(file_download))
            .route("/{via}/file/{bot}/{*path}", get(file_download_via))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeTelegram {
            url,
            shared,
            server,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.shared.inner.lock().unwrap()
    }

    /// Env for the node: token, this server as the API URL, a short long poll.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("VPNKEEPER_TELEGRAM__TOKEN".into(), TOKEN.into()),
            ("VPNKEEPER_TELEGRAM__API_URL".into(), self.url.clone()),
            ("VPNKEEPER_TELEGRAM__POLL_TIMEOUT_SECS".into(), "2".into()),
        ]
    }

    /// Like [`env`](Self::env), with the API URL under the path prefix `via`: the Bot API
    /// wire format is unchanged (`<url>/<via>/bot<TOKEN>/<method>`, as a local Bot API
    /// server behind a path would be), and every call records which node made it.
    pub fn env_via(&self, via: &str) -> Vec<(String, String)> {
        let mut env = self.env();
        for (k, v) in env.iter_mut() {
            if k == "VPNKEEPER_TELEGRAM__API_URL" {
                *v = format!("{}/{via}", self.url);
            }
        }
        env
    }

    /// When each getUpdates arrived, and through which path prefix.
    pub fn poll_arrivals(&self) -> Vec<(Instant, Option<String>)> {
        self.lock().poll_arrivals.clone()
    }

    fn push(&self, build: impl FnOnce(i64, i64) -> Value) -> i64 {
        let id = {
            let mut g = self.lock();
            let id = g.next_update_id;
            g.next_update_id += 1;
            let mid = g.next_message_id;
            g.next_message_id += 1;
            let u = build(id, mid);
            g.queue.push_back(u.clone());
            g.all.insert(id, u);
            id
        };
        self.shared.updates.notify_waiters();
        id
    }

    /// A text message from `user` in the private chat.
    pub fn text(&self, user: &TgUser, text: &str) -> i64 {
        let user = user.clone();
        let text = text.to_string();
        self.push(move |id, mid| {
            let mut m = json!({
                "message_id": mid, "date": now_unix(), "chat": user.chat(),
                "from": user.json(), "text": text,
            });
            if text.starts_with('/') {
                let len = text
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .encode_utf16()
                    .count();
                m["entities"] = json!([{ "type": "bot_command", "offset": 0, "length": len }]);
            }
            json!({ "update_id": id, "message": m })
        })
    }

    /// A document (a file) from `user`.
    pub fn document(&self, user: &TgUser) -> i64 {
        let user = user.clone();
        self.push(move |id, mid| {
            json!({ "update_id": id, "message": {
                "message_id": mid, "date": now_unix(), "chat": user.chat(), "from": user.json(),
                "document": { "file_id": "F1", "file_unique_id": "U1", "file_name": "x.pdf" }
            }})
        })
    }

    /// Stores a file as if a user had sent it (a voice note); returns its file id. The bot
    /// finds it with getFile and downloads it from `/file/bot<TOKEN>/<file_path>`.
    pub fn register_file(&self, bytes: Vec<u8>) -> String {
        let mut g = self.lock();
        let n = g.files.len() + 1;
        let file_id = format!("AwACAgIAAxkBVOICE{n:04}");
        g.files
            .insert(file_id.clone(), (format!("voice/file_{n}.oga"), bytes));
        file_id
    }

    /// A voice note from `user`: a file registered with [`register_file`](Self::register_file).
    pub fn voice(&self, user: &TgUser, file_id: &str, duration: u32) -> i64 {
        let user = user.clone();
        let file_id = file_id.to_string();
        let size = self.lock().files.get(&file_id).map_or(0, |f| f.1.len());
        self.push(move |id, mid| {
            json!({ "update_id": id, "message": {
                "message_id": mid, "date": now_unix(), "chat": user.chat(), "from": user.json(),
                "voice": { "file_id": file_id, "file_unique_id": format!("U{file_id}"),
                           "duration": duration, "mime_type": "audio/ogg", "file_size": size }
            }})
        })
    }

    /// getFile calls answered so far (file ids).
    pub fn get_files(&self) -> Vec<String> {
        self.lock().get_files.iter().map(|g| g.0.clone()).collect()
    }

    /// File downloads answered so far (file paths).
    pub fn downloads(&self) -> Vec<String> {
        self.lock().downloads.iter().map(|d| d.0.clone()).collect()
    }

    /// A press of the button with `data` on message `message_id` of `user`'s chat.
    pub fn press(&self, user: &TgUser, message_id: i64, data: &str) -> i64 {
        let user = user.clone();
        let data = data.to_string();
        self.push(move |id, _| {
            json!({ "update_id": id, "callback_query": {
                "id": format!("cbq-{id}"), "from": user.json(), "chat_instance": "ci",
                "data": data,
                "message": {
                    "message_id": message_id, "date": now_unix(), "chat": user.chat(),
                    "from": { "id": BOT_ID, "is_bot": true, "first_name": "vpnkeeper" },
                    "text": "menu"
                }
            }})
        })
    }

    /// A group message (the bot must ignore it).
    /// A `pre_checkout_query` update as Telegram sends it before taking a payment.
    pub fn pre_checkout(&self, user: &TgUser, currency: &str, total: i64, payload: &str) -> i64 {
        let user = user.clone();
        let (currency, payload) = (currency.to_string(), payload.to_string());
        self.push(move |id, _| {
            json!({ "update_id": id, "pre_checkout_query": {
                "id": format!("pcq-{id}"), "from": user.json(), "currency": currency,
                "total_amount": total, "invoice_payload": payload
            }})
        })
    }

    /// A `message.successful_payment` update (Telegram Stars: no provider charge id).
    pub fn successful_payment(
        &self,
        user: &TgUser,
        total: i64,
        payload: &str,
        charge_id: &str,
    ) -> i64 {
        let user = user.clone();
        let (payload, charge_id) = (payload.to_string(), charge_id.to_string());
        self.push(move |id, mid| {
            json!({ "update_id": id, "message": {
                "message_id": mid, "date": now_unix(), "chat": user.chat(), "from": user.json(),
                "successful_payment": {
                    "currency": "XTR", "total_amount": total, "invoice_payload": payload,
                    "telegram_payment_charge_id": charge_id, "provider_payment_charge_id": ""
                }
            }})
        })
    }

    /// The next `n` calls of `method` have their connection cut (a transport failure).
    pub fn fail_next(&self, method: &str, n: u32) {
        self.lock().fail_next.insert(method.to_string(), n);
    }

    pub fn group_text(&self, user: &TgUser, text: &str) -> i64 {
        let user = user.clone();
        let text = text.to_string();
        self.push(move |id, mid| {
            json!({ "update_id": id, "message": {
                "message_id": mid, "date": now_unix(),
                "chat": { "id": -100123, "type": "supergroup", "title": "g" },
                "from": user.json(), "text": text
            }})
        })
    }

    /// Hands these (already delivered) updates out again, whatever offset is asked for:
    /// a forged duplicate delivery.
    pub fn redeliver(&self, ids: &[i64]) {
        {
            let mut g = self.lock();
            for id in ids {
                if let Some(u) = g.all.get(id).cloned() {
                    g.forced.push_back(u);
                }
            }
        }
        self.shared.updates.notify_waiters();
    }

    pub fn fail_for(&self, failure: Failure, d: Duration) {
        self.lock().failure = Some((failure, Instant::now() + d));
    }

    pub fn flood(&self, sends: u32, retry_after: u64) {
        let mut g = self.lock();
        g.flood = sends;
        g.flood_retry_after = retry_after;
    }

    /// Answers every call of `method` (e.g. `sendDocument`) with `status` and
    /// `description` from now on, never recording it as a call (Telegram did not take it).
    pub fn refuse(&self, method: &str, status: u16, description: &str) {
        self.lock()
            .refusals
            .insert(method.to_string(), (status, description.to_string()));
    }

    pub fn hold_sends(&self, hold: bool) {
        self.lock().hold = hold;
        if !hold {
            self.shared.released.notify_waiters();
        }
    }

    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    pub fn calls_to(&self, chat: i64) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.chat() == Some(chat))
            .collect()
    }

    /// How many getUpdates arrived while another was still being held (each answered the
    /// older one with 409 Conflict, as Telegram does). Two pollers at once make this > 0.
    pub fn conflicts(&self) -> u32 {
        self.lock().conflicts
    }

    pub fn polls(&self) -> Vec<(Instant, i64, Vec<i64>)> {
        self.lock().polls.clone()
    }

    pub fn rejected(&self) -> Vec<(String, u16, Instant)> {
        self.lock().rejected.clone()
    }

    pub fn delivered_at(&self) -> BTreeMap<i64, Instant> {
        self.lock().delivered_at.clone()
    }

    /// The highest offset the bot has confirmed with.
    pub fn confirmed_offset(&self) -> i64 {
        self.lock().polls.iter().map(|p| p.1).max().unwrap_or(0)
    }

    /// Waits until `pred` holds over the recorded calls; panics with them after `timeout`.
    pub async fn wait<F: Fn(&[Call]) -> bool>(
        &self,
        what: &str,
        timeout: Duration,
        pred: F,
    ) -> Vec<Call> {
        let deadline = Instant::now() + timeout;
        loop {
            let calls = self.calls();
            if pred(&calls) {
                return calls;
            }
            if Instant::now() > deadline {
                let summary: Vec<String> = calls
                    .iter()
                    .map(|c| {
                        format!(
                            "{} chat={:?} {:?}",
                            c.method,
                            c.chat(),
                            c.text().chars().take(60).collect::<String>()
                        )
                    })
                    .collect();
                panic!(
                    "timed out waiting for {what}; calls so far:\n{}",
                    summary.join("\n")
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for the `n`-th (1-based) call to `chat` of one of `methods`, returns it.
    pub async fn nth_to(&self, chat: i64, methods: &[&str], n: usize, timeout: Duration) -> Call {
        let calls = self
            .wait(&format!("{n} × {methods:?} to {chat}"), timeout, |calls| {
                calls
                    .iter()
                    .filter(|c| c.chat() == Some(chat) && methods.contains(&c.method.as_str()))
                    .count()
                    >= n
            })
            .await;
        calls
            .into_iter()
            .filter(|c| c.chat() == Some(chat) && methods.contains(&c.method.as_str()))
            .nth(n - 1)
            .unwrap()
    }
}

fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `SendMessage`, `sendmessage`, `sendMessage` → `sendMessage`.
fn normalize(method: &str) -> String {
    const KNOWN: &[&str] = &[
        "getMe",
        "getWebhookInfo",
        "deleteWebhook",
        "getUpdates",
        "sendMessage",
        "sendDocument",
        "sendPhoto",
        "sendVoice",
        "getFile",
        "editMessageText",
        "editMessageReplyMarkup",
        "answerCallbackQuery",
        "deleteMessage",
        "editMessageMedia",
        "sendInvoice",
        "answerPreCheckoutQuery",
        "refundStarPayment",
    ];
    KNOWN
        .iter()
        .find(|k| k.eq_ignore_ascii_case(method))
        .map(|k| k.to_string())
        .unwrap_or_else(|| method.to_string())
}

fn ok(result: Value) -> Response {
    axum::Json(json!({ "ok": true, "result": result })).into_response()
}

fn err(status: u16, description: &str) -> Response {
    let code = StatusCode::from_u16(status).unwrap();
    (
        code,
        axum::Json(json!({ "ok": false, "error_code": status, "description": description })),
    )
        .into_response()
}

/// A response whose body fails half-way: the client sees the connection cut.
fn cut() -> Response {
    let stream = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other("connection cut by the fake"))
    });
    Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(stream))
        .unwrap()
}

async fn parse_params(req: Request) -> (Value, BTreeMap<String, (String, Vec<u8>)>) {
    let ctype = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let mut files = BTreeMap::new();
    if ctype.starts_with("multipart/form-data") {
        let mut params = serde_json::Map::new();
        if let Ok(mut mp) = Multipart::from_request(req, &()).await {
            while let Ok(Some(field)) = mp.next_field().await {
                let name = field.name().unwrap_or("").to_string();
                let file_name = field.file_name().map(str::to_string);
                let data = field.bytes().await.unwrap_or_default();
                match file_name {
                    Some(f) => {
                        files.insert(name, (f, data.to_vec()));
                    }
                    None => {
                        let text = String::from_utf8_lossy(&data).to_string();
                        params.insert(name, Value::String(text));
                    }
                }
            }
        }
        (Value::Object(params), files)
    } else if ctype.starts_with("application/json") {
        let bytes = axum::body::to_bytes(req.into_body(), 64 << 20)
            .await
            .unwrap_or_default();
        (serde_json::from_slice(&bytes).unwrap_or(json!({})), files)
    } else {
        let query = req.uri().query().unwrap_or("").to_string();
        let mut params = serde_json::Map::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            params.insert(k.to_string(), Value::String(v.to_string()));
        }
        (Value::Object(params), files)
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    Path((bot, method)): Path<(String, String)>,
    req: Request,
) -> Response {
    answer(shared, None, bot, method, req).await
}

/// A call through a path prefix (`env_via`).
async fn handle_via(
    State(shared): State<Arc<Shared>>,
    Path((via, bot, method)): Path<(String, String, String)>,
    req: Request,
) -> Response {
    answer(shared, Some(via), bot, method, req).await
}

async fn answer(
    shared: Arc<Shared>,
    via: Option<String>,
    bot: String,
    method: String,
    req: Request,
) -> Response {
    if bot != format!("bot{TOKEN}") {
        return err(401, "Unauthorized");
    }
    let method = normalize(&method);
    let (params, files) = parse_params(req).await;
    if method == "getUpdates" {
        let mut g = shared.inner.lock().unwrap();
        g.poll_arrivals.push((Instant::now(), via.clone()));
    }
    // Misbehaviour first: outages, then flood control.
    {
        let mut g = shared.inner.lock().unwrap();
        if let Some((failure, until)) = g.failure {
            if Instant::now() < until {
                g.rejected.push((method.clone(), 502, Instant::now()));
                drop(g);
                return match failure {
                    Failure::ServerError => err(502, "Bad Gateway"),
                    Failure::Drop => cut(),
                };
            }
            g.failure = None;
        }
    }
    {
        let mut g = shared.inner.lock().unwrap();
        if let Some(n) = g.fail_next.get_mut(&method).filter(|n| **n > 0) {
            *n -= 1;
            g.rejected.push((method.clone(), 0, Instant::now()));
            drop(g);
            return cut();
        }
        if let Some((status, description)) = g.refusals.get(&method).cloned() {
            g.rejected.push((method.clone(), status, Instant::now()));
            drop(g);
            return err(status, &description);
        }
    }
    let is_send = matches!(
        method.as_str(),
        "sendMessage"
            | "sendDocument"
            | "sendPhoto"
            | "sendVoice"
            | "editMessageText"
            | "editMessageReplyMarkup"
            | "answerCallbackQuery"
            | "deleteMessage"
            | "editMessageMedia"
            | "sendInvoice"
            | "answerPreCheckoutQuery"
            | "refundStarPayment"
    );
    if is_send {
        let held = shared.inner.lock().unwrap().hold;
        if held {
            // The network ate it: never recorded; answered only after release, with an
            // error (the sender is usually dead by then).
            loop {
                let released = shared.released.notified();
                if !shared.inner.lock().unwrap().hold {
                    break;
                }
                released.await;
            }
            return err(502, "Bad Gateway");
        }
        let mut g = shared.inner.lock().unwrap();
        if g.flood > 0 && method != "answerCallbackQuery" {
            g.flood -= 1;
            let after = g.flood_retry_after;
            g.rejected.push((method.clone(), 429, Instant::now()));
            drop(g);
            let body = json!({
                "ok": false, "error_code": 429,
                "description": format!("Too Many Requests: retry after {after}"),
                "parameters": { "retry_after": after }
            });
            return (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
        }
    }
    match method.as_str() {
        "getMe" => ok(json!({
            "id": BOT_ID, "is_bot": true, "first_name": "vpnkeeper", "username": "vpnkeeper_test_bot",
            "can_join_groups": true, "can_read_all_group_messages": false,
            "supports_inline_queries": false, "can_connect_to_business": false,
            "has_main_web_app": false
        })),
        "getWebhookInfo" => {
            ok(json!({ "url": "", "has_custom_certificate": false, "pending_update_count": 0 }))
        }
        "deleteWebhook" => ok(json!(true)),
        "getUpdates" => get_updates(shared, params).await,
        "getFile" => get_file(&shared, &params),
        "sendMessage"
        | "sendDocument"
        | "sendPhoto"
        | "sendVoice"
        | "editMessageText"
        | "editMessageReplyMarkup"
        | "editMessageMedia" => {
            let chat = as_i64(&params["chat_id"]).unwrap_or(0);
            let mut g = shared.inner.lock().unwrap();
            let mid = match method.as_str() {
                "editMessageText" | "editMessageReplyMarkup" | "editMessageMedia" => {
                    as_i64(&params["message_id"]).unwrap_or(0)
                }
                _ => {
                    let m = g.next_message_id;
                    g.next_message_id += 1;
                    m
                }
            };
            let mut msg = json!({
                "message_id": mid, "date": now_unix(),
                "chat": { "id": chat, "type": "private", "first_name": "user" },
                "from": { "id": BOT_ID, "is_bot": true, "first_name": "vpnkeeper" },
            });
            match method.as_str() {
                "sendDocument" => {
                    msg["document"] = json!({ "file_id": format!("D{mid}"), "file_unique_id": format!("UD{mid}"), "file_name": "x.conf" });
                }
                "sendPhoto" | "editMessageMedia" => {
                    msg["photo"] = json!([{ "file_id": format!("P{mid}"), "file_unique_id": format!("UP{mid}"), "width": 480, "height": 480 }]);
                }
                "sendVoice" => {
                    let id = params["voice"].as_str().unwrap_or("").to_string();
                    msg["voice"] =
                        json!({ "file_id": id, "file_unique_id": format!("U{id}"), "duration": 1 });
                }
                _ => {
                    msg["text"] = params["text"].clone();
                }
            }
            g.calls.push(Call {
                method: method.clone(),
                params,
                files,
                at: Instant::now(),
                message_id: Some(mid),
                status: 200,
                via: via.clone(),
            });
            ok(msg)
        }
        "sendInvoice" => {
            let chat = as_i64(&params["chat_id"]).unwrap_or(0);
            let mut g = shared.inner.lock().unwrap();
            let mid = g.next_message_id;
            g.next_message_id += 1;
            let prices = match &params["prices"] {
                Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
                v => v.clone(),
            };
            let total: i64 = prices
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["amount"].as_i64())
                .sum();
            let msg = json!({
                "message_id": mid, "date": now_unix(),
                "chat": { "id": chat, "type": "private", "first_name": "user" },
                "from": { "id": BOT_ID, "is_bot": true, "first_name": "vpnkeeper" },
                "invoice": {
                    "title": params["title"], "description": params["description"],
                    "start_parameter": "", "currency": params["currency"], "total_amount": total
                }
            });
            g.calls.push(Call {
                method: method.clone(),
                params,
                files,
                at: Instant::now(),
                message_id: Some(mid),
                status: 200,
                via: via.clone(),
            });
            ok(msg)
        }
        "answerPreCheckoutQuery" | "refundStarPayment" => {
            shared.inner.lock().unwrap().calls.push(Call {
                method: method.clone(),
                params,
                files,
                at: Instant::now(),
                message_id: None,
                status: 200,
                via: via.clone(),
            });
            ok(json!(true))
        }
        "answerCallbackQuery" | "deleteMessage" => {
            shared.inner.lock().unwrap().calls.push(Call {
                method: method.clone(),
                params,
                files,
                at: Instant::now(),
                message_id: None,
                status: 200,
                via: via.clone(),
            });
            ok(json!(true))
        }
        _ => err(400, &format!("Bad Request: method {method} not found")),
    }
}

/// getFile: the path of a registered file; an unknown id is a 400, as at Telegram.
fn get_file(shared: &Shared, params: &Value) -> Response {
    let file_id = params["file_id"].as_str().unwrap_or("").to_string();
    let mut g = shared.inner.lock().unwrap();
    let Some((path, bytes)) = g.files.get(&file_id).cloned() else {
        return err(400, "Bad Request: invalid file_id");
    };
    g.get_files.push((file_id.clone(), Instant::now()));
    ok(json!({
        "file_id": file_id, "file_unique_id": format!("U{file_id}"),
        "file_size": bytes.len(), "file_path": path
    }))
}

async fn file_download(
    State(shared): State<Arc<Shared>>,
    Path((bot, path)): Path<(String, String)>,
) -> Response {
    serve_file(&shared, &bot, &path)
}

async fn file_download_via(
    State(shared): State<Arc<Shared>>,
    Path((_via, bot, path)): Path<(String, String, String)>,
) -> Response {
    serve_file(&shared, &bot, &path)
}

/// `/file/bot<TOKEN>/<file_path>`: the bytes of a registered file (outages apply here too).
fn serve_file(shared: &Shared, bot: &str, path: &str) -> Response {
    if bot != format!("bot{TOKEN}") {
        return err(401, "Unauthorized");
    }
    let mut g = shared.inner.lock().unwrap();
    if let Some((_, until)) = g.failure {
        if Instant::now() < until {
            g.rejected.push(("file".into(), 502, Instant::now()));
            return err(502, "Bad Gateway");
        }
    }
    let found = g
        .files
        .values()
        .find(|(p, _)| p == path)
        .map(|f| f.1.clone());
    let Some(bytes) = found else {
        return err(404, "Not Found");
    };
    g.downloads.push((path.to_string(), Instant::now()));
    ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response()
}

/// Marks a getUpdates as held while it lives; a dropped connection (the poller died or gave
/// up) ends the hold, as it does at Telegram.
struct PollGuard {
    shared: Arc<Shared>,
    seq: u64,
}

impl PollGuard {
    /// Registers a new poll; an older one still held is terminated (409) and counted.
    fn begin(shared: &Arc<Shared>) -> PollGuard {
        let seq = {
            let mut g = shared.inner.lock().unwrap();
            let seq = g.next_poll;
            g.next_poll += 1;
            if let Some(older) = g.active_poll.replace(seq) {
                g.conflicts += 1;
                g.terminated.insert(older);
            }
            seq
        };
        // Wake the older poll so it answers its 409 now.
        shared.updates.notify_waiters();
        PollGuard {
            shared: shared.clone(),
            seq,
        }
    }
}

impl Drop for PollGuard {
    fn drop(&mut self) {
        let mut g = self.shared.inner.lock().unwrap();
        if g.active_poll == Some(self.seq) {
            g.active_poll = None;
        }
        g.terminated.remove(&self.seq);
    }
}

async fn get_updates(shared: Arc<Shared>, params: Value) -> Response {
    let offset = as_i64(&params["offset"]).unwrap_or(0);
    let limit = as_i64(&params["limit"]).unwrap_or(100).clamp(1, 100) as usize;
    let timeout = as_i64(&params["timeout"]).unwrap_or(0).clamp(0, 50) as u64;
    let deadline = Instant::now() + Duration::from_secs(timeout);
    let guard = PollGuard::begin(&shared);
    loop {
        let notified = shared.updates.notified();
        {
            let mut g = shared.inner.lock().unwrap();
            if g.terminated.contains(&guard.seq) {
                g.rejected.push(("getUpdates".into(), 409, Instant::now()));
                return err(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
                );
            }
            // An offset confirms every update below it: Telegram forgets them.
            if offset > 0 {
                g.queue
                    .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= offset);
            }
            let mut out: Vec<Value> = g.forced.drain(..).collect();
            out.extend(
                g.queue
                    .iter()
                    .filter(|u| u["update_id"].as_i64().unwrap_or(0) >= offset)
                    .take(limit)
                    .cloned(),
            );
            out.truncate(limit);
            if !out.is_empty() || Instant::now() >= deadline {
                let ids: Vec<i64> = out
                    .iter()
                    .map(|u| u["update_id"].as_i64().unwrap())
                    .collect();
                let now = Instant::now();
                for id in &ids {
                    g.delivered_at.entry(*id).or_insert(now);
                }
                g.polls.push((now, offset, ids));
                return ok(Value::Array(out));
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let _ = tokio::time::timeout(left, notified).await;
    }
}

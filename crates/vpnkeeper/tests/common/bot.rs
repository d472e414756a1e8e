//! Helpers for the bot tests: a real `vpnkeeper` node whose bot polls a [`FakeTelegram`].
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::common::Node;
use crate::fake_telegram::{Call, FakeTelegram, TgUser};

pub const WAIT: Duration = Duration::from_secs(20);

pub struct BotNode {
    pub node: Node,
    pub fake: FakeTelegram,
    /// Where the node-operation test double records reboots.
    pub ops_log: PathBuf,
    env: Vec<(String, String)>,
}

impl BotNode {
    /// Initialises a node and starts it with the bot pointed at a fresh fake Bot API.
    /// Reboots are only recorded (the node-operation test double, see [`BotNode::ops`]).
    pub async fn start(extra: &[(&str, &str)]) -> BotNode {
        Self::start_ops(extra, true).await
    }

    /// Like [`BotNode::start`], with the real node operations: a reboot runs the target's
    /// `node.reboot_command` (set it in `extra`).
    pub async fn start_with_real_ops(extra: &[(&str, &str)]) -> BotNode {
        Self::start_ops(extra, false).await
    }

    async fn start_ops(extra: &[(&str, &str)], record_ops: bool) -> BotNode {
        let fake = FakeTelegram::start().await;
        let node = tokio::task::spawn_blocking(Node::init).await.unwrap();
        let ops_log = node.dir.path().join("node-ops.jsonl");
        let mut env = fake.env();
        if record_ops {
            env.push((
                "VPNKEEPER_TEST_NODE_OPS_LOG".into(),
                ops_log.display().to_string(),
            ));
        }
        for (k, v) in extra {
            env.push((k.to_string(), v.to_string()));
        }
        let mut b = BotNode {
            node,
            fake,
            ops_log,
            env,
        };
        b.restart().await;
        b
    }

    /// (Re)starts the node process with the same environment.
    pub async fn restart(&mut self) {
        let env = self.env.clone();
        let mut node = std::mem::replace(&mut self.node, placeholder());
        node = tokio::task::spawn_blocking(move || {
            let pairs: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            node.start_env(&pairs);
            node
        })
        .await
        .unwrap();
        self.node = node;
    }

    pub fn kill9(&mut self) {
        self.node.kill9();
    }

    pub fn ops(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.ops_log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    pub async fn api(&self, path: &str) -> Value {
        let r = reqwest::Client::new()
            .get(format!("{}{path}", self.node.base()))
            .bearer_auth(&self.node.token)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.json().await.unwrap()
    }

    pub async fn api_text(&self, path: &str) -> String {
        let r = reqwest::Client::new()
            .get(format!("{}{path}", self.node.base()))
            .bearer_auth(&self.node.token)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.text().await.unwrap()
    }

    /// A download from the API: (file name from Content-Disposition, body bytes).
    pub async fn api_file(&self, path: &str) -> (String, Vec<u8>) {
        let r = reqwest::Client::new()
            .get(format!("{}{path}", self.node.base()))
            .bearer_auth(&self.node.token)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        let disposition = r.headers()[reqwest::header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .to_string();
        let name = disposition
            .split_once("filename=\"")
            .and_then(|(_, rest)| rest.strip_suffix('"'))
            .unwrap_or_else(|| panic!("no file name in {disposition:?}"))
            .to_string();
        (name, r.bytes().await.unwrap().to_vec())
    }

    /// The user row of a Telegram id, if any.
    pub async fn user_of(&self, tg: i64) -> Option<Value> {
        let users = self.api("/api/v1/users?limit=1000").await;
        users["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["telegram_id"].as_i64() == Some(tg))
            .cloned()
    }

    pub async fn audit(&self) -> Vec<Value> {
        let a = self.api("/api/v1/audit?limit=1000").await;
        a["entries"]
            .as_array()
            .or_else(|| a["audit"].as_array())
            .or_else(|| a.as_array())
            .cloned()
            .unwrap_or_default()
    }

    /// Sends /start and returns the menu message.
    pub async fn menu(&self, user: &TgUser) -> Call {
        self.say(user, "/start").await
    }

    /// Sends `text` and returns the message the bot answers with.
    pub async fn say(&self, user: &TgUser, text: &str) -> Call {
        let n = count_msgs(&self.fake, user.id);
        self.fake.text(user, text);
        self.fake
            .nth_to(user.id, &["sendMessage"], n + 1, WAIT)
            .await
    }

    pub fn sends_to(&self, chat: i64) -> Vec<Call> {
        self.fake
            .calls_to(chat)
            .into_iter()
            .filter(|c| c.is_send())
            .collect()
    }

    pub fn last_message(&self, chat: i64) -> Call {
        self.fake
            .calls_to(chat)
            .into_iter()
            .rfind(|c| c.method == "sendMessage")
            .expect("a message")
    }

    /// Presses `data` on `message`; waits for the button's answer. Returns the update id.
    pub async fn press(&self, user: &TgUser, message: &Call, data: &str) -> i64 {
        let update = self.fake.press(user, message.message_id.unwrap(), data);
        let cb_id = format!("cbq-{update}");
        self.fake
            .wait(&format!("answer to {data}"), WAIT, |calls| {
                calls.iter().any(|c| {
                    c.method == "answerCallbackQuery" && c.params["callback_query_id"] == cb_id
                })
            })
            .await;
        update
    }

    /// Presses `data` on `message` and returns the screen it leads to (the edit of that
    /// message, or a new message).
    pub async fn press_screen(&self, user: &TgUser, message: &Call, data: &str) -> Call {
        let before = self.fake.calls_to(user.id).len();
        self.fake.press(user, message.message_id.unwrap(), data);
        let is_screen = |c: &Call| c.method == "editMessageText" || c.method == "sendMessage";
        self.fake
            .wait(&format!("screen after {data}"), WAIT, |_| {
                self.fake
                    .calls_to(user.id)
                    .iter()
                    .skip(before)
                    .any(is_screen)
            })
            .await;
        self.fake
            .calls_to(user.id)
            .into_iter()
            .skip(before)
            .find(is_screen)
            .unwrap()
    }

    /// The answerCallbackQuery of an update id.
    pub fn answer_of(&self, update: i64) -> Option<Call> {
        let id = format!("cbq-{update}");
        self.fake.calls().into_iter().find(|c| {
            c.method == "answerCallbackQuery" && c.params["callback_query_id"] == id.as_str()
        })
    }
}

fn count_msgs(fake: &FakeTelegram, chat: i64) -> usize {
    fake.calls_to(chat)
        .iter()
        .filter(|c| c.method == "sendMessage")
        .count()
}

fn placeholder() -> Node {
    Node {
        dir: tempfile::tempdir().unwrap(),
        api_port: 0,
        raft_port: 0,
        token: String::new(),
        child: None,
    }
}

impl BotNode {
    /// Never two pollers at once: the fake answered no getUpdates with 409 Conflict.
    pub fn assert_one_poller(&self) {
        assert_eq!(
            self.fake.conflicts(),
            0,
            "overlapping getUpdates (409 Conflict) seen by the fake Bot API"
        );
    }
}

/// (count, p50, p99) of a Prometheus histogram in `/metrics` text, as the upper bounds of
/// the buckets the quantiles fall in (seconds).
pub fn histogram_quantiles(metrics: &str, name: &str) -> (u64, f64, f64) {
    let prefix = format!("{name}_bucket{{le=\"");
    let buckets: Vec<(f64, u64)> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter_map(|rest| {
            let (le, count) = rest.split_once("\"} ")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, count.trim().parse().ok()?))
        })
        .collect();
    let total = buckets.last().map_or(0, |b| b.1);
    let at = |q: f64| {
        let want = (total as f64 * q).ceil() as u64;
        buckets
            .iter()
            .find(|(_, c)| *c >= want)
            .map_or(f64::NAN, |(le, _)| *le)
    };
    (total, at(0.5), at(0.99))
}

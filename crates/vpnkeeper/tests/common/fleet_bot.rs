//! A three-node fleet (init, then invite + join twice) whose nodes all run the bot against
//! one [`FakeTelegram`], each through its own path prefix (`n1`, `n2`, `n3`), so every Bot
//! API call the fake records names the node that made it.
#![allow(dead_code)]

use std::time::Duration;

use crate::common::fleet::{invite, join, leader_of, wait_members, NO_LIMITS};
use crate::common::Node;
use crate::fake_telegram::FakeTelegram;

/// Telegram id of the fleet's bot admin.
pub const ADMIN: i64 = 1001;

pub struct BotFleet {
    pub fake: FakeTelegram,
    /// Node `i` has id `i + 1` (node 1 ran `init`, 2 and 3 joined in that order).
    pub nodes: Vec<Node>,
    envs: Vec<Vec<(String, String)>>,
}

/// The path prefix of node `id`'s Bot API calls.
pub fn via(id: u64) -> String {
    format!("n{id}")
}

impl BotFleet {
    /// Node 1 leads; all three are voters and run the bot (open access, [`ADMIN`]).
    pub async fn start() -> BotFleet {
        let fake = FakeTelegram::start().await;
        let envs: Vec<Vec<(String, String)>> = (1..=3u64)
            .map(|id| {
                let mut env = fake.env_via(&via(id));
                env.extend(
                    NO_LIMITS
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string())),
                );
                env.push(("VPNKEEPER_TELEGRAM__ACCESS".into(), "open".into()));
                env.push(("VPNKEEPER_TELEGRAM__ADMIN_IDS".into(), ADMIN.to_string()));
                env
            })
            .collect();
        let envs_for_start = envs.clone();
        let nodes = tokio::task::spawn_blocking(move || {
            let start = |node: &mut Node, env: &[(String, String)]| {
                let pairs: Vec<(&str, &str)> =
                    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                node.start_env(&pairs);
            };
            let mut n1 = Node::init();
            start(&mut n1, &envs_for_start[0]);
            let mut n2 = join(&invite(&n1));
            start(&mut n2, &envs_for_start[1]);
            let mut n3 = join(&invite(&n1));
            start(&mut n3, &envs_for_start[2]);
            wait_members(&n1, 3, 0);
            vec![n1, n2, n3]
        })
        .await
        .unwrap();
        BotFleet { fake, nodes, envs }
    }

    pub fn node(&self, id: u64) -> &Node {
        &self.nodes[id as usize - 1]
    }

    pub fn pid(&self, id: u64) -> u32 {
        self.node(id).child.as_ref().expect("node running").id()
    }

    /// Sends `signal` (`-STOP`, `-CONT`) to node `id`.
    pub fn signal(&self, id: u64, signal: &str) {
        let ok = std::process::Command::new("kill")
            .args([signal, &self.pid(id).to_string()])
            .status()
            .unwrap();
        assert!(ok.success(), "kill {signal} node {id}");
    }

    pub fn kill9(&mut self, id: u64) {
        self.nodes[id as usize - 1].kill9();
    }

    /// The leader as node `id` sees it (`/health`); `None` when it cannot tell or does not
    /// answer (stopped).
    pub fn leader_seen_by(&self, id: u64) -> Option<u64> {
        tokio::task::block_in_place(|| leader_of(self.node(id)))
    }

    /// An API GET on node `id` (bearer: its admin token), as text.
    pub async fn api_text(&self, id: u64, path: &str) -> String {
        let n = self.node(id);
        let r = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap()
            .get(format!("{}{path}", n.base()))
            .bearer_auth(&n.token)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "GET {path}: {}", r.status());
        r.text().await.unwrap()
    }

    /// The env node `id` runs with.
    pub fn env(&self, id: u64) -> &[(String, String)] {
        &self.envs[id as usize - 1]
    }
}

//! `[node]`: who this node is and where its data lives.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{invalid, ConfigError};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeSection {
    /// Raft node id; the first node of a cluster is 1.
    pub id: u64,
    pub name: String,
    /// Where the databases and secrets live. Defaults to the directory of the config file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// The host clients connect to (DNS name or IP).
    pub public_host: String,
    /// Relative size for placing new devices: a node with `capacity = 200` takes twice the
    /// devices of one with 100 before it counts as equally loaded. Unset: 100.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<u32>,
    /// Seconds between two metrics samples of this node (issue #14). Unset: 10.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_interval_secs: Option<u64>,
    /// What reboots this machine when an admin asks (bot or `POST /api/v1/nodes/{id}/reboot`):
    /// a program and its arguments, run by this node itself. A string is split on spaces.
    #[serde(deserialize_with = "command_line")]
    pub reboot_command: Vec<String>,
    /// An HTTP(S) URL this node downloads from during a speed test, to measure its own
    /// internet link. Unset (the default): nothing outside the cluster is contacted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speedtest_url: Option<String>,
    /// This node's link capacity in Mbit/s: placement gives no new devices to a node whose
    /// traffic is at 90 % of it. Unset: only CPU counts as saturation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bandwidth_mbps: Option<u32>,
}

/// `["systemctl", "reboot"]`, or one string split on whitespace.
fn command_line<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Line {
        List(Vec<String>),
        Text(String),
        // An environment variable is parsed as TOML-ish: `…REBOOT_COMMAND=true` (a program
        // named `true`) arrives as a boolean.
        Bool(bool),
    }
    Ok(match Line::deserialize(d)? {
        Line::List(v) => v,
        Line::Text(t) => t.split_whitespace().map(str::to_string).collect(),
        Line::Bool(b) => vec![b.to_string()],
    })
}

impl Default for NodeSection {
    fn default() -> Self {
        NodeSection {
            id: 1,
            name: "node-1".into(),
            data_dir: None,
            public_host: "127.0.0.1".into(),
            capacity: None,
            sample_interval_secs: None,
            reboot_command: vec!["systemctl".into(), "reboot".into()],
            speedtest_url: None,
            bandwidth_mbps: None,
        }
    }
}

impl NodeSection {
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if self.id == 0 {
            return Err(invalid("node.id", "node ids start at 1"));
        }
        if let Err(e) = vpnkeeper_domain::validate::name("node.name", &self.name) {
            return Err(invalid("node.name", &e.message));
        }
        if let Err(e) = vpnkeeper_domain::validate::host("node.public_host", &self.public_host) {
            return Err(invalid("node.public_host", &e.message));
        }
        if self.capacity == Some(0) {
            return Err(invalid(
                "node.capacity",
                "must be at least 1 (it weighs this node's share of new devices; default 100)",
            ));
        }
        if self
            .sample_interval_secs
            .is_some_and(|s| !(1..=3600).contains(&s))
        {
            return Err(invalid(
                "node.sample_interval_secs",
                "must be between 1 and 3600 seconds (how often the node samples its CPU, memory, disk and network; default 10)",
            ));
        }
        self.check_ops()
    }

    /// The node-operation keys (issue #14).
    fn check_ops(&self) -> Result<(), ConfigError> {
        if self
            .reboot_command
            .first()
            .is_none_or(|p| p.trim().is_empty())
        {
            return Err(invalid(
                "node.reboot_command",
                "needs a program, e.g. [\"systemctl\", \"reboot\"]",
            ));
        }
        if let Some(url) = &self.speedtest_url {
            super::check_http_url("node.speedtest_url", url)?;
        }
        if self.bandwidth_mbps == Some(0) {
            return Err(invalid(
                "node.bandwidth_mbps",
                "must be at least 1 (Mbit/s of this node's link), or unset",
            ));
        }
        Ok(())
    }

    /// Seconds between two metrics samples.
    pub fn sample_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.sample_interval_secs.unwrap_or(10))
    }

    /// What this node does when a peer asks it to reboot or to run a speed test.
    pub fn agent_config(&self) -> vpnkeeper_cluster::node_ops::AgentConfig {
        vpnkeeper_cluster::node_ops::AgentConfig {
            reboot_command: self.reboot_command.clone(),
            speedtest_url: self.speedtest_url.clone(),
            bandwidth_mbps: self.bandwidth_mbps,
        }
    }

    /// `host` as it goes into a URL: IPv6 literals in brackets.
    pub(super) fn url_host(&self) -> String {
        match self.public_host.parse::<std::net::Ipv6Addr>() {
            Ok(v6) => format!("[{v6}]"),
            Err(_) => self.public_host.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::assert_bad;

    #[test]
    fn defaults_pass() {
        NodeSection::default().check().unwrap();
    }

    #[test]
    fn each_bad_value_names_its_key() {
        let bad = |f: fn(&mut NodeSection)| {
            let mut s = NodeSection::default();
            f(&mut s);
            s.check()
        };
        assert_bad(bad(|s| s.id = 0), "node.id", "start at 1");
        assert_bad(bad(|s| s.name = String::new()), "node.name", "");
        assert_bad(bad(|s| s.name = "a b\n".into()), "node.name", "");
        assert_bad(
            bad(|s| s.public_host = "not a host!".into()),
            "node.public_host",
            "",
        );
        assert_bad(bad(|s| s.capacity = Some(0)), "node.capacity", "at least 1");
        assert_bad(
            bad(|s| s.sample_interval_secs = Some(0)),
            "node.sample_interval_secs",
            "between 1 and 3600",
        );
        assert_bad(
            bad(|s| s.reboot_command = Vec::new()),
            "node.reboot_command",
            "needs a program",
        );
        assert_bad(
            bad(|s| s.speedtest_url = Some("ftp://x".into())),
            "node.speedtest_url",
            "not an http(s) URL",
        );
        assert_bad(
            bad(|s| s.bandwidth_mbps = Some(0)),
            "node.bandwidth_mbps",
            "at least 1",
        );
    }

    #[test]
    fn good_values_pass() {
        for host in ["vpn.example.com", "203.0.113.7", "2001:db8::1"] {
            let s = NodeSection {
                public_host: host.into(),
                ..Default::default()
            };
            s.check().unwrap_or_else(|e| panic!("{host}: {e}"));
        }
        let s = NodeSection {
            public_host: "2001:db8::1".into(),
            ..Default::default()
        };
        assert_eq!(s.url_host(), "[2001:db8::1]");
    }
}

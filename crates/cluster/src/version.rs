//! Rolling upgrades: what each peer runs, and the gate that keeps a node from proposing a
//! command some member cannot apply (see `vpnkeeper_domain::version` for the formats).
//!
//! Every node-to-node request and answer carries this build's version in the
//! [`VERSION_HEADER`] header (`FORMAT/RELEASE`). Each node remembers the last version it
//! saw from every peer and when; a peer that sends no header is a build from before
//! versioning, which applies the base format. The leader hears from every member at each
//! heartbeat, so its view is at most a heartbeat old; a follower hears from the leader.
//!
//! The data directory records the newest format that ran on it (`format-version`), checked
//! at start before any migration runs: a data dir written by a newer build is refused
//! instead of being migrated backwards or misread.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use vpnkeeper_domain::version::{NodeVersion, BASE_FORMAT, FORMAT_VERSION};
use vpnkeeper_domain::Command;

use crate::membership::ONLINE_WITHIN_MS;
use crate::{Cluster, ClusterError, ProposeError};

/// The header every node-to-node request and answer carries: `FORMAT/RELEASE`.
pub const VERSION_HEADER: &str = "vpnkeeper-version";

/// The file in the data directory naming the newest format that ran on it.
pub const FORMAT_FILE: &str = "format-version";

/// The last version seen from each peer, and when (unix ms).
#[derive(Clone, Default)]
pub(crate) struct PeerVersions(Arc<Mutex<HashMap<u64, (NodeVersion, i64)>>>);

impl PeerVersions {
    /// Records what `peer` sent in [`VERSION_HEADER`] (`None`: no header, an old build).
    pub(crate) fn saw(&self, peer: u64, header: Option<&str>) {
        let version = match header {
            None => NodeVersion::unversioned(),
            Some(h) => match NodeVersion::from_header(h) {
                Some(v) => v,
                None => {
                    tracing::warn!(peer, header = h, "ignoring a malformed version header");
                    return;
                }
            },
        };
        self.0
            .lock()
            .expect("not poisoned")
            .insert(peer, (version, crate::now_ms()));
    }

    pub(crate) fn get(&self, peer: u64) -> Option<(NodeVersion, i64)> {
        self.0.lock().expect("not poisoned").get(&peer).cloned()
    }
}

/// This build's header value.
pub(crate) fn header_value() -> String {
    NodeVersion::this_build().to_header()
}

impl Cluster {
    /// The version of member `id` as this node knows it: its own build, or the last one the
    /// peer advertised.
    pub fn version_of(&self, id: u64) -> Option<NodeVersion> {
        if id == self.inner.node_id {
            return Some(NodeVersion::this_build());
        }
        self.inner.network.versions.get(id).map(|(v, _)| v)
    }

    /// Refuses `command` when a member may not be able to apply it. Commands of the base
    /// format pass without a look. On the leader every member counts (voters and learners:
    /// both apply the log); on a follower only the leader, which checks the rest when the
    /// proposal is forwarded to it.
    pub(crate) fn check_format(&self, command: &Command) -> Result<(), ProposeError> {
        let needs = command.format();
        if needs <= BASE_FORMAT {
            return Ok(());
        }
        let m = self.metrics();
        let me = self.inner.node_id;
        let others: Vec<u64> = match m.current_leader {
            Some(leader) if leader == me => m
                .membership_config
                .membership()
                .nodes()
                .map(|(id, _)| *id)
                .filter(|id| *id != me)
                .collect(),
            Some(leader) => vec![leader],
            None => return Err(ProposeError::NoLeader),
        };
        let now = crate::now_ms();
        for node in others {
            let refuse = |runs: Option<u32>| ProposeError::VersionGate {
                action: command.action().to_string(),
                needs,
                node,
                runs,
            };
            match self.inner.network.versions.get(node) {
                Some((v, _)) if v.format < needs => return Err(refuse(Some(v.format))),
                // A node that is down may come back with any build: wait until it is heard.
                Some((_, seen)) if now - seen <= ONLINE_WITHIN_MS => {}
                _ => return Err(refuse(None)),
            }
        }
        Ok(())
    }
}

/// The one-line refusal of the version gate.
pub(crate) fn gate_message(action: &str, needs: u32, node: u64, runs: Option<u32>) -> String {
    match runs {
        Some(runs) => format!(
            "command {action} needs every node at format >= {needs}; node {node} runs format \
             {runs}: upgrade it first, then retry"
        ),
        None => format!(
            "command {action} needs every node at format >= {needs}; node {node} has not been \
             heard from in the last {} s, so its version is unknown: retry when it is back",
            ONLINE_WITHIN_MS / 1000
        ),
    }
}

/// Refuses a data directory a newer build has run on, before any migration touches it.
pub fn check_data_dir(data_dir: &Path) -> Result<(), ClusterError> {
    let path = data_dir.join(FORMAT_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        // A new data dir, or one from before versioning (the base format).
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(ClusterError::Version(format!("{}: {e}", path.display()))),
    };
    let Some(stored) = NodeVersion::from_header(text.trim()) else {
        return Err(ClusterError::Version(format!(
            "{} is not FORMAT/RELEASE: restore it (e.g. `echo {} > {}`) or remove it",
            path.display(),
            NodeVersion::this_build().to_header(),
            path.display()
        )));
    };
    if stored.format > FORMAT_VERSION {
        return Err(ClusterError::Version(format!(
            "{} was last run by release {} (log format {}); this build applies format {} at \
             most: run that release or newer (a downgrade cannot read what it wrote)",
            data_dir.display(),
            stored.release,
            stored.format,
            FORMAT_VERSION
        )));
    }
    Ok(())
}

/// Records this build's format in the data directory once its migrations ran (never
/// lowering it).
pub fn record_data_dir(data_dir: &Path) -> Result<(), ClusterError> {
    let path = data_dir.join(FORMAT_FILE);
    let stored = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| NodeVersion::from_header(t.trim()));
    if stored.is_some_and(|s| s == NodeVersion::this_build() || s.format > FORMAT_VERSION) {
        return Ok(());
    }
    let tmp = data_dir.join(format!("{FORMAT_FILE}.tmp"));
    let io = |e: std::io::Error| ClusterError::Version(format!("{}: {e}", path.display()));
    std::fs::write(&tmp, format!("{}\n", NodeVersion::this_build().to_header())).map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_dir_of_a_newer_format_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        check_data_dir(dir.path()).unwrap();
        record_data_dir(dir.path()).unwrap();
        check_data_dir(dir.path()).unwrap();
        let newer = format!("{}/9.9.9\n", FORMAT_VERSION + 1);
        std::fs::write(dir.path().join(FORMAT_FILE), newer).unwrap();
        let err = check_data_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("was last run by release 9.9.9"), "{err}");
        // Recording never lowers what a newer build wrote.
        record_data_dir(dir.path()).unwrap();
        assert!(check_data_dir(dir.path()).is_err());
        std::fs::write(dir.path().join(FORMAT_FILE), "junk").unwrap();
        assert!(check_data_dir(dir.path()).is_err());
    }

    #[test]
    fn peers_without_a_header_run_the_base_format() {
        let v = PeerVersions::default();
        v.saw(2, None);
        v.saw(3, Some("2/0.2.0"));
        v.saw(4, Some("garbage"));
        assert_eq!(v.get(2).unwrap().0.format, BASE_FORMAT);
        assert_eq!(v.get(3).unwrap().0.format, 2);
        assert!(v.get(4).is_none());
    }

    #[test]
    fn the_refusal_names_the_node_and_both_versions() {
        let m = gate_message("cluster.upgrade_probe", 2, 3, Some(1));
        assert_eq!(
            m,
            "command cluster.upgrade_probe needs every node at format >= 2; node 3 runs \
             format 1: upgrade it first, then retry"
        );
        assert!(gate_message("x", 2, 3, None).contains("node 3 has not been heard from"));
    }
}

//! Versions for rolling upgrades: which log-entry format a build writes and applies, and in
//! which format each [`Command`] first appeared.
//!
//! A cluster is upgraded one node at a time, so for a while old and new builds apply the
//! same log. An old build cannot decode a command added after it was built, so a node must
//! never propose such a command while any member still runs an older build. The rule lives
//! here as data: [`INTRODUCED`] maps a command's action to the format it appeared in (every
//! command not listed is part of [`BASE_FORMAT`]), and the front door
//! (`vpnkeeper_cluster::Cluster::submit`) refuses a command whose format is above the
//! cluster's minimum.
//!
//! Adding a command that old nodes cannot apply: raise [`FORMAT_VERSION`] and add one row to
//! [`INTRODUCED`]. Nothing else changes: entries of the base format keep their stored shape.

use crate::command::Command;

/// A log-entry format: a build applies every entry whose format is at most its own.
pub type Format = u32;

/// The format of every entry written before formats were versioned, and of every command
/// not listed in [`INTRODUCED`]. Such entries are stored exactly as before (a JSON array).
pub const BASE_FORMAT: Format = 1;

/// The newest format this build writes and applies.
#[cfg(not(feature = "upgrade-next"))]
pub const FORMAT_VERSION: Format = 2;
/// The newest format this build writes and applies (the `upgrade-next` test build, which
/// adds [`Command::UpgradeProbe`] one format above the release).
#[cfg(feature = "upgrade-next")]
pub const FORMAT_VERSION: Format = 3;

/// One row of the table: a command (by its [`Command::action`]) and the format it appeared in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Introduced {
    pub action: &'static str,
    pub format: Format,
}

/// Commands that appeared after [`BASE_FORMAT`]. Append a row when you add such a command.
pub const INTRODUCED: &[Introduced] = &[
    // issue #14: the operator's draining mark (`SetNodeDraining`).
    Introduced {
        action: "node.drain",
        format: 2,
    },
    Introduced {
        action: "node.undrain",
        format: 2,
    },
    // Keep last: the rolling-upgrade test's probe, one format above the release.
    #[cfg(feature = "upgrade-next")]
    Introduced {
        action: "cluster.upgrade_probe",
        format: 3,
    },
];

/// The release this build is (the crate version, plus the test build's marker).
pub fn release() -> String {
    let base = env!("CARGO_PKG_VERSION");
    if cfg!(feature = "upgrade-next") {
        format!("{base}+upgrade-next")
    } else {
        base.to_string()
    }
}

/// The format an action appeared in, from [`INTRODUCED`].
pub fn format_of_action(action: &str) -> Format {
    INTRODUCED
        .iter()
        .find(|row| row.action == action)
        .map_or(BASE_FORMAT, |row| row.format)
}

impl Command {
    /// The oldest format that can apply this command: its own row in [`INTRODUCED`], and for
    /// a Telegram update the newest of the commands it carries.
    pub fn format(&self) -> Format {
        let own = format_of_action(self.action());
        match self {
            Command::TelegramUpdate { commands, .. } => {
                commands.iter().map(Command::format).fold(own, Format::max)
            }
            _ => own,
        }
    }
}

/// A node's version as it advertises it to its peers: `FORMAT/RELEASE`, e.g. `1/0.1.0`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeVersion {
    pub format: Format,
    pub release: String,
}

impl NodeVersion {
    /// This build.
    pub fn this_build() -> NodeVersion {
        NodeVersion {
            format: FORMAT_VERSION,
            release: release(),
        }
    }

    /// A peer that sent no version: a build from before versions were advertised.
    pub fn unversioned() -> NodeVersion {
        NodeVersion {
            format: BASE_FORMAT,
            release: "unknown (before versioning)".into(),
        }
    }

    /// The header value: `FORMAT/RELEASE`.
    pub fn to_header(&self) -> String {
        format!("{}/{}", self.format, self.release)
    }

    /// Parses [`NodeVersion::to_header`]; `None` when malformed.
    pub fn from_header(value: &str) -> Option<NodeVersion> {
        let (format, release) = value.split_once('/')?;
        let format = format.parse().ok().filter(|f| *f >= BASE_FORMAT)?;
        let release = release.trim();
        (!release.is_empty() && release.len() <= 64).then(|| NodeVersion {
            format,
            release: release.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_build_applies_every_format_it_lists() {
        for row in INTRODUCED {
            assert!(
                row.format > BASE_FORMAT,
                "{row:?} belongs to the base format"
            );
            assert!(
                row.format <= FORMAT_VERSION,
                "{row:?} is newer than this build"
            );
        }
        const { assert!(FORMAT_VERSION >= BASE_FORMAT) };
    }

    #[test]
    fn unlisted_commands_are_the_base_format() {
        let c = Command::RevokeApiKey { key_id: "k".into() };
        assert_eq!(c.format(), BASE_FORMAT);
        let update = Command::TelegramUpdate {
            update_id: 1,
            offset: 1,
            commands: vec![c],
            outbox: vec![],
        };
        assert_eq!(update.format(), BASE_FORMAT);
    }

    #[cfg(feature = "upgrade-next")]
    #[test]
    fn the_probe_needs_format_three_even_inside_an_update() {
        let probe = Command::UpgradeProbe { note: "x".into() };
        assert_eq!(probe.format(), 3);
        let update = Command::TelegramUpdate {
            update_id: 1,
            offset: 1,
            commands: vec![probe],
            outbox: vec![],
        };
        assert_eq!(update.format(), 3);
    }

    #[test]
    fn the_draining_mark_is_format_two() {
        for draining in [true, false] {
            let c = Command::SetNodeDraining {
                node_id: 2,
                draining,
            };
            assert_eq!(c.format(), 2, "{}", c.action());
        }
    }

    #[test]
    fn header_round_trips_and_rejects_junk() {
        let v = NodeVersion::this_build();
        assert_eq!(NodeVersion::from_header(&v.to_header()), Some(v));
        assert_eq!(NodeVersion::from_header("2"), None);
        assert_eq!(NodeVersion::from_header("0/x"), None);
        assert_eq!(NodeVersion::from_header("x/1.0"), None);
        assert_eq!(NodeVersion::from_header("3/"), None);
    }
}

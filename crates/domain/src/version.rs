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

/// The newest format a release build writes and applies (see [`INTRODUCED`]): 2 added the
/// commands of the plans/voice/operations stop, 3 those of the payments stop. A format that has
/// landed on main is frozen: commands new since then go into the next one, so a node of the
/// previous release refuses them instead of misreading them during a rolling upgrade.
const RELEASE_FORMAT: Format = 3;

/// The newest format this build writes and applies.
#[cfg(not(feature = "upgrade-next"))]
pub const FORMAT_VERSION: Format = RELEASE_FORMAT;
/// The newest format this build writes and applies (the `upgrade-next` test build, which
/// adds [`Command::UpgradeProbe`] one format above the release).
#[cfg(feature = "upgrade-next")]
pub const FORMAT_VERSION: Format = RELEASE_FORMAT + 1;

/// One row of the table: a command (by its [`Command::action`]) and the format it appeared in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Introduced {
    pub action: &'static str,
    pub format: Format,
}

/// Commands that appeared after [`BASE_FORMAT`]. Append a row when you add such a command.
pub const INTRODUCED: &[Introduced] = &[
    // Reminders and the scheduler's due index (issue #15, remind).
    Introduced {
        action: "user.remind",
        format: 2,
    },
    Introduced {
        action: "user.recheck_due",
        format: 2,
    },
    // The rolling-upgrade test's probe: newer than anything a release build knows.
    #[cfg(feature = "upgrade-next")]
    Introduced {
        action: "cluster.upgrade_probe",
        format: RELEASE_FORMAT + 1,
    },
    // Voice notes to support (issue #17).
    Introduced {
        action: "ticket.voice",
        format: 2,
    },
    Introduced {
        action: "ticket.voice_transcribed",
        format: 2,
    },
    // Scheduled backups to the bot's admins (issue #18).
    Introduced {
        action: "backup.telegram_due",
        format: 2,
    },
    // The operator's draining mark (`SetNodeDraining`, issue #14).
    Introduced {
        action: "node.drain",
        format: 2,
    },
    Introduced {
        action: "node.undrain",
        format: 2,
    },
    // Payments in Telegram Stars (issue #16, pay).
    Introduced {
        action: "payment.order",
        format: 3,
    },
    Introduced {
        action: "payment.check",
        format: 3,
    },
    Introduced {
        action: "payment.credit",
        format: 3,
    },
    Introduced {
        action: "payment.refund_request",
        format: 3,
    },
    Introduced {
        action: "payment.refunded",
        format: 3,
    },
    Introduced {
        action: "payment.refund_failed",
        format: 3,
    },
    // Balances, promo codes, trials and referrals (issue #16, promo).
    Introduced {
        action: "balance.adjust",
        format: 3,
    },
    Introduced {
        action: "promo.create",
        format: 3,
    },
    Introduced {
        action: "promo.disable",
        format: 3,
    },
    Introduced {
        action: "promo.redeem",
        format: 3,
    },
    Introduced {
        action: "trial.start",
        format: 3,
    },
    Introduced {
        action: "referral.bind",
        format: 3,
    },
];

/// The `upgrade-next` test build's no-op command: always one format above the release.
#[cfg(feature = "upgrade-next")]
const PROBE: Introduced = Introduced {
    action: "cluster.upgrade_probe",
    format: 3,
};

/// Every row this build knows: [`INTRODUCED`], plus the probe in the `upgrade-next` build.
pub fn introduced() -> impl Iterator<Item = &'static Introduced> {
    #[cfg(feature = "upgrade-next")]
    let probe = std::iter::once(&PROBE);
    #[cfg(not(feature = "upgrade-next"))]
    let probe = std::iter::empty();
    INTRODUCED.iter().chain(probe)
}

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
    introduced()
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
        for row in introduced() {
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
    fn the_probe_needs_the_newest_format_even_inside_an_update() {
        let probe = Command::UpgradeProbe { note: "x".into() };
        assert_eq!(probe.format(), FORMAT_VERSION);
        let update = Command::TelegramUpdate {
            update_id: 1,
            offset: 1,
            commands: vec![probe],
            outbox: vec![],
        };
        assert_eq!(update.format(), FORMAT_VERSION);
    }

    #[test]
    fn a_voice_note_needs_format_two_inside_an_update() {
        let voice = Command::TicketVoice {
            telegram_id: 7,
            file_id: "F".into(),
            duration_secs: 3,
            language: None,
            notify: vec![],
        };
        assert_eq!(voice.format(), 2);
        let update = Command::TelegramUpdate {
            update_id: 1,
            offset: 1,
            commands: vec![voice],
            outbox: vec![],
        };
        assert_eq!(update.format(), 2);
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

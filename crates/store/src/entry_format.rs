//! The stored form of a log entry's [`Proposal`], with its format version
//! (`vpnkeeper_domain::version`).
//!
//! An entry whose commands all belong to the base format is stored exactly as before
//! versioning: a JSON array of envelopes, so the existing log and every old build keep
//! reading it. An entry carrying a newer command is stored as
//! `{"format": N, "envelopes": [...]}`, with `format` first, so a build that is too old to
//! apply it says so in one line instead of failing on an unknown command deep inside.

use std::fmt;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use vpnkeeper_domain::version::{Format, BASE_FORMAT, FORMAT_VERSION};
use vpnkeeper_domain::Envelope;

use crate::raft_types::Proposal;

impl Proposal {
    /// The entry's format: the newest format of the commands it carries.
    pub fn format(&self) -> Format {
        self.0
            .iter()
            .map(|env| env.command.format())
            .fold(BASE_FORMAT, Format::max)
    }
}

impl Serialize for Proposal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let format = self.format();
        if format <= BASE_FORMAT {
            return self.0.serialize(s);
        }
        let mut st = s.serialize_struct("Proposal", 2)?;
        st.serialize_field("format", &format)?;
        st.serialize_field("envelopes", &self.0)?;
        st.end()
    }
}

impl<'de> Deserialize<'de> for Proposal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ProposalVisitor)
    }
}

/// The one-line refusal of an entry written by a newer build.
pub fn too_new(format: Format) -> String {
    format!(
        "a log entry has format {format}, newer than this build applies ({FORMAT_VERSION}): \
         install the newer vpnkeeper on this node"
    )
}

struct ProposalVisitor;

impl<'de> Visitor<'de> for ProposalVisitor {
    type Value = Proposal;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of envelopes or {\"format\", \"envelopes\"}")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Proposal, A::Error> {
        let mut envs = Vec::with_capacity(seq.size_hint().unwrap_or(1).min(256));
        while let Some(env) = seq.next_element::<Envelope>()? {
            envs.push(env);
        }
        Ok(Proposal(envs))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Proposal, A::Error> {
        let mut format: Option<Format> = None;
        let mut envs: Option<Vec<Envelope>> = None;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "format" => {
                    let f: Format = map.next_value()?;
                    if f > FORMAT_VERSION {
                        return Err(de::Error::custom(too_new(f)));
                    }
                    format = Some(f);
                }
                // Written after `format`; decoding it first would hide a too-new format
                // behind an unknown-command error.
                "envelopes" if format.is_some() => envs = Some(map.next_value()?),
                "envelopes" => return Err(de::Error::custom("envelopes before format")),
                other => return Err(de::Error::unknown_field(other, &["format", "envelopes"])),
            }
        }
        match (format, envs) {
            (Some(_), Some(envs)) => Ok(Proposal(envs)),
            _ => Err(de::Error::custom(
                "a versioned entry needs format and envelopes",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vpnkeeper_domain::{Actor, Command};

    fn env(command: Command) -> Envelope {
        Envelope {
            at_ms: 1,
            actor: Actor::System { node_id: 1 },
            command,
        }
    }

    #[test]
    fn base_format_entries_stay_plain_arrays() {
        let p = Proposal(vec![env(Command::RevokeApiKey { key_id: "k".into() })]);
        let json = serde_json::to_string(&p).unwrap();
        assert!(json.starts_with("[{"), "{json}");
        assert_eq!(serde_json::from_str::<Proposal>(&json).unwrap(), p);
    }

    #[test]
    fn a_newer_format_is_refused_in_one_line() {
        let json = format!(r#"{{"format":{},"envelopes":[]}}"#, FORMAT_VERSION + 1);
        let err = serde_json::from_str::<Proposal>(&json)
            .unwrap_err()
            .to_string();
        assert!(err.contains("newer than this build applies"), "{err}");
        let json = r#"{"envelopes":[],"format":1}"#;
        assert!(serde_json::from_str::<Proposal>(json).is_err());
        let json = r#"{"format":1,"envelopes":[],"x":1}"#;
        assert!(serde_json::from_str::<Proposal>(json).is_err());
    }

    #[test]
    fn a_versioned_entry_of_a_known_format_decodes() {
        let json = r#"{"format":1,"envelopes":[{"at_ms":1,"actor":{"kind":"system","node_id":1},"command":{"type":"revoke_api_key","key_id":"k"}}]}"#;
        let p: Proposal = serde_json::from_str(json).unwrap();
        assert_eq!(p.0.len(), 1);
    }

    #[cfg(feature = "upgrade-next")]
    #[test]
    fn an_entry_with_a_newer_command_carries_its_format() {
        let p = Proposal(vec![env(Command::UpgradeProbe { note: "n".into() })]);
        let json = serde_json::to_string(&p).unwrap();
        let head = format!(r#"{{"format":{FORMAT_VERSION},"envelopes":["#);
        assert!(json.starts_with(&head), "{json}");
        assert_eq!(serde_json::from_str::<Proposal>(&json).unwrap(), p);
    }
}

//! `[voice]`: local transcription of support voice notes (crates/voice). Without a model, voice
//! notes still become tickets, forwarded to the admins without text.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use vpnkeeper_voice::VoiceConfig;

use super::{invalid, ConfigError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VoiceSection {
    /// Transcribe voice notes (when a model is set).
    pub enabled: bool,
    /// A whisper.cpp ggml model (scripts/fetch-whisper-model.sh makes base q8_0); unset = off.
    pub model: Option<PathBuf>,
    /// Language of the notes ("ru", "en"…); unset or "auto" = detect per note.
    pub language: Option<String>,
    /// Inference threads.
    pub threads: u32,
    /// Longer notes are not transcribed (forwarded with a note saying so).
    pub max_seconds: u32,
    /// Free the model's memory (~270 MB) after this long without a voice note.
    pub idle_unload_secs: u64,
}

impl Default for VoiceSection {
    fn default() -> Self {
        let engine = VoiceConfig::default();
        VoiceSection {
            enabled: true,
            model: None,
            language: None,
            threads: engine.threads,
            max_seconds: engine.max_seconds,
            idle_unload_secs: engine.idle_unload_secs,
        }
    }
}

/// Telegram caps voice notes at about an hour; more than 30 min of Whisper on a small node would
/// hold the transcription queue for longer than anyone waits.
const MAX_SECONDS_LIMIT: u32 = 1800;

impl VoiceSection {
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if self.model.as_ref().is_some_and(|m| m.is_relative()) {
            return Err(invalid(
                "voice.model",
                "must be an absolute path to a whisper.cpp ggml model file",
            ));
        }
        if let Some(lang) = self.language.as_deref().filter(|l| *l != "auto") {
            if !vpnkeeper_voice::known_language(lang) {
                return Err(invalid("voice.language", format!("{lang:?} is not a Whisper language code (use e.g. \"ru\", \"en\", or \"auto\")")));
            }
        }
        if !(1..=64).contains(&self.threads) {
            return Err(invalid("voice.threads", "must be between 1 and 64"));
        }
        if !(1..=MAX_SECONDS_LIMIT).contains(&self.max_seconds) {
            return Err(invalid(
                "voice.max_seconds",
                format!("must be between 1 and {MAX_SECONDS_LIMIT}"),
            ));
        }
        Ok(())
    }

    /// The engine's settings; no model when transcription is disabled (used by the support
    /// worker, voice_service.rs).
    pub fn engine_config(&self) -> VoiceConfig {
        VoiceConfig {
            model: self.model.clone().filter(|_| self.enabled),
            language: self.language.clone().filter(|l| l != "auto"),
            threads: self.threads,
            max_seconds: self.max_seconds,
            idle_unload_secs: self.idle_unload_secs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(edit: impl FnOnce(&mut VoiceSection)) -> VoiceSection {
        let mut s = VoiceSection::default();
        edit(&mut s);
        s
    }

    #[test]
    fn defaults_are_valid_and_off_without_a_model() {
        let s = VoiceSection::default();
        assert!(s.check().is_ok());
        assert_eq!(
            (s.threads, s.max_seconds, s.idle_unload_secs),
            (2, 120, 600)
        );
        assert_eq!(s.engine_config().model, None);
    }

    #[test]
    fn each_bad_value_names_its_key() {
        let cases = [
            (
                with(|s| s.model = Some("models/base.bin".into())),
                "voice.model",
            ),
            (
                with(|s| s.language = Some("klingon".into())),
                "voice.language",
            ),
            (with(|s| s.threads = 0), "voice.threads"),
            (with(|s| s.max_seconds = 0), "voice.max_seconds"),
            (with(|s| s.max_seconds = 7200), "voice.max_seconds"),
        ];
        for (section, key) in cases {
            let e = section.check().unwrap_err().0;
            assert!(e.starts_with(&format!("invalid config key `{key}`")), "{e}");
        }
    }

    #[test]
    fn language_auto_and_disabled_map_to_the_engine() {
        let s = with(|s| {
            s.model = Some("/var/lib/vpnkeeper/ggml-base-q8_0.bin".into());
            s.language = Some("auto".into());
        });
        assert!(s.check().is_ok());
        let engine = s.engine_config();
        assert_eq!(engine.language, None, "auto = detect");
        assert!(engine.model.is_some());
        let off = with(|s| {
            s.model = Some("/m.bin".into());
            s.enabled = false;
            s.language = Some("ru".into());
        });
        assert!(off.check().is_ok());
        assert_eq!(off.engine_config().model, None, "disabled: no model");
        assert_eq!(off.engine_config().language.as_deref(), Some("ru"));
    }

    #[test]
    fn parses_from_toml_and_refuses_unknown_keys() {
        let s: VoiceSection =
            toml::from_str("model = \"/m.bin\"\nlanguage = \"ru\"\nthreads = 4\n").unwrap();
        assert_eq!(
            (s.threads, s.language.as_deref(), s.max_seconds),
            (4, Some("ru"), 120)
        );
        assert!(toml::from_str::<VoiceSection>("modle = \"/m.bin\"\n").is_err());
    }
}

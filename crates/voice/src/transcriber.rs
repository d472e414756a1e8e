//! [`Transcriber`]: the model's lifecycle (lazy load, idle unload) and one transcription.

use std::path::PathBuf;

use crate::VoiceError;

/// How to transcribe; mirrors the `[voice]` config section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoiceConfig {
    /// A whisper.cpp ggml model file; `None` = transcription off.
    pub model: Option<PathBuf>,
    /// Default language ("ru", "en"...); `None` = auto-detect.
    pub language: Option<String>,
    /// Threads for inference.
    pub threads: u32,
    /// Longest note transcribed, in seconds.
    pub max_seconds: u32,
    /// Drop the loaded model after this many seconds without a note.
    pub idle_unload_secs: u64,
}

impl Default for VoiceConfig {
    fn default() -> Self {
        Self {
            model: None,
            language: None,
            threads: 2,
            max_seconds: 120,
            idle_unload_secs: 600,
        }
    }
}

/// Whether transcription can run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoiceStatus {
    On,
    Off { reason: String },
}

/// The text of one voice note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transcript {
    pub text: String,
    /// The language used or detected ("ru", "en").
    pub language: String,
    /// Length of the decoded audio.
    pub audio_ms: u64,
}

/// Transcribes voice notes; `Send + Sync`, share it behind an `Arc`.
pub struct Transcriber {
    cfg: VoiceConfig,
}

impl Transcriber {
    pub fn new(cfg: VoiceConfig) -> Self {
        Self { cfg }
    }

    pub fn status(&self) -> VoiceStatus {
        match &self.cfg.model {
            None => VoiceStatus::Off {
                reason: "no [voice] model configured".into(),
            },
            Some(_) => VoiceStatus::Off {
                reason: "engine not built yet".into(),
            },
        }
    }

    /// Blocking (call from `spawn_blocking`). `language` None = the configured one or auto-detect.
    pub fn transcribe_ogg(
        &self,
        ogg: &[u8],
        language: Option<&str>,
    ) -> Result<Transcript, VoiceError> {
        let _ = (ogg, language);
        Err(VoiceError::NoModel("engine not built yet".into()))
    }
}

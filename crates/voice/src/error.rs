//! The one error type of the crate: one-line messages, never a path to a secret or audio content.

/// Why a voice note could not be transcribed.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum VoiceError {
    /// No usable model: transcription is off (the reason says why and how to fix it).
    #[error("voice transcription is off: {0}")]
    NoModel(String),
    /// The file is not a readable Ogg/Opus stream.
    #[error("not a readable Ogg/Opus voice note: {0}")]
    BadAudio(String),
    /// The note is (near) silent: nothing to transcribe.
    #[error("the voice note is silent")]
    Silence,
    /// Whisper heard no words (empty, only tags such as "[музыка]", or only a caption).
    #[error("no speech recognised in the voice note")]
    NoSpeech,
    /// The note is longer than `voice.max_seconds`.
    #[error("the voice note is too long ({seconds} s, the limit is voice.max_seconds)")]
    TooLong { seconds: u32 },
    /// The model failed to load or to run.
    #[error("speech model error: {0}")]
    Model(String),
}

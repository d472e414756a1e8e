//! Local speech-to-text for support voice notes.
//!
//! [`decode_ogg_opus`] turns a Telegram voice note (Ogg container, Opus codec) into 16 kHz mono
//! samples; [`Transcriber`] runs Whisper on them with a model in whisper.cpp's ggml format,
//! loaded at the first note and dropped after `idle_unload_secs` without use.

pub mod convert;
mod decode;
mod error;
mod gate;
mod transcriber;

pub use decode::decode_ogg_opus;
pub use error::VoiceError;
pub use transcriber::{Transcriber, Transcript, VoiceConfig, VoiceStatus};

/// Sample rate Whisper expects and the decoder produces.
pub const SAMPLE_RATE: u32 = 16_000;

/// Whether Whisper knows the language code ("ru", "en", "uk"…), for config checks.
pub fn known_language(code: &str) -> bool {
    whisper_rs::get_lang_id(code).is_some()
}

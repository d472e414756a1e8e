//! Local speech-to-text for support voice notes.
//!
//! [`decode_ogg_opus`] turns a Telegram voice note (Ogg container, Opus codec) into 16 kHz mono
//! samples; [`Transcriber`] runs Whisper on them with a model in whisper.cpp's ggml format,
//! loaded at the first note and dropped after `idle_unload_secs` without use.

mod error;
mod transcriber;

pub use error::VoiceError;
pub use transcriber::{Transcriber, Transcript, VoiceConfig, VoiceStatus};

/// Sample rate Whisper expects and the decoder produces.
pub const SAMPLE_RATE: u32 = 16_000;

/// Decodes an Ogg/Opus file to 16 kHz mono `f32` samples in [-1, 1].
pub fn decode_ogg_opus(ogg: &[u8]) -> Result<Vec<f32>, VoiceError> {
    let _ = ogg;
    Err(VoiceError::BadAudio("decoder not built yet".into()))
}

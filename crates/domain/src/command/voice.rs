//! Voice notes to support (issue #17): the durable transcription queue.
//!
//! A user's voice note enters the replicated state as *pending transcription* with
//! `TicketVoice` (inside the update's `TelegramUpdate`, so it is exactly-once like any other
//! update). The leader's worker (`crates/vpnkeeper/src/voice_service.rs`) downloads and
//! transcribes pending notes one at a time and writes each result with `VoiceTranscribed`,
//! which applies once per note: a second result for the same note (a worker on a former
//! leader, or a retry after a crash) changes nothing. The note stays pending until a result
//! commits, so after a crash or failover the next leader takes it over.

use serde::{Deserialize, Serialize};

use crate::telegram::MAX_OUTBOX_ITEMS;
use crate::ticket::MAX_TICKET_TEXT_CHARS;
use crate::validate::{self, ValidationError};

/// Longest Telegram file id accepted (real ones are ~70 characters).
pub const MAX_FILE_ID_CHARS: usize = 256;
/// Longest failure detail kept (one line for the admins).
pub const MAX_DETAIL_CHARS: usize = 300;
/// Longest voice note Telegram sends, with room to spare (a day).
pub const MAX_VOICE_SECONDS: u32 = 86_400;

/// What the worker made of a voice note.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum VoiceResult {
    /// The words (bracketed tags removed) and the language used or detected.
    Text { text: String, language: String },
    /// Why there is no text; the admins get this with the voice itself.
    Failed { reason: VoiceFailure },
}

/// Why a voice note has no transcript.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "why", rename_all = "snake_case")]
pub enum VoiceFailure {
    /// Longer than `voice.max_seconds`.
    TooLong { seconds: u32, limit: u32 },
    /// Near silence (the RMS gate).
    Silent,
    /// Whisper heard no words (only tags such as "[музыка]").
    NoSpeech,
    /// Transcription is off on the leader (no model, disabled, or the model failed to load).
    ModelMissing { detail: String },
    /// The file is not a readable Ogg/Opus note.
    BadAudio { detail: String },
    /// Telegram refused the download (the file is gone or too big).
    Download { detail: String },
    /// Whisper failed while running.
    Model { detail: String },
}

impl VoiceFailure {
    /// One English line, as stored in the ticket's message (the bot renders its own words).
    pub fn describe(&self) -> String {
        match self {
            VoiceFailure::TooLong { seconds, limit } => {
                format!("too long ({seconds} s, the limit is {limit} s)")
            }
            VoiceFailure::Silent => "silent".into(),
            VoiceFailure::NoSpeech => "no speech recognised".into(),
            VoiceFailure::ModelMissing { detail } => format!("transcription is off: {detail}"),
            VoiceFailure::BadAudio { detail } => format!("unreadable audio: {detail}"),
            VoiceFailure::Download { detail } => format!("download failed: {detail}"),
            VoiceFailure::Model { detail } => format!("speech model error: {detail}"),
        }
    }

    fn detail(&self) -> Option<&str> {
        match self {
            VoiceFailure::ModelMissing { detail }
            | VoiceFailure::BadAudio { detail }
            | VoiceFailure::Download { detail }
            | VoiceFailure::Model { detail } => Some(detail),
            _ => None,
        }
    }
}

/// Where a voice note is in the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoiceStatus {
    Pending,
    Done,
    Failed,
}

impl VoiceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            VoiceStatus::Pending => "pending",
            VoiceStatus::Done => "done",
            VoiceStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<VoiceStatus> {
        match s {
            "pending" => Some(VoiceStatus::Pending),
            "done" => Some(VoiceStatus::Done),
            "failed" => Some(VoiceStatus::Failed),
            _ => None,
        }
    }

    /// The status a result leaves the note in.
    pub fn of(result: &VoiceResult) -> VoiceStatus {
        match result {
            VoiceResult::Text { .. } => VoiceStatus::Done,
            VoiceResult::Failed { .. } => VoiceStatus::Failed,
        }
    }
}

/// A voice note of a ticket, as stored (migration 0041).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoiceNote {
    /// The ticket message it is (its text says "transcribing…" until the result).
    pub message_id: i64,
    pub ticket_id: i64,
    pub telegram_id: i64,
    /// Telegram's id of the voice file: getFile, and re-sending it to admins.
    pub file_id: String,
    pub duration_secs: u32,
    /// The sender's language code, a hint for Whisper.
    pub language: Option<String>,
    pub status: VoiceStatus,
    pub result: Option<VoiceResult>,
    pub created_at_ms: i64,
}

/// The ticket message's text while a note waits for its transcript.
pub fn pending_text(duration_secs: u32) -> String {
    format!("🎤 voice note ({duration_secs} s), transcribing…")
}

/// The ticket message's text once the result is in.
pub fn result_text(duration_secs: u32, result: &VoiceResult) -> String {
    let text = match result {
        VoiceResult::Text { text, .. } => format!("🎤 ({duration_secs} s) {text}"),
        VoiceResult::Failed { reason } => format!(
            "🎤 voice note ({duration_secs} s), not transcribed: {}",
            reason.describe()
        ),
    };
    text.chars().take(MAX_TICKET_TEXT_CHARS + 32).collect()
}

/// `TicketVoice`: a plausible chat, file id, length, language hint and admin chats.
pub fn validate_voice(
    telegram_id: i64,
    file_id: &str,
    duration_secs: u32,
    language: Option<&str>,
    notify: &[i64],
) -> Result<(), ValidationError> {
    validate::telegram_id("telegram_id", telegram_id)?;
    validate_file_id(file_id)?;
    if duration_secs > MAX_VOICE_SECONDS {
        return Err(ValidationError::new(
            "duration_secs",
            format!("at most {MAX_VOICE_SECONDS}"),
        ));
    }
    if let Some(lang) = language {
        let ok = !lang.is_empty()
            && lang.len() <= 16
            && lang
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(ValidationError::new(
                "language",
                "must be a language code such as \"ru\" or \"en-US\"",
            ));
        }
    }
    if notify.len() > MAX_OUTBOX_ITEMS {
        return Err(ValidationError::new(
            "notify",
            format!("at most {MAX_OUTBOX_ITEMS} chats"),
        ));
    }
    for chat in notify {
        validate::telegram_id("notify", *chat)?;
    }
    Ok(())
}

/// A Telegram file id: printable ASCII without spaces, not too long.
pub fn validate_file_id(file_id: &str) -> Result<(), ValidationError> {
    let ok = !file_id.is_empty()
        && file_id.len() <= MAX_FILE_ID_CHARS
        && file_id.bytes().all(|b| b.is_ascii_graphic());
    if !ok {
        return Err(ValidationError::new(
            "file_id",
            format!("must be a Telegram file id (1 to {MAX_FILE_ID_CHARS} printable characters)"),
        ));
    }
    Ok(())
}

/// `VoiceTranscribed`: a message id and a result that fits a ticket message.
pub fn validate_result(message_id: i64, result: &VoiceResult) -> Result<(), ValidationError> {
    if message_id < 1 {
        return Err(ValidationError::new("message_id", "must be a positive id"));
    }
    match result {
        VoiceResult::Text { text, language } => {
            super::ticket::validate_text(text)?;
            if language.is_empty() || language.len() > 16 {
                return Err(ValidationError::new(
                    "language",
                    "must be a language code such as \"ru\"",
                ));
            }
        }
        VoiceResult::Failed { reason } => {
            if reason
                .detail()
                .is_some_and(|d| d.chars().count() > MAX_DETAIL_CHARS)
            {
                return Err(ValidationError::new(
                    "reason",
                    format!("detail of at most {MAX_DETAIL_CHARS} characters"),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voice_posts() {
        assert!(validate_voice(42, "AwACAgIAAxkBAAIB", 8, Some("ru"), &[1, 2]).is_ok());
        assert!(validate_voice(42, "F", 8, None, &[]).is_ok());
        assert!(validate_voice(0, "F", 8, None, &[]).is_err());
        assert!(validate_voice(42, "", 8, None, &[]).is_err());
        assert!(validate_voice(42, "a b", 8, None, &[]).is_err());
        assert!(validate_voice(42, &"x".repeat(MAX_FILE_ID_CHARS + 1), 8, None, &[]).is_err());
        assert!(validate_voice(42, "F", MAX_VOICE_SECONDS + 1, None, &[]).is_err());
        assert!(validate_voice(42, "F", 8, Some("ru RU"), &[]).is_err());
        assert!(validate_voice(42, "F", 8, Some(""), &[]).is_err());
        assert!(validate_voice(42, "F", 8, None, &[0]).is_err());
        assert!(validate_voice(42, "F", 8, None, &vec![7; MAX_OUTBOX_ITEMS + 1]).is_err());
    }

    #[test]
    fn results() {
        let text = |t: &str| VoiceResult::Text {
            text: t.into(),
            language: "ru".into(),
        };
        assert!(validate_result(1, &text("привет")).is_ok());
        assert!(validate_result(0, &text("привет")).is_err());
        assert!(validate_result(1, &text("  ")).is_err());
        assert!(validate_result(1, &text(&"я".repeat(MAX_TICKET_TEXT_CHARS + 1))).is_err());
        let failed = |reason| VoiceResult::Failed { reason };
        assert!(validate_result(1, &failed(VoiceFailure::Silent)).is_ok());
        let long = VoiceFailure::Download {
            detail: "x".repeat(MAX_DETAIL_CHARS + 1),
        };
        assert!(validate_result(1, &failed(long)).is_err());
    }

    #[test]
    fn texts_and_wire_form() {
        assert_eq!(pending_text(8), "🎤 voice note (8 s), transcribing…");
        let r = VoiceResult::Failed {
            reason: VoiceFailure::TooLong {
                seconds: 130,
                limit: 120,
            },
        };
        assert_eq!(
            result_text(130, &r),
            "🎤 voice note (130 s), not transcribed: too long (130 s, the limit is 120 s)"
        );
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({"kind": "failed", "reason": {"why": "too_long", "seconds": 130, "limit": 120}})
        );
        assert_eq!(VoiceStatus::of(&r), VoiceStatus::Failed);
        for s in [VoiceStatus::Pending, VoiceStatus::Done, VoiceStatus::Failed] {
            assert_eq!(VoiceStatus::parse(s.as_str()), Some(s));
        }
    }
}

//! The leader-only transcription worker for support voice notes (issue #17).
//!
//! A voice note is in the replicated state as *pending* from the moment its update commits
//! (`Command::TicketVoice`). While this node leads, one session takes pending notes oldest
//! first, one at a time: getFile and the file download from the Bot API, then Whisper in a
//! blocking thread (never on the async runtime), then the result as one
//! `Command::VoiceTranscribed`, whose apply stores the text and queues the admins' message.
//!
//! Exactly once, in effect: a note stays pending until its result commits, so a crash, a
//! SIGTERM or a lost leadership mid-transcription leaves it for the next session or leader,
//! which starts it over. A result for a note that already has one changes nothing (a former
//! leader finishing late), so the admins get one transcript per note. A note never stays
//! silent: a missing model, a note too long, silence, a corrupt file or a refused download
//! all become a "could not transcribe" result; only transient Bot API trouble is retried
//! (with backoff) instead.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use vpnkeeper_api::health::{VoiceProbe, VoiceState};
use vpnkeeper_bot::backoff::Backoff;
use vpnkeeper_bot::telegram::{Tg, TgError};
use vpnkeeper_cluster::{Cluster, SubmitError};
use vpnkeeper_domain::command::voice::{VoiceFailure, VoiceNote, VoiceResult, MAX_DETAIL_CHARS};
use vpnkeeper_domain::ticket::MAX_TICKET_TEXT_CHARS;
use vpnkeeper_domain::{Actor, Command};
use vpnkeeper_voice::{Transcriber, VoiceError, VoiceStatus};

use crate::config::Config;

/// How often an idle worker looks for new notes (an indexed count of pending rows).
const IDLE_POLL: Duration = Duration::from_millis(500);
/// The Bot API serves files up to 20 MB; a voice note is far smaller.
const MAX_FILE_BYTES: usize = 20 << 20;

/// The worker (when this node can take voice notes at all) and what `/health` reads.
pub struct VoiceService {
    pub probe: Arc<VoiceHealth>,
    pub handle: Option<JoinHandle<()>>,
}

/// `/health`'s view of transcription on this node.
pub struct VoiceHealth {
    transcriber: Arc<Transcriber>,
    /// Why transcription is off by configuration, if it is.
    disabled: Option<String>,
}

impl VoiceProbe for VoiceHealth {
    fn state(&self) -> VoiceState {
        if let Some(reason) = &self.disabled {
            return VoiceState::Disabled {
                reason: reason.clone(),
            };
        }
        match self.transcriber.status() {
            VoiceStatus::Off { reason } => VoiceState::ModelMissing { reason },
            VoiceStatus::On if self.transcriber.is_loaded() => VoiceState::Loaded,
            VoiceStatus::On => VoiceState::Ready,
        }
    }
}

/// Starts the worker as a leader-only service when the node has a Telegram bot (voice notes
/// only come through it). It runs even with transcription off, so pending notes still get
/// their "could not transcribe" result.
pub fn spawn(cluster: &Cluster, config: &Config, stop: watch::Receiver<bool>) -> VoiceService {
    let engine = config.voice.engine_config();
    let model = engine.model.clone();
    let max_seconds = engine.max_seconds;
    // An operator's `[voice] language` wins over each sender's Telegram language.
    let use_note_language = engine.language.is_none();
    // The encoder window sized to the note, not Whisper's fixed 30 s: a 10 s note took
    // 6.7 s with the full window (the decoder kept running over the silent padding) and
    // 0.6 s with it scaled (`cargo bench -p vpnkeeper-voice --bench rtf`); support notes are
    // short. The ru/en clips of tests/voice_support.rs pass with it.
    let transcriber = Arc::new(Transcriber::new(engine).with_scaled_audio_ctx(true));
    let settings = config.telegram.settings(
        config.wireguard.client_options(),
        config.api.options(&config.node).public_url,
    );
    let mut disabled = (!config.voice.enabled)
        .then(|| "voice transcription is disabled ([voice] enabled = false)".to_string());
    let tg = settings
        .as_ref()
        .map(|s| Tg::new(&s.token, s.api_url.clone(), s.poll_timeout));
    let tg = match tg {
        Some(Ok(tg)) => Some(tg),
        Some(Err(e)) => {
            tracing::error!(error = %e, "voice transcription worker not started");
            None
        }
        None => None,
    };
    if tg.is_none() && disabled.is_none() {
        disabled = Some("no Telegram bot ([telegram] token) takes voice notes on this node".into());
    }
    let probe = Arc::new(VoiceHealth {
        transcriber: transcriber.clone(),
        disabled: disabled.clone(),
    });
    let Some(tg) = tg else {
        return VoiceService {
            probe,
            handle: None,
        };
    };
    let worker = Arc::new(Worker {
        cluster: cluster.clone(),
        tg,
        transcriber,
        model,
        disabled,
        max_seconds,
        use_note_language,
    });
    let handle =
        crate::bot_service::spawn_leader_only(cluster, "voice transcription", stop, move |s| {
            session(worker.clone(), s)
        });
    VoiceService {
        probe,
        handle: Some(handle),
    }
}

struct Worker {
    cluster: Cluster,
    tg: Tg,
    transcriber: Arc<Transcriber>,
    model: Option<PathBuf>,
    disabled: Option<String>,
    max_seconds: u32,
    use_note_language: bool,
}

/// One leadership: pending notes one at a time until stopped.
async fn session(w: Arc<Worker>, mut stop: watch::Receiver<bool>) {
    let mut backoff = Backoff::new();
    // Notes whose result this build cannot record (it fails validation): skipped for this
    // session instead of retried in a hot loop. Should never happen; logged if it does.
    let mut skipped: HashSet<i64> = HashSet::new();
    loop {
        if *stop.borrow() {
            return;
        }
        let next = match w.cluster.read().pending_voice_notes(16).await {
            Ok(notes) => notes.into_iter().find(|n| !skipped.contains(&n.message_id)),
            Err(e) => {
                let d = backoff.next_delay();
                tracing::warn!(error = %e, retry_in = ?d, "cannot read the voice queue");
                if !sleep_or_stop(d, &mut stop).await {
                    return;
                }
                continue;
            }
        };
        let Some(note) = next else {
            if !sleep_or_stop(IDLE_POLL, &mut stop).await {
                return;
            }
            continue;
        };
        // Stopped meanwhile: the note stays pending for the next session or leader.
        let Some(result) = w.process(&note, &mut stop).await else {
            return;
        };
        match w.record(&note, result).await {
            Recorded::Yes => backoff.reset(),
            Recorded::Never => {
                skipped.insert(note.message_id);
            }
            Recorded::Later => {
                if !sleep_or_stop(backoff.next_delay(), &mut stop).await {
                    return;
                }
            }
        }
    }
}

enum Recorded {
    Yes,
    /// The result cannot be recorded by this build (skip the note this session).
    Never,
    /// No leader or quorum now: the note stays pending; try again.
    Later,
}

impl Worker {
    /// The note's result; `None` when stopped first.
    async fn process(
        &self,
        note: &VoiceNote,
        stop: &mut watch::Receiver<bool>,
    ) -> Option<VoiceResult> {
        if let Some(reason) = self.model_missing() {
            return Some(failed(VoiceFailure::ModelMissing {
                detail: clip(&reason, MAX_DETAIL_CHARS),
            }));
        }
        // Telegram says how long the note is: no need to fetch one we would refuse.
        if note.duration_secs > self.max_seconds {
            return Some(failed(VoiceFailure::TooLong {
                seconds: note.duration_secs,
                limit: self.max_seconds,
            }));
        }
        let ogg = match self.download(&note.file_id, stop).await? {
            Ok(bytes) => bytes,
            Err(detail) => return Some(failed(VoiceFailure::Download { detail })),
        };
        let language = if self.use_note_language {
            note.language.clone()
        } else {
            None
        };
        let transcriber = self.transcriber.clone();
        let started = Instant::now();
        let job = tokio::task::spawn_blocking(move || {
            transcriber.transcribe_ogg(&ogg, language.as_deref())
        });
        let outcome = tokio::select! {
            r = job => r,
            // SIGTERM or lost leadership mid-transcription: leave it pending. (The blocking
            // thread finishes on its own; its result is dropped.)
            _ = stop.wait_for(|s| *s) => return None,
        };
        let result = match outcome {
            Ok(Ok(t)) => {
                tracing::info!(
                    note = note.message_id,
                    audio_ms = t.audio_ms,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    language = %t.language,
                    "voice note transcribed"
                );
                VoiceResult::Text {
                    text: clip(&t.text, MAX_TICKET_TEXT_CHARS),
                    language: clip(&t.language, 16),
                }
            }
            Ok(Err(e)) => {
                tracing::info!(note = note.message_id, reason = %e, "voice note not transcribed");
                failed(self.failure_of(e))
            }
            Err(e) => failed(VoiceFailure::Model {
                detail: clip(
                    &format!("the transcription thread failed: {e}"),
                    MAX_DETAIL_CHARS,
                ),
            }),
        };
        Some(result)
    }

    /// Why there is no model to run, when there is none: answered before any download.
    fn model_missing(&self) -> Option<String> {
        if let Some(reason) = &self.disabled {
            return Some(reason.clone());
        }
        match &self.model {
            None => Some(
                "no model configured: set [voice] model (scripts/fetch-whisper-model.sh makes one)"
                    .into(),
            ),
            Some(p) if !p.is_file() => Some(format!(
                "model file {} not found: run scripts/fetch-whisper-model.sh or fix [voice] model",
                p.display()
            )),
            Some(_) => None,
        }
    }

    /// getFile + the download, retrying Bot API trouble with backoff (5xx, network, flood
    /// control) until stopped. `Err` = Telegram refused it for good (the note's result).
    async fn download(
        &self,
        file_id: &str,
        stop: &mut watch::Receiver<bool>,
    ) -> Option<Result<Vec<u8>, String>> {
        let mut backoff = Backoff::new();
        loop {
            let attempt = async {
                let (path, _size) = self.tg.get_file(file_id).await?;
                self.tg.download(&path, MAX_FILE_BYTES).await
            };
            let delay = match attempt.await {
                Ok(bytes) => return Some(Ok(bytes)),
                Err(TgError::Permanent(_, msg)) => return Some(Err(clip(&msg, MAX_DETAIL_CHARS))),
                Err(TgError::RetryAfter(d)) => d,
                Err(e @ TgError::Transient(_)) => {
                    let d = backoff.next_delay();
                    tracing::warn!(error = %e, retry_in = ?d, "cannot download a voice note; retrying");
                    d
                }
            };
            if !sleep_or_stop(delay, stop).await {
                return None;
            }
        }
    }

    fn failure_of(&self, e: VoiceError) -> VoiceFailure {
        let detail = |d: &str| clip(d, MAX_DETAIL_CHARS);
        match e {
            VoiceError::NoModel(d) => VoiceFailure::ModelMissing { detail: detail(&d) },
            VoiceError::BadAudio(d) => VoiceFailure::BadAudio { detail: detail(&d) },
            VoiceError::Silence => VoiceFailure::Silent,
            VoiceError::NoSpeech => VoiceFailure::NoSpeech,
            VoiceError::TooLong { seconds } => VoiceFailure::TooLong {
                seconds,
                limit: self.max_seconds,
            },
            VoiceError::Model(d) => VoiceFailure::Model { detail: detail(&d) },
        }
    }

    /// Proposes the result. Its apply ignores a note that already has one.
    async fn record(&self, note: &VoiceNote, result: VoiceResult) -> Recorded {
        let actor = Actor::System {
            node_id: self.cluster.node_id(),
        };
        let command = Command::VoiceTranscribed {
            message_id: note.message_id,
            result,
        };
        match self.cluster.submit(actor, command).await {
            Ok(Ok(_)) => Recorded::Yes,
            Ok(Err(refusal)) => {
                // Only a note that is gone is refused; nothing left to do for it.
                tracing::warn!(note = note.message_id, error = %refusal, "voice result refused");
                Recorded::Never
            }
            Err(SubmitError::Invalid(e)) => {
                tracing::error!(note = note.message_id, error = %e, "voice result invalid; skipped");
                Recorded::Never
            }
            Err(SubmitError::Propose(e)) => {
                tracing::warn!(error = %e, "cannot record a voice result now; it stays pending");
                Recorded::Later
            }
        }
    }
}

fn failed(reason: VoiceFailure) -> VoiceResult {
    VoiceResult::Failed { reason }
}

/// At most `max` characters of `text`.
fn clip(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// Sleeps `d` unless `stop` turns true first; false when stopped.
async fn sleep_or_stop(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return false;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = stop.wait_for(|s| *s) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_counts_characters() {
        assert_eq!(clip("привет", 3), "при");
        assert_eq!(clip("hi", 10), "hi");
    }
}

//! [`Transcriber`]: the model's lifecycle (lazy load, idle unload) and one transcription.
//!
//! The model (~270 MB resident for base q8_0) is loaded at the first note and dropped by a small
//! reaper thread after `idle_unload_secs` without use, so an idle node stays small. One mutex
//! guards the model: notes are transcribed one at a time (whisper.cpp already uses every core
//! it is given), and the reaper never frees a model in use.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use whisper_rs::{
    FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState,
};

use crate::decode::decode_capped;
use crate::gate::{is_caption, is_silent, strip_tags};
use crate::{VoiceError, SAMPLE_RATE};

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
    /// Drop the loaded model after this many seconds without a note (0 = after every note).
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
    /// The words, with non-speech tags such as "[музыка]" removed; never empty, never only a
    /// caption such as "ТРЕВОЖНАЯ МУЗЫКА".
    pub text: String,
    /// The language used or detected ("ru", "en").
    pub language: String,
    /// Length of the decoded audio.
    pub audio_ms: u64,
}

/// A loaded model and its reusable inference state (the state holds the compute buffers).
struct Loaded {
    // Field order: the state must drop before the context it came from.
    state: WhisperState,
    _ctx: WhisperContext,
    last_used: Instant,
}

struct Inner {
    cfg: VoiceConfig,
    model: Mutex<Option<Loaded>>,
    /// Wakes the reaper early (on drop of the transcriber).
    wake: Condvar,
    reaper_running: AtomicBool,
    closed: AtomicBool,
    /// Why the last load failed, for `status()` (which must not wait on a running transcription).
    load_error: Mutex<Option<String>>,
}

/// Transcribes voice notes; `Send + Sync`, share it behind an `Arc`.
pub struct Transcriber {
    inner: Arc<Inner>,
    scale_audio_ctx: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Transcriber {
    pub fn new(cfg: VoiceConfig) -> Self {
        whisper_rs::install_logging_hooks(); // whisper.cpp's chatter goes to tracing, not stderr
        let inner = Inner {
            cfg,
            model: Mutex::new(None),
            wake: Condvar::new(),
            reaper_running: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            load_error: Mutex::new(None),
        };
        Self {
            inner: Arc::new(inner),
            scale_audio_ctx: false,
        }
    }

    /// Shrinks whisper.cpp's encoder window (`audio_ctx`) to the clip instead of the fixed 30 s:
    /// short notes run several times faster, at some risk to accuracy (see the benchmark).
    pub fn with_scaled_audio_ctx(mut self, on: bool) -> Self {
        self.scale_audio_ctx = on;
        self
    }

    pub fn status(&self) -> VoiceStatus {
        if let Err(VoiceError::NoModel(reason)) = self.model_path() {
            return VoiceStatus::Off { reason };
        }
        match lock(&self.inner.load_error).clone() {
            Some(reason) => VoiceStatus::Off { reason },
            None => VoiceStatus::On,
        }
    }

    /// Whether the model is in memory now (it loads at the first note, unloads when idle).
    pub fn is_loaded(&self) -> bool {
        match self.inner.model.try_lock() {
            Ok(guard) => guard.is_some(),
            Err(_) => true, // held: a transcription (or a load) is running
        }
    }

    /// Blocking (call from `spawn_blocking`). `language` None = the configured one, or
    /// auto-detect; an unknown code (e.g. a Telegram `language_code` Whisper lacks) auto-detects.
    pub fn transcribe_ogg(
        &self,
        ogg: &[u8],
        language: Option<&str>,
    ) -> Result<Transcript, VoiceError> {
        self.model_path()?; // no model: say so before decoding anything
        let pcm = decode_capped(ogg, Some(self.inner.cfg.max_seconds))?;
        self.transcribe_pcm(&pcm, language)
    }

    /// As [`Self::transcribe_ogg`], for 16 kHz mono samples.
    pub fn transcribe_pcm(
        &self,
        pcm: &[f32],
        language: Option<&str>,
    ) -> Result<Transcript, VoiceError> {
        let max = self.inner.cfg.max_seconds;
        if pcm.len() > max as usize * SAMPLE_RATE as usize {
            return Err(VoiceError::TooLong {
                seconds: (pcm.len() / SAMPLE_RATE as usize) as u32,
            });
        }
        if is_silent(pcm) {
            return Err(VoiceError::Silence);
        }
        let path = self.model_path()?.to_path_buf();
        let language = language
            .or(self.inner.cfg.language.as_deref())
            .and_then(whisper_language);
        let mut guard = lock(&self.inner.model);
        if guard.is_none() {
            *guard = Some(self.load(&path)?);
            self.start_reaper();
        }
        let loaded = guard.as_mut().expect("loaded above");
        let result = self.run(&mut loaded.state, pcm, language);
        loaded.last_used = Instant::now();
        let (raw, language) = result?;
        let text = strip_tags(&raw);
        if text.is_empty() || is_caption(&text) {
            return Err(VoiceError::NoSpeech);
        }
        Ok(Transcript {
            text,
            language,
            audio_ms: pcm.len() as u64 * 1000 / SAMPLE_RATE as u64,
        })
    }

    /// The configured model file, or why there is none. (A file that failed to load is retried
    /// at the next note: the operator may have replaced it.)
    fn model_path(&self) -> Result<&Path, VoiceError> {
        let Some(path) = self.inner.cfg.model.as_deref() else {
            return Err(VoiceError::NoModel(
                "no model configured: set [voice] model (scripts/fetch-whisper-model.sh makes one)"
                    .into(),
            ));
        };
        if !path.is_file() {
            let reason = format!(
                "model file {} not found: run scripts/fetch-whisper-model.sh or fix [voice] model",
                path.display()
            );
            return Err(VoiceError::NoModel(reason));
        }
        Ok(path)
    }

    fn load(&self, path: &Path) -> Result<Loaded, VoiceError> {
        let started = Instant::now();
        let loaded = WhisperContext::new_with_params(path, WhisperContextParameters::default())
            .and_then(|ctx| {
                Ok(Loaded {
                    state: ctx.create_state()?,
                    _ctx: ctx,
                    last_used: Instant::now(),
                })
            });
        match loaded {
            Ok(loaded) => {
                *lock(&self.inner.load_error) = None;
                tracing::info!(
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "voice model loaded"
                );
                Ok(loaded)
            }
            Err(e) => {
                let reason = format!(
                    "model file {} failed to load ({e}): is it a whisper.cpp ggml model?",
                    path.display()
                );
                *lock(&self.inner.load_error) = Some(reason.clone());
                Err(VoiceError::Model(reason))
            }
        }
    }

    /// Runs Whisper; returns the raw text and the language used.
    fn run(
        &self,
        state: &mut WhisperState,
        pcm: &[f32],
        language: Option<&'static str>,
    ) -> Result<(String, String), VoiceError> {
        let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
        params.set_n_threads(self.inner.cfg.threads.max(1) as i32);
        params.set_language(Some(language.unwrap_or("auto")));
        params.set_no_timestamps(true);
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_special(false);
        params.set_print_timestamps(false);
        if self.scale_audio_ctx {
            params.set_audio_ctx(scaled_audio_ctx(pcm.len()));
        }
        state
            .full(params, pcm)
            .map_err(|e| VoiceError::Model(format!("transcription failed: {e}")))?;
        let text: String = state
            .as_iter()
            .map(|segment| {
                segment
                    .to_str_lossy()
                    .map(|s| s.into_owned())
                    .unwrap_or_default()
            })
            .collect();
        let language = whisper_rs::get_lang_str(state.full_lang_id_from_state())
            .unwrap_or("unknown")
            .to_string();
        Ok((text, language))
    }

    /// Starts the thread that drops the model after `idle_unload_secs` without use.
    fn start_reaper(&self) {
        if self.inner.reaper_running.swap(true, Ordering::SeqCst) {
            return;
        }
        let inner = Arc::clone(&self.inner);
        let spawned = std::thread::Builder::new()
            .name("voice-unload".into())
            .spawn(move || reap_when_idle(&inner));
        if spawned.is_err() {
            // No thread: the model stays loaded until the transcriber is dropped. Not fatal.
            self.inner.reaper_running.store(false, Ordering::SeqCst);
            tracing::warn!("could not start the voice model's idle-unload thread");
        }
    }
}

fn reap_when_idle(inner: &Inner) {
    let limit = Duration::from_secs(inner.cfg.idle_unload_secs);
    let mut guard = lock(&inner.model);
    loop {
        let idle = match &*guard {
            None => break,
            Some(loaded) => loaded.last_used.elapsed(),
        };
        if inner.closed.load(Ordering::SeqCst) || idle >= limit {
            *guard = None;
            tracing::info!(idle_secs = idle.as_secs(), "voice model unloaded");
            break;
        }
        guard = inner
            .wake
            .wait_timeout(guard, limit - idle)
            .unwrap_or_else(|p| p.into_inner())
            .0;
    }
    // Cleared while holding the lock: a concurrent load sees either a live reaper or none.
    inner.reaper_running.store(false, Ordering::SeqCst);
}

impl Drop for Transcriber {
    fn drop(&mut self) {
        self.inner.closed.store(true, Ordering::SeqCst);
        self.inner.wake.notify_all();
    }
}

/// Whisper's code for a language tag ("ru", "en-US" → "en"); None when Whisper lacks it.
fn whisper_language(tag: &str) -> Option<&'static str> {
    let primary = tag.split(['-', '_']).next()?.to_ascii_lowercase();
    let id = whisper_rs::get_lang_id(&primary)?;
    whisper_rs::get_lang_str(id)
}

/// Encoder frames for a clip: 50 per second (after the conv stride), plus 2.56 s of margin so
/// the decoder still sees the end of speech, rounded up to 64 and capped at the full 1500.
pub(crate) fn scaled_audio_ctx(samples: usize) -> i32 {
    let frames = samples.div_ceil(SAMPLE_RATE as usize / 50) + 128;
    frames.div_ceil(64).saturating_mul(64).min(1500) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_tags() {
        assert_eq!(whisper_language("ru"), Some("ru"));
        assert_eq!(whisper_language("en-US"), Some("en"));
        assert_eq!(whisper_language("pt_BR"), Some("pt"));
        assert_eq!(whisper_language("xx"), None);
        assert_eq!(whisper_language(""), None);
    }

    #[test]
    fn audio_ctx_follows_the_clip() {
        assert_eq!(scaled_audio_ctx(10 * 16_000), 640); // 500 + 128 → 640
        assert_eq!(scaled_audio_ctx(1), 192);
        assert_eq!(scaled_audio_ctx(29 * 16_000), 1500);
    }

    #[test]
    fn without_a_model_status_is_off_and_transcription_says_why() {
        let t = Transcriber::new(VoiceConfig::default());
        assert!(
            matches!(t.status(), VoiceStatus::Off { ref reason } if reason.contains("[voice] model"))
        );
        let err = t.transcribe_ogg(b"whatever", None).unwrap_err();
        assert!(matches!(err, VoiceError::NoModel(_)), "{err:?}");

        let missing = VoiceConfig {
            model: Some("/nonexistent/ggml.bin".into()),
            ..VoiceConfig::default()
        };
        let t = Transcriber::new(missing);
        assert!(
            matches!(t.status(), VoiceStatus::Off { ref reason } if reason.contains("not found"))
        );
        assert!(!t.is_loaded());
    }

    #[test]
    fn a_file_that_is_not_a_model_fails_with_model_error_and_status_off() {
        let dir = std::env::temp_dir().join(format!("voice-badmodel-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("model.bin");
        std::fs::write(&path, b"this is not a ggml model").unwrap();
        let t = Transcriber::new(VoiceConfig {
            model: Some(path.clone()),
            ..VoiceConfig::default()
        });
        assert_eq!(t.status(), VoiceStatus::On, "exists, not yet loaded");
        let loud: Vec<f32> = (0..16_000).map(|i| 0.3 * (i as f32 * 0.1).sin()).collect();
        let err = t.transcribe_pcm(&loud, None).unwrap_err();
        assert!(
            matches!(err, VoiceError::Model(ref m) if m.contains("failed to load")),
            "{err:?}"
        );
        assert!(
            matches!(t.status(), VoiceStatus::Off { ref reason } if reason.contains("failed to load"))
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn gates_run_before_the_model() {
        // The PCM gates are pure and answer before the model is even looked for.
        let t = Transcriber::new(VoiceConfig {
            model: Some("/nonexistent".into()),
            max_seconds: 1,
            ..VoiceConfig::default()
        });
        assert_eq!(
            t.transcribe_pcm(&vec![0.0; 8_000], None),
            Err(VoiceError::Silence)
        );
        assert_eq!(
            t.transcribe_pcm(&vec![0.3; 40_000], None),
            Err(VoiceError::TooLong { seconds: 2 })
        );
    }
}

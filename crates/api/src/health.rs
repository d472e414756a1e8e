//! Health probes: named checks `/health` runs besides the store and Raft, e.g. one per
//! data-plane backend. The binary registers them with [`crate::ApiState::with_health_probe`].
//!
//! A failing probe makes the node `degraded`, never dead: the process still answers and says
//! which part is down.

use std::future::Future;
use std::pin::Pin;

/// The result of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeStatus {
    pub ok: bool,
    /// A short human-readable note ("12 peers", "socket not found: /var/run/…").
    pub detail: Option<String>,
}

impl ProbeStatus {
    pub fn up(detail: impl Into<Option<String>>) -> Self {
        ProbeStatus {
            ok: true,
            detail: detail.into(),
        }
    }
    pub fn down(detail: impl Into<String>) -> Self {
        ProbeStatus {
            ok: false,
            detail: Some(detail.into()),
        }
    }
}

pub type ProbeFuture = Pin<Box<dyn Future<Output = ProbeStatus> + Send>>;

/// A named health check. `/health` runs every probe with a timeout, so a hung backend shows
/// as down instead of hanging the endpoint.
pub trait HealthProbe: Send + Sync + 'static {
    /// Stable name, e.g. `wireguard:awg0` or `xray`.
    fn name(&self) -> &str;
    fn check(&self) -> ProbeFuture;
}

/// A probe from a closure: `FnProbe::new("xray", move || Box::pin(async move { … }))`.
pub struct FnProbe<F> {
    name: String,
    f: F,
}

impl<F> FnProbe<F>
where
    F: Fn() -> ProbeFuture + Send + Sync + 'static,
{
    pub fn new(name: impl Into<String>, f: F) -> Self {
        FnProbe {
            name: name.into(),
            f,
        }
    }
}

impl<F> HealthProbe for FnProbe<F>
where
    F: Fn() -> ProbeFuture + Send + Sync + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }
    fn check(&self) -> ProbeFuture {
        (self.f)()
    }
}

/// Voice transcription as `/health` reports it (issue #17).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoiceState {
    /// Off by configuration (`[voice] enabled = false`, or no Telegram bot to take notes).
    Disabled { reason: String },
    /// On, but no usable model: notes reach the admins without text; `reason` says how to fix.
    ModelMissing { reason: String },
    /// A model is configured; it loads at the next voice note.
    Ready,
    /// The model is in memory (a note is being transcribed, or one was recently).
    Loaded,
}

/// What the node's voice worker knows of its transcriber. Cheap and non-blocking: `/health`
/// calls it on every request.
pub trait VoiceProbe: Send + Sync + 'static {
    fn state(&self) -> VoiceState;
}

//! Error types of the Xray data plane.

use std::borrow::Cow;

/// A bad setting or input, naming the field; always one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("xray setting `{field}`: {message}")]
pub struct ValidationError {
    pub field: &'static str,
    pub message: Cow<'static, str>,
}

impl ValidationError {
    pub fn new(field: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// Everything that can go wrong talking to or running Xray.
#[derive(Debug, thiserror::Error)]
pub enum XrayError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// Xray's API could not be reached (connection refused, timeout, reset).
    /// Worth retrying.
    #[error("xray API at {addr} unreachable: {message}")]
    Unavailable { addr: String, message: String },
    /// Xray answered with an error that retrying will not fix.
    #[error("xray API {call} failed: {message}")]
    Api { call: &'static str, message: String },
    #[error("xray config {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A rendered config was refused by a throwaway Xray instance.
    #[error("xray config rejected by test instance: {0}")]
    ConfigRejected(String),
    /// Cutting a revoked user's live connections failed.
    #[error("cutting live connections failed: {0}")]
    Cut(String),
    /// The per-node operation queue is gone (node shut down).
    #[error("xray operation queue closed")]
    QueueClosed,
}

impl XrayError {
    /// True for errors a retry may fix (transport, not semantics).
    pub fn is_transient(&self) -> bool {
        matches!(self, XrayError::Unavailable { .. })
    }

    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        XrayError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

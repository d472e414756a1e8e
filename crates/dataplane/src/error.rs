//! One error type for every backend. Each message is one line that says what failed and
//! what to do about it; none of them ever contains a key (callers pass only public data).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("UAPI socket {path} not found: start `wireguard-go {iface}` (or amneziawg-go / boringtun-cli) first, or point socket_dir at the directory holding {iface}.sock")]
    SocketMissing { path: PathBuf, iface: String },

    #[error("cannot connect to UAPI socket {path}: {source}; is the daemon for this interface running (a stale .sock file is left behind by a killed daemon), and are we root?")]
    SocketConnect {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("UAPI {op} on {path}: {source}; the daemon closed the connection or crashed — check its log and restart it")]
    SocketIo {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("interface {iface} does not exist or is not WireGuard ({detail}); {hint}")]
    InterfaceMissing {
        iface: String,
        detail: String,
        hint: String,
    },

    #[error("{what} timed out after {secs}s: the daemon or tool is hung; restart it")]
    Timeout { what: String, secs: u64 },

    #[error("UAPI {op} rejected by interface {iface}: errno={errno} ({meaning}); check the values sent (keys, allowed IPs, listen port, AWG parameters — plain wireguard-go/boringtun refuse AWG keys)")]
    Errno {
        op: &'static str,
        iface: String,
        errno: i64,
        meaning: &'static str,
    },

    #[error("malformed UAPI response from interface {iface}: {detail}")]
    Protocol { iface: String, detail: String },

    #[error("invalid {what}: {detail}")]
    InvalidInput { what: &'static str, detail: String },

    #[error("`{program}` not found in PATH: {hint}")]
    ToolMissing { program: String, hint: String },

    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },

    #[error("unexpected output from `{command}`: {detail}")]
    Parse { command: String, detail: String },

    #[error("backend configuration: {0}")]
    Config(String),

    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

impl BackendError {
    /// True for errors that mean "the daemon is not there" rather than "we sent something
    /// wrong": the reconciler retries those quietly after a restart of the daemon.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            BackendError::SocketMissing { .. }
                | BackendError::SocketConnect { .. }
                | BackendError::SocketIo { .. }
                | BackendError::Timeout { .. }
                | BackendError::ToolMissing { .. }
                | BackendError::InterfaceMissing { .. }
        )
    }
}

/// Meaning of the errno values wireguard-go and boringtun return.
pub(crate) fn errno_meaning(errno: i64) -> &'static str {
    match errno {
        0 => "success",
        1 => "EPERM: operation not permitted",
        5 => "EIO: I/O error / invalid value",
        22 => "EINVAL: invalid key or value",
        71 => "EPROTO: protocol error (unknown or malformed key)",
        95 => "EOPNOTSUPP",
        _ => "unknown error",
    }
}

//! Running external tools (`ip`, `wg`/`awg`, `docker`) with a timeout.
//!
//! Secrets never go into argv (visible in /proc to every user): callers pass them through
//! stdin or 0600 files. Because of that, the command line can be quoted in errors and logs.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::error::BackendError;
use crate::model::truncate;

/// A program plus an optional `ip netns exec NS` prefix.
#[derive(Clone, Debug)]
pub(crate) struct Runner {
    pub netns: Option<String>,
    pub timeout: Duration,
}

pub(crate) struct Output {
    pub stdout: Vec<u8>,
}

impl Runner {
    /// Run `program args…` (inside the namespace if one is configured), feeding `stdin`.
    /// Fails with a one-line error on a non-zero exit.
    pub async fn run(
        &self,
        program: &str,
        args: &[&str],
        stdin: Option<&[u8]>,
        hint: &str,
    ) -> Result<Output, BackendError> {
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns.as_str(), program]);
                c
            }
            None => Command::new(program),
        };
        cmd.args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let shown = display_command(self.netns.as_deref(), program, args);
        tracing::debug!(command = %shown, "running");
        let mut child = cmd.spawn().map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                BackendError::ToolMissing {
                    program: if self.netns.is_some() {
                        "ip".into()
                    } else {
                        program.into()
                    },
                    hint: hint.into(),
                }
            } else {
                BackendError::Io {
                    what: format!("spawning `{shown}`"),
                    source: e,
                }
            }
        })?;
        let fut = async {
            if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
                // A child that exits early closes the pipe; its exit status tells the story.
                let _ = pipe.write_all(input).await;
                drop(pipe);
            }
            child.wait_with_output().await
        };
        let out = match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r.map_err(|e| BackendError::Io {
                what: format!("waiting for `{shown}`"),
                source: e,
            })?,
            Err(_) => {
                return Err(BackendError::Timeout {
                    what: format!("`{shown}`"),
                    secs: self.timeout.as_secs(),
                })
            }
        };
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            // If `ip netns exec` itself could not find the program, say so plainly.
            if self.netns.is_some()
                && stderr.contains("No such file or directory")
                && stderr.contains("exec of")
            {
                return Err(BackendError::ToolMissing {
                    program: program.into(),
                    hint: hint.into(),
                });
            }
            return Err(BackendError::Command {
                command: shown,
                status: out.status.to_string(),
                stderr: one_line(&stderr),
            });
        }
        Ok(Output { stdout: out.stdout })
    }
}

pub(crate) fn display_command(netns: Option<&str>, program: &str, args: &[&str]) -> String {
    let mut s = String::new();
    if let Some(ns) = netns {
        s.push_str("ip netns exec ");
        s.push_str(ns);
        s.push(' ');
    }
    s.push_str(program);
    for a in args {
        s.push(' ');
        // Long inline scripts (docker exec sh -c) would swamp the message.
        s.push_str(&truncate(a, 120));
    }
    s
}

/// Squash multi-line stderr into one bounded line for an error message.
pub(crate) fn one_line(s: &str) -> String {
    let joined = s
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    if joined.is_empty() {
        "no error output".into()
    } else {
        truncate(&joined, 400)
    }
}

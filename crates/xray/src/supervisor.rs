//! Runs Xray as a child process when the node config has a `command`.
//!
//! The child is restarted with exponential backoff whenever it exits, and
//! every start that reached "API port accepts connections" bumps a counter on
//! a `watch` channel. The reconciler listens to it: a fresh Xray only has the
//! users of the config file, so each (re)start triggers a full re-add through
//! the API.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::sync::{watch, Mutex};
use tokio::task::JoinHandle;

use crate::config::{command_argv, terminate};
use crate::cut::ConnTracker;
use crate::error::XrayError;

/// How the supervisor runs Xray.
#[derive(Clone, Debug)]
pub struct SupervisorConfig {
    /// Command template, `{config}` replaced by `config_path`.
    pub command: String,
    pub config_path: PathBuf,
    /// Xray's API address: a start counts once it accepts TCP connections.
    pub api_addr: SocketAddr,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// A child that lived this long resets the backoff.
    pub stable_after: Duration,
    /// How long a start may take before it is considered failed.
    pub start_timeout: Duration,
}

impl SupervisorConfig {
    pub fn new(command: impl Into<String>, config_path: PathBuf, api_addr: SocketAddr) -> Self {
        Self {
            command: command.into(),
            config_path,
            api_addr,
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            stable_after: Duration::from_secs(60),
            start_timeout: Duration::from_secs(20),
        }
    }
}

/// What the supervisor reports on its `watch` channel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XrayStart {
    /// 1 for the first start, then +1 per restart; 0 before the first.
    pub generation: u64,
    pub pid: Option<u32>,
}

/// Handle to a running supervisor; dropping it does not stop Xray, call
/// [`Supervisor::shutdown`].
pub struct Supervisor {
    starts: watch::Receiver<XrayStart>,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
    tracker: ConnTracker,
}

impl Supervisor {
    /// Starts supervising. The first start happens in the background.
    pub fn spawn(cfg: SupervisorConfig) -> Result<Arc<Self>, XrayError> {
        // Fail now on a bad template rather than in a restart loop.
        command_argv(&cfg.command, &cfg.config_path)?;
        let (start_tx, starts) = watch::channel(XrayStart::default());
        let (stop, stop_rx) = watch::channel(false);
        let tracker = ConnTracker::new();
        let task = tokio::spawn(run(cfg, start_tx, stop_rx, tracker.clone()));
        Ok(Arc::new(Self {
            starts,
            stop,
            task: Mutex::new(Some(task)),
            tracker,
        }))
    }

    /// Notified on every (re)start once Xray's API port is open.
    pub fn starts(&self) -> watch::Receiver<XrayStart> {
        self.starts.clone()
    }

    /// Client addresses per user, from the child's access log.
    pub fn tracker(&self) -> ConnTracker {
        self.tracker.clone()
    }

    /// Stops Xray (SIGTERM, then SIGKILL) and the supervisor.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.lock().await.take() {
            let _ = task.await;
        }
    }
}

/// `kill_on_drop` covers every exit of ours but SIGKILL (an OOM kill, `kill -9`): then Xray
/// would live on, holding its ports, and the node's next Xray could not bind them. The
/// kernel's parent-death signal covers that case. It fires when the spawning *thread* ends;
/// this runs on a runtime worker thread, which lives as long as the runtime.
fn die_with_parent(command: &mut tokio::process::Command) {
    // SAFETY: the closure runs in the child between fork and exec and only calls prctl(2)
    // and getppid(2), both async-signal-safe.
    let parent = std::process::id();
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before prctl took effect (compared by pid, not with
            // 1: vpnkeeper may itself be PID 1 in a container).
            if libc::getppid() as u32 != parent {
                return Err(std::io::Error::other(
                    "vpnkeeper exited before xray started",
                ));
            }
            Ok(())
        });
    }
}

async fn run(
    cfg: SupervisorConfig,
    starts: watch::Sender<XrayStart>,
    mut stop: watch::Receiver<bool>,
    tracker: ConnTracker,
) {
    let mut generation = 0u64;
    let mut failures = 0u32;
    loop {
        if *stop.borrow() {
            return;
        }
        let argv = command_argv(&cfg.command, &cfg.config_path).expect("checked in spawn");
        let mut command = tokio::process::Command::new(&argv[0]);
        command
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        die_with_parent(&mut command);
        let spawned = command.spawn();
        let started_at = tokio::time::Instant::now();
        match spawned {
            Err(e) => {
                tracing::error!(program = %argv[0], error = %e, "cannot start xray");
            }
            Ok(mut child) => {
                let pid = child.id();
                forward_output(&mut child, tracker.clone());
                if wait_api(&cfg, &mut child, &mut stop).await {
                    generation += 1;
                    tracing::info!(generation, pid, "xray started");
                    let _ = starts.send(XrayStart { generation, pid });
                }
                tokio::select! {
                    status = child.wait() => {
                        tracing::warn!(pid, status = ?status.ok(), "xray exited; restarting");
                    }
                    _ = stop.changed() => {
                        terminate(&mut child).await;
                        return;
                    }
                }
            }
        }
        if started_at.elapsed() >= cfg.stable_after {
            failures = 0;
        }
        let delay = cfg
            .backoff_initial
            .saturating_mul(2u32.saturating_pow(failures))
            .min(cfg.backoff_max);
        failures = failures.saturating_add(1);
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = stop.changed() => return,
        }
    }
}

/// True once the API port accepts connections; false if the child exited,
/// a stop was requested, or the start timed out.
async fn wait_api(
    cfg: &SupervisorConfig,
    child: &mut tokio::process::Child,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let deadline = tokio::time::Instant::now() + cfg.start_timeout;
    loop {
        if *stop.borrow() || matches!(child.try_wait(), Ok(Some(_))) {
            return false;
        }
        if tokio::net::TcpStream::connect(cfg.api_addr).await.is_ok() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(api = %cfg.api_addr, "xray started but its API port is not open");
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Feeds Xray's output to the connection tracker and the log. Access lines
/// are consumed by the tracker only: they hold users' destinations and, on
/// rejection, the offered UUID, neither of which belongs in our logs.
fn forward_output(child: &mut tokio::process::Child, tracker: ConnTracker) {
    if let Some(out) = child.stdout.take() {
        let tracker = tracker.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(out).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if !tracker.ingest(&line) {
                    tracing::info!(target: "xray", "{}", redact_uuids(&line));
                }
            }
        });
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(async move {
            let mut lines = BufReader::new(err).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if !tracker.ingest(&line) {
                    tracing::warn!(target: "xray", "{}", redact_uuids(&line));
                }
            }
        });
    }
}

/// Replaces every UUID-shaped word with its first 8 hex digits and `…`:
/// UUIDs are VLESS passwords and Xray prints them in some errors.
pub fn redact_uuids(line: &str) -> String {
    let bytes = line.as_bytes();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        if i + 36 <= line.len() && line.is_char_boundary(i) && line.is_char_boundary(i + 36) {
            if let Ok(u) = uuid::Uuid::parse_str(&line[i..i + 36]) {
                let boundary_before = i == 0 || !bytes[i - 1].is_ascii_hexdigit();
                if boundary_before && line[i..i + 36].contains('-') {
                    out.push_str(&crate::settings::uuid_prefix(&u));
                    i += 36;
                    continue;
                }
            }
        }
        let ch = line[i..].chars().next().expect("in bounds");
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_redacted() {
        let line = "rejected proxy/vless/encoding: invalid request user id: eb1329cd-b61a-448e-906b-f2997f58d193 end";
        let r = redact_uuids(line);
        assert!(!r.contains("b61a-448e"), "{r}");
        assert!(r.contains("eb1329cd…") && r.ends_with(" end"), "{r}");
        assert_eq!(redact_uuids("plain ünïcode"), "plain ünïcode");
    }

    #[tokio::test]
    async fn restarts_with_backoff_and_notifies_each_start() {
        // A "server" that opens the API port then exits after a moment.
        let port = crate::config::free_port().unwrap();
        let api: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let script = format!(
            "import socket,time,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('127.0.0.1',{port})); s.listen(); open(sys.argv[1]); time.sleep(0.3)"
        );
        let dir = tempfile::tempdir().unwrap();
        let cfg_path = dir.path().join("config.json");
        std::fs::write(&cfg_path, "{}").unwrap();
        let script_path = dir.path().join("fake_xray.py");
        std::fs::write(&script_path, script).unwrap();
        let mut cfg = SupervisorConfig::new(
            format!("python3 {} {{config}}", script_path.display()),
            cfg_path,
            api,
        );
        cfg.backoff_initial = Duration::from_millis(50);
        let sup = Supervisor::spawn(cfg).unwrap();
        let mut starts = sup.starts();
        // A watch may coalesce two quick starts; generations only grow.
        let mut last = 0;
        while last < 3 {
            tokio::time::timeout(Duration::from_secs(20), starts.changed())
                .await
                .expect("a (re)start within 20 s")
                .unwrap();
            let g = starts.borrow_and_update().generation;
            assert!(g > last, "generation went from {last} to {g}");
            last = g;
        }
        sup.shutdown().await;
    }
}

//! Runs this node's `node.reboot_command` (default `systemctl reboot`).

use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

/// How long the command may run before we call it started: `systemctl reboot` returns at
/// once, but a command that takes the machine down may never return at all.
const SETTLE: Duration = Duration::from_secs(10);

/// Starts `command`; `Ok` when it exits 0 or is still running after [`SETTLE`], `Err` with
/// one line (and the first line of its stderr) when it cannot start or fails.
pub(super) async fn run(command: &[String]) -> Result<(), String> {
    let Some((program, args)) = command.split_first() else {
        return Err(
            "node.reboot_command is empty on that node; set it in its [node] section".into(),
        );
    };
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(false)
        .spawn()
        .map_err(|e| format!("cannot run `{program}` (node.reboot_command): {e}"))?;
    tracing::warn!(command = %program, "reboot command started");
    let mut stderr = child.stderr.take();
    match tokio::time::timeout(SETTLE, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => {
            let mut text = String::new();
            if let Some(s) = stderr.as_mut() {
                let _ = s.read_to_string(&mut text).await;
            }
            let first = text.lines().next().unwrap_or("").trim();
            Err(format!(
                "`{program}` (node.reboot_command) failed with {status}: {first}"
            ))
        }
        Ok(Err(e)) => Err(format!("waiting for `{program}`: {e}")),
        // Still running: the reboot is under way.
        Err(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|s| s.to_string()).collect()
    }

    #[tokio::test]
    async fn the_command_runs_and_its_failure_is_one_line() {
        let dir = tempfile::tempdir().unwrap();
        let mark = dir.path().join("rebooted");
        let script = format!("echo yes > {}", mark.display());
        run(&cmd(&["sh", "-c", &script])).await.unwrap();
        assert_eq!(std::fs::read_to_string(&mark).unwrap(), "yes\n");

        let e = run(&cmd(&["sh", "-c", "echo no permission >&2; exit 3"]))
            .await
            .unwrap_err();
        assert!(
            e.contains("exit status: 3") && e.contains("no permission"),
            "{e}"
        );
        let e = run(&cmd(&["/nonexistent/reboot"])).await.unwrap_err();
        assert!(e.contains("cannot run `/nonexistent/reboot`"), "{e}");
        let e = run(&[]).await.unwrap_err();
        assert!(e.contains("empty"), "{e}");
    }
}

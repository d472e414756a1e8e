//! The full Xray server config: rendering, validation, atomic writing.
//!
//! The file is the fallback, never the mechanism: day-to-day user changes go
//! through the API. The file matters when Xray (re)starts, so it always holds
//! every current user, and it is only replaced by a config that a throwaway
//! Xray instance accepted.

use std::collections::HashSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::AsyncReadExt as _;

use crate::error::{ValidationError, XrayError};
use crate::settings::{XraySettings, XrayUser};

/// Tag of the API (dokodemo-door) inbound and of the routing rule to it.
pub const API_TAG: &str = "api";

/// Reality's `minClientVer`: the oldest client version the server admits. Xray 26.7.x
/// defaults to its own recent versions (26.3.27), which refuses mihomo and sing-box: they
/// report themselves as 1.8.x. 1.8.0 is the first Xray with Reality, so every Reality client
/// passes (measured against Xray 26.7.28 with mihomo 1.19 and sing-box 1.14). Xray ≥ 26.9.8
/// accepts it too; there the X25519MLKEM768 key share is what decides (see docs/data-planes.md).
pub const REALITY_MIN_CLIENT_VER: &str = "1.8.0";
pub const CONFIG_FILE: &str = "config.json";
pub const BACKUP_FILE: &str = "config.json.bak";

/// What the access log is used for decides where it goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessLog {
    /// Access log to stdout, read in memory by the supervisor's connection
    /// tracker (to cut revoked users precisely). Never written to disk.
    Stdout,
    /// No access log: Xray runs on its own and nobody reads it.
    Off,
}

/// Renders the complete server config for `settings` with `users`.
pub fn render_server_config(
    settings: &XraySettings,
    users: &[XrayUser],
    access_log: AccessLog,
) -> Result<Value, ValidationError> {
    settings.validate()?;
    check_users(users)?;
    let clients: Vec<Value> = users
        .iter()
        .map(|u| {
            json!({
                "id": u.uuid.to_string(),
                "email": u.email,
                "flow": u.flow,
                "level": 0,
            })
        })
        .collect();
    let mut freedom = json!({ "tag": "direct", "protocol": "freedom" });
    if !settings.allow_private_targets.is_empty() {
        freedom["settings"] = json!({
            "finalRules": [{ "action": "allow", "ip": settings.allow_private_targets }]
        });
    }
    let api_ip = settings.api_addr.ip().to_string();
    Ok(json!({
        "log": {
            "loglevel": "warning",
            // "" is Xray's stdout; "none" disables the access log.
            "access": match access_log { AccessLog::Stdout => "", AccessLog::Off => "none" },
            "dnsLog": false,
        },
        "api": { "tag": API_TAG, "services": ["HandlerService", "StatsService"] },
        "stats": {},
        "policy": {
            "levels": { "0": {
                "handshake": 4,
                "connIdle": settings.conn_idle_secs,
                "statsUserUplink": true,
                "statsUserDownlink": true,
                // Feeds GetStatsOnlineIpList, used to cut revoked users'
                // connections when the access log is not available.
                "statsUserOnline": true,
            }},
        },
        "inbounds": [
            {
                "tag": API_TAG,
                "listen": api_ip,
                "port": settings.api_addr.port(),
                "protocol": "dokodemo-door",
                "settings": { "address": "127.0.0.1" },
            },
            {
                "tag": settings.inbound_tag,
                "listen": settings.listen,
                "port": settings.port,
                "protocol": "vless",
                "settings": { "clients": clients, "decryption": "none" },
                "streamSettings": {
                    "network": "tcp",
                    "security": "reality",
                    "realitySettings": {
                        "show": false,
                        "dest": settings.dest,
                        "xver": 0,
                        "serverNames": settings.server_names,
                        "privateKey": settings.reality_private_key.expose(),
                        "shortIds": settings.short_ids,
                        "minClientVer": REALITY_MIN_CLIENT_VER,
                    },
                },
                "sniffing": { "enabled": false },
            },
        ],
        "outbounds": [freedom, { "tag": "block", "protocol": "blackhole" }],
        "routing": {
            "rules": [
                { "type": "field", "inboundTag": [API_TAG], "outboundTag": API_TAG },
                // The API has no authentication: VPN users must never reach it
                // through the proxy, even where private targets are allowed.
                {
                    "type": "field",
                    "inboundTag": [settings.inbound_tag],
                    "ip": [api_ip],
                    "port": settings.api_addr.port().to_string(),
                    "outboundTag": "block",
                },
            ],
        },
    }))
}

/// Emails are Xray's user keys and UUIDs are credentials: both must be unique.
pub(crate) fn check_users(users: &[XrayUser]) -> Result<(), ValidationError> {
    let mut emails = HashSet::new();
    let mut ids = HashSet::new();
    for u in users {
        u.validate()?;
        if !emails.insert(u.email.as_str()) {
            return Err(ValidationError::new(
                "email",
                format!("{:?} appears twice", u.email),
            ));
        }
        if !ids.insert(u.uuid) {
            return Err(ValidationError::new(
                "uuid",
                format!("users {:?} and another share a UUID", u.email),
            ));
        }
    }
    Ok(())
}

/// Writes `config` to `dir/config.json` atomically: temp file, fsync,
/// the old file kept as `config.json.bak`, rename, fsync of the directory.
/// A crash at any point leaves either the old or the new file complete.
pub fn write_config_atomic(dir: &Path, config: &Value) -> Result<PathBuf, XrayError> {
    write_bytes_atomic(dir, &config_bytes(config))
}

/// The file's bytes for `config` (pretty JSON: operators read it).
fn config_bytes(config: &Value) -> Vec<u8> {
    serde_json::to_vec_pretty(config).expect("JSON values always serialize")
}

fn write_bytes_atomic(dir: &Path, bytes: &[u8]) -> Result<PathBuf, XrayError> {
    std::fs::create_dir_all(dir).map_err(|e| XrayError::io(dir, e))?;
    let path = dir.join(CONFIG_FILE);
    let tmp = dir.join(format!(".{CONFIG_FILE}.tmp"));
    {
        let mut f = open_private(&tmp).map_err(|e| XrayError::io(&tmp, e))?;
        f.write_all(bytes).map_err(|e| XrayError::io(&tmp, e))?;
        f.sync_all().map_err(|e| XrayError::io(&tmp, e))?;
    }
    if path.exists() {
        // A hard link keeps config.json in place until the rename below, so
        // there is no instant without a config; copy if links are refused.
        let bak = dir.join(BACKUP_FILE);
        let _ = std::fs::remove_file(&bak);
        if std::fs::hard_link(&path, &bak).is_err() {
            std::fs::copy(&path, &bak).map_err(|e| XrayError::io(&bak, e))?;
        }
    }
    std::fs::rename(&tmp, &path).map_err(|e| XrayError::io(&path, e))?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| XrayError::io(dir, e))?;
    Ok(path)
}

/// The config file of a running node, rewritten only when its content changes: a rewrite
/// costs a render of every user, an fsync of the file and one of the directory, so callers
/// also debounce it (see vpnkeeper's xray_service).
#[derive(Debug)]
pub struct ConfigFile {
    dir: PathBuf,
    /// Hash of the bytes last written (or found valid at start).
    last: Option<u64>,
}

impl ConfigFile {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        ConfigFile {
            dir: dir.into(),
            last: None,
        }
    }

    /// `config` is what the file holds now (e.g. just written by [`write_validated_config`]).
    pub fn written(&mut self, config: &Value) {
        self.last = Some(digest(&config_bytes(config)));
    }

    /// Writes `config` atomically unless the file already holds exactly it. True when it
    /// wrote.
    pub fn write_if_changed(&mut self, config: &Value) -> Result<bool, XrayError> {
        let bytes = config_bytes(config);
        let d = digest(&bytes);
        if self.last == Some(d) {
            return Ok(false);
        }
        write_bytes_atomic(&self.dir, &bytes)?;
        self.last = Some(d);
        Ok(true)
    }
}

fn digest(bytes: &[u8]) -> u64 {
    use std::hash::{Hash as _, Hasher as _};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

/// The file holds the Reality private key: owner-only permissions.
fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

/// Splits a command template into argv, replacing `{config}` in each word.
/// Words are separated by whitespace (no shell quoting); the config path is
/// substituted after splitting, so it may contain spaces.
pub fn command_argv(template: &str, config: &Path) -> Result<Vec<String>, ValidationError> {
    let argv: Vec<String> = template
        .split_whitespace()
        .map(|w| w.replace("{config}", &config.to_string_lossy()))
        .collect();
    if argv.is_empty() {
        return Err(ValidationError::new("command", "is empty"));
    }
    if !template.contains("{config}") {
        return Err(ValidationError::new(
            "command",
            "must contain {config} where the config path goes, e.g. `xray run -c {config}`",
        ));
    }
    Ok(argv)
}

/// Checks `config` by starting a throwaway Xray with `command` on spare
/// loopback ports and waiting until its API port accepts connections. Xray
/// builds without `run -test` (the PyPI one) only reveal a bad config by
/// exiting (code 23), so "comes up" is the test. The live instance keeps its
/// ports: every inbound of the copy is moved.
pub async fn validate_with_test_instance(
    config: &Value,
    command: &str,
    scratch_dir: &Path,
    timeout: Duration,
) -> Result<(), XrayError> {
    let mut test = config.clone();
    let mut api_port = None;
    if let Some(inbounds) = test["inbounds"].as_array_mut() {
        for inbound in inbounds {
            let port = free_port().map_err(|e| XrayError::io(scratch_dir, e))?;
            if inbound["tag"] == API_TAG {
                api_port = Some(port);
            }
            inbound["port"] = json!(port);
            inbound["listen"] = json!("127.0.0.1");
        }
    }
    let api_port = api_port
        .ok_or_else(|| XrayError::ConfigRejected("config has no API inbound to probe".into()))?;
    // The copy must not write the live instance's logs or files.
    test["log"] = json!({ "loglevel": "warning", "access": "none" });

    std::fs::create_dir_all(scratch_dir).map_err(|e| XrayError::io(scratch_dir, e))?;
    let path = scratch_dir.join(format!(".config.test.{}.json", std::process::id()));
    {
        let mut f = open_private(&path).map_err(|e| XrayError::io(&path, e))?;
        f.write_all(&serde_json::to_vec(&test).expect("JSON values always serialize"))
            .map_err(|e| XrayError::io(&path, e))?;
    }
    let result = run_test_instance(command, &path, api_port, timeout).await;
    let _ = std::fs::remove_file(&path);
    result
}

async fn run_test_instance(
    command: &str,
    path: &Path,
    api_port: u16,
    timeout: Duration,
) -> Result<(), XrayError> {
    let argv = command_argv(command, path)?;
    let mut child = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| XrayError::ConfigRejected(format!("cannot start `{}`: {e}", argv[0])))?;
    let deadline = tokio::time::Instant::now() + timeout;
    let outcome = loop {
        if let Some(status) = child.try_wait().map_err(|e| XrayError::io(path, e))? {
            let mut err = String::new();
            if let Some(mut s) = child.stderr.take() {
                let _ = s.read_to_string(&mut err).await;
            }
            let last = err
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            let code = status
                .code()
                .map_or_else(|| "a signal".to_string(), |c| format!("code {c}"));
            break Err(XrayError::ConfigRejected(format!(
                "xray exited with {code}{}{}",
                if last.is_empty() { "" } else { ": " },
                last.trim()
            )));
        }
        if tokio::net::TcpStream::connect(("127.0.0.1", api_port))
            .await
            .is_ok()
        {
            break Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            break Err(XrayError::ConfigRejected(format!(
                "test instance did not open its API port within {}s",
                timeout.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    terminate(&mut child).await;
    outcome
}

/// SIGTERM, then SIGKILL after 5 s: Xray shuts down cleanly on SIGTERM.
pub(crate) async fn terminate(child: &mut tokio::process::Child) {
    if let Some(pid) = child.id() {
        // SAFETY: kill(2) on the pid of a child we own and have not reaped.
        unsafe {
            libc::kill(pid as libc::pid_t, libc::SIGTERM);
        }
        if tokio::time::timeout(Duration::from_secs(5), child.wait())
            .await
            .is_ok()
        {
            return;
        }
    }
    let _ = child.kill().await;
}

/// A port that was free a moment ago (bind 0, read, release).
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Renders, validates (with a test instance when `command` is set) and
/// writes the config. On any refusal the previous file stays untouched.
pub async fn write_validated_config(
    settings: &XraySettings,
    users: &[XrayUser],
    access_log: AccessLog,
) -> Result<PathBuf, XrayError> {
    let config = render_server_config(settings, users, access_log)?;
    install_config(&config, settings.command.as_deref(), &settings.config_dir).await
}

/// Validates `config` with a test instance of `command` (when given) and
/// only then writes it atomically into `dir`. A refused config is never
/// written, so Xray is never (re)started from it.
pub async fn install_config(
    config: &Value,
    command: Option<&str>,
    dir: &Path,
) -> Result<PathBuf, XrayError> {
    if let Some(command) = command {
        validate_with_test_instance(config, command, dir, Duration::from_secs(20)).await?;
    }
    write_config_atomic(dir, config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::tests::sample;

    #[test]
    fn config_has_users_api_stats_policy_routing() {
        let dir = tempfile::tempdir().unwrap();
        let s = sample(dir.path().into());
        let users = vec![
            XrayUser::vision("dev-1", uuid::Uuid::new_v4()),
            XrayUser::vision("dev-2", uuid::Uuid::new_v4()),
        ];
        let c = render_server_config(&s, &users, AccessLog::Off).unwrap();
        let vless = &c["inbounds"][1];
        assert_eq!(vless["settings"]["clients"].as_array().unwrap().len(), 2);
        assert_eq!(vless["settings"]["clients"][0]["flow"], "xtls-rprx-vision");
        // Admits mihomo and sing-box (1.8.x) on Xray 26.7.x, whose default refuses them.
        assert_eq!(
            vless["streamSettings"]["realitySettings"]["minClientVer"],
            "1.8.0"
        );
        assert_eq!(c["inbounds"][0]["protocol"], "dokodemo-door");
        assert_eq!(c["policy"]["levels"]["0"]["statsUserUplink"], true);
        assert_eq!(c["policy"]["levels"]["0"]["statsUserDownlink"], true);
        assert_eq!(c["routing"]["rules"][0]["outboundTag"], "api");
        assert_eq!(c["log"]["access"], "none");
        assert!(c.get("stats").is_some());
    }

    #[test]
    fn duplicate_users_are_refused() {
        let s = sample("/tmp".into());
        let id = uuid::Uuid::new_v4();
        let err = render_server_config(
            &s,
            &[XrayUser::vision("a", id), XrayUser::vision("b", id)],
            AccessLog::Off,
        )
        .unwrap_err();
        assert_eq!(err.field, "uuid");
        let err = render_server_config(
            &s,
            &[
                XrayUser::vision("a", uuid::Uuid::new_v4()),
                XrayUser::vision("a", uuid::Uuid::new_v4()),
            ],
            AccessLog::Off,
        )
        .unwrap_err();
        assert_eq!(err.field, "email");
    }

    #[test]
    fn atomic_write_keeps_backup_and_private_mode() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let p = write_config_atomic(dir.path(), &json!({"v": 1})).unwrap();
        assert!(!dir.path().join(BACKUP_FILE).exists());
        write_config_atomic(dir.path(), &json!({"v": 2})).unwrap();
        let cur: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        let bak: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join(BACKUP_FILE)).unwrap()).unwrap();
        assert_eq!((cur["v"].as_i64(), bak["v"].as_i64()), (Some(2), Some(1)));
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(!dir.path().join(format!(".{CONFIG_FILE}.tmp")).exists());
    }

    #[test]
    fn config_file_is_rewritten_only_when_its_content_changes() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = ConfigFile::new(dir.path());
        let path = dir.path().join(CONFIG_FILE);
        assert!(file.write_if_changed(&json!({"v": 1})).unwrap());
        let mtime = || std::fs::metadata(&path).unwrap().modified().unwrap();
        let first = mtime();
        std::thread::sleep(Duration::from_millis(20));
        assert!(!file.write_if_changed(&json!({"v": 1})).unwrap());
        assert_eq!(mtime(), first, "same content: not rewritten");
        assert!(file.write_if_changed(&json!({"v": 2})).unwrap());
        let cur: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(cur["v"], 2);
        // Content known from elsewhere (written at start) is not written again.
        let mut other = ConfigFile::new(dir.path());
        other.written(&json!({"v": 2}));
        assert!(!other.write_if_changed(&json!({"v": 2})).unwrap());
    }

    #[test]
    fn command_template() {
        let argv = command_argv("python3 x.py run -c {config}", Path::new("/a b/c.json")).unwrap();
        assert_eq!(argv, ["python3", "x.py", "run", "-c", "/a b/c.json"]);
        assert_eq!(
            command_argv("  ", Path::new("/x")).unwrap_err().field,
            "command"
        );
        assert_eq!(
            command_argv("xray run", Path::new("/x")).unwrap_err().field,
            "command"
        );
    }
}

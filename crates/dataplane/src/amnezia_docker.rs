//! The Amnezia self-hosted container (`amnezia-awg`), driven through `docker exec`.
//!
//! The Amnezia app manages the same container over SSH: it keeps the server config
//! (`/opt/amnezia/awg/wg0.conf`, `awg0.conf` in newer images) and `clientsTable`, a JSON
//! array of `{clientId: <public key>, userData: {clientName, creationDate}}` that is the
//! list of clients the app shows. vpnkeeper has to share the container without fighting
//! the app, so every write keeps the three views consistent: the live interface, the
//! config file and clientsTable.
//!
//! ## Smart sync (what [`AmneziaDockerBackend::reconcile`] decides)
//!
//! vpnkeeper records the peers it installed in a ledger file next to clientsTable
//! (`vpnkeeper-peers`, public keys only). For a desired peer that vpnkeeper installed:
//!
//! * missing from the server (config file and live interface) **and** from clientsTable:
//!   someone deleted it on purpose in the Amnezia app. It is not restored; it is reported
//!   in [`SyncReport::deleted_in_app`] so the caller revokes it in the replicated state.
//! * missing from the server but still in clientsTable (or missing only from the live
//!   interface, or only from the file): drift, e.g. the app rewrote the file. Restored.
//!
//! A desired peer that is not in the ledger is new and is simply installed. Peers on the
//! server that vpnkeeper did not install (the admin's own, those made in the app) are left
//! alone and reported in [`SyncReport::foreign`]; vpnkeeper removes only its own peers.
//!
//! The ledger lives inside the container on purpose: a recreated container has lost its
//! peers *and* the ledger, so everything is reinstalled instead of being taken for
//! deletions.
//!
//! ## IO shape
//!
//! One `docker exec` reads everything (file, clientsTable, ledger, `awg show dump`), and one
//! `docker exec -i` writes everything: the new files travel on stdin (never argv, they hold
//! keys), the live interface is updated with one `awg syncconf` of the stripped config,
//! and only then are the files renamed into place, so a rejected config changes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::Value;
use zeroize::Zeroizing;

use crate::cli::{parse_dump, patch_conf, validate_diff};
use crate::conf::{strip_wg_quick, WgConf};
use crate::error::BackendError;
use crate::exec::Runner;
use crate::ip::validate_ifname;
use crate::model::{
    canonical_key, diff, parse_secret_key, InterfaceSpec, InterfaceState, Key, PeerDiff, PeerSpec,
};
use crate::{SyncReport, WgBackend};

/// Where Amnezia's images keep the server config and clientsTable.
pub const DEFAULT_CONFIG_DIR: &str = "/opt/amnezia/awg";
/// The ledger of peers vpnkeeper installed, in the config directory.
pub const LEDGER_FILE: &str = "vpnkeeper-peers";
/// Section marker in the read/write streams. No line of a WireGuard config, of
/// clientsTable as we write it, or of the ledger can start with it (checked on write).
const MARK: &str = "@@vpnkeeper-part ";

/// Settings of [`AmneziaDockerBackend`].
#[derive(Clone, Debug)]
pub struct AmneziaDockerConfig {
    /// The container name (`docker ps` NAMES column).
    pub container: String,
    /// The docker client: a path or a name looked up in PATH. Tests point it at a stand-in.
    pub docker: String,
    /// The interface inside the container.
    pub interface: String,
    /// The tool inside the container: `awg` in Amnezia's images, `wg` in old ones.
    pub tool: String,
    pub config_dir: String,
    /// Config file name in `config_dir`; `None` picks `IFACE.conf`, `awg0.conf`, `wg0.conf`,
    /// the first that exists.
    pub config_file: Option<String>,
    pub timeout: Duration,
}

impl AmneziaDockerConfig {
    pub fn new(container: impl Into<String>) -> Self {
        AmneziaDockerConfig {
            container: container.into(),
            docker: "docker".into(),
            interface: "wg0".into(),
            tool: "awg".into(),
            config_dir: DEFAULT_CONFIG_DIR.into(),
            config_file: None,
            timeout: Duration::from_secs(30),
        }
    }
}

/// One row of clientsTable; rows are kept as raw JSON so fields the app adds in newer
/// versions survive our rewrite.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClientsTable {
    rows: Vec<Value>,
}

impl ClientsTable {
    /// Parse the file. Empty or missing means no clients; anything else that is not a
    /// JSON array is an error, because rewriting a file we misread would lose the app's
    /// client list.
    pub fn parse(text: &str, path: &str) -> Result<Self, BackendError> {
        if text.trim().is_empty() {
            return Ok(ClientsTable::default());
        }
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(rows)) => Ok(ClientsTable { rows }),
            Ok(_) => Err(BackendError::Parse {
                command: format!("cat {path}"),
                detail: "clientsTable is not a JSON array; fix or remove the file in the container"
                    .into(),
            }),
            Err(e) => Err(BackendError::Parse {
                command: format!("cat {path}"),
                detail: format!(
                    "clientsTable is not valid JSON ({e}); fix or remove the file in the container"
                ),
            }),
        }
    }

    fn key_of(row: &Value) -> Option<String> {
        row.get("clientId")
            .and_then(Value::as_str)
            .map(canonical_key)
    }

    /// Canonical public keys of the rows.
    pub fn keys(&self) -> BTreeSet<String> {
        self.rows.iter().filter_map(Self::key_of).collect()
    }

    pub fn contains(&self, key: &str) -> bool {
        let key = canonical_key(key);
        self.rows
            .iter()
            .any(|r| Self::key_of(r).as_deref() == Some(key.as_str()))
    }

    /// The app's name for a client.
    pub fn client_name(&self, key: &str) -> Option<String> {
        let key = canonical_key(key);
        self.rows
            .iter()
            .find(|r| Self::key_of(r).as_deref() == Some(key.as_str()))
            .and_then(|r| r.pointer("/userData/clientName"))
            .and_then(Value::as_str)
            .map(str::to_string)
    }

    /// Add a row for `key` unless one exists. Existing names are kept: renaming is done in
    /// the app, and we must not undo it.
    pub fn insert(&mut self, key: &str, name: &str, creation_date: &str) -> bool {
        if self.contains(key) {
            return false;
        }
        self.rows.push(serde_json::json!({
            "clientId": canonical_key(key),
            "userData": {
                "clientName": name,
                "creationDate": creation_date,
            }
        }));
        true
    }

    pub fn remove(&mut self, key: &str) -> bool {
        let key = canonical_key(key);
        let before = self.rows.len();
        self.rows
            .retain(|r| Self::key_of(r).as_deref() != Some(key.as_str()));
        before != self.rows.len()
    }

    pub fn render(&self) -> String {
        let mut s = serde_json::to_string_pretty(&Value::Array(self.rows.clone()))
            .unwrap_or_else(|_| "[]".into());
        s.push('\n');
        s
    }
}

/// Everything one read of the container returns.
#[derive(Debug)]
pub struct Snapshot {
    /// Full path of the server config in the container.
    pub conf_path: String,
    pub conf: WgConf,
    pub table: ClientsTable,
    pub ledger: BTreeSet<String>,
    pub live: InterfaceState,
    /// The live interface's private key, to check the node's key against.
    live_private: Option<Zeroizing<[u8; 32]>>,
}

/// What a pass wants written.
#[derive(Debug)]
pub struct Plan {
    pub conf: WgConf,
    pub table: ClientsTable,
    pub ledger: BTreeSet<String>,
    pub report: SyncReport,
    /// Whether anything (files or the live interface) needs writing.
    pub changed: bool,
}

/// The clientsTable name for a peer we install.
fn client_name(spec: &PeerSpec) -> String {
    match spec
        .label
        .as_deref()
        .map(str::trim)
        .filter(|l| !l.is_empty())
    {
        Some(l) => l.to_string(),
        None => format!(
            "vpnkeeper-{}",
            &canonical_key(&spec.public_key)[..8.min(spec.public_key.len())]
        ),
    }
}

/// Decide a smart-sync pass. Pure, so both rules are unit-tested without a container.
pub fn plan_reconcile(desired: &[PeerSpec], snap: &Snapshot, creation_date: &str) -> Plan {
    let mut conf = snap.conf.clone();
    let mut table = snap.table.clone();
    let mut ledger = snap.ledger.clone();
    let mut report = SyncReport::default();

    let live: BTreeSet<String> = snap
        .live
        .peers
        .iter()
        .map(|p| canonical_key(&p.public_key))
        .collect();
    let in_conf: BTreeMap<String, PeerSpec> = snap
        .conf
        .peers()
        .into_iter()
        .map(|p| (p.public_key.clone(), p))
        .collect();
    let in_table = snap.table.keys();
    let want: BTreeMap<String, &PeerSpec> = desired
        .iter()
        .map(|p| (canonical_key(&p.public_key), p))
        .collect();

    for (key, spec) in &want {
        let (on_live, on_file, on_table, ours) = (
            live.contains(key),
            in_conf.contains_key(key),
            in_table.contains(key),
            ledger.contains(key),
        );
        if ours && !on_live && !on_file && !on_table {
            report.deleted_in_app.push(key.clone());
            continue;
        }
        if !ours && !on_live && !on_file && !on_table {
            report.added += 1;
        } else if !on_live || !on_file {
            report.restored.push(key.clone());
        } else if in_conf.get(key).is_some_and(|have| !same_peer(spec, have)) {
            report.updated += 1;
        }
        let mut spec = (*spec).clone();
        spec.public_key = key.clone();
        conf.upsert_peer(&spec);
        table.insert(key, &client_name(&spec), creation_date);
        ledger.insert(key.clone());
    }

    // Our peers that are no longer desired go everywhere; everybody else's stay.
    let mut seen: BTreeSet<&String> = live.iter().collect();
    seen.extend(in_conf.keys());
    seen.extend(in_table.iter());
    seen.extend(snap.ledger.iter());
    for key in seen {
        if want.contains_key(key) {
            continue;
        }
        let on_server = live.contains(key) || in_conf.contains_key(key);
        if snap.ledger.contains(key) {
            conf.remove_peer(key);
            table.remove(key);
            ledger.remove(key);
            if on_server || in_table.contains(key) {
                report.removed += 1;
            }
        } else if on_server {
            report.foreign.push(key.clone());
        }
    }
    report.foreign.sort();

    // The live interface must end up equal to the file (both our peers and foreign ones:
    // the file is what the app considers the truth).
    let live_drift = !diff(&conf.peers(), &snap.live).is_empty();
    let changed = live_drift
        || conf.render().as_str() != snap.conf.render().as_str()
        || table != snap.table
        || ledger != snap.ledger;
    Plan {
        conf,
        table,
        ledger,
        report,
        changed,
    }
}

fn same_peer(want: &PeerSpec, have: &PeerSpec) -> bool {
    crate::model::normalize_ips(&want.allowed_ips) == crate::model::normalize_ips(&have.allowed_ips)
        && want.persistent_keepalive.filter(|&k| k != 0)
            == have.persistent_keepalive.filter(|&k| k != 0)
        && want
            .preshared_key
            .as_ref()
            .map(|p| canonical_key(p.expose_secret()))
            == have
                .preshared_key
                .as_ref()
                .map(|p| canonical_key(p.expose_secret()))
}

/// Qt's default `QDateTime::toString()` form (`Sat Nov 22 01:54:00 2025`), which is what
/// the Amnezia app writes as `creationDate`. UTC, since we do not know the app's zone.
pub fn qt_date(unix: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{} {} {} {:02}:{:02}:{:02} {}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m - 1) as usize],
        d,
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        y
    )
}

/// Read script: prints each part after a marker line, followed by one extra newline so a
/// file without a trailing newline cannot swallow the next marker.
const READ_SCRIPT: &str = r#"dir=$1; iface=$2; tool=$3; want=$4
conf=""
if [ -n "$want" ]; then conf="$dir/$want"
else for f in "$dir/$iface.conf" "$dir/awg0.conf" "$dir/wg0.conf"; do
  if [ -f "$f" ]; then conf=$f; break; fi; done
fi
if [ -z "$conf" ] || [ ! -f "$conf" ]; then
  echo "no server config in $dir (looked for ${want:-$iface.conf, awg0.conf, wg0.conf})" >&2; exit 3
fi
echo "@@vpnkeeper-part path"; printf '%s\n' "$conf"
echo "@@vpnkeeper-part conf"; cat "$conf" || exit 4; printf '\n'
echo "@@vpnkeeper-part table"; if [ -f "$dir/clientsTable" ]; then cat "$dir/clientsTable" || exit 4; fi; printf '\n'
echo "@@vpnkeeper-part ledger"; if [ -f "$dir/vpnkeeper-peers" ]; then cat "$dir/vpnkeeper-peers" || exit 4; fi; printf '\n'
if out=$("$tool" show "$iface" dump 2>&1); then
  echo "@@vpnkeeper-part dump"; printf '%s\n\n' "$out"
else
  echo "\`$tool show $iface dump\` failed in the container: $out" >&2; exit 5
fi
"#;

/// Write script: stdin carries the parts; the live interface is synced first, then the
/// files are renamed into place (same directory, so each rename is atomic).
const WRITE_SCRIPT: &str = r#"set -eu
dir=$1; conf=$2; iface=$3; tool=$4
umask 077
tmp=$(mktemp -d "$dir/.vpnkeeper.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
awk -v d="$tmp" 'index($0, "@@vpnkeeper-part ") == 1 { f = d "/" substr($0, 18); printf "" > f; next } { print > f }'
for p in conf table ledger live; do
  [ -f "$tmp/$p" ] || { echo "vpnkeeper: part $p missing from the update stream" >&2; exit 6; }
done
"$tool" syncconf "$iface" "$tmp/live"
mv -f "$tmp/conf" "$conf"
mv -f "$tmp/table" "$dir/clientsTable"
mv -f "$tmp/ledger" "$dir/vpnkeeper-peers"
"#;

/// Backend for the Amnezia container.
#[derive(Debug)]
pub struct AmneziaDockerBackend {
    cfg: AmneziaDockerConfig,
    runner: Runner,
    /// Only one pass at a time: two interleaved read-modify-write cycles would lose writes.
    lock: tokio::sync::Mutex<()>,
}

impl AmneziaDockerBackend {
    pub fn new(cfg: AmneziaDockerConfig) -> Result<Self, BackendError> {
        validate_ifname(&cfg.interface)?;
        let name_ok = !cfg.container.is_empty()
            && cfg
                .container
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !name_ok {
            return Err(BackendError::Config(format!(
                "container name {:?}: use letters, digits, '_', '.', '-' (as `docker ps` shows it)",
                cfg.container
            )));
        }
        if !cfg.config_dir.starts_with('/') {
            return Err(BackendError::Config(format!(
                "config_dir {:?} must be an absolute path inside the container, e.g. {DEFAULT_CONFIG_DIR}",
                cfg.config_dir
            )));
        }
        if let Some(f) = &cfg.config_file {
            if f.is_empty() || f.contains('/') {
                return Err(BackendError::Config(format!(
                    "config_file {f:?} must be a file name in config_dir, e.g. wg0.conf"
                )));
            }
        }
        let runner = Runner {
            netns: None,
            timeout: cfg.timeout,
        };
        Ok(AmneziaDockerBackend {
            cfg,
            runner,
            lock: tokio::sync::Mutex::new(()),
        })
    }

    fn hint(&self) -> String {
        format!(
            "install the docker client, or set the docker program path; vpnkeeper runs `{} exec {} …`",
            self.cfg.docker, self.cfg.container
        )
    }

    /// `docker exec [-i] CONTAINER sh -c SCRIPT vpnkeeper ARGS…`; the arguments reach the
    /// script as $1… so paths are never spliced into shell text.
    async fn exec(
        &self,
        script: &str,
        args: &[&str],
        stdin: Option<&[u8]>,
    ) -> Result<Vec<u8>, BackendError> {
        let mut argv: Vec<&str> = vec!["exec"];
        if stdin.is_some() {
            argv.push("-i");
        }
        argv.extend([self.cfg.container.as_str(), "sh", "-c", script, "vpnkeeper"]);
        argv.extend_from_slice(args);
        let out = self
            .runner
            .run(&self.cfg.docker, &argv, stdin, &self.hint())
            .await
            .map_err(|e| match e {
                BackendError::Command { stderr, status, .. } => BackendError::Command {
                    command: format!("{} exec {} …", self.cfg.docker, self.cfg.container),
                    status,
                    stderr,
                },
                e => e,
            })?;
        Ok(out.stdout)
    }

    /// Read the config file, clientsTable, ledger and live interface in one exec.
    pub async fn snapshot(&self) -> Result<Snapshot, BackendError> {
        let want = self.cfg.config_file.clone().unwrap_or_default();
        let out = Zeroizing::new(
            self.exec(
                READ_SCRIPT,
                &[
                    &self.cfg.config_dir,
                    &self.cfg.interface,
                    &self.cfg.tool,
                    &want,
                ],
                None,
            )
            .await?,
        );
        let text = Zeroizing::new(String::from_utf8_lossy(&out).into_owned());
        let parts = split_parts(&text);
        let part = |name: &str| -> Result<&str, BackendError> {
            parts
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, body)| *body)
                .ok_or_else(|| BackendError::Parse {
                    command: format!("{} exec {} sh -c …", self.cfg.docker, self.cfg.container),
                    detail: format!("the output has no {name} part (is `sh` in the container?)"),
                })
        };
        let conf_path = part("path")?.trim().to_string();
        let table_path = format!("{}/clientsTable", self.cfg.config_dir);
        let dump = parse_dump(
            part("dump")?,
            &format!(
                "{} show {} dump (in {})",
                self.cfg.tool, self.cfg.interface, self.cfg.container
            ),
        )?;
        Ok(Snapshot {
            conf: WgConf::parse(part("conf")?),
            table: ClientsTable::parse(part("table")?, &table_path)?,
            ledger: part("ledger")?
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(canonical_key)
                .collect(),
            live: dump.state,
            live_private: dump.private_key,
            conf_path,
        })
    }

    /// Write a plan: live interface first (one syncconf), then the files.
    async fn write(&self, conf_path: &str, plan: &Plan) -> Result<(), BackendError> {
        let conf_text = plan.conf.render();
        let live = strip_wg_quick(&conf_text);
        let table = plan.table.render();
        let mut ledger = String::new();
        for k in &plan.ledger {
            ledger.push_str(k);
            ledger.push('\n');
        }
        for (what, body) in [
            ("server config", conf_text.as_str()),
            ("clientsTable", table.as_str()),
        ] {
            if body.lines().any(|l| l.starts_with(MARK.trim_end())) {
                return Err(BackendError::InvalidInput {
                    what: "Amnezia container files",
                    detail: format!(
                        "the {what} has a line starting with {:?}; remove it",
                        MARK.trim_end()
                    ),
                });
            }
        }
        let mut stream = Zeroizing::new(String::with_capacity(
            conf_text.len() * 2 + table.len() + ledger.len() + 100,
        ));
        for (name, body) in [
            ("conf", conf_text.as_str()),
            ("table", table.as_str()),
            ("ledger", ledger.as_str()),
            ("live", live.as_str()),
        ] {
            stream.push_str(MARK);
            stream.push_str(name);
            stream.push('\n');
            stream.push_str(body);
            if !body.is_empty() && !body.ends_with('\n') {
                stream.push('\n');
            }
        }
        self.exec(
            WRITE_SCRIPT,
            &[
                &self.cfg.config_dir,
                conf_path,
                &self.cfg.interface,
                &self.cfg.tool,
            ],
            Some(stream.as_bytes()),
        )
        .await?;
        Ok(())
    }
}

/// Split the read script's output into (name, body) parts, dropping the one newline the
/// script appends after each body.
fn split_parts(text: &str) -> Vec<(&str, &str)> {
    let mut parts = Vec::new();
    let mut rest = text;
    // Find each marker at a line start.
    let mut starts: Vec<usize> = Vec::new();
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        if line.starts_with(MARK) {
            starts.push(pos);
        }
        pos += line.len();
    }
    for (i, &s) in starts.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(text.len());
        let chunk = &text[s..end];
        let (header, body) = chunk.split_once('\n').unwrap_or((chunk, ""));
        let name = header[MARK.len()..].trim();
        let body = body.strip_suffix('\n').unwrap_or(body);
        parts.push((name, body));
        rest = &text[end..];
    }
    let _ = rest;
    parts
}

#[async_trait::async_trait]
impl WgBackend for AmneziaDockerBackend {
    /// The container owns its interface (the Amnezia app's clients hold its public key),
    /// so nothing is rewritten here: this checks that the interface answers and that its
    /// key is the node's key, because otherwise every config vpnkeeper hands out would
    /// fail to connect.
    async fn ensure_interface(&self, spec: &InterfaceSpec) -> Result<(), BackendError> {
        let snap = self.snapshot().await?;
        let want = parse_secret_key(&spec.private_key, "interface private key")?;
        let want_pub = want.public_from_private();
        let have_pub = snap
            .live_private
            .as_deref()
            .map(|k| Key(*k).public_from_private())
            .or_else(|| snap.live.public_key.as_deref().and_then(Key::from_base64));
        if have_pub != Some(want_pub) {
            return Err(BackendError::Config(format!(
                "interface {} in container {} has public key {}, not the node's {}: the Amnezia container owns its key, so give the node the container's key (its [Interface] PrivateKey in {})",
                self.cfg.interface,
                self.cfg.container,
                have_pub.map(|k| k.to_base64()).unwrap_or_else(|| "(none)".into()),
                want_pub.to_base64(),
                snap.conf_path,
            )));
        }
        if snap.live.listen_port != Some(spec.listen_port) {
            tracing::warn!(
                container = %self.cfg.container,
                have = ?snap.live.listen_port,
                want = spec.listen_port,
                "the Amnezia container listens on another port than configured; client configs must use the container's port"
            );
        }
        Ok(())
    }

    async fn state(&self) -> Result<InterfaceState, BackendError> {
        Ok(self.snapshot().await?.live)
    }

    /// Apply a diff to the live interface, the file, clientsTable and the ledger, in one
    /// write. Unlike [`reconcile`](Self::reconcile) this does no smart-sync: the caller
    /// said exactly what to change.
    async fn apply(&self, d: &PeerDiff) -> Result<(), BackendError> {
        if d.is_empty() {
            return Ok(());
        }
        validate_diff(d)?;
        let _guard = self.lock.lock().await;
        let snap = self.snapshot().await?;
        let mut conf = snap.conf.clone();
        let mut table = snap.table.clone();
        let mut ledger = snap.ledger.clone();
        patch_conf(&mut conf, d);
        let date = qt_date(crate::uapi::now_unix());
        for k in &d.remove {
            table.remove(k);
            ledger.remove(&canonical_key(k));
        }
        for p in d.add.iter().chain(&d.update) {
            table.insert(&p.public_key, &client_name(p), &date);
            ledger.insert(canonical_key(&p.public_key));
        }
        let plan = Plan {
            conf,
            table,
            ledger,
            report: SyncReport::default(),
            changed: true,
        };
        tracing::info!(
            container = %self.cfg.container,
            add = d.add.len(),
            update = d.update.len(),
            remove = d.remove.len(),
            "applying peer diff to the Amnezia container"
        );
        self.write(&snap.conf_path, &plan).await
    }

    async fn reconcile(&self, desired: &[PeerSpec]) -> Result<SyncReport, BackendError> {
        // Reject a bad key before reading anything, as the other backends do.
        validate_diff(&PeerDiff {
            add: desired.to_vec(),
            ..Default::default()
        })?;
        let _guard = self.lock.lock().await;
        let snap = self.snapshot().await?;
        let plan = plan_reconcile(desired, &snap, &qt_date(crate::uapi::now_unix()));
        for key in &plan.report.deleted_in_app {
            tracing::info!(peer = %short(key), container = %self.cfg.container, "peer was deleted in the Amnezia app; not restoring it");
        }
        for key in &plan.report.restored {
            tracing::warn!(peer = %short(key), container = %self.cfg.container, "peer had vanished from the server but is still wanted; restoring it");
        }
        if plan.changed {
            tracing::info!(
                container = %self.cfg.container,
                added = plan.report.added,
                updated = plan.report.updated,
                removed = plan.report.removed,
                restored = plan.report.restored.len(),
                "syncing the Amnezia container"
            );
            self.write(&snap.conf_path, &plan).await?;
        }
        Ok(plan.report)
    }

    fn name(&self) -> &'static str {
        "amnezia-docker"
    }

    /// Every change goes through the smart sync with clientsTable.
    fn incremental(&self) -> bool {
        false
    }
}

/// First characters of a public key, enough to find it in `wg show`.
fn short(key: &str) -> String {
    key.chars().take(8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PeerState;

    fn k(n: u8) -> String {
        Key([n; 32]).to_base64()
    }
    fn spec(n: u8) -> PeerSpec {
        PeerSpec::new(k(n), vec![format!("10.8.1.{n}/32").parse().unwrap()])
    }
    fn conf_with(peers: &[u8]) -> WgConf {
        let mut c =
            WgConf::parse("[Interface]\nPrivateKey = x\nAddress = 10.8.1.0/24\nListenPort = 1\n");
        for &p in peers {
            c.upsert_peer(&spec(p));
        }
        c
    }
    fn table_with(peers: &[u8]) -> ClientsTable {
        let mut t = ClientsTable::default();
        for &p in peers {
            t.insert(&k(p), &format!("c{p}"), "Sat Nov 22 01:54:00 2025");
        }
        t
    }
    fn snap(live: &[u8], conf: &[u8], table: &[u8], ledger: &[u8]) -> Snapshot {
        Snapshot {
            conf_path: "/opt/amnezia/awg/wg0.conf".into(),
            conf: conf_with(conf),
            table: table_with(table),
            ledger: ledger.iter().map(|&n| k(n)).collect(),
            live: InterfaceState {
                peers: live
                    .iter()
                    .map(|&n| PeerState {
                        public_key: k(n),
                        allowed_ips: spec(n).allowed_ips,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            },
            live_private: None,
        }
    }

    #[test]
    fn deleted_in_app_is_reported_not_restored() {
        // Peer 2 was ours; the app removed it from the file, the interface and the table.
        let s = snap(&[1], &[1], &[1], &[1, 2]);
        let p = plan_reconcile(&[spec(1), spec(2)], &s, "d");
        assert_eq!(p.report.deleted_in_app, vec![k(2)]);
        assert!(p.report.restored.is_empty());
        assert_eq!(p.conf.peer_keys(), vec![k(1)]);
        assert!(!p.table.contains(&k(2)));
        // Kept in the ledger until the caller revokes it, so it is not taken for new.
        assert!(p.ledger.contains(&k(2)));
        assert!(!p.changed);
        // After the revoke the ledger forgets it.
        let p = plan_reconcile(&[spec(1)], &s, "d");
        assert!(!p.ledger.contains(&k(2)) && p.report.deleted_in_app.is_empty());
        assert!(p.changed);
    }

    #[test]
    fn missing_from_server_but_in_table_is_restored() {
        let s = snap(&[1], &[1], &[1, 2], &[1, 2]);
        let p = plan_reconcile(&[spec(1), spec(2)], &s, "d");
        assert_eq!(p.report.restored, vec![k(2)]);
        assert!(p.report.deleted_in_app.is_empty());
        assert_eq!(p.conf.peer_keys(), vec![k(1), k(2)]);
        assert!(p.changed);
        // Removed by hand from the live interface only: also drift.
        let s = snap(&[1], &[1, 2], &[1, 2], &[1, 2]);
        let p = plan_reconcile(&[spec(1), spec(2)], &s, "d");
        assert_eq!(p.report.restored, vec![k(2)]);
        assert!(p.changed);
    }

    #[test]
    fn new_peers_are_added_everywhere_and_foreign_left_alone() {
        // Peer 9 is the admin's own client made in the app.
        let s = snap(&[9], &[9], &[9], &[]);
        let mut new = spec(3);
        new.label = Some("alice_phone".into());
        let p = plan_reconcile(&[new], &s, "Sat Nov 22 01:54:00 2025");
        assert_eq!(p.report.added, 1);
        assert_eq!(p.report.foreign, vec![k(9)]);
        assert_eq!(p.conf.peer_keys(), vec![k(9), k(3)]);
        assert_eq!(p.table.client_name(&k(3)).as_deref(), Some("alice_phone"));
        assert_eq!(p.table.client_name(&k(9)).as_deref(), Some("c9"));
        assert!(p.ledger.contains(&k(3)) && !p.ledger.contains(&k(9)));
        let json: Value = serde_json::from_str(&p.table.render()).unwrap();
        assert_eq!(
            json[1],
            serde_json::json!({"clientId": k(3), "userData": {"clientName": "alice_phone", "creationDate": "Sat Nov 22 01:54:00 2025"}})
        );
        // In sync: nothing to do.
        let s2 = Snapshot {
            conf: p.conf.clone(),
            table: p.table.clone(),
            ledger: p.ledger.clone(),
            ..snap(&[9, 3], &[], &[], &[])
        };
        let mut again = spec(3);
        again.label = Some("renamed".into());
        let p2 = plan_reconcile(&[again], &s2, "later");
        assert!(!p2.changed, "{:?}", p2.report);
        assert_eq!(p2.table.client_name(&k(3)).as_deref(), Some("alice_phone"));
    }

    #[test]
    fn revoked_peers_go_everywhere_foreign_stay() {
        let s = snap(&[1, 2, 9], &[1, 2, 9], &[1, 2, 9], &[1, 2]);
        let p = plan_reconcile(&[spec(1)], &s, "d");
        assert_eq!(p.report.removed, 1);
        assert_eq!(p.conf.peer_keys(), vec![k(1), k(9)]);
        assert_eq!(p.table.keys(), [k(1), k(9)].into_iter().collect());
        assert_eq!(p.ledger, [k(1)].into_iter().collect());
        assert_eq!(p.report.foreign, vec![k(9)]);
        // Update in place counts as updated.
        let mut moved = spec(1);
        moved.allowed_ips = vec!["10.8.1.100/32".parse().unwrap()];
        let p = plan_reconcile(&[moved], &s, "d");
        assert_eq!(p.report.updated, 1);
        assert!(p.conf.render().contains("10.8.1.100/32"));
    }

    #[test]
    fn clients_table_parse() {
        let t = ClientsTable::parse(
            &format!(r#"[{{"clientId":"{}","userData":{{"clientName":"Admin","creationDate":"x","extra":1}}}}]"#, k(1)),
            "t",
        )
        .unwrap();
        assert!(t.contains(&k(1)));
        assert!(t.render().contains("\"extra\": 1"));
        assert_eq!(
            ClientsTable::parse(" \n", "t").unwrap(),
            ClientsTable::default()
        );
        let e = ClientsTable::parse("{}", "/opt/amnezia/awg/clientsTable")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a JSON array"), "{e}");
        assert!(ClientsTable::parse("[", "t").is_err());
    }

    #[test]
    fn parts_split() {
        let text = "@@vpnkeeper-part path\n/x\n@@vpnkeeper-part conf\nno-newline\n@@vpnkeeper-part table\n\n@@vpnkeeper-part ledger\na\n\n";
        let p = split_parts(text);
        assert_eq!(
            p,
            vec![
                ("path", "/x"),
                ("conf", "no-newline"),
                ("table", ""),
                ("ledger", "a\n")
            ]
        );
    }

    #[test]
    fn qt_dates() {
        assert_eq!(qt_date(0), "Thu Jan 1 00:00:00 1970");
        assert_eq!(qt_date(1_763_776_440), "Sat Nov 22 01:54:00 2025");
        assert_eq!(qt_date(951_782_400), "Tue Feb 29 00:00:00 2000");
    }

    #[test]
    fn bad_config_is_refused() {
        let mut c = AmneziaDockerConfig::new("amnezia awg");
        assert!(AmneziaDockerBackend::new(c.clone()).is_err());
        c.container = "amnezia-awg".into();
        c.config_dir = "opt/amnezia".into();
        assert!(AmneziaDockerBackend::new(c.clone()).is_err());
        c.config_dir = DEFAULT_CONFIG_DIR.into();
        c.config_file = Some("../etc/passwd".into());
        assert!(AmneziaDockerBackend::new(c.clone()).is_err());
        c.config_file = None;
        assert!(AmneziaDockerBackend::new(c).is_ok());
    }
}

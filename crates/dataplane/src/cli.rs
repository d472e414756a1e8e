//! The `wg` / `awg` tool, for kernel interfaces (and anything else the tool can reach).
//!
//! Reads with `TOOL show IFACE dump`. Writes a whole diff with one `TOOL syncconf IFACE
//! FILE`: the current config (`TOOL showconf`) patched with the diff, in a 0600 temp file
//! that is deleted afterwards. Keys never appear in argv (world-readable in /proc).
//!
//! Why syncconf of a full file rather than `wg set … peer … peer …`: argv is capped
//! (~2 MB), so 10k peers would not fit in one `wg set`; and `addconf` cannot remove.
//! Endpoints are dropped from the patched file so a roaming client is not pulled back to
//! the address it had when showconf ran.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::conf::WgConf;
use crate::error::BackendError;
use crate::exec::Runner;
use crate::ip;
use crate::model::{
    parse_secret_key, truncate, InterfaceSpec, InterfaceState, Key, PeerDiff, PeerState,
    PskFingerprint,
};
use crate::uapi::parse_awg_lines;
use crate::WgBackend;

/// One parsed `wg show IFACE dump`.
#[derive(Debug, Clone, Default)]
pub struct Dump {
    pub private_key: Option<Zeroizing<[u8; 32]>>,
    pub state: InterfaceState,
}

fn none(v: &str) -> Option<&str> {
    match v {
        "(none)" | "off" | "" => None,
        v => Some(v),
    }
}

/// Parse `wg show IFACE dump` (tab-separated; the first line is the interface).
pub fn parse_dump(text: &str, command: &str) -> Result<Dump, BackendError> {
    let err = |line: usize, detail: String| BackendError::Parse {
        command: command.to_string(),
        detail: format!("line {line}: {detail}"),
    };
    let mut lines = text.lines().filter(|l| !l.trim().is_empty()).enumerate();
    let Some((_, first)) = lines.next() else {
        return Err(err(1, "empty output".into()));
    };
    let f: Vec<&str> = first.split('\t').collect();
    if f.len() < 3 {
        return Err(err(
            1,
            format!(
                "expected private-key, public-key, listen-port; got {} fields",
                f.len()
            ),
        ));
    }
    let mut dump = Dump::default();
    if let Some(pk) = none(f[0]) {
        let k = Key::from_base64(pk).ok_or_else(|| err(1, "bad private key".into()))?;
        dump.private_key = Some(Zeroizing::new(k.0));
    }
    dump.state.public_key = none(f[1]).map(str::to_string);
    dump.state.listen_port = none(f[2])
        .and_then(|p| p.parse().ok())
        .filter(|&p: &u16| p != 0);

    for (i, line) in lines {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 8 {
            return Err(err(
                i + 1,
                format!(
                    "expected 8 peer fields, got {} in {:?}",
                    f.len(),
                    truncate(f[0], 50)
                ),
            ));
        }
        let bad = |what: &str| err(i + 1, format!("bad {what}"));
        let psk = match none(f[1]) {
            Some(p) => Some(Key::from_base64(p).ok_or_else(|| bad("preshared key"))?),
            None => None,
        };
        let handshake: i64 = f[4].parse().map_err(|_| bad("latest-handshake"))?;
        dump.state.peers.push(PeerState {
            public_key: Key::from_base64(f[0])
                .ok_or_else(|| bad("public key"))?
                .to_base64(),
            endpoint: none(f[2]).and_then(|e| e.parse().ok()),
            allowed_ips: match none(f[3]) {
                Some(ips) => ips
                    .split(',')
                    .map(|ip| ip.trim().parse().map_err(|_| bad("allowed-ips")))
                    .collect::<Result<_, _>>()?,
                None => Vec::new(),
            },
            last_handshake_unix: (handshake != 0).then_some(handshake),
            rx_bytes: f[5].parse().map_err(|_| bad("transfer-rx"))?,
            tx_bytes: f[6].parse().map_err(|_| bad("transfer-tx"))?,
            preshared_key_set: psk.is_some_and(|k| !k.is_zero()),
            preshared_key_fingerprint: psk.filter(|k| !k.is_zero()).map(|k| PskFingerprint::of(&k)),
            persistent_keepalive: none(f[7])
                .and_then(|k| k.parse().ok())
                .filter(|&k: &u16| k != 0),
        });
    }
    Ok(dump)
}

/// Apply a diff to a parsed config (shared with the Amnezia backend).
pub(crate) fn patch_conf(conf: &mut WgConf, diff: &PeerDiff) {
    for k in &diff.remove {
        conf.remove_peer(k);
    }
    for p in diff.update.iter().chain(&diff.add) {
        conf.upsert_peer(p);
    }
}

/// Validate a whole diff before touching anything (keys, PSKs).
pub(crate) fn validate_diff(diff: &PeerDiff) -> Result<(), BackendError> {
    for k in &diff.remove {
        crate::model::parse_public_key(k)?;
    }
    for p in diff.update.iter().chain(&diff.add) {
        crate::model::parse_public_key(&p.public_key)?;
        if let Some(psk) = &p.preshared_key {
            parse_secret_key(psk, "preshared key")?;
        }
    }
    Ok(())
}

/// Write secret text to a fresh 0600 temp file that is deleted when the handle drops.
pub(crate) async fn secret_tempfile(
    dir: Option<PathBuf>,
    contents: Zeroizing<String>,
) -> Result<tempfile::NamedTempFile, BackendError> {
    tokio::task::spawn_blocking(move || {
        let mut b = tempfile::Builder::new();
        b.prefix(".vpnkeeper-").suffix(".conf");
        // tempfile creates files 0600 on unix; that is what keeps the keys private.
        let mut f = match &dir {
            Some(d) => b.tempfile_in(d),
            None => b.tempfile(),
        }?;
        f.write_all(contents.as_bytes())?;
        f.flush()?;
        Ok(f)
    })
    .await
    .map_err(|e| BackendError::Io {
        what: "writing temp config".into(),
        source: std::io::Error::other(e.to_string()),
    })?
    .map_err(|e| BackendError::Io {
        what: "writing 0600 temp config (check the temp directory is writable)".into(),
        source: e,
    })
}

/// Backend driving the `wg`/`awg` tool.
#[derive(Debug)]
pub struct CliBackend {
    iface: String,
    tool: String,
    runner: Runner,
    temp_dir: Option<PathBuf>,
}

impl CliBackend {
    /// `tool`: "wg" or "awg" (or a path). `netns`: run everything inside this namespace.
    pub fn new(
        iface: impl Into<String>,
        tool: impl Into<String>,
        netns: Option<String>,
        timeout: Duration,
    ) -> Result<Self, BackendError> {
        let iface = iface.into();
        ip::validate_ifname(&iface)?;
        Ok(CliBackend {
            iface,
            tool: tool.into(),
            runner: Runner { netns, timeout },
            temp_dir: None,
        })
    }

    /// Where the 0600 temp files go (default: $TMPDIR).
    pub fn with_temp_dir(mut self, dir: PathBuf) -> Self {
        self.temp_dir = Some(dir);
        self
    }

    fn hint(&self) -> String {
        if self.tool.contains("awg") {
            "install amneziawg-tools (https://github.com/amnezia-vpn/amneziawg-tools)".into()
        } else {
            "install wireguard-tools (apt-get install --no-install-recommends wireguard-tools)"
                .into()
        }
    }

    async fn tool(&self, args: &[&str]) -> Result<Vec<u8>, BackendError> {
        match self.runner.run(&self.tool, args, None, &self.hint()).await {
            Ok(out) => Ok(out.stdout),
            // `wg` says "Unable to access interface: No such device" (or "Protocol not
            // supported" where there is no kernel module and no userspace socket): the
            // daemon or module is not there yet, which the reconciler retries quietly.
            Err(BackendError::Command { stderr, .. })
                if stderr.contains("Unable to access interface")
                    || (stderr.contains("Unable to modify interface")
                        && (stderr.contains("No such device")
                            || stderr.contains("Protocol not supported"))) =>
            {
                Err(BackendError::InterfaceMissing {
                    iface: self.iface.clone(),
                    detail: stderr,
                    hint: format!(
                        "create it (ip link add {} type {}) or start its userspace daemon",
                        self.iface,
                        if self.tool.contains("awg") {
                            "amneziawg"
                        } else {
                            "wireguard"
                        }
                    ),
                })
            }
            Err(e) => Err(e),
        }
    }

    pub async fn dump(&self) -> Result<Dump, BackendError> {
        let out = Zeroizing::new(self.tool(&["show", &self.iface, "dump"]).await?);
        let text = String::from_utf8_lossy(&out);
        parse_dump(&text, &format!("{} show {} dump", self.tool, self.iface))
    }
}

#[async_trait::async_trait]
impl WgBackend for CliBackend {
    async fn ensure_interface(&self, spec: &InterfaceSpec) -> Result<(), BackendError> {
        if spec.name != self.iface {
            return Err(BackendError::Config(format!(
                "interface spec is for {:?} but this backend manages {:?}",
                spec.name, self.iface
            )));
        }
        let want = Zeroizing::new(parse_secret_key(&spec.private_key, "interface private key")?.0);
        let awg = parse_awg_lines(spec.awg.as_deref())?;
        if !awg.is_empty() && !self.tool.contains("awg") {
            return Err(BackendError::Config(
                "AmneziaWG parameters need the awg tool: set tool = \"awg\" (amneziawg-tools)"
                    .into(),
            ));
        }
        if !ip::link_exists(&self.runner, &self.iface).await? {
            let kind = if self.tool.contains("awg") {
                "amneziawg"
            } else {
                "wireguard"
            };
            tracing::info!(iface = %self.iface, kind, "creating interface");
            self.runner
                .run("ip", &["link", "add", "dev", &self.iface, "type", kind], None, "install iproute2")
                .await
                .map_err(|e| BackendError::Config(format!(
                    "cannot create {kind} interface {}: {e}; load the kernel module (modprobe {kind}) or use the uapi backend with a userspace daemon",
                    self.iface
                )))?;
        }
        let dump = self.dump().await?;
        let key_ok = dump.private_key.as_deref() == Some(&*want);
        // The dump does not show AWG parameters, so they are re-sent whenever present;
        // setting the same values again is harmless.
        if !key_ok || dump.state.listen_port != Some(spec.listen_port) || !awg.is_empty() {
            let keyfile = secret_tempfile(
                self.temp_dir.clone(),
                Zeroizing::new(spec.private_key.expose_secret().to_string()),
            )
            .await?;
            let path = keyfile.path().to_string_lossy().into_owned();
            let port = spec.listen_port.to_string();
            let mut args: Vec<&str> = vec![
                "set",
                &self.iface,
                "private-key",
                &path,
                "listen-port",
                &port,
            ];
            for (k, v) in &awg {
                args.push(k);
                args.push(v);
            }
            self.tool(&args).await?;
        }
        ip::configure_link(&self.runner, spec).await
    }

    async fn state(&self) -> Result<InterfaceState, BackendError> {
        Ok(self.dump().await?.state)
    }

    async fn apply(&self, diff: &PeerDiff) -> Result<(), BackendError> {
        if diff.is_empty() {
            return Ok(());
        }
        validate_diff(diff)?;
        let current = Zeroizing::new(self.tool(&["showconf", &self.iface]).await?);
        let mut conf = WgConf::parse(&String::from_utf8_lossy(&current));
        conf.strip_peer_key("Endpoint");
        patch_conf(&mut conf, diff);
        let file = secret_tempfile(self.temp_dir.clone(), conf.render()).await?;
        let path = file.path().to_string_lossy().into_owned();
        tracing::info!(
            iface = %self.iface,
            add = diff.add.len(),
            update = diff.update.len(),
            remove = diff.remove.len(),
            tool = %self.tool,
            "applying peer diff via syncconf"
        );
        self.tool(&["syncconf", &self.iface, &path]).await?;
        drop(file);
        Ok(())
    }

    fn name(&self) -> &'static str {
        "cli"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured from `wg show tt0 dump` against wireguard-go 0.0.20230223 (keys replaced).
    #[test]
    fn parse_real_dump() {
        let k = |n: u8| Key([n; 32]).to_base64();
        let text = format!(
            "{}\t{}\t51820\toff\n{}\t{}\t10.0.0.1:51821\t10.9.0.2/32,fd00::2/128\t1767225600\t1234\t5678\t25\n{}\t(none)\t(none)\t(none)\t0\t0\t0\toff\n",
            k(1), k(2), k(3), k(9), k(4)
        );
        let d = parse_dump(&text, "wg show").unwrap();
        assert_eq!(d.private_key.as_deref(), Some(&[1u8; 32]));
        assert_eq!(d.state.listen_port, Some(51820));
        let p = &d.state.peers[0];
        assert_eq!(p.allowed_ips.len(), 2);
        assert_eq!(p.last_handshake_unix, Some(1767225600));
        assert_eq!((p.rx_bytes, p.tx_bytes), (1234, 5678));
        assert!(p.preshared_key_set);
        assert_eq!(p.persistent_keepalive, Some(25));
        assert_eq!(p.endpoint, Some("10.0.0.1:51821".parse().unwrap()));
        let q = &d.state.peers[1];
        assert_eq!(q.last_handshake_unix, None);
        assert!(!q.preshared_key_set && q.allowed_ips.is_empty() && q.endpoint.is_none());
        assert!(parse_dump("", "x").is_err());
        assert!(parse_dump("a\tb\n", "x").is_err());
        assert!(parse_dump(&format!("(none)\t(none)\t0\toff\n{}\tjunk\n", k(1)), "x").is_err());
    }
}

//! Reading and editing WireGuard config files (`wg showconf` output, wg-quick files such as
//! Amnezia's `awg0.conf`) without disturbing what we do not own.
//!
//! Only `[Peer]` sections are rewritten; the `[Interface]` section, comments and unknown
//! keys (Address, Jc, PostUp…) are kept byte for byte, so the Amnezia app keeps reading
//! the file it wrote.

use zeroize::Zeroizing;

use crate::model::{canonical_key, normalize_ips, PeerSpec, SecretString};

/// One `[Section]` with its raw lines (the header included).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Section {
    lines: Vec<String>,
}

impl Section {
    fn is_peer(&self) -> bool {
        self.lines
            .first()
            .is_some_and(|h| h.trim().eq_ignore_ascii_case("[peer]"))
    }
    /// Value of `Key = value` (case-insensitive key), ignoring comments.
    fn get(&self, key: &str) -> Option<&str> {
        self.lines.iter().skip(1).find_map(|l| {
            let l = l.split('#').next()?.trim();
            let (k, v) = l.split_once('=')?;
            k.trim().eq_ignore_ascii_case(key).then(|| v.trim())
        })
    }
    fn public_key(&self) -> Option<String> {
        self.get("PublicKey").map(canonical_key)
    }
}

/// A parsed config file. Holds PSKs and private keys, so its memory is wiped on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct WgConf {
    /// Lines before the first section (comments).
    preamble: Vec<String>,
    sections: Vec<Section>,
}

impl std::fmt::Debug for WgConf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "WgConf({} peers, <contents redacted>)",
            self.peer_keys().len()
        )
    }
}

impl Drop for WgConf {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.preamble.zeroize();
        for s in &mut self.sections {
            s.lines.zeroize();
        }
    }
}

impl WgConf {
    pub fn parse(text: &str) -> WgConf {
        let mut conf = WgConf {
            preamble: Vec::new(),
            sections: Vec::new(),
        };
        for line in text.lines() {
            let t = line.trim();
            if t.starts_with('[') && t.ends_with(']') {
                conf.sections.push(Section {
                    lines: vec![line.to_string()],
                });
            } else if let Some(s) = conf.sections.last_mut() {
                s.lines.push(line.to_string());
            } else {
                conf.preamble.push(line.to_string());
            }
        }
        conf
    }

    /// Canonical base64 public keys of the `[Peer]` sections, in file order.
    pub fn peer_keys(&self) -> Vec<String> {
        self.sections
            .iter()
            .filter(|s| s.is_peer())
            .filter_map(Section::public_key)
            .collect()
    }

    /// The peers as specs (unparseable AllowedIPs entries are skipped, not fatal: the file
    /// may have been hand-edited, and the daemon is the one that has to accept it).
    pub fn peers(&self) -> Vec<PeerSpec> {
        self.sections
            .iter()
            .filter(|s| s.is_peer())
            .filter_map(|s| {
                let key = s.public_key()?;
                let ips = s
                    .get("AllowedIPs")
                    .unwrap_or("")
                    .split(',')
                    .filter_map(|ip| ip.trim().parse().ok())
                    .collect();
                Some(PeerSpec {
                    public_key: key,
                    preshared_key: s
                        .get("PresharedKey")
                        .filter(|v| !v.is_empty())
                        .map(SecretString::new),
                    allowed_ips: ips,
                    persistent_keepalive: s
                        .get("PersistentKeepalive")
                        .and_then(|v| v.parse().ok())
                        .filter(|&k: &u16| k != 0),
                    label: None,
                })
            })
            .collect()
    }

    /// Remove every `[Peer]` with this public key. Returns whether one was there.
    pub fn remove_peer(&mut self, public_key: &str) -> bool {
        let key = canonical_key(public_key);
        let before = self.sections.len();
        self.sections
            .retain(|s| !(s.is_peer() && s.public_key().as_deref() == Some(key.as_str())));
        before != self.sections.len()
    }

    /// Replace the `[Peer]` with this key (keeping its position and any lines we do not
    /// manage, such as Endpoint) or append a new one.
    pub fn upsert_peer(&mut self, spec: &PeerSpec) {
        let key = canonical_key(&spec.public_key);
        let fresh = render_peer(spec);
        if let Some(s) = self
            .sections
            .iter_mut()
            .find(|s| s.is_peer() && s.public_key().as_deref() == Some(key.as_str()))
        {
            const MANAGED: [&str; 4] = [
                "publickey",
                "presharedkey",
                "allowedips",
                "persistentkeepalive",
            ];
            let kept: Vec<String> = s
                .lines
                .iter()
                .skip(1)
                .filter(|l| {
                    let k = l
                        .split('=')
                        .next()
                        .unwrap_or("")
                        .trim()
                        .to_ascii_lowercase();
                    !MANAGED.contains(&k.as_str()) && !l.trim().is_empty()
                })
                .cloned()
                .collect();
            let mut lines = fresh;
            let blank = lines.pop(); // keep the separating blank line last
            lines.extend(kept);
            lines.extend(blank);
            s.lines = lines;
        } else {
            // Make sure the previous section ends with a blank line, as wg-quick files do.
            if let Some(last) = self.sections.last_mut() {
                if last.lines.last().is_some_and(|l| !l.trim().is_empty()) {
                    last.lines.push(String::new());
                }
            }
            self.sections.push(Section { lines: fresh });
        }
    }

    /// Drop `Key = …` lines from every `[Peer]` (used to leave endpoints to the daemon).
    pub fn strip_peer_key(&mut self, key: &str) {
        for s in self.sections.iter_mut().filter(|s| s.is_peer()) {
            let mut first = true;
            s.lines.retain(|l| {
                if std::mem::take(&mut first) {
                    return true;
                }
                let k = l.split('=').next().unwrap_or("").trim();
                !(l.contains('=') && k.eq_ignore_ascii_case(key))
            });
        }
    }

    pub fn render(&self) -> Zeroizing<String> {
        let mut out = Zeroizing::new(String::new());
        for l in self
            .preamble
            .iter()
            .chain(self.sections.iter().flat_map(|s| s.lines.iter()))
        {
            out.push_str(l);
            out.push('\n');
        }
        out
    }
}

/// A `[Peer]` section in the layout the Amnezia scripts write, ending with a blank line.
fn render_peer(spec: &PeerSpec) -> Vec<String> {
    let mut v = vec![
        "[Peer]".to_string(),
        format!("PublicKey = {}", canonical_key(&spec.public_key)),
    ];
    if let Some(psk) = &spec.preshared_key {
        v.push(format!("PresharedKey = {}", psk.expose_secret()));
    }
    let ips: Vec<String> = normalize_ips(&spec.allowed_ips)
        .iter()
        .map(|n| n.to_string())
        .collect();
    v.push(format!("AllowedIPs = {}", ips.join(", ")));
    if let Some(ka) = spec.persistent_keepalive.filter(|&k| k != 0) {
        v.push(format!("PersistentKeepalive = {ka}"));
    }
    v.push(String::new());
    v
}

/// What `wg-quick strip` does: drop the keys only wg-quick understands, so the result can
/// be fed to `wg syncconf`. Used for tests and as a fallback when the container has no
/// wg-quick.
pub fn strip_wg_quick(text: &str) -> Zeroizing<String> {
    const QUICK: [&str; 9] = [
        "address",
        "dns",
        "mtu",
        "table",
        "preup",
        "postup",
        "predown",
        "postdown",
        "saveconfig",
    ];
    let mut out = Zeroizing::new(String::new());
    for line in text.lines() {
        let t = line.split('#').next().unwrap_or("").trim();
        if t.is_empty() {
            continue;
        }
        if let Some((k, _)) = t.split_once('=') {
            if QUICK.contains(&k.trim().to_ascii_lowercase().as_str()) {
                continue;
            }
        }
        out.push_str(t);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Key;

    fn k(n: u8) -> String {
        Key([n; 32]).to_base64()
    }

    const AMNEZIA: &str = "[Interface]
PrivateKey = SERVERPRIVATEKEYxxxxxxxxxxxxxxxxxxxxxxxxxxx=
Address = 10.8.1.0/24
ListenPort = 43520
Jc = 4
Jmin = 10
Jmax = 50
S1 = 117
S2 = 29
H1 = 1386589395
H2 = 1421101282
H3 = 1190095524
H4 = 1808549862

[Peer]
PublicKey = AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=
PresharedKey = CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=
AllowedIPs = 10.8.1.1/32

[Peer]
PublicKey = AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=
PresharedKey = CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=
AllowedIPs = 10.8.1.2/32
";

    #[test]
    fn roundtrip_is_byte_exact() {
        assert_eq!(WgConf::parse(AMNEZIA).render().as_str(), AMNEZIA);
    }

    #[test]
    fn peers_and_edit() {
        let mut c = WgConf::parse(AMNEZIA);
        assert_eq!(c.peer_keys(), vec![k(1), k(2)]);
        let peers = c.peers();
        assert_eq!(peers[0].allowed_ips, vec!["10.8.1.1/32".parse().unwrap()]);
        assert!(peers[0].preshared_key.is_some());

        assert!(c.remove_peer(&k(1)));
        assert!(!c.remove_peer(&k(1)));
        let mut p = PeerSpec::new(k(3), vec!["10.8.1.3/32".parse().unwrap()]);
        p.persistent_keepalive = Some(25);
        c.upsert_peer(&p);
        let mut p2 = PeerSpec::new(k(2), vec!["10.8.1.22/32".parse().unwrap()]);
        p2.preshared_key = Some(k(9).into());
        c.upsert_peer(&p2);
        let text = c.render();
        assert!(text.starts_with("[Interface]\nPrivateKey"));
        assert!(text.contains("H4 = 1808549862\n\n[Peer]\nPublicKey = AgIC"));
        assert!(text.contains("AllowedIPs = 10.8.1.22/32\n"));
        assert!(text.contains(&format!(
            "[Peer]\nPublicKey = {}\nAllowedIPs = 10.8.1.3/32\nPersistentKeepalive = 25\n",
            k(3)
        )));
        assert_eq!(WgConf::parse(&text).peer_keys(), vec![k(2), k(3)]);
        assert!(!format!("{c:?}").contains("CQkJ"));
    }

    #[test]
    fn upsert_keeps_unmanaged_lines() {
        let mut c = WgConf::parse(&format!(
            "[Peer]\nPublicKey = {}\nEndpoint = 1.2.3.4:5\nAllowedIPs = 10.0.0.1/32\n",
            k(1)
        ));
        c.upsert_peer(&PeerSpec::new(k(1), vec!["10.0.0.2/32".parse().unwrap()]));
        let t = c.render();
        assert!(t.contains("Endpoint = 1.2.3.4:5"), "{}", t.as_str());
        assert!(t.contains("AllowedIPs = 10.0.0.2/32"));
        assert!(!t.contains("10.0.0.1/32"));
        c.strip_peer_key("endpoint");
        assert!(!c.render().contains("Endpoint"));
    }

    #[test]
    fn strip() {
        let s = strip_wg_quick(AMNEZIA);
        assert!(!s.contains("Address"));
        assert!(s.contains("Jc = 4"));
        assert!(s.contains("ListenPort = 43520"));
    }
}

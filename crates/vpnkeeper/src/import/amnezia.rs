//! Reads an Amnezia self-hosted server's files (copied out of its container, e.g. `docker cp
//! amnezia-awg:/opt/amnezia/awg/wg0.conf .`):
//! - `wg0.conf`: `[Interface]` PrivateKey, ListenPort and the AmneziaWG keys (Jc, Jmin,
//!   Jmax, S1–S4, H1–H4, I1–I5); one `[Peer]` per client with PublicKey, PresharedKey and
//!   AllowedIPs (the client's /32);
//! - `clientsTable`: JSON `[{"clientId": <public key>, "userData": {"clientName": …}}]`.
//!
//! Each client becomes a user with one device holding the peer's key and address; the node
//! takes over the server's private key and parameters, so client configs keep working.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use vpnkeeper_domain::awg::AwgParams;

use super::{usable_name, ImportPlan};
use crate::config::Config;

/// One `[Peer]` of the server's config.
#[derive(Debug, Default)]
struct Peer {
    public_key: String,
    preshared_key: Option<String>,
    address: Option<Ipv4Addr>,
}

/// The parts of wg0.conf an import needs.
#[derive(Debug, Default)]
struct ServerConf {
    private_key: Option<String>,
    listen_port: Option<u16>,
    awg_keys: Vec<(String, String)>,
    peers: Vec<Peer>,
}

pub fn read(wg_conf: &Path, clients_table: Option<&Path>, config: &Config) -> Result<ImportPlan> {
    let text = std::fs::read_to_string(wg_conf)
        .with_context(|| format!("reading {} (the server's wg0.conf)", wg_conf.display()))?;
    let conf = parse(&text);
    let Some(private_key) = conf.private_key.clone() else {
        bail!(
            "{}: no PrivateKey in [Interface]; give the server's wg0.conf, not a client's",
            wg_conf.display()
        );
    };
    let awg = awg_params(&conf.awg_keys)
        .with_context(|| format!("{}: AmneziaWG parameters", wg_conf.display()))?;
    check_config(config, awg.as_ref())?;
    let names = match clients_table {
        Some(p) => client_names(p)?,
        None => HashMap::new(),
    };
    let protocol = if awg.is_some() { "awg" } else { "wireguard" };
    let mut notes = Vec::new();
    let mut users = Vec::new();
    let mut taken = std::collections::HashSet::new();
    for (i, peer) in conf.peers.iter().enumerate() {
        let Some(address) = peer.address else {
            notes.push(format!(
                "peer {} has no /32 in AllowedIPs: skipped",
                peer.public_key
            ));
            continue;
        };
        let base = names
            .get(&peer.public_key)
            .map(|n| usable_name("amnezia", n))
            .unwrap_or_else(|| format!("amnezia-{}", i + 1));
        // Amnezia allows the same client name twice; vpnkeeper user names are unique.
        let mut name = base.clone();
        let mut n = 2;
        while !taken.insert(name.to_lowercase()) {
            name = format!("{base} {n}");
            n += 1;
        }
        users.push(json!({
            "name": name,
            "devices": [{
                "name": "amnezia",
                "protocol": protocol,
                "public_key": peer.public_key,
                "preshared_key": peer.preshared_key,
                "address_v4": address.to_string(),
            }],
        }));
    }
    Ok(ImportPlan {
        source: "amnezia",
        legacy_secret: None,
        server: Some(json!({
            "private_key": private_key,
            "listen_port": conf.listen_port.unwrap_or(config.wireguard.listen_port),
            "awg": awg,
        })),
        users,
        notes,
    })
}

/// The node keeps its AmneziaWG parameters across restarts only if its config agrees.
fn check_config(config: &Config, awg: Option<&AwgParams>) -> Result<()> {
    let wg = &config.wireguard;
    match awg {
        None if wg.amneziawg => bail!(
            "the old server runs plain WireGuard: set [wireguard] amneziawg = false on this node and restart it, then import again"
        ),
        Some(p) if !wg.amneziawg => bail!(
            "the old server runs AmneziaWG: set [wireguard] amneziawg = true on this node (version {:?}) and restart it, then import again",
            p.version()
        ),
        Some(p) if wg.amneziawg_version.generation() != p.version() => bail!(
            "the old server's AmneziaWG parameters are generation {:?}, this node's [wireguard] amneziawg_version is another: set it to match and restart, then import again",
            p.version()
        ),
        Some(p) if wg.awg.as_ref().is_some_and(|mine| mine != p) => bail!(
            "this node's config fixes other AmneziaWG parameters in [wireguard.awg]: remove them (the import brings the old server's), restart, then import again"
        ),
        _ => Ok(()),
    }
}

fn parse(text: &str) -> ServerConf {
    let mut conf = ServerConf::default();
    let mut in_peer = false;
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.eq_ignore_ascii_case("[Interface]") {
            in_peer = false;
            continue;
        }
        if line.eq_ignore_ascii_case("[Peer]") {
            in_peer = true;
            conf.peers.push(Peer::default());
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let (key, value) = (key.trim().to_ascii_lowercase(), value.trim().to_string());
        match (in_peer, key.as_str()) {
            (false, "privatekey") => conf.private_key = Some(value),
            (false, "listenport") => conf.listen_port = value.parse().ok(),
            (false, k) if is_awg_key(k) => conf.awg_keys.push((key, value)),
            (true, k) => {
                let peer = conf.peers.last_mut().expect("inside a [Peer]");
                match k {
                    "publickey" => peer.public_key = value,
                    "presharedkey" => peer.preshared_key = Some(value),
                    "allowedips" => peer.address = host_address(&value),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    conf
}

fn is_awg_key(k: &str) -> bool {
    matches!(
        k,
        "jc" | "jmin"
            | "jmax"
            | "s1"
            | "s2"
            | "s3"
            | "s4"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "i1"
            | "i2"
            | "i3"
            | "i4"
            | "i5"
    )
}

/// The first IPv4 /32 of an AllowedIPs list.
fn host_address(list: &str) -> Option<Ipv4Addr> {
    list.split(',').find_map(|item| {
        let (ip, prefix) = item.trim().split_once('/').unwrap_or((item.trim(), "32"));
        (prefix == "32").then(|| ip.parse().ok()).flatten()
    })
}

/// AmneziaWG parameters from the `[Interface]` keys; `None` when there are none (or all are
/// zero/default, i.e. plain WireGuard).
fn awg_params(keys: &[(String, String)]) -> Result<Option<AwgParams>> {
    let get = |k: &str| {
        keys.iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let num = |k: &str| -> Result<Option<u32>> {
        get(k)
            .map(|v| {
                v.parse::<u32>()
                    .with_context(|| format!("{k} = {v} is not a number"))
            })
            .transpose()
    };
    let plain = ["jc", "s1", "s2", "h1", "h2", "h3", "h4"]
        .iter()
        .all(|k| get(k).is_none_or(|v| v == "0" || v == "1" || v == "2" || v == "3" || v == "4"));
    if plain {
        return Ok(None);
    }
    let header = |k: &str| -> Result<vpnkeeper_domain::awg::HeaderRange> {
        let v = get(k).with_context(|| format!("{} is missing", k.to_uppercase()))?;
        v.parse()
            .map_err(|e| anyhow::anyhow!("{}: {e:?}", k.to_uppercase()))
    };
    let small = |k: &str| -> Result<u16> { Ok(num(k)?.unwrap_or(0) as u16) };
    let params = AwgParams {
        jc: num("jc")?.unwrap_or(0) as u8,
        jmin: small("jmin")?,
        jmax: small("jmax")?,
        s1: small("s1")?,
        s2: small("s2")?,
        s3: num("s3")?.map(|v| v as u16),
        s4: num("s4")?.map(|v| v as u16),
        h1: header("h1")?,
        h2: header("h2")?,
        h3: header("h3")?,
        h4: header("h4")?,
        i1: get("i1").map(str::to_string),
        i2: get("i2").map(str::to_string),
        i3: get("i3").map(str::to_string),
        i4: get("i4").map(str::to_string),
        i5: get("i5").map(str::to_string),
    };
    params.validate().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Some(params))
}

/// Public key → client name, from Amnezia's clientsTable.
fn client_names(path: &Path) -> Result<HashMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading {} (Amnezia's clientsTable)", path.display()))?;
    let table: Value = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not Amnezia's clientsTable (JSON list of clients)",
            path.display()
        )
    })?;
    let mut out = HashMap::new();
    for c in table.as_array().into_iter().flatten() {
        if let (Some(id), Some(name)) =
            (c["clientId"].as_str(), c["userData"]["clientName"].as_str())
        {
            out.insert(id.to_string(), name.to_string());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONF: &str = "[Interface]\nPrivateKey = cHJpdmF0ZQ==\nAddress = 10.8.1.1/24\nListenPort = 51820\nJc = 4\nJmin = 40\nJmax = 70\nS1 = 50\nS2 = 100\nH1 = 1234567\nH2 = 2345678\nH3 = 3456789\nH4 = 4567890\n\n[Peer]\nPublicKey = AAA=\nPresharedKey = BBB=\nAllowedIPs = 10.8.1.2/32\n";

    #[test]
    fn server_conf_peers_and_awg_params_are_read() {
        let c = parse(CONF);
        assert_eq!(c.private_key.as_deref(), Some("cHJpdmF0ZQ=="));
        assert_eq!(c.listen_port, Some(51820));
        assert_eq!(c.peers.len(), 1);
        assert_eq!(c.peers[0].address, Some(Ipv4Addr::new(10, 8, 1, 2)));
        assert_eq!(c.peers[0].preshared_key.as_deref(), Some("BBB="));
        let p = awg_params(&c.awg_keys).unwrap().unwrap();
        assert_eq!((p.jc, p.s1, p.h1.start), (4, 50, 1234567));
    }

    #[test]
    fn zero_parameters_mean_plain_wireguard() {
        let c =
            parse("[Interface]\nPrivateKey = x\nJc = 0\nS1 = 0\nH1 = 1\nH2 = 2\nH3 = 3\nH4 = 4\n");
        assert!(awg_params(&c.awg_keys).unwrap().is_none());
    }
}

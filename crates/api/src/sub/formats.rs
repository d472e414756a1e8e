//! Subscription output formats, as the client apps expect them (the Marzban conventions):
//! - `base64`: base64 of the newline-joined share links (v2rayN, v2rayNG, Happ, Streisand);
//! - `plain`: the share links, one per line;
//! - `sing-box`: a sing-box config with one outbound (or endpoint) per entry behind a
//!   selector;
//! - `clash`: a mihomo (Clash.Meta) config with one proxy per entry behind a select group.
//!
//! What each format carries ([`usable`]): link lists carry share links only (VLESS; no
//! share-link format that those apps import carries AmneziaWG or WireGuard); mihomo carries
//! all three (AmneziaWG through `amnezia-wg-option`); sing-box carries plain WireGuard and
//! VLESS, but no AmneziaWG (mainline sing-box has none) and no VLESS+Reality when the
//! cluster's Xray demands a post-quantum key share that sing-box cannot send.
//!
//! A profile with nothing usable is never a working-looking profile that routes direct:
//! [`unusable`] renders one that blocks everything and names the reason, next to the
//! `announce` header that says what to do.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use vpnkeeper_domain::artifact::{Payload, VlessLink};
use vpnkeeper_domain::wgconf::ClientConfig;

use super::links::SubLink;
use super::settings::Engine;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    #[serde(alias = "v2ray")]
    Base64,
    #[serde(alias = "links")]
    Plain,
    #[serde(alias = "singbox")]
    SingBox,
    #[serde(alias = "clash-meta", alias = "mihomo")]
    Clash,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Base64 | Format::Plain => "text/plain; charset=utf-8",
            Format::SingBox => "application/json",
            Format::Clash => "application/yaml; charset=utf-8",
        }
    }
}

/// Why an entry was left out of a profile; each becomes a line of the `announce` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LeftOut {
    /// AmneziaWG/WireGuard in a link list.
    WireGuardInLinks,
    /// AmneziaWG in sing-box.
    AmneziaInSingBox,
    /// VLESS+Reality for a sing-box engine while Xray demands X25519MLKEM768.
    RealityForSingBox,
}

impl LeftOut {
    /// What the user reads in the app, with what to do.
    pub fn message(self) -> &'static str {
        match self {
            LeftOut::WireGuardInLinks => "AmneziaWG/WireGuard devices are not in this list: open the subscription link in a browser to download their configs, or use Clash Verge / FlClash.",
            LeftOut::AmneziaInSingBox => "AmneziaWG devices are not in sing-box profiles (sing-box has no AmneziaWG): use the AmneziaVPN or AmneziaWG app, or Clash Verge / FlClash.",
            LeftOut::RealityForSingBox => "VLESS is not offered to sing-box based apps (Hiddify, SFA/SFI, Karing, NekoBox): this server's Xray needs a post-quantum key share they cannot send. Use Happ, v2rayNG, v2rayN, Clash Verge or FlClash.",
        }
    }
}

/// The entries `format` carries and the `engine` can connect with, and why others were
/// left out (sorted, without repeats).
pub fn usable(
    format: Format,
    engine: Engine,
    reality_requires_pq: bool,
    links: &[SubLink],
) -> (Vec<SubLink>, Vec<LeftOut>) {
    let mut kept = Vec::new();
    let mut left = Vec::new();
    for l in links {
        let why = match (&l.artifact.payload, format) {
            (Payload::WireGuard { .. }, Format::Base64 | Format::Plain) => {
                Some(LeftOut::WireGuardInLinks)
            }
            (Payload::WireGuard { amnezia: true, .. }, Format::SingBox) => {
                Some(LeftOut::AmneziaInSingBox)
            }
            (Payload::Vless(_), _) if engine == Engine::SingBox && reality_requires_pq => {
                Some(LeftOut::RealityForSingBox)
            }
            _ => None,
        };
        match why {
            Some(w) => left.push(w),
            None => kept.push(l.clone()),
        }
    }
    left.sort();
    left.dedup();
    (kept, left)
}

/// The share links of the entries that have one (VLESS).
pub fn link_lines(links: &[SubLink]) -> Vec<String> {
    links
        .iter()
        .filter_map(|l| l.artifact.share_link().map(str::to_string))
        .collect()
}

/// The profile of `links` (already filtered by [`usable`], not empty).
pub fn render(format: Format, links: &[SubLink]) -> String {
    match format {
        Format::Plain => {
            let mut s = link_lines(links).join("\n");
            if !s.is_empty() {
                s.push('\n');
            }
            s
        }
        Format::Base64 => STANDARD.encode(link_lines(links).join("\n")),
        Format::SingBox => sing_box(links),
        Format::Clash => clash(links),
    }
}

/// The profile for a user with nothing usable in `format`: it names `reason` where the app
/// shows it and blocks all traffic rather than sending it around the VPN. Link lists are
/// empty (the `announce` header carries the reason).
pub fn unusable(format: Format, reason: &str) -> String {
    let label = format!("⚠ {reason}");
    match format {
        Format::Base64 | Format::Plain => String::new(),
        Format::SingBox => {
            let config = json!({
                "log": { "level": "warn" },
                "inbounds": [tun_inbound()],
                "outbounds": [{ "type": "direct", "tag": label }],
                // Everything is refused: the app shows itself connected, nothing leaks
                // around the (absent) VPN, and the outbound's tag says why.
                "route": { "rules": [{ "action": "reject" }], "auto_detect_interface": true },
            });
            serde_json::to_string_pretty(&config).unwrap_or_default()
        }
        Format::Clash => {
            let config = json!({
                "mixed-port": 7890,
                "allow-lan": false,
                "mode": "rule",
                "log-level": "warning",
                "proxies": [],
                "proxy-groups": [{ "name": label, "type": "select", "proxies": ["REJECT"] }],
                "rules": [format!("MATCH,{label}")],
            });
            serde_norway::to_string(&config).unwrap_or_default()
        }
    }
}

fn tun_inbound() -> Value {
    json!({
        "type": "tun",
        "tag": "tun-in",
        "address": ["172.19.0.1/30"],
        "auto_route": true,
        "strict_route": true,
    })
}

/// `host:port` or `[v6]:port` → (host, port).
fn split_endpoint(endpoint: &str) -> (String, u16) {
    match endpoint.rsplit_once(':') {
        Some((h, p)) => (
            h.trim_start_matches('[').trim_end_matches(']').to_string(),
            p.parse().unwrap_or(0),
        ),
        None => (endpoint.to_string(), 0),
    }
}

fn sing_box_vless(name: &str, v: &VlessLink) -> Value {
    json!({
        "type": "vless",
        "tag": name,
        "server": v.host,
        "server_port": v.port,
        "uuid": v.uuid.to_string(),
        "flow": v.flow,
        "packet_encoding": "xudp",
        "tls": {
            "enabled": true,
            "server_name": v.sni,
            "utls": { "enabled": true, "fingerprint": v.fingerprint },
            "reality": { "enabled": true, "public_key": v.public_key, "short_id": v.short_id },
        },
    })
}

fn sing_box_wireguard(name: &str, c: &ClientConfig) -> Value {
    let (host, port) = split_endpoint(&c.endpoint);
    let mut peer = json!({
        "address": host,
        "port": port,
        "public_key": c.peer_public_key,
        "allowed_ips": ["0.0.0.0/0", "::/0"],
    });
    if let Some(psk) = &c.preshared_key {
        peer["pre_shared_key"] = json!(psk);
    }
    if let Some(k) = c.keepalive {
        peer["persistent_keepalive_interval"] = json!(k);
    }
    let mut ep = json!({
        "type": "wireguard",
        "tag": name,
        "address": [c.address],
        "private_key": c.private_key,
        "peers": [peer],
    });
    if let Some(mtu) = c.mtu {
        ep["mtu"] = json!(mtu);
    }
    ep
}

/// sing-box 1.11+ config: VLESS links as outbounds, WireGuard devices as endpoints, a
/// `proxy` selector over all of them, and a TUN inbound so mobile apps route through it.
fn sing_box(links: &[SubLink]) -> String {
    let mut outbounds = Vec::new();
    let mut endpoints = Vec::new();
    let mut tags = Vec::new();
    for l in links {
        match &l.artifact.payload {
            Payload::Vless(v) => outbounds.push(sing_box_vless(&l.name, v)),
            Payload::WireGuard { config, .. } => {
                endpoints.push(sing_box_wireguard(&l.name, config))
            }
        }
        tags.push(l.name.clone());
    }
    let mut all_outbounds = vec![json!({"type": "selector", "tag": "proxy", "outbounds": tags})];
    all_outbounds.extend(outbounds);
    all_outbounds.push(json!({"type": "direct", "tag": "direct"}));
    let mut config = json!({
        "log": { "level": "warn" },
        "inbounds": [tun_inbound()],
        "outbounds": all_outbounds,
        "route": { "final": "proxy", "auto_detect_interface": true },
    });
    if !endpoints.is_empty() {
        config["endpoints"] = Value::Array(endpoints);
    }
    serde_json::to_string_pretty(&config).unwrap_or_default()
}

fn clash_vless(name: &str, v: &VlessLink) -> Value {
    json!({
        "name": name,
        "type": "vless",
        "server": v.host,
        "port": v.port,
        "uuid": v.uuid.to_string(),
        "network": "tcp",
        "udp": true,
        "tls": true,
        "flow": v.flow,
        "servername": v.sni,
        "client-fingerprint": v.fingerprint,
        // Xray ≥ 26.9.8 refuses a Reality ClientHello without an X25519MLKEM768 key share;
        // mihomo sends one only when asked. Older Xray accepts it too.
        "reality-opts": {
            "public-key": v.public_key,
            "short-id": v.short_id,
            "support-x25519mlkem768": true,
        },
    })
}

fn clash_wireguard(name: &str, c: &ClientConfig, amnezia: bool) -> Value {
    let (host, port) = split_endpoint(&c.endpoint);
    let ip = c.address.split('/').next().unwrap_or(&c.address);
    let mut p = json!({
        "name": name,
        "type": "wireguard",
        "server": host,
        "port": port,
        "ip": ip,
        "private-key": c.private_key,
        "public-key": c.peer_public_key,
        "udp": true,
    });
    if let Some(psk) = &c.preshared_key {
        p["pre-shared-key"] = json!(psk);
    }
    if let Some(mtu) = c.mtu {
        p["mtu"] = json!(mtu);
    }
    if let Some(k) = c.keepalive {
        p["persistent-keepalive"] = json!(k);
    }
    if !c.dns.is_empty() {
        p["dns"] = json!(c.dns.iter().map(ToString::to_string).collect::<Vec<_>>());
    }
    if amnezia && !c.awg.is_empty() {
        // Mihomo's `amnezia-wg-option` uses the lower-cased awg-quick keys (jc, jmin, s1, h1…).
        let mut opt = Map::new();
        for (k, v) in &c.awg {
            let value = v.parse::<u64>().map(Value::from).unwrap_or(json!(v));
            opt.insert(k.to_ascii_lowercase(), value);
        }
        p["amnezia-wg-option"] = Value::Object(opt);
    }
    p
}

/// A mihomo (Clash.Meta) config: one proxy per entry, a `vpnkeeper` select group, all
/// traffic through it.
fn clash(links: &[SubLink]) -> String {
    let proxies: Vec<Value> = links
        .iter()
        .map(|l| match &l.artifact.payload {
            Payload::Vless(v) => clash_vless(&l.name, v),
            Payload::WireGuard { config, amnezia } => clash_wireguard(&l.name, config, *amnezia),
        })
        .collect();
    let names: Vec<String> = links.iter().map(|l| l.name.clone()).collect();
    let config = json!({
        "mixed-port": 7890,
        "allow-lan": false,
        "mode": "rule",
        "log-level": "warning",
        "proxies": proxies,
        "proxy-groups": [{ "name": "vpnkeeper", "type": "select", "proxies": names }],
        "rules": ["MATCH,vpnkeeper"],
    });
    serde_norway::to_string(&config).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vless() -> SubLink {
        let link = VlessLink {
            uuid: "0b0ae0c8-33f5-4a37-9d4a-1b7f3d2c5e6f".parse().unwrap(),
            host: "vpn.example.com".into(),
            port: 443,
            public_key: "abc".into(),
            short_id: "01".into(),
            sni: "www.microsoft.com".into(),
            fingerprint: "chrome".into(),
            flow: "xtls-rprx-vision".into(),
            name: "node-1 phone".into(),
        };
        SubLink {
            name: "node-1 phone".into(),
            device_uuid: link.uuid,
            artifact: vpnkeeper_domain::artifact::ClientArtifact {
                label: "node-1 phone".into(),
                file_name: "phone.txt".into(),
                text: link.to_uri(),
                payload: Payload::Vless(link),
            },
        }
    }

    #[test]
    fn unusable_profiles_block_and_say_why() {
        assert_eq!(unusable(Format::Base64, "x"), "");
        let sb: Value = serde_json::from_str(&unusable(Format::SingBox, "No devices")).unwrap();
        assert_eq!(sb["route"]["rules"][0]["action"], "reject");
        assert_eq!(sb["outbounds"][0]["tag"], "⚠ No devices");
        let clash: Value = serde_norway::from_str(&unusable(Format::Clash, "No devices")).unwrap();
        assert_eq!(clash["proxy-groups"][0]["proxies"][0], "REJECT");
        assert_eq!(clash["rules"][0], "MATCH,⚠ No devices");
    }

    #[test]
    fn sing_box_apps_get_no_reality_while_xray_demands_pq() {
        let links = vec![vless()];
        let (kept, left) = usable(Format::Base64, Engine::SingBox, true, &links);
        assert!(kept.is_empty());
        assert_eq!(left, vec![LeftOut::RealityForSingBox]);
        let (kept, left) = usable(Format::SingBox, Engine::SingBox, false, &links);
        assert_eq!((kept.len(), left.len()), (1, 0));
        let (kept, _) = usable(Format::Base64, Engine::Xray, true, &links);
        assert_eq!(kept.len(), 1);
    }

    #[test]
    fn vless_in_every_format() {
        let links = vec![vless()];
        let b64 = render(Format::Base64, &links);
        let text = String::from_utf8(STANDARD.decode(b64).unwrap()).unwrap();
        assert!(text.starts_with("vless://0b0ae0c8"));
        let sb: Value = serde_json::from_str(&render(Format::SingBox, &links)).unwrap();
        let ob = &sb["outbounds"][1];
        assert_eq!(sb["route"]["final"], "proxy");
        assert_eq!(ob["type"], "vless");
        assert_eq!(ob["tls"]["reality"]["public_key"], "abc");
        assert_eq!(sb["outbounds"][0]["outbounds"][0], "node-1 phone");
        let clash: Value = serde_norway::from_str(&render(Format::Clash, &links)).unwrap();
        assert_eq!(clash["proxies"][0]["reality-opts"]["short-id"], "01");
        assert_eq!(
            clash["proxies"][0]["reality-opts"]["support-x25519mlkem768"],
            true
        );
        assert_eq!(clash["proxies"][0]["port"], 443);
    }

    #[test]
    fn endpoints_split() {
        assert_eq!(split_endpoint("1.2.3.4:51820"), ("1.2.3.4".into(), 51820));
        assert_eq!(
            split_endpoint("[2001:db8::1]:443"),
            ("2001:db8::1".into(), 443)
        );
    }
}

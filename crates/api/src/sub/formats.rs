//! Subscription output formats, as the client apps expect them (the Marzban conventions):
//! - `base64`: base64 of the newline-joined links (v2rayN, v2rayNG, Streisand, Hiddify);
//! - `plain`: the links, one per line;
//! - `sing-box`: a sing-box config with one outbound (or endpoint) per link behind a selector;
//! - `clash`: a Clash.Meta/Mihomo config with one proxy per link behind a select group.
//!
//! Link lists carry each awg/wireguard device as the URL of its `.conf` download (no link
//! scheme for AmneziaWG exists that those apps import); Mihomo speaks AmneziaWG itself, so
//! the Clash output carries the full parameters. Mainline sing-box has no AmneziaWG, so its
//! output carries plain-WireGuard devices and VLESS only.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Map, Value};
use vpnkeeper_domain::wgconf::ClientConfig;

use super::links::{LinkKind, SubLink, VlessLink};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Base64,
    Plain,
    SingBox,
    Clash,
}

impl Format {
    /// The format a client app wants, from its User-Agent, like Marzban decides it.
    /// Unknown agents (v2rayN/v2rayNG/Streisand/Hiddify and browsers) get base64 links.
    pub fn from_user_agent(ua: &str) -> Format {
        let ua = ua.to_ascii_lowercase();
        let starts = |p: &[&str]| p.iter().any(|p| ua.starts_with(p));
        if starts(&[
            "clash",
            "mihomo",
            "stash",
            "flclash",
            "clashx",
            "clash-verge",
            "koala-clash",
        ]) {
            Format::Clash
        } else if starts(&["sing-box", "sfa", "sfi", "sfm", "sft", "karing"]) {
            Format::SingBox
        } else {
            Format::Base64
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Base64 | Format::Plain => "text/plain; charset=utf-8",
            Format::SingBox => "application/json",
            Format::Clash => "application/yaml; charset=utf-8",
        }
    }
}

/// The link-list form of each entry.
pub fn link_lines(links: &[SubLink]) -> Vec<String> {
    links
        .iter()
        .map(|l| match &l.kind {
            LinkKind::Vless(v) => v.uri.clone(),
            LinkKind::WireGuard { config_url, .. } => config_url.clone(),
        })
        .collect()
}

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
        match &l.kind {
            LinkKind::Vless(v) => outbounds.push(sing_box_vless(&l.name, v)),
            LinkKind::WireGuard {
                config,
                amnezia: false,
                ..
            } => endpoints.push(sing_box_wireguard(&l.name, config)),
            LinkKind::WireGuard { amnezia: true, .. } => continue,
        }
        tags.push(l.name.clone());
    }
    let final_tag = if tags.is_empty() { "direct" } else { "proxy" };
    let mut all_outbounds = Vec::new();
    if !tags.is_empty() {
        all_outbounds.push(json!({"type": "selector", "tag": "proxy", "outbounds": tags}));
    }
    all_outbounds.extend(outbounds);
    all_outbounds.push(json!({"type": "direct", "tag": "direct"}));
    let mut config = json!({
        "log": { "level": "warn" },
        "inbounds": [{
            "type": "tun",
            "tag": "tun-in",
            "address": ["172.19.0.1/30"],
            "auto_route": true,
            "strict_route": true,
        }],
        "outbounds": all_outbounds,
        "route": { "final": final_tag, "auto_detect_interface": true },
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
        "reality-opts": { "public-key": v.public_key, "short-id": v.short_id },
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

/// A Clash.Meta (Mihomo) config: one proxy per link, a `vpnkeeper` select group, all traffic
/// through it.
fn clash(links: &[SubLink]) -> String {
    let proxies: Vec<Value> = links
        .iter()
        .map(|l| match &l.kind {
            LinkKind::Vless(v) => clash_vless(&l.name, v),
            LinkKind::WireGuard {
                config, amnezia, ..
            } => clash_wireguard(&l.name, config, *amnezia),
        })
        .collect();
    let mut names: Vec<String> = links.iter().map(|l| l.name.clone()).collect();
    if names.is_empty() {
        names.push("DIRECT".into());
    }
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
        SubLink {
            name: "node-1 phone".into(),
            kind: LinkKind::Vless(VlessLink {
                uri: "vless://0b0ae0c8-33f5-4a37-9d4a-1b7f3d2c5e6f@vpn.example.com:443?security=reality&type=tcp&pbk=abc&sid=01&sni=www.microsoft.com&fp=chrome&flow=xtls-rprx-vision#node-1%20phone".into(),
                uuid: "0b0ae0c8-33f5-4a37-9d4a-1b7f3d2c5e6f".parse().unwrap(),
                host: "vpn.example.com".into(),
                port: 443,
                public_key: "abc".into(),
                short_id: "01".into(),
                sni: "www.microsoft.com".into(),
                fingerprint: "chrome".into(),
                flow: "xtls-rprx-vision".into(),
            }),
        }
    }

    #[test]
    fn user_agents_pick_formats() {
        assert_eq!(Format::from_user_agent("clash.meta/1.18"), Format::Clash);
        assert_eq!(Format::from_user_agent("ClashX Pro/1.9"), Format::Clash);
        assert_eq!(Format::from_user_agent("mihomo/1.19.0"), Format::Clash);
        assert_eq!(Format::from_user_agent("SFA/1.11.0"), Format::SingBox);
        assert_eq!(Format::from_user_agent("sing-box 1.11"), Format::SingBox);
        assert_eq!(Format::from_user_agent("v2rayNG/1.9.16"), Format::Base64);
        assert_eq!(Format::from_user_agent("HiddifyNext/2.5"), Format::Base64);
        assert_eq!(Format::from_user_agent("Streisand"), Format::Base64);
    }

    #[test]
    fn empty_lists_are_valid_documents() {
        assert_eq!(render(Format::Base64, &[]), "");
        assert_eq!(render(Format::Plain, &[]), "");
        let sb: Value = serde_json::from_str(&render(Format::SingBox, &[])).unwrap();
        assert_eq!(sb["route"]["final"], "direct");
        let clash: Value = serde_norway::from_str(&render(Format::Clash, &[])).unwrap();
        assert_eq!(clash["proxies"].as_array().unwrap().len(), 0);
        assert_eq!(clash["proxy-groups"][0]["proxies"][0], "DIRECT");
    }

    #[test]
    fn vless_in_every_format() {
        let links = vec![vless()];
        let b64 = render(Format::Base64, &links);
        let text = String::from_utf8(STANDARD.decode(b64).unwrap()).unwrap();
        assert!(text.starts_with("vless://0b0ae0c8"));
        let sb: Value = serde_json::from_str(&render(Format::SingBox, &links)).unwrap();
        let ob = &sb["outbounds"][1];
        assert_eq!(ob["type"], "vless");
        assert_eq!(ob["tls"]["reality"]["public_key"], "abc");
        assert_eq!(sb["outbounds"][0]["outbounds"][0], "node-1 phone");
        let clash: Value = serde_norway::from_str(&render(Format::Clash, &links)).unwrap();
        assert_eq!(clash["proxies"][0]["reality-opts"]["short-id"], "01");
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

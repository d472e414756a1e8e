//! VLESS+Reality share links, the format v2rayNG, Hiddify, Streisand,
//! sing-box and Mihomo import:
//! `vless://UUID@HOST:PORT?security=reality&type=tcp&pbk=…&sid=…&sni=…&fp=…&flow=xtls-rprx-vision#NAME`.
//! The link itself and its rendering live in `vpnkeeper_domain::artifact`; this module adds
//! what needs Xray's validation: building from [`XraySettings`] and parsing.

use percent_encoding::percent_decode_str;

use crate::error::ValidationError;
use crate::settings::{
    parse_uuid, validate_fingerprint, validate_short_id, XraySettings, FLOW_VISION,
};

/// One client's link to one node: the domain's [`VlessLink`], which the API, the
/// subscription and the bot all render through `vpnkeeper_domain::artifact`.
pub use vpnkeeper_domain::artifact::VlessLink as ShareLink;

/// The link for `uuid` on a node with `settings`, reached at `host` (the node's public
/// address, which Xray itself does not know).
pub fn for_node(
    settings: &XraySettings,
    host: impl Into<String>,
    uuid: uuid::Uuid,
    name: impl Into<String>,
) -> ShareLink {
    ShareLink {
        uuid,
        host: host.into(),
        port: settings.port,
        public_key: settings.reality_public_key.clone(),
        short_id: settings.short_ids.first().cloned().unwrap_or_default(),
        sni: settings.server_names.first().cloned().unwrap_or_default(),
        fingerprint: settings.fingerprint.clone(),
        flow: FLOW_VISION.into(),
        name: name.into(),
    }
}

/// Parses a `vless://` Reality link (ours or another tool's).
pub fn parse(uri: &str) -> Result<ShareLink, ValidationError> {
    let bad = |m: &str| ValidationError::new("link", m.to_string());
    let rest = uri
        .trim()
        .strip_prefix("vless://")
        .ok_or_else(|| bad("must start with vless://"))?;
    let (rest, name) = match rest.split_once('#') {
        Some((r, n)) => (r, decode(n)?),
        None => (rest, String::new()),
    };
    let (authority, query) = rest.split_once('?').unwrap_or((rest, ""));
    let authority = authority.trim_end_matches('/');
    let (user, hostport) = authority
        .split_once('@')
        .ok_or_else(|| bad("needs UUID@HOST:PORT"))?;
    let uuid = parse_uuid("uuid", &decode(user)?)?;
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, p) = v6
            .split_once("]:")
            .ok_or_else(|| bad("IPv6 host must be [addr]:port"))?;
        (h.to_string(), p)
    } else {
        let (h, p) = hostport
            .rsplit_once(':')
            .ok_or_else(|| bad("needs HOST:PORT"))?;
        (h.to_string(), p)
    };
    let port: u16 = port
        .parse()
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| ValidationError::new("port", format!("{port:?} is not 1-65535")))?;
    if host.is_empty() {
        return Err(bad("host is empty"));
    }
    let mut link = ShareLink {
        uuid,
        host,
        port,
        public_key: String::new(),
        short_id: String::new(),
        sni: String::new(),
        fingerprint: String::new(),
        flow: String::new(),
        name,
    };
    let (mut security, mut net) = (String::new(), String::from("tcp"));
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = decode(v)?;
        match k {
            "security" => security = v,
            "type" => net = v,
            "pbk" => link.public_key = v,
            "sid" => link.short_id = v,
            "sni" => link.sni = v,
            "fp" => link.fingerprint = v,
            "flow" => link.flow = v,
            _ => {}
        }
    }
    if security != "reality" {
        return Err(ValidationError::new(
            "security",
            format!("must be reality, got {security:?}"),
        ));
    }
    if net != "tcp" {
        return Err(ValidationError::new(
            "type",
            format!("must be tcp, got {net:?}"),
        ));
    }
    if link.public_key.is_empty() {
        return Err(ValidationError::new("pbk", "is missing"));
    }
    validate_short_id(&link.short_id)?;
    if !link.fingerprint.is_empty() {
        validate_fingerprint(&link.fingerprint)?;
    }
    Ok(link)
}

fn decode(s: &str) -> Result<String, ValidationError> {
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| ValidationError::new("link", "contains invalid percent-encoded UTF-8"))
}

/// The share link of a VLESS `device` on `node` (see [`ShareLink::for_device`]).
pub fn for_device(
    node: &vpnkeeper_domain::Node,
    device: &vpnkeeper_domain::Device,
) -> Option<ShareLink> {
    ShareLink::for_device(node, device)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ShareLink {
        ShareLink {
            uuid: "8f0a2c6e-1b1d-4a59-9d2e-3c1f6b7d9e10".parse().unwrap(),
            host: "vpn.example.com".into(),
            port: 443,
            public_key: "Z84J2IelR9ch3k8VtlVhhs5ycBUlXA7wHBWcBrjqnAw".into(),
            short_id: "0123abcd".into(),
            sni: "www.example.org".into(),
            fingerprint: "chrome".into(),
            flow: FLOW_VISION.into(),
            name: "Анна's phone #1 & co".into(),
        }
    }

    #[test]
    fn roundtrips_including_ipv6() {
        let mut l = sample();
        assert_eq!(parse(&l.to_uri()).unwrap(), l);
        l.host = "2001:db8::1".into();
        let uri = l.to_uri();
        assert!(uri.contains("@[2001:db8::1]:443?"), "{uri}");
        assert_eq!(parse(&uri).unwrap(), l);
    }

    #[test]
    fn refuses_bad_links_with_the_field_named() {
        let ok = sample().to_uri();
        let cases = [
            (ok.replace("vless://", "vmess://"), "link"),
            (ok.replace("8f0a2c6e-1b1d", "zz0a2c6e-1b1d"), "uuid"),
            (ok.replace(":443?", ":0?"), "port"),
            (ok.replace(":443?", ":99999?"), "port"),
            (ok.replace("sid=0123abcd", "sid=012"), "short_ids"),
            (ok.replace("security=reality", "security=tls"), "security"),
        ];
        for (uri, field) in cases {
            let err = parse(&uri).unwrap_err();
            assert_eq!(err.field, field, "{uri}: {err}");
        }
    }
}

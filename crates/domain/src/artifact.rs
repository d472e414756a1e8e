//! What a client receives for one device: the config text, the file name it is offered
//! under, the share link and the QR payload. The one renderer behind the API's
//! `/devices/{id}/config` and `/qr`, the subscription and the bot, so they cannot disagree.
//!
//! Pure: the caller reads the device, its user and its node and hands them in with the
//! sealer that opens the device's keys. Same inputs, same bytes.
//!
//! VLESS share links are built here too ([`VlessLink`], the
//! `vless://UUID@HOST:PORT?security=reality&type=tcp&pbk=…&sid=…&sni=…&fp=…&flow=…#NAME`
//! format v2rayNG, Hiddify, Streisand, sing-box and mihomo import); the Xray crate re-exports
//! it and adds the parser.

use std::fmt;
use std::net::Ipv6Addr;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::entity::{Device, Node, User};
use crate::model::Protocol;
use crate::secrets::Sealer;
use crate::wgconf::{config_file_name, ClientConfig, ClientKeys, ClientOptions, WgConfError};

/// The XTLS flow every VLESS+Reality link of ours uses.
pub const FLOW_VISION: &str = "xtls-rprx-vision";

/// Everything but RFC 3986 unreserved characters is escaped, in query values and in the
/// fragment alike: clients differ in what they tolerate raw, and all of them decode %XX.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// One client's VLESS+Reality link to one node.
#[derive(Clone, PartialEq, Eq)]
pub struct VlessLink {
    pub uuid: uuid::Uuid,
    /// Public host name or IP of the node (IPv6 without brackets).
    pub host: String,
    pub port: u16,
    pub public_key: String,
    pub short_id: String,
    pub sni: String,
    pub fingerprint: String,
    pub flow: String,
    /// Display name in the client app.
    pub name: String,
}

impl fmt::Debug for VlessLink {
    // The UUID is the credential: show only its prefix.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let uuid = self.uuid.to_string();
        f.debug_struct("VlessLink")
            .field("uuid", &format!("{}…", &uuid[..8]))
            .field("host", &self.host)
            .field("port", &self.port)
            .field("sni", &self.sni)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl VlessLink {
    /// The link of a VLESS `device` on `node`, from the node's replicated Xray settings;
    /// `None` when the device is not VLESS or the node serves no VLESS.
    pub fn for_device(node: &Node, device: &Device) -> Option<Self> {
        if device.protocol != Protocol::Vless {
            return None;
        }
        let x = node.xray_settings()?;
        Some(VlessLink {
            uuid: device.uuid,
            host: node.public_host.clone(),
            port: x.port,
            public_key: x.reality_public_key,
            short_id: x.short_ids.first().cloned().unwrap_or_default(),
            sni: x.server_names.first().cloned().unwrap_or_default(),
            fingerprint: x.fingerprint,
            flow: FLOW_VISION.into(),
            name: node.device_label(device),
        })
    }

    fn host_for_uri(&self) -> String {
        let h = self.host.trim_start_matches('[').trim_end_matches(']');
        if h.parse::<Ipv6Addr>().is_ok() {
            format!("[{h}]")
        } else {
            h.to_string()
        }
    }

    /// The `vless://` URI.
    pub fn to_uri(&self) -> String {
        let enc = |s: &str| utf8_percent_encode(s, COMPONENT).to_string();
        let mut uri = format!(
            "vless://{}@{}:{}?security=reality&type=tcp&pbk={}&sid={}&sni={}&fp={}",
            self.uuid,
            self.host_for_uri(),
            self.port,
            enc(&self.public_key),
            enc(&self.short_id),
            enc(&self.sni),
            enc(&self.fingerprint),
        );
        if !self.flow.is_empty() {
            uri.push_str("&flow=");
            uri.push_str(&enc(&self.flow));
        }
        uri.push('#');
        uri.push_str(&enc(&self.name));
        uri
    }
}

impl fmt::Display for VlessLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_uri())
    }
}

/// The protocol-specific parts of an artifact, for formats that need the values themselves
/// (sing-box JSON, mihomo YAML) rather than the text.
#[derive(Debug, Clone)]
pub enum Payload {
    /// An AmneziaWG (`amnezia`) or plain WireGuard device.
    WireGuard {
        config: Box<ClientConfig>,
        amnezia: bool,
    },
    Vless(VlessLink),
}

/// What one device's owner receives.
#[derive(Debug, Clone)]
pub struct ClientArtifact {
    /// How client apps name it: `node device`, e.g. `fra-1 phone`.
    pub label: String,
    /// `<name>_<type>.conf` for WireGuard configs, `.txt` for a link.
    pub file_name: String,
    /// The file's content: the `.conf` text, or the share link for VLESS.
    pub text: String,
    pub payload: Payload,
}

/// Why a device has no artifact. Each message says what to do, on one line.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ArtifactError {
    #[error("device #{device} was revoked; issue a new device to get access again")]
    Revoked { device: i64 },
    #[error("device #{device} belongs to user #{owner}, not user #{given}")]
    NotOwner { device: i64, owner: i64, given: i64 },
    #[error("device #{device} uses protocol vless, but node {node} has no VLESS settings yet")]
    NoVless { device: i64, node: u64 },
    #[error(transparent)]
    Config(#[from] WgConfError),
}

impl ArtifactError {
    /// True when the cluster key cannot open the stored keys: the operator's problem, not
    /// the caller's.
    pub fn is_internal(&self) -> bool {
        matches!(self, ArtifactError::Config(WgConfError::Sealed { .. }))
    }
}

impl ClientArtifact {
    /// Renders `device` (of `user`, on `node`). A revoked device has no artifact: its access
    /// material must not be handed out again.
    pub fn render(
        sealer: &Sealer,
        node: &Node,
        device: &Device,
        user: &User,
        options: &ClientOptions,
    ) -> Result<Self, ArtifactError> {
        if !device.is_active() {
            return Err(ArtifactError::Revoked { device: device.id });
        }
        if device.user_id != user.id {
            return Err(ArtifactError::NotOwner {
                device: device.id,
                owner: device.user_id,
                given: user.id,
            });
        }
        let stem = file_stem(device, user);
        let label = node.device_label(device);
        if device.protocol.is_wireguard_family() {
            let keys = ClientKeys::open(sealer, device)?;
            let config = ClientConfig::build(node, device, &keys, options)?;
            return Ok(ClientArtifact {
                label,
                file_name: config_file_name(stem, device.device_type),
                text: config.to_conf(),
                payload: Payload::WireGuard {
                    config: Box::new(config),
                    amnezia: device.protocol == Protocol::Awg,
                },
            });
        }
        let link = VlessLink::for_device(node, device).ok_or(ArtifactError::NoVless {
            device: device.id,
            node: node.id,
        })?;
        let conf_name = config_file_name(stem, device.device_type);
        Ok(ClientArtifact {
            label,
            file_name: format!("{}.txt", conf_name.trim_end_matches(".conf")),
            text: link.to_uri(),
            payload: Payload::Vless(link),
        })
    }

    /// The share link client apps import from a link list or a scanned QR code; `None` for
    /// WireGuard devices (no share-link format carries AmneziaWG or WireGuard).
    pub fn share_link(&self) -> Option<&str> {
        match self.payload {
            Payload::Vless(_) => Some(&self.text),
            Payload::WireGuard { .. } => None,
        }
    }

    /// What a QR code of this device encodes: the `.conf` text (the WireGuard and Amnezia
    /// apps scan it) or the share link.
    pub fn qr_payload(&self) -> &str {
        &self.text
    }
}

/// The name a device's file is offered under: the device's own name, or its owner's when
/// the device was never named (its name is its type), so `alice_phone.conf` rather than a
/// bare `phone.conf` that could be anyone's.
fn file_stem<'a>(device: &'a Device, user: &'a User) -> &'a str {
    if device
        .name
        .eq_ignore_ascii_case(device.device_type.as_str())
    {
        &user.name
    } else {
        &device.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> VlessLink {
        VlessLink {
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
    fn vless_link_renders_the_expected_shape() {
        let uri = sample().to_uri();
        assert!(uri.starts_with(
            "vless://8f0a2c6e-1b1d-4a59-9d2e-3c1f6b7d9e10@vpn.example.com:443?security=reality&type=tcp&"
        ), "{uri}");
        assert!(uri.contains("&pbk=Z84J2IelR9ch3k8VtlVhhs5ycBUlXA7wHBWcBrjqnAw&sid=0123abcd&sni=www.example.org&fp=chrome&flow=xtls-rprx-vision#"), "{uri}");
        let name = uri.split_once('#').unwrap().1;
        assert!(!name.contains([' ', '#', '&', '\'']), "{name}");
        assert!(name.starts_with("%D0%90"), "{name}");
        let mut v6 = sample();
        v6.host = "2001:db8::1".into();
        assert!(v6.to_uri().contains("@[2001:db8::1]:443?"));
    }

    #[test]
    fn debug_hides_the_uuid() {
        let l = sample();
        assert!(!format!("{l:?}").contains(&l.uuid.to_string()));
    }

    mod render {
        use super::super::*;
        use crate::entity::{NodeWireguard, NodeXray};
        use crate::keys::{wg_keypair, wg_material};
        use crate::model::DeviceType;
        use crate::secrets::ClusterSecret;
        use rand::rngs::OsRng;

        fn node() -> Node {
            let (_, public) = wg_keypair(&mut OsRng);
            Node {
                id: 1,
                name: "ams-1".into(),
                raft_addr: "127.0.0.1:7001".into(),
                api_addr: "127.0.0.1:8001".into(),
                public_host: "vpn.example.com".into(),
                wireguard: Some(NodeWireguard {
                    listen_port: 51820,
                    address_pool: "10.8.0.0/24".parse().unwrap(),
                    public_key: public,
                    private_key: None,
                    awg: None,
                    dns: vec![],
                    mtu: None,
                }),
                xray: Some(
                    serde_json::to_value(NodeXray {
                        port: 443,
                        reality_public_key: "Z84J2IelR9ch3k8VtlVhhs5ycBUlXA7wHBWcBrjqnAw".into(),
                        reality_private_key: None,
                        short_ids: vec!["0123abcd".into()],
                        server_names: vec!["www.example.org".into()],
                        dest: "www.example.org:443".into(),
                        fingerprint: "chrome".into(),
                    })
                    .unwrap(),
                ),
                created_at_ms: 0,
                updated_at_ms: 0,
            }
        }

        fn user() -> User {
            User {
                id: 3,
                name: "alice".into(),
                telegram_id: None,
                enabled: true,
                sub_token: String::new(),
                created_at_ms: 0,
                updated_at_ms: 0,
            }
        }

        fn device(sealer: &Sealer, name: &str, protocol: Protocol) -> Device {
            let m = wg_material(&mut OsRng, sealer);
            let wg = protocol.is_wireguard_family();
            Device {
                id: 7,
                uuid: "8f0a2c6e-1b1d-4a59-9d2e-3c1f6b7d9e10".parse().unwrap(),
                user_id: 3,
                node_id: 1,
                name: name.into(),
                device_type: DeviceType::Phone,
                protocol,
                wg_public_key: wg.then_some(m.public_key),
                wg_private_key: wg.then_some(m.private_key),
                wg_psk: wg.then_some(m.preshared_key),
                address_v4: wg.then(|| "10.8.0.2/32".into()),
                created_at_ms: 0,
                revoked_at_ms: None,
                last_handshake_ms: None,
                rx_bytes: 0,
                tx_bytes: 0,
            }
        }

        #[test]
        fn wireguard_device_gets_its_conf_under_its_owners_or_own_name() {
            let sealer = ClusterSecret::generate(&mut OsRng).sealer();
            let opts = ClientOptions::default();
            let d = device(&sealer, "phone", Protocol::Wireguard);
            let n = node();
            let a = ClientArtifact::render(&sealer, &n, &d, &user(), &opts).unwrap();
            assert_eq!(a.file_name, "alice_phone.conf");
            assert!(a.text.starts_with("[Interface]\n"), "{}", a.text);
            assert_eq!(a.qr_payload(), a.text);
            assert_eq!(a.share_link(), None, "no share link for WireGuard");
            assert_eq!(a.label, "ams-1 phone");
            // Same inputs, same bytes.
            let again = ClientArtifact::render(&sealer, &n, &d, &user(), &opts).unwrap();
            assert_eq!(again.text, a.text);
            let named = device(&sealer, "Work", Protocol::Wireguard);
            let a = ClientArtifact::render(&sealer, &node(), &named, &user(), &opts).unwrap();
            assert_eq!(a.file_name, "Work_phone.conf");
        }

        #[test]
        fn vless_device_gets_its_link_as_text_share_link_and_qr() {
            let sealer = ClusterSecret::generate(&mut OsRng).sealer();
            let d = device(&sealer, "phone", Protocol::Vless);
            let n = node();
            let a = ClientArtifact::render(&sealer, &n, &d, &user(), &Default::default()).unwrap();
            let link = VlessLink::for_device(&n, &d).unwrap().to_uri();
            assert_eq!(a.text, link);
            assert_eq!(a.share_link(), Some(link.as_str()));
            assert_eq!(a.qr_payload(), link);
            assert_eq!(a.file_name, "alice_phone.txt");
        }

        #[test]
        fn refusals_name_the_device_and_what_to_do() {
            let sealer = ClusterSecret::generate(&mut OsRng).sealer();
            let opts = ClientOptions::default();
            let mut d = device(&sealer, "phone", Protocol::Vless);
            let mut n = node();
            n.xray = None;
            let e = ClientArtifact::render(&sealer, &n, &d, &user(), &opts).unwrap_err();
            assert_eq!(e, ArtifactError::NoVless { device: 7, node: 1 });
            d.revoked_at_ms = Some(1);
            let e = ClientArtifact::render(&sealer, &node(), &d, &user(), &opts).unwrap_err();
            assert!(e.to_string().contains("issue a new device"), "{e}");
            d.revoked_at_ms = None;
            let mut other = user();
            other.id = 4;
            let e = ClientArtifact::render(&sealer, &node(), &d, &other, &opts).unwrap_err();
            assert!(matches!(e, ArtifactError::NotOwner { .. }), "{e}");
            // Keys sealed under another cluster secret: internal, never the key text.
            let wg = device(&sealer, "phone", Protocol::Wireguard);
            let stranger = ClusterSecret::generate(&mut OsRng).sealer();
            let e = ClientArtifact::render(&stranger, &node(), &wg, &user(), &opts).unwrap_err();
            assert!(e.is_internal(), "{e}");
        }
    }
}

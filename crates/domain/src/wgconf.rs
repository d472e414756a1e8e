//! Client configuration files for AmneziaWG and WireGuard devices.
//!
//! Pure rendering: the caller hands in the node, the device and the device's *opened* keys
//! ([`ClientKeys`]), and gets back the text of a `.conf` file that the Amnezia app, the
//! AmneziaWG and WireGuard apps, `wg-quick` and `awg-quick` all import.
//!
//! Deterministic by construction: no clock, no randomness, fixed key order. The same node,
//! device and keys always give the same bytes, which is what makes "asking again returns the
//! same config" true without storing the rendered file anywhere.
//!
//! What the parsers we target accept, and so what this module writes:
//!
//! * `wg-quick`/`awg-quick` (bash) take `Key = Value` lines, cut at `#`, and consume
//!   `Address`, `DNS`, `MTU` themselves; every other `[Interface]` key goes to `wg`/`awg`.
//! * amneziawg-tools `config.c` strips all whitespace from a line, except for `I1`–`I5`
//!   lines (recognised by their first two characters, so they must start the line), whose
//!   value keeps its inner spaces. Nothing we write contains `#`.
//! * The file name becomes the interface or tunnel name in wg-quick and the WireGuard apps,
//!   which allow only `[a-zA-Z0-9_=+.-]{1,15}`: see [`config_file_name`].

use std::fmt;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use x25519_dalek::{PublicKey, StaticSecret};

use crate::awg::AwgParamError;
use crate::entity::{Device, Node};
use crate::model::{DeviceType, Protocol};
use crate::secrets::{purpose, Sealer, SecretError};

/// WireGuard's own default tunnel MTU (1500 minus 80 bytes of IPv6+UDP+WireGuard framing).
/// Used as the base when AmneziaWG's S4 padding forces us to write an MTU line.
pub const WIREGUARD_DEFAULT_MTU: u16 = 1420;
/// Router tunnel MTU unless configured. Routers sit behind PPPoE, LTE modems and other
/// links with MTUs well under 1500, and unlike a laptop nobody watches them to notice
/// stalled large transfers; 1280 (the IPv6 minimum) fits every path we know of.
pub const ROUTER_MTU: u16 = 1280;
/// Router keepalive in seconds unless configured. A router is a gateway for other devices
/// whose inbound flows must survive the NAT in front of it going idle; 25 s stays under
/// the shortest common UDP NAT timeout (30 s), as the WireGuard documentation recommends.
pub const ROUTER_KEEPALIVE: u16 = 25;
/// Smallest MTU we render: IPv4's minimum datagram size every host must accept.
pub const MIN_MTU: u16 = 576;
/// DNS for phones and laptops when the node configures none. A full tunnel routes the
/// client's own LAN resolver into the tunnel too, so without a DNS line name resolution
/// would break; these are the resolvers the Amnezia app itself defaults to.
pub const DEFAULT_DNS: [IpAddr; 2] = [
    IpAddr::V4(Ipv4Addr::new(1, 1, 1, 1)),
    IpAddr::V4(Ipv4Addr::new(1, 0, 0, 1)),
];
/// Everything, both families. `::/0` is there even for IPv4-only devices on purpose: it
/// sends the client's IPv6 traffic into the tunnel (where it is dropped) instead of letting
/// it leak around the VPN over the local network.
pub const FULL_TUNNEL: &str = "0.0.0.0/0, ::/0";

/// Per-node choices about client profiles that the node entity does not carry itself.
/// `Default` is the recommended profile.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClientOptions {
    /// DNS servers written into router configs. Empty (the default) writes no `DNS` line: a
    /// router usually runs its own resolver for the LAN, and overriding it breaks local names.
    pub router_dns: Vec<IpAddr>,
    /// Router tunnel MTU; default [`ROUTER_MTU`]. The node's own MTU still caps it.
    pub router_mtu: Option<u16>,
    /// Router `PersistentKeepalive` in seconds; default [`ROUTER_KEEPALIVE`], 0 turns it off.
    pub router_keepalive: Option<u16>,
    /// `PersistentKeepalive` for phones and laptops; default none. They always speak first,
    /// so replies come back through the NAT mapping they opened, and a keepalive every few
    /// seconds would wake a phone's radio for nothing.
    pub keepalive: Option<u16>,
}

/// Why a config could not be rendered. Each message says what to do, on one line.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum WgConfError {
    #[error("device #{device} uses protocol {protocol}, which has no WireGuard config; use its VLESS link instead")]
    NotWireguard { device: i64, protocol: Protocol },
    #[error("device #{device} is revoked; issue a new device to get a config")]
    Revoked { device: i64 },
    #[error("device #{device} belongs to node {expected}, not node {given}; render it with its own node")]
    WrongNode {
        device: i64,
        expected: u64,
        given: u64,
    },
    #[error(
        "node {node} has no WireGuard interface configured; set [wireguard] on that node first"
    )]
    NoWireguard { node: u64 },
    #[error("device #{device} is for AmneziaWG but node {node} has no AmneziaWG parameters; issue it with protocol wireguard or configure awg on the node")]
    NoAwgParams { device: i64, node: u64 },
    #[error("node {node} has invalid AmneziaWG parameters: {source}")]
    InvalidAwg { node: u64, source: AwgParamError },
    #[error("device #{device} has no tunnel address; it was issued without one, revoke and issue it again")]
    NoAddress { device: i64 },
    #[error("device #{device} has an invalid tunnel address `{address}`; expected an IPv4 address with prefix like 10.8.0.2/32")]
    BadAddress { device: i64, address: String },
    #[error("node {node} has public host `{host}`, which is not a host name or IP address; fix --public-host")]
    BadHost { node: u64, host: String },
    #[error("node {node} has listen port 0; set [wireguard] listen_port")]
    NoPort { node: u64 },
    #[error("node {node} has an invalid WireGuard public key; expected 44 characters of base64 like `wg pubkey` prints")]
    BadNodeKey { node: u64 },
    /// Never carries the key text: it may be a private key.
    #[error("{what} is not 32 bytes of base64 (expected 44 characters like `wg genkey` prints)")]
    BadKey { what: &'static str },
    #[error("device #{device} has no WireGuard keys stored; revoke and issue it again")]
    NoKeys { device: i64 },
    #[error("device #{device}: the stored private key does not match its public key; the state is corrupt, revoke and issue it again")]
    KeyMismatch { device: i64 },
    #[error("device #{device}: {source}")]
    Sealed { device: i64, source: SecretError },
    #[error("tunnel MTU would be {mtu}, below the minimum {MIN_MTU}; raise the node's mtu or lower AmneziaWG S4")]
    MtuTooSmall { mtu: i32 },
}

/// The opened keys of one device: its private key and the preshared key it shares with
/// the node. `Debug` is redacted and the bytes are wiped on drop.
pub struct ClientKeys {
    private_key: [u8; 32],
    preshared_key: Option<[u8; 32]>,
}

impl fmt::Debug for ClientKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientKeys(<redacted>)")
    }
}

impl Drop for ClientKeys {
    fn drop(&mut self) {
        // Best effort, like `SecretBytes`: volatile writes keep the wipe from being elided.
        let psk = self.preshared_key.as_mut().map(|k| k.as_mut_slice());
        for b in self.private_key.iter_mut().chain(psk.into_iter().flatten()) {
            // SAFETY: `b` is a valid, aligned, exclusive reference to a byte we own.
            unsafe { std::ptr::write_volatile(b, 0) };
        }
    }
}

fn decode_key(text: &str, what: &'static str) -> Result<[u8; 32], WgConfError> {
    STANDARD
        .decode(text.trim())
        .ok()
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .ok_or(WgConfError::BadKey { what })
}

impl ClientKeys {
    /// Keys as WireGuard's base64 text (what `wg genkey` / `wg genpsk` print).
    pub fn from_base64(
        private_key: &str,
        preshared_key: Option<&str>,
    ) -> Result<Self, WgConfError> {
        Ok(ClientKeys {
            private_key: decode_key(private_key, "device private key")?,
            preshared_key: preshared_key
                .map(|psk| decode_key(psk, "device preshared key"))
                .transpose()?,
        })
    }

    /// Opens a device's sealed keys and checks that the private key belongs to the public
    /// key the node has for this device (a mismatch would give a config that never connects).
    pub fn open(sealer: &Sealer, device: &Device) -> Result<Self, WgConfError> {
        let sealed_err = |source| WgConfError::Sealed {
            device: device.id,
            source,
        };
        let sealed_private = device
            .wg_private_key
            .as_ref()
            .ok_or(WgConfError::NoKeys { device: device.id })?;
        let private = sealer
            .open_string(purpose::DEVICE_WG_PRIVATE_KEY, sealed_private)
            .map_err(sealed_err)?;
        let psk = device
            .wg_psk
            .as_ref()
            .map(|sealed| sealer.open_string(purpose::DEVICE_WG_PSK, sealed))
            .transpose()
            .map_err(sealed_err)?;
        let keys = ClientKeys::from_base64(&private, psk.as_deref())?;
        if device.wg_public_key.as_deref().map(str::trim) != Some(keys.public_key().as_str()) {
            return Err(WgConfError::KeyMismatch { device: device.id });
        }
        Ok(keys)
    }

    /// The public key of the private key, base64 (what `wg pubkey` prints).
    pub fn public_key(&self) -> String {
        let public = PublicKey::from(&StaticSecret::from(self.private_key));
        STANDARD.encode(public.as_bytes())
    }
}

/// Everything a client config says, resolved from node, device and options. Rendered to
/// text by [`ClientConfig::to_conf`]; other client formats can be built from the same values.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientConfig {
    pub private_key: String,
    /// With prefix, e.g. `10.8.0.2/32`.
    pub address: String,
    pub dns: Vec<IpAddr>,
    pub mtu: Option<u16>,
    /// `(key, value)` AmneziaWG lines for `[Interface]`; empty for plain WireGuard.
    pub awg: Vec<(&'static str, String)>,
    pub peer_public_key: String,
    pub preshared_key: Option<String>,
    pub allowed_ips: &'static str,
    /// `host:port`, IPv6 literals in brackets.
    pub endpoint: String,
    pub keepalive: Option<u16>,
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("private_key", &"<redacted>")
            .field("address", &self.address)
            .field("dns", &self.dns)
            .field("mtu", &self.mtu)
            .field("awg", &self.awg)
            .field("peer_public_key", &self.peer_public_key)
            .field(
                "preshared_key",
                &self.preshared_key.as_ref().map(|_| "<redacted>"),
            )
            .field("allowed_ips", &self.allowed_ips)
            .field("endpoint", &self.endpoint)
            .field("keepalive", &self.keepalive)
            .finish()
    }
}

impl ClientConfig {
    /// Resolves the profile of `device` on `node`: phone and laptop get a full tunnel with
    /// DNS; a router gets a full tunnel with router MTU and keepalive and no DNS unless
    /// [`ClientOptions::router_dns`] says so; `awg` adds the node's AmneziaWG parameters,
    /// `wireguard` never does.
    pub fn build(
        node: &Node,
        device: &Device,
        keys: &ClientKeys,
        options: &ClientOptions,
    ) -> Result<ClientConfig, WgConfError> {
        if !device.protocol.is_wireguard_family() {
            return Err(WgConfError::NotWireguard {
                device: device.id,
                protocol: device.protocol,
            });
        }
        if !device.is_active() {
            return Err(WgConfError::Revoked { device: device.id });
        }
        if device.node_id != node.id {
            return Err(WgConfError::WrongNode {
                device: device.id,
                expected: device.node_id,
                given: node.id,
            });
        }
        let wg = node
            .wireguard
            .as_ref()
            .ok_or(WgConfError::NoWireguard { node: node.id })?;

        let address_text = device
            .address_v4
            .as_deref()
            .ok_or(WgConfError::NoAddress { device: device.id })?;
        let address: ipnet::Ipv4Net =
            address_text
                .trim()
                .parse()
                .map_err(|_| WgConfError::BadAddress {
                    device: device.id,
                    address: address_text.to_owned(),
                })?;

        let peer_public_key = STANDARD.encode(
            decode_key(&wg.public_key, "node public key")
                .map_err(|_| WgConfError::BadNodeKey { node: node.id })?,
        );
        if wg.listen_port == 0 {
            return Err(WgConfError::NoPort { node: node.id });
        }
        let endpoint =
            endpoint(&node.public_host, wg.listen_port).ok_or_else(|| WgConfError::BadHost {
                node: node.id,
                host: node.public_host.clone(),
            })?;

        let awg = match device.protocol {
            Protocol::Awg => {
                let params = wg.awg.as_ref().ok_or(WgConfError::NoAwgParams {
                    device: device.id,
                    node: node.id,
                })?;
                params
                    .validate()
                    .map_err(|source| WgConfError::InvalidAwg {
                        node: node.id,
                        source,
                    })?;
                Some(params)
            }
            _ => None,
        };

        let (dns, mtu, keepalive) = match device.device_type {
            DeviceType::Phone | DeviceType::Laptop => {
                let dns = if wg.dns.is_empty() {
                    DEFAULT_DNS.to_vec()
                } else {
                    wg.dns.clone()
                };
                (dns, wg.mtu, options.keepalive)
            }
            DeviceType::Router => {
                let router = options.router_mtu.unwrap_or(ROUTER_MTU);
                let mtu = wg.mtu.map_or(router, |node_mtu| node_mtu.min(router));
                let keepalive = options.router_keepalive.unwrap_or(ROUTER_KEEPALIVE);
                (options.router_dns.clone(), Some(mtu), Some(keepalive))
            }
        };
        // AmneziaWG's S4 pads every data packet, so the tunnel must carry S4 bytes less for
        // the outer packet to stay the size the profile intended. Clients cannot work this
        // out themselves (wg-quick's automatic MTU knows nothing of S4), so with S4 an MTU
        // line is always written.
        let overhead = awg.map_or(0, |p| p.transport_overhead());
        let mtu = match (mtu, overhead) {
            (None, 0) => None,
            (mtu, overhead) => {
                let value = i32::from(mtu.unwrap_or(WIREGUARD_DEFAULT_MTU)) - i32::from(overhead);
                if value < i32::from(MIN_MTU) {
                    return Err(WgConfError::MtuTooSmall { mtu: value });
                }
                Some(value as u16)
            }
        };

        Ok(ClientConfig {
            private_key: STANDARD.encode(keys.private_key),
            address: address.to_string(),
            dns,
            mtu,
            awg: awg.map(|p| p.to_conf_lines()).unwrap_or_default(),
            peer_public_key,
            preshared_key: keys.preshared_key.map(|k| STANDARD.encode(k)),
            allowed_ips: FULL_TUNNEL,
            endpoint,
            // `PersistentKeepalive = 0` means off; leave the line out instead.
            keepalive: keepalive.filter(|&k| k != 0),
        })
    }

    /// The `.conf` text: `[Interface]` then `[Peer]`, keys in a fixed order, `\n` line ends.
    pub fn to_conf(&self) -> String {
        fn kv(out: &mut String, key: &str, value: &dyn fmt::Display) {
            // `fmt::Write` for String cannot fail.
            let _ = writeln!(out, "{key} = {value}");
        }
        let mut out = String::with_capacity(512);
        out.push_str("[Interface]\n");
        kv(&mut out, "PrivateKey", &self.private_key);
        kv(&mut out, "Address", &self.address);
        if !self.dns.is_empty() {
            let dns: Vec<String> = self.dns.iter().map(IpAddr::to_string).collect();
            kv(&mut out, "DNS", &dns.join(", "));
        }
        if let Some(mtu) = self.mtu {
            kv(&mut out, "MTU", &mtu);
        }
        for (key, value) in &self.awg {
            kv(&mut out, key, value);
        }
        out.push_str("\n[Peer]\n");
        kv(&mut out, "PublicKey", &self.peer_public_key);
        if let Some(psk) = &self.preshared_key {
            kv(&mut out, "PresharedKey", psk);
        }
        kv(&mut out, "AllowedIPs", &self.allowed_ips);
        kv(&mut out, "Endpoint", &self.endpoint);
        if let Some(keepalive) = self.keepalive {
            kv(&mut out, "PersistentKeepalive", &keepalive);
        }
        out
    }
}

/// The client config of `device` on `node` as `.conf` text. See [`ClientConfig::build`].
pub fn render_client_config(
    node: &Node,
    device: &Device,
    keys: &ClientKeys,
    options: &ClientOptions,
) -> Result<String, WgConfError> {
    Ok(ClientConfig::build(node, device, keys, options)?.to_conf())
}

/// `host:port` as WireGuard's endpoint parser reads it: IPv6 literals go in brackets,
/// because the parser splits at the last `:` otherwise. `None` for a host that is neither
/// a host name nor an IP address.
pub fn endpoint(host: &str, port: u16) -> Option<String> {
    let host = host.trim();
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(v6) = bare.parse::<Ipv6Addr>() {
        return Some(format!("[{v6}]:{port}"));
    }
    if bare != host {
        return None; // brackets around something that is not an IPv6 address
    }
    crate::validate::host("public_host", host).ok()?;
    Some(format!("{host}:{port}"))
}

/// The file name to offer a config under: `<name>_<type>.conf` (just `<type>.conf` when the
/// name is the type, as with a device that was never named).
///
/// wg-quick and the WireGuard apps turn the file name into the interface or tunnel name and
/// refuse anything but `[a-zA-Z0-9_=+.-]{1,15}`, so a longer or non-ASCII name would make
/// the import fail. Hence: Russian letters are transliterated, anything else outside
/// `[A-Za-z0-9-]` becomes `_` (runs collapsed), and the name is cut so the stem stays within
/// 15 characters.
pub fn config_file_name(name: &str, device_type: DeviceType) -> String {
    const MAX_STEM: usize = 15;
    let kind = device_type.as_str();
    let mut clean = String::new();
    for c in name.chars() {
        let lower = c.to_lowercase().next().unwrap_or(c);
        let piece = match c {
            'A'..='Z' | 'a'..='z' | '0'..='9' | '-' => None,
            _ => Some(translit(lower).unwrap_or("_")),
        };
        match piece {
            None => clean.push(c),
            Some("_") if clean.ends_with('_') || clean.is_empty() => {}
            Some(s) => clean.push_str(s),
        }
    }
    let clean = clean.trim_matches('_');
    if clean.is_empty() || clean.eq_ignore_ascii_case(kind) {
        return format!("{kind}.conf");
    }
    let room = MAX_STEM - kind.len() - 1;
    let cut: String = clean.chars().take(room).collect();
    let cut = cut.trim_end_matches(['_', '-']);
    format!("{cut}_{kind}.conf")
}

/// Russian Cyrillic to Latin (the common passport-style scheme); soft and hard signs vanish.
fn translit(c: char) -> Option<&'static str> {
    Some(match c {
        'а' => "a",
        'б' => "b",
        'в' => "v",
        'г' => "g",
        'д' => "d",
        'е' | 'ё' | 'э' => "e",
        'ж' => "zh",
        'з' => "z",
        'и' => "i",
        'й' | 'ы' => "y",
        'к' => "k",
        'л' => "l",
        'м' => "m",
        'н' => "n",
        'о' => "o",
        'п' => "p",
        'р' => "r",
        'с' => "s",
        'т' => "t",
        'у' => "u",
        'ф' => "f",
        'х' => "kh",
        'ц' => "ts",
        'ч' => "ch",
        'ш' => "sh",
        'щ' => "shch",
        'ъ' | 'ь' => "",
        'ю' => "yu",
        'я' => "ya",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::awg::{AwgParams, AwgVersion};
    use crate::entity::NodeWireguard;
    use crate::keys::{wg_keypair, wg_material};
    use crate::secrets::ClusterSecret;
    use proptest::prelude::*;
    use rand::rngs::{OsRng, StdRng};
    use rand::{Rng, SeedableRng};

    /// A parsed .conf: sections in order, each with its `(key, value)` lines in order.
    type Ini = Vec<(String, Vec<(String, String)>)>;

    /// The smallest parser that reads .conf files the way wg-quick does: `#` starts a
    /// comment, `[Name]` opens a section, `Key = Value` splits at the first `=` and trims
    /// both sides. Anything else (a key outside a section, a line without `=`) fails the test.
    fn parse_ini(text: &str) -> Ini {
        let mut out: Ini = Vec::new();
        for (n, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap().trim();
            if line.is_empty() {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                out.push((name.to_owned(), Vec::new()));
                continue;
            }
            let (key, value) = line
                .split_once('=')
                .unwrap_or_else(|| panic!("line {}: no `=` in {raw:?}", n + 1));
            let section = out
                .last_mut()
                .unwrap_or_else(|| panic!("line {}: key outside a section", n + 1));
            section
                .1
                .push((key.trim().to_owned(), value.trim().to_owned()));
        }
        out
    }

    /// Section `name`'s keys as a map, asserting the section exists once and no key repeats.
    fn section(ini: &Ini, name: &str) -> std::collections::BTreeMap<String, String> {
        let found: Vec<_> = ini.iter().filter(|(n, _)| n == name).collect();
        assert_eq!(found.len(), 1, "exactly one [{name}] section");
        let mut map = std::collections::BTreeMap::new();
        for (k, v) in &found[0].1 {
            assert!(
                map.insert(k.clone(), v.clone()).is_none(),
                "{k} repeated in [{name}]"
            );
        }
        map
    }

    struct Fixture {
        sealer: Sealer,
        node: Node,
        device: Device,
        node_private: String,
    }

    fn fixture(device_type: DeviceType, protocol: Protocol, awg: Option<AwgParams>) -> Fixture {
        let sealer = ClusterSecret::generate(&mut OsRng).sealer();
        let (node_private, node_public) = wg_keypair(&mut OsRng);
        let material = wg_material(&mut OsRng, &sealer);
        let node = Node {
            id: 1,
            name: "ams-1".into(),
            raft_addr: "127.0.0.1:7001".into(),
            api_addr: "127.0.0.1:8001".into(),
            public_host: "vpn.example.com".into(),
            wireguard: Some(NodeWireguard {
                listen_port: 51820,
                address_pool: "10.8.0.0/24".parse().unwrap(),
                public_key: node_public,
                private_key: None,
                awg,
                dns: vec!["9.9.9.9".parse().unwrap(), "2620:fe::fe".parse().unwrap()],
                mtu: None,
            }),
            xray: None,
            created_at_ms: 0,
            updated_at_ms: 0,
        };
        let device = Device {
            id: 7,
            uuid: uuid::Uuid::nil(),
            user_id: 3,
            node_id: 1,
            name: "alice".into(),
            device_type,
            protocol,
            wg_public_key: Some(material.public_key),
            wg_private_key: Some(material.private_key),
            wg_psk: Some(material.preshared_key),
            address_v4: Some("10.8.0.2/32".into()),
            created_at_ms: 0,
            revoked_at_ms: None,
            last_handshake_ms: None,
            rx_bytes: 0,
            tx_bytes: 0,
        };
        Fixture {
            sealer,
            node,
            device,
            node_private,
        }
    }

    impl Fixture {
        fn wg(&mut self) -> &mut NodeWireguard {
            self.node.wireguard.as_mut().unwrap()
        }
        fn render(&self, options: &ClientOptions) -> Result<String, WgConfError> {
            let keys = ClientKeys::open(&self.sealer, &self.device)?;
            render_client_config(&self.node, &self.device, &keys, options)
        }
        fn opened(&self, purpose: &str, sealed: &Option<crate::secrets::Sealed>) -> String {
            self.sealer
                .open_string(purpose, sealed.as_ref().unwrap())
                .unwrap()
        }
    }

    fn v1() -> AwgParams {
        AwgParams::generate(&mut StdRng::seed_from_u64(1), AwgVersion::V1)
    }

    fn v2() -> AwgParams {
        let mut p = AwgParams::generate(&mut StdRng::seed_from_u64(2), AwgVersion::V2);
        p.i1 = Some("<b 0xc700000001><r 16> <t>".into());
        p
    }

    const AWG_KEYS: [&str; 16] = [
        "Jc", "Jmin", "Jmax", "S1", "S2", "S3", "S4", "H1", "H2", "H3", "H4", "I1", "I2", "I3",
        "I4", "I5",
    ];

    #[test]
    fn phone_awg_every_field() {
        let f = fixture(DeviceType::Phone, Protocol::Awg, Some(v1()));
        let text = f.render(&ClientOptions::default()).unwrap();
        let ini = parse_ini(&text);
        assert_eq!(
            ini.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            ["Interface", "Peer"]
        );
        let iface = section(&ini, "Interface");
        let peer = section(&ini, "Peer");

        let private = f.opened(purpose::DEVICE_WG_PRIVATE_KEY, &f.device.wg_private_key);
        assert_eq!(iface["PrivateKey"], private);
        assert_eq!(
            crate::keys::wg_public_of(&iface["PrivateKey"]).as_deref(),
            f.device.wg_public_key.as_deref()
        );
        assert_eq!(iface["Address"], "10.8.0.2/32");
        assert_eq!(iface["DNS"], "9.9.9.9, 2620:fe::fe");
        assert!(
            !iface.contains_key("MTU"),
            "no S4 and no node MTU: let the client choose"
        );
        for (key, value) in v1().to_conf_lines() {
            assert_eq!(iface[key], value, "{key}");
        }
        assert_eq!(iface.len(), 3 + v1().to_conf_lines().len(), "{iface:?}");

        let wg = f.node.wireguard.as_ref().unwrap();
        assert_eq!(peer["PublicKey"], wg.public_key);
        assert_eq!(
            crate::keys::wg_public_of(&f.node_private).unwrap(),
            peer["PublicKey"]
        );
        assert_eq!(
            peer["PresharedKey"],
            f.opened(purpose::DEVICE_WG_PSK, &f.device.wg_psk)
        );
        assert_eq!(peer["AllowedIPs"], "0.0.0.0/0, ::/0");
        assert_eq!(peer["Endpoint"], "vpn.example.com:51820");
        assert!(!peer.contains_key("PersistentKeepalive"));
        assert_eq!(peer.len(), 4);

        // The exact shape, so a reordering or a stray space is a deliberate change.
        assert!(text.starts_with("[Interface]\nPrivateKey = "), "{text}");
        assert!(text.contains("\n\n[Peer]\nPublicKey = "), "{text}");
        assert!(
            text.ends_with("\nEndpoint = vpn.example.com:51820\n"),
            "{text}"
        );
    }

    #[test]
    fn wireguard_protocol_never_has_awg_lines() {
        for device_type in DeviceType::ALL {
            let f = fixture(device_type, Protocol::Wireguard, Some(v2()));
            let ini = parse_ini(&f.render(&ClientOptions::default()).unwrap());
            for (_, lines) in &ini {
                for (key, _) in lines {
                    assert!(!AWG_KEYS.contains(&key.as_str()), "{device_type}: {key}");
                }
            }
            // V2's S4 does not apply to plain WireGuard either.
            let iface = section(&ini, "Interface");
            match device_type {
                DeviceType::Router => assert_eq!(iface["MTU"], "1280"),
                _ => assert!(!iface.contains_key("MTU")),
            }
        }
    }

    #[test]
    fn laptop_is_full_tunnel_with_dns_and_default_dns() {
        let mut f = fixture(DeviceType::Laptop, Protocol::Awg, Some(v1()));
        f.wg().dns.clear();
        f.wg().mtu = Some(1380);
        let ini = parse_ini(&f.render(&ClientOptions::default()).unwrap());
        let iface = section(&ini, "Interface");
        assert_eq!(iface["DNS"], "1.1.1.1, 1.0.0.1");
        assert_eq!(iface["MTU"], "1380");
        assert_eq!(section(&ini, "Peer")["AllowedIPs"], "0.0.0.0/0, ::/0");

        let options = ClientOptions {
            keepalive: Some(30),
            router_dns: vec!["192.168.1.1".parse().unwrap()],
            ..ClientOptions::default()
        };
        let ini = parse_ini(&f.render(&options).unwrap());
        assert_eq!(section(&ini, "Peer")["PersistentKeepalive"], "30");
        assert_eq!(section(&ini, "Interface")["DNS"], "1.1.1.1, 1.0.0.1");
    }

    #[test]
    fn router_profile() {
        let mut f = fixture(DeviceType::Router, Protocol::Awg, Some(v1()));
        let ini = parse_ini(&f.render(&ClientOptions::default()).unwrap());
        let iface = section(&ini, "Interface");
        let peer = section(&ini, "Peer");
        assert!(!iface.contains_key("DNS"), "router keeps its own resolver");
        assert_eq!(iface["MTU"], "1280");
        assert_eq!(peer["PersistentKeepalive"], "25");
        assert_eq!(peer["AllowedIPs"], "0.0.0.0/0, ::/0");
        assert_eq!(iface["Jc"], v1().jc.to_string());

        let options = ClientOptions {
            router_dns: vec!["10.8.0.1".parse().unwrap()],
            router_mtu: Some(1400),
            router_keepalive: Some(0),
            keepalive: Some(99),
        };
        let ini = parse_ini(&f.render(&options).unwrap());
        assert_eq!(section(&ini, "Interface")["DNS"], "10.8.0.1");
        assert_eq!(section(&ini, "Interface")["MTU"], "1400");
        assert!(!section(&ini, "Peer").contains_key("PersistentKeepalive"));

        // The node's MTU caps the router's.
        f.wg().mtu = Some(1200);
        let ini = parse_ini(&f.render(&options).unwrap());
        assert_eq!(section(&ini, "Interface")["MTU"], "1200");
    }

    #[test]
    fn awg2_padding_lowers_mtu_and_keeps_special_junk_intact() {
        let p = v2();
        let s4 = p.s4.unwrap();
        let f = fixture(DeviceType::Phone, Protocol::Awg, Some(p.clone()));
        let text = f.render(&ClientOptions::default()).unwrap();
        let iface = section(&parse_ini(&text), "Interface");
        assert_eq!(iface["MTU"], (1420 - s4).to_string());
        assert_eq!(iface["S3"], p.s3.unwrap().to_string());
        assert_eq!(iface["H1"], p.h1.to_string());
        assert!(iface["H1"].contains('-'), "V2 headers are ranges");
        // amneziawg-tools keeps inner spaces of I lines only when the key starts the line.
        assert!(
            text.contains("\nI1 = <b 0xc700000001><r 16> <t>\n"),
            "{text}"
        );

        let f = fixture(DeviceType::Router, Protocol::Awg, Some(p));
        let iface = section(
            &parse_ini(&f.render(&ClientOptions::default()).unwrap()),
            "Interface",
        );
        assert_eq!(iface["MTU"], (1280 - s4).to_string());
    }

    #[test]
    fn endpoints() {
        assert_eq!(
            endpoint("vpn.example.com", 443).unwrap(),
            "vpn.example.com:443"
        );
        assert_eq!(endpoint("203.0.113.5", 51820).unwrap(), "203.0.113.5:51820");
        assert_eq!(
            endpoint("2001:db8::1", 51820).unwrap(),
            "[2001:db8::1]:51820"
        );
        assert_eq!(
            endpoint("[2001:db8::1]", 51820).unwrap(),
            "[2001:db8::1]:51820"
        );
        assert_eq!(endpoint(" ::1 ", 1).unwrap(), "[::1]:1");
        for bad in ["", "bad host", "[vpn.example.com]", "a:b", "-x.com"] {
            assert_eq!(endpoint(bad, 1), None, "{bad}");
        }
        let mut f = fixture(DeviceType::Phone, Protocol::Wireguard, None);
        f.node.public_host = "2001:db8::7".into();
        let ini = parse_ini(&f.render(&ClientOptions::default()).unwrap());
        assert_eq!(section(&ini, "Peer")["Endpoint"], "[2001:db8::7]:51820");
    }

    #[test]
    fn asking_again_gives_the_same_bytes() {
        let mut f = fixture(DeviceType::Phone, Protocol::Awg, Some(v2()));
        let first = f.render(&ClientOptions::default()).unwrap();
        assert_eq!(first, f.render(&ClientOptions::default()).unwrap());
        // Re-sealing the same keys (fresh nonces, so different stored bytes) changes nothing.
        let private = f.opened(purpose::DEVICE_WG_PRIVATE_KEY, &f.device.wg_private_key);
        let psk = f.opened(purpose::DEVICE_WG_PSK, &f.device.wg_psk);
        let resealed = f.sealer.seal(
            &mut OsRng,
            purpose::DEVICE_WG_PRIVATE_KEY,
            private.as_bytes(),
        );
        assert_ne!(Some(&resealed), f.device.wg_private_key.as_ref());
        f.device.wg_private_key = Some(resealed);
        f.device.wg_psk = Some(
            f.sealer
                .seal(&mut OsRng, purpose::DEVICE_WG_PSK, psk.as_bytes()),
        );
        assert_eq!(first, f.render(&ClientOptions::default()).unwrap());
        // And from the base64 keys directly.
        let keys = ClientKeys::from_base64(&private, Some(&psk)).unwrap();
        let direct =
            render_client_config(&f.node, &f.device, &keys, &ClientOptions::default()).unwrap();
        assert_eq!(first, direct);
    }

    #[test]
    fn refusals_say_what_is_wrong() {
        let opts = ClientOptions::default();
        let check = |f: &Fixture, needle: &str| {
            let e = f.render(&opts).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
            assert!(!e.contains('\n'), "{e}");
        };
        let mut f = fixture(DeviceType::Phone, Protocol::Vless, None);
        check(&f, "use its VLESS link");
        f.device.protocol = Protocol::Awg;
        check(&f, "has no AmneziaWG parameters");
        let mut bad = v1();
        bad.jc = 0;
        f.wg().awg = Some(bad);
        check(&f, "invalid AmneziaWG parameters: awg.jc:");
        f.wg().awg = Some(v1());
        f.device.revoked_at_ms = Some(5);
        check(&f, "is revoked");
        f.device.revoked_at_ms = None;
        f.device.node_id = 2;
        check(&f, "belongs to node 2, not node 1");
        f.device.node_id = 1;
        f.device.address_v4 = None;
        check(&f, "has no tunnel address");
        f.device.address_v4 = Some("10.8.0.300/32".into());
        check(&f, "invalid tunnel address `10.8.0.300/32`");
        f.device.address_v4 = Some("10.8.0.2/32".into());
        f.node.public_host = "no such host!".into();
        check(&f, "public host `no such host!`");
        f.node.public_host = "vpn.example.com".into();
        f.wg().listen_port = 0;
        check(&f, "listen port 0");
        f.wg().listen_port = 51820;
        f.wg().public_key = "short".into();
        check(&f, "invalid WireGuard public key");
        f.wg().public_key = wg_keypair(&mut OsRng).1;
        let mut big = v2();
        big.s4 = Some(1000);
        f.wg().awg = Some(big);
        check(&f, "tunnel MTU would be 420");
        f.wg().awg = Some(v1());
        f.node.wireguard = None;
        check(&f, "no WireGuard interface configured");
        f.render(&opts).unwrap_err();
    }

    #[test]
    fn keys_are_checked_and_never_shown() {
        let mut f = fixture(DeviceType::Phone, Protocol::Awg, Some(v1()));
        let keys = ClientKeys::open(&f.sealer, &f.device).unwrap();
        assert_eq!(format!("{keys:?}"), "ClientKeys(<redacted>)");
        assert_eq!(Some(keys.public_key()), f.device.wg_public_key);

        let private = f.opened(purpose::DEVICE_WG_PRIVATE_KEY, &f.device.wg_private_key);
        let config =
            ClientConfig::build(&f.node, &f.device, &keys, &ClientOptions::default()).unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains(&private), "{debug}");
        let psk = f.opened(purpose::DEVICE_WG_PSK, &f.device.wg_psk);
        assert!(!debug.contains(&psk), "{debug}");

        // A private key that is not the device's is refused rather than rendered.
        f.device.wg_public_key = Some(wg_keypair(&mut OsRng).1);
        let e = ClientKeys::open(&f.sealer, &f.device).unwrap_err();
        assert!(
            e.to_string().contains("does not match its public key"),
            "{e}"
        );

        let other = ClusterSecret::generate(&mut OsRng).sealer();
        let e = ClientKeys::open(&other, &f.device).unwrap_err();
        assert!(e.to_string().contains("another cluster secret"), "{e}");

        f.device.wg_private_key = None;
        let e = ClientKeys::open(&f.sealer, &f.device).unwrap_err();
        assert_eq!(e, WgConfError::NoKeys { device: 7 });

        let secretish = "c2VjcmV0IHRoYXQgaXMgbm90IDMyIGJ5dGVz";
        let e = ClientKeys::from_base64(secretish, None)
            .unwrap_err()
            .to_string();
        assert!(!e.contains(secretish), "{e}");
        assert!(e.starts_with("device private key is not 32 bytes"), "{e}");
        let e = ClientKeys::from_base64(&private, Some("x"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("device preshared key"), "{e}");

        // Without a PSK the line is left out, not written empty.
        let keys = ClientKeys::from_base64(&private, None).unwrap();
        let f = fixture(DeviceType::Phone, Protocol::Wireguard, None);
        let text =
            render_client_config(&f.node, &f.device, &keys, &ClientOptions::default()).unwrap();
        assert!(!text.contains("PresharedKey"), "{text}");
    }

    #[test]
    fn file_names() {
        let name = |n: &str, t| config_file_name(n, t);
        assert_eq!(name("alice", DeviceType::Phone), "alice_phone.conf");
        assert_eq!(name("phone", DeviceType::Phone), "phone.conf");
        assert_eq!(name("Router", DeviceType::Router), "router.conf");
        assert_eq!(name("", DeviceType::Laptop), "laptop.conf");
        assert_eq!(name("!!!", DeviceType::Laptop), "laptop.conf");
        assert_eq!(name("Маша", DeviceType::Phone), "masha_phone.conf");
        assert_eq!(name("Ёжик", DeviceType::Laptop), "ezhik_laptop.conf");
        assert_eq!(
            name("my phone (old)", DeviceType::Phone),
            "my_phone_phone.conf"
        );
        assert_eq!(
            name("../../etc/passwd", DeviceType::Router),
            "etc_pass_router.conf"
        );
        assert_eq!(
            name("grandmother", DeviceType::Laptop),
            "grandmot_laptop.conf"
        );
        assert_eq!(name("a-b", DeviceType::Phone), "a-b_phone.conf");
        // Every result is a name wg-quick and the WireGuard apps accept as an interface name.
        for n in [
            "alice",
            "Маша телефон",
            "x".repeat(64).as_str(),
            "日本語",
            "a__b--",
            " ",
        ] {
            for t in DeviceType::ALL {
                let file = name(n, t);
                let stem = file.strip_suffix(".conf").unwrap();
                assert!((1..=15).contains(&stem.len()), "{file}");
                assert!(
                    stem.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"_=+.-".contains(&b)),
                    "{file}"
                );
            }
        }
    }

    /// wg-quick itself reads the file: it must take Address/DNS/MTU as its own and pass
    /// exactly the keys `wg`/`awg` understand through `wg-quick strip`.
    #[test]
    fn wg_quick_strip_accepts_the_config() {
        use std::os::unix::fs::PermissionsExt;
        use std::process::{Command, Stdio};

        let dir = std::env::temp_dir().join(format!("vpnkeeper-wgconf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cases = [
            (DeviceType::Phone, Protocol::Wireguard, None),
            (DeviceType::Laptop, Protocol::Awg, Some(v1())),
            (DeviceType::Router, Protocol::Awg, Some(v2())),
        ];
        for (i, (device_type, protocol, awg)) in cases.into_iter().enumerate() {
            let f = fixture(device_type, protocol, awg);
            let text = f.render(&ClientOptions::default()).unwrap();
            // wg-quick wants `<interface name>.conf`; 0600 so it does not warn.
            let path = dir.join(format!("vkt{i}.conf"));
            std::fs::write(&path, &text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            let output = match Command::new("wg-quick")
                .arg("strip")
                .arg(&path)
                .stdin(Stdio::null())
                .output()
            {
                Ok(output) => output,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    eprintln!(
                        "SKIP wg_quick_strip_accepts_the_config: wg-quick is not installed \
                         (apt-get install --no-install-recommends wireguard-tools)"
                    );
                    let _ = std::fs::remove_dir_all(&dir);
                    return;
                }
                Err(e) => panic!("running wg-quick: {e}"),
            };
            assert!(
                output.status.success(),
                "wg-quick strip failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            let stripped = parse_ini(&String::from_utf8(output.stdout).unwrap());
            let original = parse_ini(&text);
            let iface = section(&stripped, "Interface");
            for key in ["Address", "DNS", "MTU"] {
                assert!(
                    !iface.contains_key(key),
                    "wg-quick did not take {key}: {iface:?}"
                );
            }
            // What is left is what `wg setconf` (or `awg setconf`) gets, value for value.
            let mut expected = section(&original, "Interface");
            expected.retain(|k, _| !["Address", "DNS", "MTU"].contains(&k.as_str()));
            assert_eq!(iface, expected);
            assert_eq!(section(&stripped, "Peer"), section(&original, "Peer"));
            let wg_keys = [
                "PrivateKey",
                "PublicKey",
                "PresharedKey",
                "AllowedIPs",
                "Endpoint",
                "PersistentKeepalive",
            ];
            for (_, lines) in &stripped {
                for (k, _) in lines {
                    let ok = wg_keys.contains(&k.as_str())
                        || (protocol == Protocol::Awg && AWG_KEYS.contains(&k.as_str()));
                    assert!(ok, "{protocol}: `{k}` would be rejected by setconf");
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn device_type() -> impl Strategy<Value = DeviceType> {
        prop::sample::select(DeviceType::ALL.to_vec())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Whatever the (valid) inputs, the rendered file parses back to the same values.
        #[test]
        fn render_parses_back(
            seed: u64,
            v2: bool,
            awg: bool,
            device_type in device_type(),
            host_v6: bool,
            port in 1u16..,
            mtu in prop::option::of(1280u16..=1500),
            last_octet in 2u8..=254,
        ) {
            let mut rng = StdRng::seed_from_u64(seed);
            let params = AwgParams::generate(&mut rng, if v2 { AwgVersion::V2 } else { AwgVersion::V1 });
            let protocol = if awg { Protocol::Awg } else { Protocol::Wireguard };
            let mut f = fixture(device_type, protocol, Some(params.clone()));
            f.wg().listen_port = port;
            f.wg().mtu = mtu;
            f.node.public_host = if host_v6 { "2001:db8::1".into() } else { format!("n{}.example.net", rng.gen::<u16>()) };
            f.device.address_v4 = Some(format!("10.8.0.{last_octet}/32"));
            let text = f.render(&ClientOptions::default()).unwrap();
            let ini = parse_ini(&text);
            let iface = section(&ini, "Interface");
            let peer = section(&ini, "Peer");
            prop_assert_eq!(&iface["Address"], &format!("10.8.0.{last_octet}/32"));
            let host = if host_v6 { "[2001:db8::1]".to_string() } else { f.node.public_host.clone() };
            prop_assert_eq!(&peer["Endpoint"], &format!("{host}:{port}"));
            prop_assert_eq!(&peer["AllowedIPs"], "0.0.0.0/0, ::/0");
            prop_assert_eq!(iface.contains_key("DNS"), device_type != DeviceType::Router);
            let overhead = if awg { params.s4.unwrap_or(0) } else { 0 };
            let expected_mtu = match device_type {
                DeviceType::Router => Some(mtu.unwrap_or(1280).min(1280) - overhead),
                _ if mtu.is_none() && overhead == 0 => None,
                _ => Some(mtu.unwrap_or(1420) - overhead),
            };
            prop_assert_eq!(iface.get("MTU").cloned(), expected_mtu.map(|m| m.to_string()));
            for (key, value) in params.to_conf_lines() {
                prop_assert_eq!(iface.get(key), awg.then_some(&value), "{}", key);
            }
            prop_assert_eq!(&text, &f.render(&ClientOptions::default()).unwrap());
        }

        #[test]
        fn file_name_is_always_an_interface_name(name in ".{0,80}", t in device_type()) {
            let file = config_file_name(&name, t);
            let stem = file.strip_suffix(".conf").unwrap();
            prop_assert!((1..=15).contains(&stem.len()), "{}", file);
            prop_assert!(stem.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'), "{}", file);
            prop_assert!(stem.ends_with(t.as_str()));
        }
    }
}

//! Core value types shared by every crate.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What kind of device a config is for. It decides the client profile (DNS, MTU, keepalive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum DeviceType {
    Phone,
    Laptop,
    Router,
}

impl DeviceType {
    pub const ALL: [DeviceType; 3] = [DeviceType::Phone, DeviceType::Laptop, DeviceType::Router];

    pub fn as_str(self) -> &'static str {
        match self {
            DeviceType::Phone => "phone",
            DeviceType::Laptop => "laptop",
            DeviceType::Router => "router",
        }
    }
}

impl fmt::Display for DeviceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeviceType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "phone" => Ok(DeviceType::Phone),
            "laptop" => Ok(DeviceType::Laptop),
            "router" => Ok(DeviceType::Router),
            other => Err(format!(
                "unknown device type `{other}`: expected phone, laptop or router"
            )),
        }
    }
}

/// The access protocol of a device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// AmneziaWG: WireGuard with the node's obfuscation parameters.
    Awg,
    /// Plain WireGuard on the same interface (obfuscation parameters left out of the config).
    Wireguard,
    /// VLESS + Reality through Xray-core.
    Vless,
}

impl Protocol {
    pub const ALL: [Protocol; 3] = [Protocol::Awg, Protocol::Wireguard, Protocol::Vless];

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Awg => "awg",
            Protocol::Wireguard => "wireguard",
            Protocol::Vless => "vless",
        }
    }

    /// Protocols served by the WireGuard-family interface of a node.
    pub fn is_wireguard_family(self) -> bool {
        matches!(self, Protocol::Awg | Protocol::Wireguard)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "awg" | "amneziawg" => Ok(Protocol::Awg),
            "wireguard" | "wg" => Ok(Protocol::Wireguard),
            "vless" => Ok(Protocol::Vless),
            other => Err(format!(
                "unknown protocol `{other}`: expected awg, wireguard or vless"
            )),
        }
    }
}

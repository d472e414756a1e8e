//! Import commands: users, devices and node keys taken over from another panel (Marzban,
//! Amnezia self-hosted) so that every customer's existing link and config keeps working.
//!
//! Everything is resolved by the importer (the API's import route) before proposing: the
//! new subscription token, device UUIDs, sealed keys. Apply is an upsert, so running the same
//! import twice leaves the state as the first run did.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::awg::AwgParams;
use crate::entity::NodeId;
use crate::model::{DeviceType, Protocol};
use crate::secrets::Sealed;
use crate::validate::{self, ValidationError};

/// Where an import comes from. Legacy subscription tokens are checked per source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportSource {
    Marzban,
    Amnezia,
}

impl ImportSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ImportSource::Marzban => "marzban",
            ImportSource::Amnezia => "amnezia",
        }
    }
}

/// One user of the old panel, with what it needs to keep working.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedUser {
    pub source: ImportSource,
    pub name: String,
    pub enabled: bool,
    pub expires_at_ms: Option<i64>,
    pub traffic_limit_bytes: Option<i64>,
    /// Subscription token for a user created by this import (an existing user keeps theirs).
    pub sub_token: String,
    /// The user's name in the old panel, which its subscription tokens carry.
    pub legacy_name: Option<String>,
    /// Old-panel tokens issued before this time (unix ms) were revoked there and stay so.
    pub legacy_revoked_before_ms: Option<i64>,
    pub devices: Vec<ImportedDevice>,
}

/// A device carried over: VLESS by its UUID, WireGuard-family by its public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedDevice {
    pub node_id: NodeId,
    pub name: String,
    pub device_type: DeviceType,
    pub protocol: Protocol,
    pub uuid: Uuid,
    pub wg: Option<ImportedWg>,
    /// Traffic already used in the old panel, carried so quotas keep counting from there.
    pub rx_bytes: i64,
    pub tx_bytes: i64,
}

/// A peer of the old server: its keys stay on the client, only the public half is known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedWg {
    pub public_key: String,
    pub preshared_key: Option<Sealed>,
    /// The tunnel address the client's config already holds.
    pub address_v4: Ipv4Addr,
}

/// The old server's WireGuard identity, so client configs that name its public key and carry
/// its AmneziaWG parameters keep connecting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedServerKey {
    pub node_id: NodeId,
    pub public_key: String,
    pub private_key: Sealed,
    pub awg: Option<AwgParams>,
}

/// `ImportUser`: names, limits and keys that make sense on their own.
pub fn validate_user(u: &ImportedUser) -> Result<(), ValidationError> {
    validate::name("name", &u.name)?;
    super::user::validate_sub_token(&u.sub_token)?;
    if u.expires_at_ms.is_some_and(|e| e <= 0) {
        return Err(ValidationError::new(
            "expires_at_ms",
            "must be a positive unix time in ms",
        ));
    }
    if u.traffic_limit_bytes.is_some_and(|l| l <= 0) {
        return Err(ValidationError::new(
            "traffic_limit_bytes",
            "must be a positive number of bytes, or absent for unlimited",
        ));
    }
    for d in &u.devices {
        validate_device(d)?;
    }
    Ok(())
}

fn validate_device(d: &ImportedDevice) -> Result<(), ValidationError> {
    validate::name("devices.name", &d.name)?;
    if d.rx_bytes < 0 || d.tx_bytes < 0 {
        return Err(ValidationError::new(
            "devices.rx_bytes",
            "traffic must not be negative",
        ));
    }
    match (&d.wg, d.protocol.is_wireguard_family()) {
        (Some(wg), true) => wg_public_key("devices.wg.public_key", &wg.public_key),
        (None, false) => Ok(()),
        (None, true) => Err(ValidationError::new(
            "devices.wg",
            "awg/wireguard devices need their public key and address",
        )),
        (Some(_), false) => Err(ValidationError::new(
            "devices.wg",
            "only awg/wireguard devices carry WireGuard keys",
        )),
    }
}

/// `ImportServerKey`: a WireGuard public key and valid AmneziaWG parameters.
pub fn validate_server_key(k: &ImportedServerKey) -> Result<(), ValidationError> {
    wg_public_key("public_key", &k.public_key)?;
    if let Some(awg) = &k.awg {
        awg.validate().map_err(|e| ValidationError::new("awg", e))?;
    }
    Ok(())
}

/// `SetLegacySubSecret`: a secret is there.
pub fn validate_secret(secret: &Sealed) -> Result<(), ValidationError> {
    if secret.as_str().is_empty() {
        return Err(ValidationError::new("secret", "must not be empty"));
    }
    Ok(())
}

/// A WireGuard key: 32 bytes in standard base64.
pub fn wg_public_key(field: &str, key: &str) -> Result<(), ValidationError> {
    use base64::Engine;
    match base64::engine::general_purpose::STANDARD.decode(key) {
        Ok(b) if b.len() == 32 => Ok(()),
        _ => Err(ValidationError::new(
            field,
            "must be a WireGuard key: 32 bytes in base64 (44 characters)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> ImportedUser {
        ImportedUser {
            source: ImportSource::Marzban,
            name: "alice".into(),
            enabled: true,
            expires_at_ms: Some(1),
            traffic_limit_bytes: None,
            sub_token: "abcdefghijklmnopqrstuvwx".into(),
            legacy_name: Some("alice".into()),
            legacy_revoked_before_ms: None,
            devices: vec![ImportedDevice {
                node_id: 1,
                name: "vless".into(),
                device_type: DeviceType::Phone,
                protocol: Protocol::Vless,
                uuid: Uuid::nil(),
                wg: None,
                rx_bytes: 5,
                tx_bytes: 0,
            }],
        }
    }

    #[test]
    fn a_plain_user_is_valid_and_bad_fields_are_named() {
        assert!(validate_user(&user()).is_ok());
        let mut u = user();
        u.traffic_limit_bytes = Some(0);
        assert_eq!(validate_user(&u).unwrap_err().field, "traffic_limit_bytes");
        let mut u = user();
        u.devices[0].protocol = Protocol::Awg;
        assert_eq!(validate_user(&u).unwrap_err().field, "devices.wg");
        let mut u = user();
        u.sub_token = "short".into();
        assert_eq!(validate_user(&u).unwrap_err().field, "sub_token");
    }

    #[test]
    fn wireguard_keys_must_be_32_bytes() {
        assert!(wg_public_key("k", "AAAA").is_err());
        assert!(wg_public_key("k", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=").is_ok());
    }
}

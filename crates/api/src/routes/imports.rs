//! `POST /api/v1/imports`: users, devices and keys carried over from another panel (the CLI's
//! `vpnkeeper import marzban|amnezia` reads the old panel's files and posts them here).
//!
//! The route resolves what must be random or secret (new subscription tokens, device UUIDs
//! for WireGuard peers, sealed keys) and proposes one `ImportUser` per user, plus
//! `SetLegacySubSecret` / `ImportServerKey` when given. Every command is validated before
//! the first is proposed, so a bad entry leaves nothing half-imported. Apply is an upsert:
//! posting the same import twice changes nothing. `dry_run` answers the same plan without
//! proposing anything.

use std::net::Ipv4Addr;

use axum::extract::State;
use axum::Json;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vpnkeeper_domain::awg::AwgParams;
use vpnkeeper_domain::command::import::{
    ImportSource, ImportedDevice, ImportedServerKey, ImportedUser, ImportedWg,
};
use vpnkeeper_domain::keys::wg_public_of;
use vpnkeeper_domain::secrets::{purpose, random_url_token};
use vpnkeeper_domain::{Applied, Command, DeviceType, Protocol, UserRef};

use crate::auth::Admin;
use crate::error::ApiError;
use crate::extract::Body;
use crate::responses::{InvalidField, NotJson, WriteErrors};
use crate::state::ApiState;

/// Bytes of randomness in a subscription token (as `users::create`).
const SUB_TOKEN_BYTES: usize = 24;
/// Most users in one request; the CLI sends bigger imports in chunks.
pub const MAX_USERS: usize = 500;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    #[schema(value_type = String, example = "marzban")]
    pub source: ImportSource,
    /// Answer the plan without changing anything.
    #[serde(default)]
    pub dry_run: bool,
    /// The node the devices go to; default: the node serving this request.
    #[serde(default)]
    pub node_id: Option<u64>,
    /// The old panel's subscription-token secret (Marzban's `jwt.secret_key`).
    #[serde(default)]
    pub legacy_secret: Option<String>,
    /// The old server's WireGuard identity (Amnezia's `wg0.conf`).
    #[serde(default)]
    pub server: Option<ServerKeyIn>,
    #[serde(default)]
    pub users: Vec<UserIn>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerKeyIn {
    /// Base64 private key of the old server.
    pub private_key: String,
    /// The port its clients connect to; must be this node's `[wireguard] listen_port`.
    pub listen_port: u16,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub awg: Option<AwgParams>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserIn {
    pub name: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub expires_at_ms: Option<i64>,
    #[serde(default)]
    pub traffic_limit_bytes: Option<i64>,
    /// The user's name inside the old panel's subscription tokens.
    #[serde(default)]
    pub legacy_name: Option<String>,
    #[serde(default)]
    pub legacy_revoked_before_ms: Option<i64>,
    #[serde(default)]
    pub devices: Vec<DeviceIn>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceIn {
    pub name: String,
    #[schema(value_type = String, example = "vless")]
    pub protocol: Protocol,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub device_type: Option<DeviceType>,
    /// VLESS: the user's UUID in the old panel.
    #[serde(default)]
    pub uuid: Option<uuid::Uuid>,
    /// WireGuard family: the peer's public key, preshared key and tunnel address.
    #[serde(default)]
    pub public_key: Option<String>,
    #[serde(default)]
    pub preshared_key: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub address_v4: Option<Ipv4Addr>,
    #[serde(default)]
    pub rx_bytes: i64,
    #[serde(default)]
    pub tx_bytes: i64,
}

#[derive(Serialize, ToSchema)]
pub struct ImportReport {
    pub dry_run: bool,
    pub users: Vec<UserPlan>,
    /// Whether the old panel's subscription secret is (or would be) stored.
    pub legacy_secret: bool,
    /// Whether the node takes (or would take) the old server's key.
    pub server_key: bool,
}

#[derive(Serialize, ToSchema)]
pub struct UserPlan {
    pub name: String,
    /// `create` or `update` (an existing user of that name is brought in line).
    pub action: &'static str,
    /// Devices the user does not have yet.
    pub new_devices: usize,
    /// Devices already there (same UUID or WireGuard key).
    pub kept_devices: usize,
    /// The user's id once imported (absent in a dry run for a new user).
    pub id: Option<i64>,
}

#[utoipa::path(post, path = "/api/v1/imports", tag = "imports", request_body = ImportRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "What was (or, with dry_run, would be) imported", body = ImportReport),
        WriteErrors,
        InvalidField,
        NotJson,
    ))]
pub async fn import(
    State(state): State<ApiState>,
    Admin(caller): Admin,
    Body(req): Body<ImportRequest>,
) -> Result<Json<ImportReport>, ApiError> {
    if req.node_id.is_some_and(|id| id > i64::MAX as u64) {
        return Err(ApiError::bad_request(
            "node_id",
            "is not a node id; see GET /api/v1/nodes",
        ));
    }
    if req.users.len() > MAX_USERS {
        return Err(ApiError::bad_request(
            "users",
            format!("at most {MAX_USERS} users per request; send the rest in another"),
        ));
    }
    let node_id = req.node_id.unwrap_or(state.cluster().node_id());
    let commands = build_commands(&state, &req, node_id).await?;
    for c in &commands {
        c.validate()?;
    }
    let mut report = plan(&state, &req, node_id).await?;
    if req.dry_run {
        return Ok(Json(report));
    }
    let mut users = report.users.iter_mut();
    for command in commands {
        let is_user = matches!(command, Command::ImportUser { .. });
        let applied = state.execute(caller.actor(), command).await?;
        if let (true, Applied::User { id }) = (is_user, applied) {
            if let Some(u) = users.next() {
                u.id = Some(id);
            }
        }
    }
    Ok(Json(report))
}

/// The commands of an import, in order: secret, server key, then users.
async fn build_commands(
    state: &ApiState,
    req: &ImportRequest,
    node_id: u64,
) -> Result<Vec<Command>, ApiError> {
    let mut out = Vec::new();
    if let Some(secret) = &req.legacy_secret {
        let sealed = state
            .sealer()
            .seal(&mut OsRng, purpose::LEGACY_SUB_SECRET, secret.as_bytes());
        out.push(Command::SetLegacySubSecret {
            source: req.source,
            secret: sealed,
        });
    }
    if let Some(server) = &req.server {
        out.push(server_key_command(state, server, node_id).await?);
    }
    for u in &req.users {
        out.push(Command::ImportUser {
            user: Box::new(imported_user(state, req.source, u, node_id)?),
        });
    }
    Ok(out)
}

async fn server_key_command(
    state: &ApiState,
    server: &ServerKeyIn,
    node_id: u64,
) -> Result<Command, ApiError> {
    let public_key = wg_public_of(&server.private_key).ok_or_else(|| {
        ApiError::bad_request(
            "server.private_key",
            "must be a WireGuard private key (32 bytes in base64)",
        )
    })?;
    let node = state
        .read()
        .node(node_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("node {node_id}")))?;
    let Some(wg) = node.wireguard else {
        return Err(ApiError::bad_request(
            "node_id",
            format!("node {node_id} does not serve WireGuard/AmneziaWG"),
        ));
    };
    if wg.listen_port != server.listen_port {
        return Err(ApiError::bad_request(
            "server.listen_port",
            format!(
                "the old server listened on {} and node {node_id} on {}: set [wireguard] listen_port = {} and restart the node, then import again",
                server.listen_port, wg.listen_port, server.listen_port
            ),
        ));
    }
    let private_key = state.sealer().seal(
        &mut OsRng,
        purpose::NODE_WG_PRIVATE_KEY,
        server.private_key.as_bytes(),
    );
    Ok(Command::ImportServerKey {
        key: Box::new(ImportedServerKey {
            node_id,
            public_key,
            private_key,
            awg: server.awg.clone(),
        }),
    })
}

fn imported_user(
    state: &ApiState,
    source: ImportSource,
    u: &UserIn,
    node_id: u64,
) -> Result<ImportedUser, ApiError> {
    let devices = u
        .devices
        .iter()
        .map(|d| imported_device(state, d, node_id))
        .collect::<Result<_, _>>()?;
    Ok(ImportedUser {
        source,
        name: u.name.clone(),
        enabled: u.enabled,
        expires_at_ms: u.expires_at_ms,
        traffic_limit_bytes: u.traffic_limit_bytes,
        sub_token: random_url_token(&mut OsRng, SUB_TOKEN_BYTES),
        legacy_name: u.legacy_name.clone(),
        legacy_revoked_before_ms: u.legacy_revoked_before_ms,
        devices,
    })
}

fn imported_device(
    state: &ApiState,
    d: &DeviceIn,
    node_id: u64,
) -> Result<ImportedDevice, ApiError> {
    let wg = if d.protocol.is_wireguard_family() {
        let (Some(public_key), Some(address_v4)) = (&d.public_key, d.address_v4) else {
            return Err(ApiError::bad_request(
                "devices",
                format!(
                    "device `{}`: awg/wireguard devices need public_key and address_v4",
                    d.name
                ),
            ));
        };
        let preshared_key = d.preshared_key.as_ref().map(|p| {
            state
                .sealer()
                .seal(&mut OsRng, purpose::DEVICE_WG_PSK, p.as_bytes())
        });
        Some(ImportedWg {
            public_key: public_key.clone(),
            preshared_key,
            address_v4,
        })
    } else {
        None
    };
    let uuid = match (d.uuid, d.protocol) {
        (Some(u), _) => u,
        (None, Protocol::Vless) => {
            return Err(ApiError::bad_request(
                "devices",
                format!(
                    "device `{}`: VLESS devices keep their UUID; give `uuid`",
                    d.name
                ),
            ))
        }
        (None, _) => uuid::Uuid::new_v4(),
    };
    Ok(ImportedDevice {
        node_id,
        name: d.name.clone(),
        device_type: d.device_type.unwrap_or(DeviceType::Phone),
        protocol: d.protocol,
        uuid,
        wg,
        rx_bytes: d.rx_bytes,
        tx_bytes: d.tx_bytes,
    })
}

/// What the import does to each user, read from the current state.
async fn plan(
    state: &ApiState,
    req: &ImportRequest,
    _node_id: u64,
) -> Result<ImportReport, ApiError> {
    let mut users = Vec::with_capacity(req.users.len());
    for u in &req.users {
        let existing = state.read().user(&UserRef::Name(u.name.clone())).await?;
        let (mut new_devices, mut kept_devices) = (0, 0);
        for d in &u.devices {
            let uuid = d.uuid.map(|u| u.to_string()).unwrap_or_default();
            let owner = state
                .read()
                .imported_device_owner(d.public_key.as_deref(), &uuid)
                .await?;
            match (owner, &existing) {
                (Some(o), Some(e)) if o == e.id => kept_devices += 1,
                _ => new_devices += 1,
            }
        }
        users.push(UserPlan {
            name: u.name.clone(),
            action: if existing.is_some() {
                "update"
            } else {
                "create"
            },
            new_devices,
            kept_devices,
            id: existing.map(|e| e.id),
        });
    }
    Ok(ImportReport {
        dry_run: req.dry_run,
        users,
        legacy_secret: req.legacy_secret.is_some(),
        server_key: req.server.is_some(),
    })
}

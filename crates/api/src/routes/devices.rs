//! `/api/v1/devices`: issue, list, get, config, QR, revoke. Addressable by numeric id or
//! UUID everywhere.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;
use vpnkeeper_domain::keys::wg_material;
use vpnkeeper_domain::placement::{self, Candidate};
use vpnkeeper_domain::{Applied, Command, Device, DeviceRef, DeviceType, Protocol, UserRef};

use crate::auth::{Admin, Caller};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{Body, Path, Query};
use crate::responses::{
    AdminReadErrors, BadDeviceRef, BadQuery, InvalidField, NoSuchDevice, NoSuchUser, NotJson,
    ReadErrors, WriteErrors,
};
use crate::routes::users::{check_page, parse_user};
use crate::state::ApiState;
use crate::views::{DeviceTypeView, DeviceView, ProtocolView};

/// A user reference in JSON: a number is an id, a string is an id, `tg:<telegram id>` or a
/// name.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum UserField {
    Id(i64),
    Text(String),
}

impl UserField {
    fn to_ref(&self) -> UserRef {
        match self {
            UserField::Id(id) => UserRef::Id(*id),
            UserField::Text(t) => parse_user(t),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueDevice {
    pub user: UserField,
    #[serde(rename = "type")]
    #[schema(value_type = DeviceTypeView)]
    pub device_type: String,
    /// Default: what the node serves (`awg` on an AmneziaWG node, else `wireguard`, else
    /// `vless`).
    #[serde(default)]
    #[schema(value_type = Option<ProtocolView>)]
    pub protocol: Option<String>,
    /// Defaults to the device type, so asking twice for "phone" returns the same device.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 64)]
    pub name: Option<String>,
    /// Defaults to the least-loaded online node serving the protocol (active devices per
    /// unit of the node's `capacity`).
    #[serde(default)]
    #[schema(minimum = 1)]
    pub node_id: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct Issued {
    /// false when the same device already existed ("asking again returns the same config").
    pub created: bool,
    #[serde(flatten)]
    pub device: DeviceView,
}

#[utoipa::path(post, path = "/api/v1/devices", tag = "devices", request_body = IssueDevice,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "A new device", body = Issued),
        (status = 200, description = "The existing device with this user, name and protocol", body = Issued),
        WriteErrors,
        InvalidField,
        NotJson,
        (status = 404, description = "No such user or node", body = ErrorBody),
        (status = 409, description = "User disabled, address pool exhausted, or every node draining", body = ErrorBody),
    ))]
pub async fn issue(
    State(state): State<ApiState>,
    Admin(caller): Admin,
    Body(req): Body<IssueDevice>,
) -> Result<(StatusCode, Json<Issued>), ApiError> {
    let device_type: DeviceType = req
        .device_type
        .parse()
        .map_err(|e: String| ApiError::bad_request("type", e))?;
    let asked: Option<Protocol> = match &req.protocol {
        Some(p) => Some(
            p.parse()
                .map_err(|e: String| ApiError::bad_request("protocol", e))?,
        ),
        None => None,
    };
    let node_id = match req.node_id {
        Some(id) => id,
        None => place(&state, asked).await?,
    };
    let protocol = match asked {
        Some(p) => p,
        // A node serves one WireGuard flavour; without a choice, the device gets it.
        None => default_protocol(&state, node_id).await?,
    };
    let wg = protocol
        .is_wireguard_family()
        .then(|| wg_material(&mut OsRng, state.sealer()));
    let command = Command::IssueDevice {
        user: req.user.to_ref(),
        node_id,
        name: req.name.unwrap_or_else(|| device_type.as_str().to_string()),
        device_type,
        protocol,
        uuid: Uuid::new_v4(),
        wg,
    };
    let Applied::Device {
        id,
        created,
        device,
    } = state.execute(caller.actor(), command).await?
    else {
        return Err(ApiError::internal(
            "device.issue applied without returning a device",
        ));
    };
    // A new device comes back from apply as written; an existing one (or an outcome
    // forwarded from the leader) is read.
    let device = match device {
        Some(d) => *d,
        None => fetch(&state, &DeviceRef::Id(id)).await?,
    }
    .into();
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(Issued { created, device })))
}

/// Placement: the least-loaded online node serving `protocol` (any protocol when none is
/// asked for), load weighted by each node's capacity, skipping draining nodes and nodes
/// without headroom (`placement::NodeLoad`). With no node serving it at all, the node
/// answering the request, whose apply then says what is wrong (unknown node, no such
/// protocol); when every such node is draining, a 409 saying so.
async fn place(state: &ApiState, protocol: Option<Protocol>) -> Result<u64, ApiError> {
    let fleet = state.fleet().await?;
    let headroom = |id: u64| state.cluster().node_load(id).map(|r| r.placement_load());
    // Devices are not counted yet (a scan): the shortlist does not need them.
    let online: Vec<Candidate> = fleet
        .nodes
        .iter()
        .filter(|n| fleet.online.contains(&n.id))
        .map(|n| Candidate {
            id: n.id,
            active_devices: 0,
            capacity: None,
            online: true,
            serves: protocol.is_none_or(|p| placement::serves(n, p)),
            draining: fleet.draining.contains(&n.id),
            load: headroom(n.id),
        })
        .collect();
    let serving: Vec<u64> = online.iter().filter(|c| c.serves).map(|c| c.id).collect();
    let eligible = placement::shortlist(&online);
    if eligible.is_empty() && !serving.is_empty() {
        return Err(no_room(&serving));
    }
    // With at most one candidate there is nothing to weigh: skip counting every node's
    // devices, a scan of all active devices on each issue (the same choice as below).
    if eligible.len() <= 1 {
        return Ok(eligible
            .first()
            .copied()
            .unwrap_or_else(|| state.cluster().node_id()));
    }
    let nodes = &fleet.nodes;
    // Counted at most once a second (a scan of every active device; see load_cache.rs).
    let loads = state.node_loads().await?;
    let candidates: Vec<Candidate> = loads
        .iter()
        .filter_map(|l| {
            let node = nodes.iter().find(|n| n.id == l.id)?;
            Some(Candidate {
                id: l.id,
                active_devices: l.active_devices,
                capacity: l.capacity,
                online: l.online,
                serves: protocol.is_none_or(|p| placement::serves(node, p)),
                draining: l.draining,
                load: headroom(l.id),
            })
        })
        .collect();
    let chosen = placement::choose(&candidates).unwrap_or_else(|| state.cluster().node_id());
    state.placed_on(chosen);
    Ok(chosen)
}

/// Every node that could serve the device is draining.
fn no_room(serving: &[u64]) -> ApiError {
    let ids: Vec<String> = serving.iter().map(u64::to_string).collect();
    ApiError::new(
        axum::http::StatusCode::CONFLICT,
        "no_capacity",
        format!(
            "no node can take a new device: node(s) {} are draining; undrain one \
             (`vpnkeeper node undrain ID`), add a node, or name a node_id",
            ids.join(", ")
        ),
    )
}

/// What a node serves by default: its WireGuard flavour (AmneziaWG when it has obfuscation
/// parameters), else VLESS when it only runs Xray. Unknown nodes default to `awg` and are
/// refused by `apply` with a 404 naming the node.
async fn default_protocol(state: &ApiState, node_id: u64) -> Result<Protocol, ApiError> {
    Ok(match state.node(node_id).await? {
        Some(n) => match &n.wireguard {
            Some(wg) if wg.awg.is_some() => Protocol::Awg,
            Some(_) => Protocol::Wireguard,
            None if n.xray.is_some() => Protocol::Vless,
            None => Protocol::Awg,
        },
        None => Protocol::Awg,
    })
}

pub async fn fetch(state: &ApiState, device: &DeviceRef) -> Result<Device, ApiError> {
    state
        .read()
        .device(device)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("device {device}")))
}

pub fn parse_ref(text: &str) -> Result<DeviceRef, ApiError> {
    Ok(DeviceRef::parse(text)?)
}

#[utoipa::path(get, path = "/api/v1/devices/{device}", tag = "devices",
    params(("device" = String, Path, description = "Device id or UUID")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The device", body = DeviceView),
        ReadErrors,
        BadDeviceRef,
        NoSuchDevice,
    ))]
pub async fn get(
    State(state): State<ApiState>,
    _caller: Caller,
    Path(device): Path<String>,
) -> Result<Json<DeviceView>, ApiError> {
    Ok(Json(fetch(&state, &parse_ref(&device)?).await?.into()))
}

#[utoipa::path(delete, path = "/api/v1/devices/{device}", tag = "devices",
    params(("device" = String, Path, description = "Device id or UUID")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The device, revoked (revoking twice is not an error)", body = DeviceView),
        WriteErrors,
        BadDeviceRef,
        NoSuchDevice,
    ))]
pub async fn revoke(
    State(state): State<ApiState>,
    Admin(caller): Admin,
    Path(device): Path<String>,
) -> Result<Json<DeviceView>, ApiError> {
    let device = parse_ref(&device)?;
    state
        .execute(
            caller.actor(),
            Command::RevokeDevice {
                device: device.clone(),
            },
        )
        .await?;
    Ok(Json(fetch(&state, &device).await?.into()))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only this user's devices (id, `tg:<telegram id>` or name).
    #[serde(default)]
    #[param(min_length = 1, max_length = 64)]
    pub user: Option<String>,
    #[serde(default)]
    pub include_revoked: bool,
    #[serde(default = "default_limit")]
    #[param(minimum = 1, maximum = 1000, default = 100)]
    pub limit: i64,
    #[serde(default)]
    #[param(minimum = 0, default = 0)]
    pub offset: i64,
}

fn default_limit() -> i64 {
    100
}

#[derive(Serialize, ToSchema)]
pub struct DeviceList {
    pub devices: Vec<DeviceView>,
    pub limit: i64,
    pub offset: i64,
}

#[utoipa::path(get, path = "/api/v1/devices", tag = "devices", params(ListParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of devices, by id", body = DeviceList),
        ReadErrors,
        BadQuery,
        NoSuchUser,
    ))]
pub async fn list(
    State(state): State<ApiState>,
    _caller: Caller,
    Query(p): Query<ListParams>,
) -> Result<Json<DeviceList>, ApiError> {
    let page = check_page(p.limit, p.offset)?;
    let devices = match &p.user {
        Some(user) => {
            let user = crate::routes::users::fetch(&state, &parse_user(user)).await?;
            state
                .read()
                .devices_of_user(user.user.id, p.include_revoked)
                .await?
                .into_iter()
                .skip(p.offset as usize)
                .take(p.limit as usize)
                .collect()
        }
        None => state.read().devices(page, p.include_revoked).await?,
    };
    Ok(Json(DeviceList {
        devices: devices.into_iter().map(DeviceView::from).collect(),
        limit: p.limit,
        offset: p.offset,
    }))
}

#[utoipa::path(get, path = "/api/v1/devices/{device}/config", tag = "devices",
    params(("device" = String, Path, description = "Device id or UUID")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The client config (.conf) or share link", content_type = "text/plain", body = String),
        AdminReadErrors,
        BadDeviceRef,
        NoSuchDevice,
        (status = 403, description = "Read-only key (configs hold private keys)", body = ErrorBody),
        (status = 409, description = "Revoked, or the node cannot serve it", body = ErrorBody),
    ))]
pub async fn config(
    State(state): State<ApiState>,
    _admin: Admin,
    Path(device): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    // A config holds the device's private key: admin scope only.
    let device = fetch(&state, &parse_ref(&device)?).await?;
    let artifact = crate::sub::artifact::for_device(&state, &device).await?;
    Ok(crate::sub::artifact::attachment(&artifact))
}

#[utoipa::path(get, path = "/api/v1/devices/{device}/qr", tag = "devices",
    params(("device" = String, Path, description = "Device id or UUID")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "QR code of the config or link", content_type = "image/png", body = Vec<u8>),
        AdminReadErrors,
        BadDeviceRef,
        NoSuchDevice,
        (status = 409, description = "Revoked, or too large for a QR code", body = ErrorBody),
    ))]
pub async fn qr(
    State(state): State<ApiState>,
    _admin: Admin,
    Path(device): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let device = fetch(&state, &parse_ref(&device)?).await?;
    let artifact = crate::sub::artifact::for_device(&state, &device).await?;
    let png = vpnkeeper_render::qr_png(artifact.qr_payload())
        .map_err(|e| ApiError::new(StatusCode::CONFLICT, "qr_too_large", e.to_string()))?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "image/png"),
            (axum::http::header::CACHE_CONTROL, "no-store"),
        ],
        png,
    )
        .into_response())
}

//! `/api/v1/devices`: issue, list, get, revoke. Addressable by numeric id or UUID everywhere.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use vpnkeeper_domain::keys::wg_material;
use vpnkeeper_domain::{Applied, Command, Device, DeviceRef, DeviceType, Protocol, UserRef};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Body, Path, Query};
use crate::routes::users::check_page;
use crate::state::ApiState;

/// A user reference in JSON: a number is an id, a string is an id or a name.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum UserField {
    Id(i64),
    Text(String),
}

impl UserField {
    fn to_ref(&self) -> UserRef {
        match self {
            UserField::Id(id) => UserRef::Id(*id),
            UserField::Text(t) => UserRef::parse(t),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueDevice {
    pub user: UserField,
    #[serde(rename = "type")]
    pub device_type: String,
    #[serde(default)]
    pub protocol: Option<String>,
    /// Defaults to the device type, so asking twice for "phone" returns the same device.
    #[serde(default)]
    pub name: Option<String>,
    /// Defaults to the node answering the request.
    #[serde(default)]
    pub node_id: Option<u64>,
}

#[derive(Serialize)]
pub struct Issued {
    pub created: bool,
    #[serde(flatten)]
    pub device: Device,
}

pub async fn issue(
    State(state): State<ApiState>,
    caller: Caller,
    Body(req): Body<IssueDevice>,
) -> Result<(StatusCode, Json<Issued>), ApiError> {
    caller.require_admin()?;
    let device_type: DeviceType = req
        .device_type
        .parse()
        .map_err(|e: String| ApiError::bad_request("type", e))?;
    let protocol: Protocol = match &req.protocol {
        Some(p) => p
            .parse()
            .map_err(|e: String| ApiError::bad_request("protocol", e))?,
        None => Protocol::Awg,
    };
    let wg = protocol
        .is_wireguard_family()
        .then(|| wg_material(&mut OsRng, state.sealer()));
    let command = Command::IssueDevice {
        user: req.user.to_ref(),
        node_id: req.node_id.unwrap_or_else(|| state.cluster().node_id()),
        name: req.name.unwrap_or_else(|| device_type.as_str().to_string()),
        device_type,
        protocol,
        uuid: Uuid::new_v4(),
        wg,
    };
    let Applied::Device { id, created } = state.execute(caller.actor(), command).await? else {
        return Err(ApiError::internal(
            "device.issue applied without returning a device",
        ));
    };
    let device = fetch(&state, &DeviceRef::Id(id)).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(Issued { created, device })))
}

pub async fn fetch(state: &ApiState, device: &DeviceRef) -> Result<Device, ApiError> {
    state
        .read()
        .device(device)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("device {device}")))
}

fn parse_ref(text: &str) -> Result<DeviceRef, ApiError> {
    Ok(DeviceRef::parse(text)?)
}

pub async fn get(
    State(state): State<ApiState>,
    _caller: Caller,
    Path(device): Path<String>,
) -> Result<Json<Device>, ApiError> {
    Ok(Json(fetch(&state, &parse_ref(&device)?).await?))
}

pub async fn revoke(
    State(state): State<ApiState>,
    caller: Caller,
    Path(device): Path<String>,
) -> Result<Json<Device>, ApiError> {
    caller.require_admin()?;
    let device = parse_ref(&device)?;
    state
        .execute(
            caller.actor(),
            Command::RevokeDevice {
                device: device.clone(),
            },
        )
        .await?;
    Ok(Json(fetch(&state, &device).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub include_revoked: bool,
    #[serde(default = "default_limit")]
    pub limit: i64,
    #[serde(default)]
    pub offset: i64,
}

fn default_limit() -> i64 {
    100
}

#[derive(Serialize)]
pub struct DeviceList {
    pub devices: Vec<Device>,
}

pub async fn list(
    State(state): State<ApiState>,
    _caller: Caller,
    Query(p): Query<ListParams>,
) -> Result<Json<DeviceList>, ApiError> {
    let page = check_page(p.limit, p.offset)?;
    let devices = match &p.user {
        Some(user) => {
            let user = crate::routes::users::fetch(&state, &UserRef::parse(user)).await?;
            state
                .read()
                .devices_of_user(user.id, p.include_revoked)
                .await?
        }
        None => state.read().devices(page, p.include_revoked).await?,
    };
    Ok(Json(DeviceList { devices }))
}

/// The text a device's owner imports: the `.conf` for awg/wireguard devices. Asking again
/// renders the same bytes from the same stored keys.
pub async fn render_config(
    state: &ApiState,
    device: &Device,
) -> Result<(String, String), ApiError> {
    use vpnkeeper_domain::wgconf::{
        config_file_name, render_client_config, ClientKeys, WgConfError,
    };
    let conflict = |e: WgConfError| ApiError::new(StatusCode::CONFLICT, "no_config", e.to_string());
    if !device.protocol.is_wireguard_family() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "no_config",
            format!(
                "device #{} uses protocol {}; its share link comes with the Xray integration",
                device.id, device.protocol
            ),
        ));
    }
    let node = state.read().node(device.node_id).await?.ok_or_else(|| {
        ApiError::not_found(format!("node {} of device {}", device.node_id, device.id))
    })?;
    let keys = ClientKeys::open(state.sealer(), device).map_err(|e| match e {
        WgConfError::Sealed { .. } => {
            tracing::error!(
                device = device.id,
                "device keys cannot be opened with this node's cluster key"
            );
            ApiError::internal("the device's keys cannot be opened with this node's cluster key")
        }
        other => conflict(other),
    })?;
    let text =
        render_client_config(&node, device, &keys, state.client_options()).map_err(conflict)?;
    Ok((config_file_name(&device.name, device.device_type), text))
}

pub async fn config(
    State(state): State<ApiState>,
    caller: Caller,
    Path(device): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    // A config holds the device's private key: admin scope only.
    caller.require_admin()?;
    let device = fetch(&state, &parse_ref(&device)?).await?;
    let (file_name, text) = render_config(&state, &device).await?;
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/plain; charset=utf-8".to_string(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
            (axum::http::header::CACHE_CONTROL, "no-store".to_string()),
        ],
        text,
    )
        .into_response())
}

pub async fn qr(
    State(state): State<ApiState>,
    caller: Caller,
    Path(device): Path<String>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    caller.require_admin()?;
    let device = fetch(&state, &parse_ref(&device)?).await?;
    let (_, text) = render_config(&state, &device).await?;
    let png = vpnkeeper_render::qr_png(&text)
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

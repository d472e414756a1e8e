//! `GET /api/v1/backup` (admin): the replicated state as a sealed backup file, taken while
//! the node serves. The copy is the state machine's snapshot path (`VACUUM INTO` from one
//! read transaction), sealed with a key derived from the cluster secret; `vpnkeeper backup
//! create --passphrase-file` re-seals it with a passphrase on the operator's side. The
//! scheduled backups of `[backup]` make the same file through [`make_file`].

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rand::rngs::OsRng;
use vpnkeeper_domain::backup::{self, BackupKey, Contents, Manifest, Sealing};
use vpnkeeper_store::ReadStore;

use crate::auth::Admin;
use crate::error::ApiError;
use crate::responses::AdminReadErrors;
use crate::state::{now_ms, ApiState, BackupSource};

/// A cluster-sealed backup file of the state as of now.
pub async fn make_file(read: &ReadStore, source: &BackupSource) -> Result<Vec<u8>, std::io::Error> {
    let copy = read.state_copy(&source.scratch_dir).await?;
    let manifest = Manifest {
        format: 1,
        version: env!("CARGO_PKG_VERSION").to_string(),
        cluster_id: backup::cluster_id(&source.secret),
        created_at_ms: now_ms(),
        last_log_index: copy.last_log_index,
        counts: serde_json::to_value(&copy.counts).unwrap_or_default(),
        sha256: String::new(),
        sealing: Sealing::Cluster,
        nonce: String::new(),
    };
    let contents = Contents {
        state_db: copy.bytes,
        cluster_secret: None,
    };
    Ok(backup::seal(
        &mut OsRng,
        BackupKey::Cluster(&source.secret),
        manifest,
        &contents,
    ))
}

#[utoipa::path(get, path = "/api/v1/backup", tag = "operations",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The sealed backup file (VKBACKUP1: manifest line, then the sealed state)", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 503, description = "This node cannot make backups", body = crate::error::ErrorBody),
        AdminReadErrors,
    ))]
pub async fn download(State(state): State<ApiState>, _admin: Admin) -> Result<Response, ApiError> {
    let Some(source) = state.backup_source() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "backups are not enabled on this node",
        ));
    };
    let file = make_file(state.read(), source)
        .await
        .map_err(|e| ApiError::internal(format!("copying the state failed: {e}")))?;
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"vpnkeeper.vkbackup\""),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok((StatusCode::OK, h, file).into_response())
}

//! The one error shape of the API: `{"error": {"code", "message", "field"?}}`.
//!
//! A client's mistake is a 4xx whose message names the problem; a 5xx means the node is in
//! trouble (storage, Raft), never that the request was odd.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use vpnkeeper_cluster::ProposeError;
use vpnkeeper_domain::validate::ValidationError;
use vpnkeeper_domain::CommandError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Seconds a rate-limited client should wait; sent as `Retry-After`.
    pub retry_after_secs: Option<u64>,
}

/// Every error answer of the API.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable kind: `invalid`, `not_found`, `conflict`, `unauthorized`,
    /// `forbidden`, `rate_limited`, `unavailable`, `internal`, …
    pub code: String,
    /// One line for a person: what was wrong and what to do.
    pub message: String,
    /// The request field the error is about, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after_secs: None,
        }
    }

    /// 429 with `Retry-After`: `what` names the limit that was hit.
    pub fn rate_limited(what: &str, retry_after_secs: u64) -> Self {
        let secs = retry_after_secs.max(1);
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("rate limit of {what} exceeded; retry in {secs} s"),
        );
        e.retry_after_secs = Some(secs);
        e
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn bad_request(field: &str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid", message).with_field(field)
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{} not found", what.into()),
        )
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
                field: self.field,
            },
        };
        let mut resp = (self.status, Json(body)).into_response();
        if let Some(secs) = self.retry_after_secs {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid", e.message.clone()).with_field(e.field)
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        match &e {
            CommandError::NotFound { .. } => {
                ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string())
            }
            CommandError::Conflict { field, .. } => {
                let err = ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string());
                match field {
                    Some(f) => err.with_field(f.clone()),
                    None => err,
                }
            }
            CommandError::Invalid { field, message } => {
                ApiError::bad_request(field, message.clone())
            }
            CommandError::PoolExhausted { .. } => {
                ApiError::new(StatusCode::CONFLICT, "pool_exhausted", e.to_string())
            }
        }
    }
}

impl From<ProposeError> for ApiError {
    fn from(e: ProposeError) -> Self {
        // Retrying does not help until a node is upgraded: a conflict, not an outage.
        if let ProposeError::VersionGate { .. } = e {
            return ApiError::new(StatusCode::CONFLICT, "version_gate", e.to_string());
        }
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            e.to_string(),
        )
    }
}

impl From<sqlx_error::Error> for ApiError {
    fn from(e: sqlx_error::Error) -> Self {
        tracing::error!(error = %e, "store read failed");
        ApiError::internal("the node's store could not be read; see the node's log")
    }
}

/// The store's error type, re-exported under a name that says where it comes from.
pub mod sqlx_error {
    pub use vpnkeeper_store::ReadError as Error;
}

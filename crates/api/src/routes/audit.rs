//! `/api/v1/audit`: every admin action and refusal, newest first.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use vpnkeeper_store::queries::AuditFilter;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::Query;
use crate::responses::{BadQuery, ReadErrors};
use crate::routes::users::check_page;
use crate::state::ApiState;
use crate::views::AuditView;

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Only this action, e.g. `user.create`.
    #[serde(default)]
    #[param(max_length = 64)]
    pub action: Option<String>,
    /// Only this target, e.g. `user:5` or `device:12`.
    #[serde(default)]
    #[param(max_length = 128)]
    pub target: Option<String>,
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
pub struct AuditList {
    pub entries: Vec<AuditView>,
    pub limit: i64,
    pub offset: i64,
}

#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditParams),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Audit entries, newest first", body = AuditList),
        ReadErrors,
        BadQuery,
    ))]
pub async fn list(
    State(state): State<ApiState>,
    _caller: Caller,
    Query(p): Query<AuditParams>,
) -> Result<Json<AuditList>, ApiError> {
    let page = check_page(p.limit, p.offset)?;
    for (field, value, max) in [("action", &p.action, 64), ("target", &p.target, 128)] {
        if value.as_ref().is_some_and(|v| v.chars().count() > max) {
            return Err(ApiError::bad_request(
                field,
                format!("must be at most {max} characters"),
            ));
        }
    }
    let filter = AuditFilter {
        action: p.action,
        target: p.target,
    };
    let entries = state.read().audit_filtered(&filter, page).await?;
    Ok(Json(AuditList {
        entries: entries.into_iter().map(AuditView::from).collect(),
        limit: p.limit,
        offset: p.offset,
    }))
}

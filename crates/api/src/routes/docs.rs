//! `/api/v1/openapi.json` (generated from the handlers' annotations) and `/docs` (Swagger UI,
//! served from assets vendored from the `swagger-ui-dist` npm package, so it works offline
//! and needs no build-time download).

use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use utoipa::OpenApi;

use crate::auth::Anonymous;
use crate::state::ApiState;

const BUNDLE_JS: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js");
const CSS: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui.css");

const INDEX: &str = r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>vpnkeeper API</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({ url: "/api/v1/openapi.json", dom_id: "#swagger-ui", persistAuthorization: false });
</script>
</body>
</html>
"##;

pub async fn openapi_json(_anon: Anonymous) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        crate::ApiDoc::openapi()
            .to_pretty_json()
            .unwrap_or_default(),
    )
        .into_response()
}

pub async fn index(_anon: Anonymous) -> Html<&'static str> {
    Html(INDEX)
}

fn asset(content_type: &'static str, bytes: &'static [u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        bytes,
    )
        .into_response()
}

pub async fn bundle_js(State(_): State<ApiState>) -> Response {
    asset("application/javascript", BUNDLE_JS)
}

pub async fn css(State(_): State<ApiState>) -> Response {
    asset("text/css", CSS)
}

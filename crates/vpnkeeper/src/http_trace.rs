//! Request logging for the API: one span per request carrying its `X-Request-Id`.

use axum::http::{HeaderName, Request};
use axum::Router;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Accepts or generates `X-Request-Id`, returns it, and puts it on every log line of the
/// request. The query string is left out of the span: it can carry tokens.
pub fn wrap(router: Router) -> Router {
    // `layer` wraps outside-in: the last one added sees the request first, so the id is set
    // before the trace span reads it.
    router
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<axum::body::Body>| {
                let id = req
                    .headers()
                    .get(&REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .map(loggable_request_id)
                    .unwrap_or("-");
                let path = loggable_path(req.uri().path());
                tracing::info_span!("http", method = %req.method(), path = %path, request_id = %id)
            }),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// The request path as it may appear in logs: subscription URLs carry the user's secret
/// token in the path (`/sub/{token}/…`), so that segment is masked.
fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    match path.strip_prefix("/sub/") {
        Some(rest) => {
            let tail = rest.find('/').map(|i| &rest[i..]).unwrap_or("");
            format!("/sub/<token>{tail}").into()
        }
        None => path.into(),
    }
}

/// A client-chosen request id goes on every log line of its request, so an overlong or
/// odd one is replaced rather than copied into the logs.
fn loggable_request_id(id: &str) -> &str {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'));
    if ok {
        id
    } else {
        "<invalid>"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_tokens_are_masked() {
        assert_eq!(loggable_path("/sub/SECRET"), "/sub/<token>");
        assert_eq!(
            loggable_path("/sub/SECRET/devices/u-1/config"),
            "/sub/<token>/devices/u-1/config"
        );
        assert_eq!(loggable_path("/api/v1/users"), "/api/v1/users");
    }

    #[test]
    fn odd_request_ids_are_not_logged() {
        assert_eq!(loggable_request_id("abc-123"), "abc-123");
        assert_eq!(loggable_request_id(&"x".repeat(500)), "<invalid>");
        assert_eq!(loggable_request_id("a\u{7f}b"), "<invalid>");
    }
}

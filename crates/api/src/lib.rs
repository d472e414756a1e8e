//! vpnkeeper's HTTP API (axum).
//!
//! Every write goes through [`state::ApiState::execute`] → Raft → the state machine; handlers
//! never touch SQLite for writing. Reads come from the node's [`vpnkeeper_store::ReadStore`].
//!
//! Map: `routes/` one module per resource; `sub/` the subscription endpoint and its formats;
//! `auth` keys and scopes (the `Caller` and `Admin` extractors); `ratelimit` per-key and
//! per-address limits; `metrics` the Prometheus endpoint; `health` the probe trait the data
//! planes implement; `tls` HTTPS serving; `views` the JSON shapes (and OpenAPI schemas) of
//! what the API returns; `responses` the error answers endpoints share in the OpenAPI.

// openraft's error types (StorageError, RPCError, RaftError) are large by design and are
// what its traits return; boxing them at every call site would only add noise.
#![allow(clippy::result_large_err)]

// Public: what the binary wires (state, options, probes, metrics, TLS). Everything else is
// the API's own business and stays private, so it can change without touching callers.
mod auth;
mod error;
mod extract;
pub mod health;
mod load_cache;
pub mod metrics;
pub mod raft_status;
pub mod ratelimit;
mod responses;
mod routes;
pub mod state;
mod sub;
pub mod tls;
mod views;

use axum::routing::{get, post};
use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

pub use error::ApiError;
pub use routes::backup::make_file as make_backup_file;
pub use state::{ApiOptions, ApiState, SubOptions};
pub use sub::settings::SubscriptionSettings;

use routes::{
    audit, backup, devices, docs, health as health_routes, imports, invites, keys, node_metrics,
    node_ops, nodes, payments, plans, stats, tickets, users,
};
use routes::{balances, promo_codes};

/// The OpenAPI 3.1 description, generated from the handlers' `#[utoipa::path]` annotations.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "vpnkeeper API",
        description = "Users, devices (AmneziaWG/WireGuard configs, VLESS links), nodes, audit log, API keys, and the subscription URLs client apps import. Authenticate with `Authorization: Bearer vk_…`.",
        license(name = "AGPL-3.0-or-later"),
    ),
    paths(
        users::list, users::create, users::get, users::update, users::delete,
        users::enable, users::disable, users::rotate_subscription,
        devices::list, devices::issue, devices::get, devices::revoke, devices::config, devices::qr,
        nodes::list, nodes::get, nodes::status, nodes::remove, invites::create,
        audit::list,
        keys::list, keys::create, keys::revoke,
        health_routes::health, health_routes::status,
        sub::subscription, sub::device_config,
        imports::import,
        backup::download,
        plans::list, plans::create, plans::get, plans::replace, plans::archive,
        plans::assign, plans::reset_usage,
        tickets::list, tickets::get, tickets::reply, tickets::close,
        node_metrics::metrics, node_metrics::chart,
        stats::get,
        node_ops::speed_test, node_ops::last_speed_test, node_ops::reboot,
        node_ops::drain, node_ops::undrain,
        payments::list, payments::refund,
        promo_codes::list, promo_codes::create, promo_codes::disable, promo_codes::redeem,
        balances::get, balances::adjust, balances::referral,
    ),
    // Schemas only referenced from query parameters are not collected automatically.
    components(schemas(sub::FormatParam, error::ErrorBody, node_metrics::MetricsRange, node_metrics::ChartMetricParam)),
    modifiers(&BearerAuth),
    tags(
        (name = "users"), (name = "devices"), (name = "nodes"), (name = "audit"),
        (name = "keys", description = "API keys: admin or read-only"),
        (name = "subscription", description = "Subscription URLs for client apps (token in the path, no API key)"),
        (name = "operations"),
        (name = "imports", description = "Users, devices and keys carried over from another panel"),
        (name = "plans", description = "Plans: duration, quota, device limit, reset strategy"),
        (name = "tickets", description = "Support tickets opened from the Telegram bot"),
        (name = "stats", description = "Admin stats: users by status, traffic, nodes, revenue"),
        (name = "payments", description = "Payments in Telegram Stars and their refunds"),
        (name = "promo", description = "Promo codes: days, traffic or a discount on the next purchase"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("vk_<key id>_<secret>")
                    .build(),
            ),
        );
    }
}

/// The whole API, ready to be served.
pub fn router(state: ApiState) -> Router {
    let v1 = Router::new()
        .route("/status", get(health_routes::status))
        .route("/users", get(users::list).post(users::create))
        .route(
            "/users/{user}",
            get(users::get).patch(users::update).delete(users::delete),
        )
        .route("/users/{user}/enable", post(users::enable))
        .route("/users/{user}/disable", post(users::disable))
        .route(
            "/users/{user}/subscription/rotate",
            post(users::rotate_subscription),
        )
        .route("/devices", get(devices::list).post(devices::issue))
        .route(
            "/devices/{device}",
            get(devices::get).delete(devices::revoke),
        )
        .route("/devices/{device}/config", get(devices::config))
        .route("/devices/{device}/qr", get(devices::qr))
        .route("/plans", get(plans::list).post(plans::create))
        .route("/plans/{id}", get(plans::get).put(plans::replace))
        .route("/plans/{id}/archive", post(plans::archive))
        .route("/users/{user}/plan", post(plans::assign))
        .route("/users/{user}/reset-usage", post(plans::reset_usage))
        .route("/nodes", get(nodes::list))
        .route("/nodes/{id}", get(nodes::get).delete(nodes::remove))
        .route("/invites", post(invites::create))
        .route("/nodes/{id}/status", get(nodes::status))
        .route("/audit", get(audit::list))
        .route("/keys", get(keys::list).post(keys::create))
        .route("/keys/{id}", axum::routing::delete(keys::revoke))
        .route("/openapi.json", get(docs::openapi_json))
        .route("/imports", post(imports::import))
        .route("/backup", get(backup::download))
        .route("/tickets", get(tickets::list))
        .route("/tickets/{id}", get(tickets::get))
        .route("/tickets/{id}/reply", post(tickets::reply))
        .route("/tickets/{id}/close", post(tickets::close))
        .route("/nodes/{id}/metrics", get(node_metrics::metrics))
        .route("/nodes/{id}/chart.png", get(node_metrics::chart))
        .route("/payments", get(payments::list))
        .route("/payments/{id}/refund", post(payments::refund))
        .route("/stats", get(stats::get))
        .route(
            "/promo-codes",
            get(promo_codes::list).post(promo_codes::create),
        )
        .route("/promo-codes/{code}/disable", post(promo_codes::disable))
        .route("/users/{user}/promo", post(promo_codes::redeem))
        .route(
            "/users/{user}/balance",
            get(balances::get).post(balances::adjust),
        )
        .route("/users/{user}/referral", get(balances::referral))
        .route(
            "/nodes/{id}/speedtest",
            get(node_ops::last_speed_test).post(node_ops::speed_test),
        )
        .route("/nodes/{id}/reboot", post(node_ops::reboot))
        .route("/nodes/{id}/drain", post(node_ops::drain))
        .route("/nodes/{id}/undrain", post(node_ops::undrain));
    #[cfg(feature = "upgrade-next")]
    let v1 = v1.route("/upgrade-probe", post(routes::upgrade_probe::propose));
    let v1 = v1.route_layer(axum::middleware::from_fn(metrics::track));
    Router::new()
        .route("/health", get(health_routes::health))
        .route("/metrics", get(metrics::handler))
        .route("/sub/{token}", get(sub::subscription))
        .route(
            "/sub/{token}/devices/{device}/config",
            get(sub::device_config),
        )
        .route("/docs", get(docs::index))
        .route("/docs/", get(docs::index))
        .route("/docs/swagger-ui-bundle.js", get(docs::bundle_js))
        .route("/docs/swagger-ui.css", get(docs::css))
        .route_layer(axum::middleware::from_fn(metrics::track))
        .nest("/api/v1", v1)
        .fallback(not_found)
        .with_state(state)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "not_found",
        format!("no such endpoint: {}", uri.path()),
    )
}

/// Background upkeep of the API: forgets idle rate-limit buckets and drains the metrics
/// histograms, once a minute. Abort the handle at shutdown.
pub fn spawn_maintenance(state: ApiState) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
        loop {
            tick.tick().await;
            state.limiters().retain_recent();
            if let Some(h) = state.metrics_handle() {
                h.run_upkeep();
            }
        }
    })
}

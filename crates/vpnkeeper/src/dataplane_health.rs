//! What `/health` and `/metrics` know about this node's data planes.
//!
//! Each data-plane service (WireGuard reconciler, Xray service) owns one [`PassTracker`] and
//! tells it how every reconcile pass went. The tracker records the pass in the metrics
//! (`vpnkeeper_reconcile_duration_seconds`, `vpnkeeper_backend_errors_total`) and answers
//! `/health` from the last pass, so a health check costs nothing and never touches a
//! backend that may be hung. A tracker whose passes stopped altogether reports itself down
//! too: a stalled reconciler is as bad as a dead backend.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vpnkeeper_api::health::{HealthProbe, ProbeFuture, ProbeStatus};

#[derive(Debug, Clone)]
enum Last {
    /// The service has not run a pass yet (or could not start: the reason).
    Starting(Option<String>),
    Ok {
        at: Instant,
        detail: String,
    },
    Failed {
        error: String,
    },
}

#[derive(Debug)]
pub struct PassTracker {
    /// Health name, e.g. `wireguard:awg0` or `xray`.
    name: String,
    /// Metrics label: the backend kind (`uapi`, `cli`, `amnezia-docker`, `xray`).
    backend: String,
    /// A pass is expected at least this often; three missed ones mean "stalled".
    interval: Duration,
    last: Mutex<Last>,
}

impl PassTracker {
    pub fn new(
        name: impl Into<String>,
        backend: impl Into<String>,
        interval: Duration,
    ) -> Arc<Self> {
        Arc::new(PassTracker {
            name: name.into(),
            backend: backend.into(),
            interval,
            last: Mutex::new(Last::Starting(None)),
        })
    }

    /// A pass converged the data plane in `took`; `detail` says what it holds ("12 peers").
    pub fn pass_ok(&self, took: Duration, detail: String) {
        vpnkeeper_api::metrics::record_reconcile(&self.backend, took);
        *self.last.lock().expect("tracker lock") = Last::Ok {
            at: Instant::now(),
            detail,
        };
    }

    /// A pass (or a backend operation) failed with `error` (one line, no secrets).
    pub fn pass_failed(&self, error: String) {
        vpnkeeper_api::metrics::record_backend_error(&self.backend);
        *self.last.lock().expect("tracker lock") = Last::Failed { error };
    }

    /// The service could not start yet; it retries, and `/health` shows why meanwhile.
    pub fn not_started(&self, reason: String) {
        vpnkeeper_api::metrics::record_backend_error(&self.backend);
        *self.last.lock().expect("tracker lock") = Last::Starting(Some(reason));
    }

    pub fn status(&self) -> ProbeStatus {
        let stale_after = self.interval * 3 + Duration::from_secs(5);
        match self.last.lock().expect("tracker lock").clone() {
            Last::Starting(None) => ProbeStatus::down("starting: no reconcile pass yet"),
            Last::Starting(Some(reason)) => ProbeStatus::down(format!("not started: {reason}")),
            Last::Failed { error, .. } => ProbeStatus::down(error),
            Last::Ok { at, detail } if at.elapsed() <= stale_after => ProbeStatus::up(detail),
            Last::Ok { at, .. } => ProbeStatus::down(format!(
                "stalled: the last reconcile pass finished {} s ago",
                at.elapsed().as_secs()
            )),
        }
    }
}

impl HealthProbe for PassTracker {
    fn name(&self) -> &str {
        &self.name
    }
    fn check(&self) -> ProbeFuture {
        let status = self.status();
        Box::pin(async move { status })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_the_last_pass() {
        let t = PassTracker::new("wireguard:wg0", "uapi", Duration::from_secs(10));
        assert!(!t.status().ok, "no pass yet is not healthy");
        t.pass_ok(Duration::from_millis(3), "2 peers".into());
        assert_eq!(t.status(), ProbeStatus::up(Some("2 peers".to_string())));
        t.pass_failed("uapi socket /var/run/wireguard/wg0.sock: not found".into());
        let st = t.status();
        assert!(!st.ok);
        assert!(st.detail.unwrap().contains("not found"));
        t.not_started("node 1 is not registered".into());
        assert!(t
            .status()
            .detail
            .unwrap()
            .starts_with("not started: node 1"));
    }

    #[test]
    fn a_stalled_service_is_down() {
        let t = PassTracker::new("xray", "xray", Duration::from_millis(1));
        *t.last.lock().unwrap() = Last::Ok {
            at: Instant::now() - Duration::from_secs(60),
            detail: "x".into(),
        };
        assert!(t.status().detail.unwrap().starts_with("stalled"));
    }
}

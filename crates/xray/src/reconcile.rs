//! Converging Xray's users to the desired set, and the per-node operation
//! queue that serializes every API operation.
//!
//! Desired = the caller's list (enabled VLESS devices on this node). Actual =
//! `GetInboundUsers`. The difference is applied through the API with no
//! restart. A user that is removed (revoked, or whose UUID changed) also has
//! its live connections cut, see [`crate::cut`].

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;

use crate::client::{Traffic, XrayApi};
use crate::config::check_users;
use crate::cut::Cutter;
use crate::error::XrayError;
use crate::settings::XrayUser;
use crate::supervisor::XrayStart;

/// RPCs kept in flight during one reconcile. Xray handles each AlterInbound
/// quickly; pipelining over the single HTTP/2 connection is what makes
/// 10,000 users take seconds rather than minutes.
const IN_FLIGHT: usize = 32;

/// What one reconcile changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    pub added: usize,
    pub removed: usize,
    pub unchanged: usize,
    /// Live sockets destroyed for removed users.
    pub cut_sockets: usize,
}

/// Applies `desired` to inbound `tag`. Every change is attempted even when
/// one fails; the first failure is returned and the next run retries.
pub async fn reconcile(
    api: &XrayApi,
    tag: &str,
    desired: &[XrayUser],
    cutter: Option<&Cutter>,
) -> Result<ReconcileReport, XrayError> {
    check_users(desired)?;
    let actual = api.inbound_users(tag).await?;
    let want: HashMap<&str, &XrayUser> = desired.iter().map(|u| (u.email.as_str(), u)).collect();
    let have: HashMap<&str, &XrayUser> = actual.iter().map(|u| (u.email.as_str(), u)).collect();

    let mut report = ReconcileReport::default();
    // Changed credentials are remove + add: Xray has no "update user".
    let to_remove: Vec<String> = actual
        .iter()
        .filter(|u| want.get(u.email.as_str()) != Some(u))
        .map(|u| u.email.clone())
        .collect();
    let to_add: Vec<XrayUser> = desired
        .iter()
        .filter(|u| have.get(u.email.as_str()) != Some(u))
        .cloned()
        .collect();
    report.unchanged = desired.len() - to_add.len();

    let mut first_err = None;
    let removed = concurrently(to_remove, |email| {
        let api = api.clone();
        let tag = tag.to_string();
        let cutter = cutter.cloned();
        async move { revoke(&api, &tag, &email, cutter.as_ref()).await }
    })
    .await;
    for r in removed {
        match r {
            Ok(cut) => {
                report.removed += 1;
                report.cut_sockets += cut;
            }
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    let added = concurrently(to_add, |user| {
        let api = api.clone();
        let tag = tag.to_string();
        async move { api.add_user(&tag, &user).await }
    })
    .await;
    for r in added {
        match r {
            Ok(()) => report.added += 1,
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    match first_err {
        None => Ok(report),
        Some(e) => Err(e),
    }
}

/// Removes `email` and cuts its live connections. Returns sockets cut.
/// A failed cut is logged, not returned: the user is already refused and
/// the revoke itself must not be retried forever because of `ss`.
pub async fn revoke(
    api: &XrayApi,
    tag: &str,
    email: &str,
    cutter: Option<&Cutter>,
) -> Result<usize, XrayError> {
    // Ask for the user's IPs before removal: Xray may drop its counters.
    let ips = match cutter {
        Some(c) => c.online_ips(api, email).await,
        None => Vec::new(),
    };
    api.remove_user(tag, email).await?;
    let Some(cutter) = cutter else { return Ok(0) };
    match cutter.cut(email, &ips).await {
        Ok(n) => {
            tracing::info!(email, sockets = n, "cut revoked user's live connections");
            Ok(n)
        }
        Err(e) => {
            tracing::warn!(email, error = %e, "revoked user's live connections not cut");
            Ok(0)
        }
    }
}

async fn concurrently<T, R, F, Fut>(items: Vec<T>, f: F) -> Vec<R>
where
    F: Fn(T) -> Fut,
    Fut: Future<Output = R> + Send + 'static,
    R: Send + 'static,
{
    let mut set = JoinSet::new();
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        if set.len() >= IN_FLIGHT {
            if let Some(r) = set.join_next().await {
                out.push(r.expect("reconcile task panicked"));
            }
        }
        set.spawn(f(item));
    }
    while let Some(r) = set.join_next().await {
        out.push(r.expect("reconcile task panicked"));
    }
    out
}

enum Op {
    Reconcile(
        Vec<XrayUser>,
        oneshot::Sender<Result<ReconcileReport, XrayError>>,
    ),
    Add(XrayUser, oneshot::Sender<Result<(), XrayError>>),
    Revoke(String, oneshot::Sender<Result<usize, XrayError>>),
    Users(oneshot::Sender<Result<Vec<XrayUser>, XrayError>>),
    Traffic(oneshot::Sender<Result<HashMap<String, Traffic>, XrayError>>),
    Health(oneshot::Sender<Result<u32, XrayError>>),
}

/// The per-node operation queue: one task owns the API client and runs the
/// operations one at a time in arrival order, so a reconcile never
/// interleaves with a single add/revoke (no lost or resurrected users).
#[derive(Clone)]
pub struct XrayNode {
    tx: mpsc::Sender<Op>,
}

impl XrayNode {
    /// Starts the queue's task for the inbound `tag`.
    pub fn spawn(api: XrayApi, tag: impl Into<String>, cutter: Option<Cutter>) -> Self {
        let (tx, mut rx) = mpsc::channel::<Op>(256);
        let tag = tag.into();
        tokio::spawn(async move {
            while let Some(op) = rx.recv().await {
                let c = cutter.as_ref();
                // A caller that gave up (dropped its receiver) is not an error.
                match op {
                    Op::Reconcile(desired, r) => {
                        let _ = r.send(reconcile(&api, &tag, &desired, c).await);
                        if let Some(c) = c {
                            if let Err(e) = c.prune().await {
                                tracing::debug!(error = %e, "connection tracker prune failed");
                            }
                        }
                    }
                    Op::Add(u, r) => {
                        let _ = r.send(api.add_user(&tag, &u).await);
                    }
                    Op::Revoke(email, r) => {
                        let _ = r.send(revoke(&api, &tag, &email, c).await);
                    }
                    Op::Users(r) => {
                        let _ = r.send(api.inbound_users(&tag).await);
                    }
                    Op::Traffic(r) => {
                        let _ = r.send(api.user_traffic(true).await);
                    }
                    Op::Health(r) => {
                        let _ = r.send(api.health().await);
                    }
                }
            }
        });
        Self { tx }
    }

    async fn call<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, XrayError>>) -> Op,
    ) -> Result<T, XrayError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(make(tx))
            .await
            .map_err(|_| XrayError::QueueClosed)?;
        rx.await.map_err(|_| XrayError::QueueClosed)?
    }

    /// Converges Xray to `desired` (see [`reconcile`]).
    pub async fn reconcile(&self, desired: Vec<XrayUser>) -> Result<ReconcileReport, XrayError> {
        self.call(|r| Op::Reconcile(desired, r)).await
    }

    pub async fn add_user(&self, user: XrayUser) -> Result<(), XrayError> {
        self.call(|r| Op::Add(user, r)).await
    }

    /// Removes the user and cuts its live connections; returns sockets cut.
    pub async fn revoke(&self, email: impl Into<String>) -> Result<usize, XrayError> {
        let email = email.into();
        self.call(|r| Op::Revoke(email, r)).await
    }

    pub async fn users(&self) -> Result<Vec<XrayUser>, XrayError> {
        self.call(Op::Users).await
    }

    /// Traffic per email since the previous call (counters reset on read).
    pub async fn collect_traffic(&self) -> Result<HashMap<String, Traffic>, XrayError> {
        self.call(Op::Traffic).await
    }

    /// Xray's uptime in seconds if its API answers.
    pub async fn health(&self) -> Result<u32, XrayError> {
        self.call(Op::Health).await
    }
}

/// Re-adds every desired user each time the supervisor reports a (re)start.
/// `desired` is read at that moment (from the store, in the real wiring).
/// Failed reconciles are retried by the caller's periodic reconcile.
pub fn reconcile_on_start<F>(
    node: XrayNode,
    mut starts: watch::Receiver<XrayStart>,
    desired: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn() -> Vec<XrayUser> + Send + Sync + 'static,
{
    let desired = Arc::new(desired);
    tokio::spawn(async move {
        while starts.changed().await.is_ok() {
            let generation = starts.borrow_and_update().generation;
            match node.reconcile(desired()).await {
                Ok(r) => tracing::info!(
                    generation,
                    added = r.added,
                    removed = r.removed,
                    "xray users restored after start"
                ),
                Err(e) => {
                    tracing::warn!(generation, error = %e, "xray reconcile after start failed")
                }
            }
        }
    })
}

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

/// What to change on an inbound: users to remove (and cut), users to add. A changed UUID is
/// both: Xray has no "update user".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserDelta {
    pub remove: Vec<String>,
    pub add: Vec<XrayUser>,
}

impl UserDelta {
    /// The difference from `have` (email → user) to `want`; `O(|want| + |have|)` hashing,
    /// no IO.
    pub fn between(have: &HashMap<String, XrayUser>, want: &HashMap<String, XrayUser>) -> Self {
        let remove = have
            .iter()
            .filter(|(email, u)| want.get(*email) != Some(*u))
            .map(|(email, _)| email.clone())
            .collect();
        let add = want
            .iter()
            .filter(|(email, u)| have.get(*email) != Some(*u))
            .map(|(_, u)| u.clone())
            .collect();
        UserDelta { remove, add }
    }

    /// The difference from `have` for just the users in `changes` (email → the user Xray
    /// should hold, `None`: none): `O(|changes|)`, no IO. The rest of `have` is left alone.
    pub fn for_changes(
        have: &HashMap<String, XrayUser>,
        changes: &HashMap<String, Option<XrayUser>>,
    ) -> Self {
        let mut delta = UserDelta::default();
        for (email, want) in changes {
            let held = have.get(email);
            if held == want.as_ref() {
                continue;
            }
            if held.is_some() {
                delta.remove.push(email.clone());
            }
            if let Some(u) = want {
                delta.add.push(u.clone());
            }
        }
        delta
    }

    pub fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.add.is_empty()
    }
}

/// Users by email, the shape deltas are computed on.
pub fn by_email(users: impl IntoIterator<Item = XrayUser>) -> HashMap<String, XrayUser> {
    users.into_iter().map(|u| (u.email.clone(), u)).collect()
}

/// Applies `desired` to inbound `tag`: reads Xray's users (`GetInboundUsers`), then sends
/// the difference. Every change is attempted even when one fails; the first failure is
/// returned and the next run retries.
pub async fn reconcile(
    api: &XrayApi,
    tag: &str,
    desired: &[XrayUser],
    cutter: Option<&Cutter>,
) -> Result<ReconcileReport, XrayError> {
    check_users(desired)?;
    let actual = api.inbound_users(tag).await?;
    let delta = UserDelta::between(&by_email(actual), &by_email(desired.iter().cloned()));
    let unchanged = desired.len() - delta.add.len();
    let mut report = apply_delta(api, tag, delta, cutter).await?;
    report.unchanged = unchanged;
    Ok(report)
}

/// Sends `delta` to inbound `tag`: removals (with their live connections cut) first, then
/// additions, [`IN_FLIGHT`] RPCs at a time. Every change is attempted even when one fails;
/// the first failure is returned.
pub async fn apply_delta(
    api: &XrayApi,
    tag: &str,
    delta: UserDelta,
    cutter: Option<&Cutter>,
) -> Result<ReconcileReport, XrayError> {
    let mut report = ReconcileReport::default();
    let mut first_err = None;
    let removed = concurrently(delta.remove, |email| {
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
    let added = concurrently(delta.add, |user| {
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
    Apply(
        UserDelta,
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
                    Op::Apply(delta, r) => {
                        let _ = r.send(apply_delta(&api, &tag, delta, c).await);
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

    /// Sends `delta` without reading Xray's users first (see [`apply_delta`]): the caller
    /// vouches that Xray holds what the delta was computed from.
    pub async fn apply(&self, delta: UserDelta) -> Result<ReconcileReport, XrayError> {
        self.call(|r| Op::Apply(delta, r)).await
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

/// Keeps one inbound's users converged to a desired set, remembering what the last
/// successful pass left in Xray: the base of the fast path (the same split as the WireGuard
/// reconciler's).
///
/// - [`UserSync::full_pass`] reads Xray's users (`GetInboundUsers`, `O(users)` on both
///   sides) and sends the difference: at start, after an Xray restart, on the drift timer.
/// - [`UserSync::change_pass`] diffs the new desired set against the remembered one in
///   memory and sends only that difference, with no read of Xray: a single change costs
///   one RPC, not a read-back of every user. Without a trusted base (no pass yet, or the
///   last one failed) it falls back to a full pass.
pub struct UserSync {
    node: XrayNode,
    converged: Option<HashMap<String, XrayUser>>,
}

impl UserSync {
    pub fn new(node: XrayNode) -> Self {
        UserSync {
            node,
            converged: None,
        }
    }

    pub fn node(&self) -> &XrayNode {
        &self.node
    }

    /// Xray's users as of the last successful pass, if it is trusted.
    pub fn converged(&self) -> Option<&HashMap<String, XrayUser>> {
        self.converged.as_ref()
    }

    /// Forget the base: Xray restarted (it holds its config file's users) or was changed
    /// behind our back. The next pass is full.
    pub fn forget(&mut self) {
        self.converged = None;
    }

    /// Reads Xray's users and converges them to `desired`.
    pub async fn full_pass(
        &mut self,
        desired: Vec<XrayUser>,
    ) -> Result<ReconcileReport, XrayError> {
        self.converged = None;
        let want = by_email(desired.iter().cloned());
        let report = self.node.reconcile(desired).await?;
        self.converged = Some(want);
        Ok(report)
    }

    /// Sends only what changed since the last pass (a full pass when there is no base).
    pub async fn change_pass(
        &mut self,
        desired: Vec<XrayUser>,
    ) -> Result<ReconcileReport, XrayError> {
        let Some(have) = &self.converged else {
            return self.full_pass(desired).await;
        };
        check_users(&desired)?;
        let want = by_email(desired);
        let delta = UserDelta::between(have, &want);
        let unchanged = want.len() - delta.add.len();
        if delta.is_empty() {
            return Ok(ReconcileReport {
                unchanged,
                ..Default::default()
            });
        }
        match self.node.apply(delta).await {
            Ok(report) => {
                self.converged = Some(want);
                Ok(ReconcileReport {
                    unchanged,
                    ..report
                })
            }
            Err(e) => {
                // Unsure what Xray holds now: the next pass reads it.
                self.converged = None;
                Err(e)
            }
        }
    }
}

impl UserSync {
    /// Sends only `changes` (email → the user Xray should hold, `None`: none), diffed
    /// against the remembered base: `O(|changes|)`, for a change pass that knows which
    /// users it touched. `Ok(None)`: there is no trusted base, run a full pass instead.
    /// Users are validated one by one; UUIDs are unique in the store, so no check across
    /// all users is needed here.
    pub async fn patch(
        &mut self,
        changes: HashMap<String, Option<XrayUser>>,
    ) -> Result<Option<ReconcileReport>, XrayError> {
        let Some(have) = &self.converged else {
            return Ok(None);
        };
        for (email, user) in &changes {
            if let Some(u) = user {
                u.validate()?;
                debug_assert_eq!(&u.email, email);
            }
        }
        let delta = UserDelta::for_changes(have, &changes);
        if delta.is_empty() {
            return Ok(Some(ReconcileReport {
                unchanged: have.len(),
                ..Default::default()
            }));
        }
        match self.node.apply(delta).await {
            Ok(report) => {
                let have = self.converged.get_or_insert_with(HashMap::new);
                for (email, user) in changes {
                    match user {
                        Some(u) => have.insert(email, u),
                        None => have.remove(&email),
                    };
                }
                let unchanged = have.len() - report.added;
                Ok(Some(ReconcileReport {
                    unchanged,
                    ..report
                }))
            }
            Err(e) => {
                // Unsure what Xray holds now: the next pass reads it.
                self.converged = None;
                Err(e)
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn user(email: &str, n: u128) -> XrayUser {
        XrayUser::vision(email, uuid::Uuid::from_u128(n))
    }

    #[test]
    fn delta_is_only_the_difference() {
        let have = by_email([user("dev-1", 1), user("dev-2", 2), user("dev-3", 3)]);
        let want = by_email([user("dev-1", 1), user("dev-3", 33), user("dev-4", 4)]);
        let mut d = UserDelta::between(&have, &want);
        d.remove.sort();
        d.add.sort_by(|a, b| a.email.cmp(&b.email));
        // dev-3's UUID changed: removed (its connections cut) and added again.
        assert_eq!(d.remove, ["dev-2", "dev-3"]);
        assert_eq!(d.add, [user("dev-3", 33), user("dev-4", 4)]);
        assert!(UserDelta::between(&want, &want).is_empty());
    }

    #[test]
    fn delta_for_changes_touches_only_the_changed_emails() {
        let have = by_email([user("dev-1", 1), user("dev-2", 2), user("dev-3", 3)]);
        let changes: HashMap<String, Option<XrayUser>> = [
            ("dev-1".to_string(), Some(user("dev-1", 1))), // unchanged
            ("dev-2".to_string(), None),                   // revoked
            ("dev-3".to_string(), Some(user("dev-3", 33))), // new UUID
            ("dev-4".to_string(), Some(user("dev-4", 4))), // issued
            ("dev-5".to_string(), None),                   // never held
        ]
        .into_iter()
        .collect();
        let mut d = UserDelta::for_changes(&have, &changes);
        d.remove.sort();
        d.add.sort_by(|a, b| a.email.cmp(&b.email));
        assert_eq!(d.remove, ["dev-2", "dev-3"]);
        assert_eq!(d.add, [user("dev-3", 33), user("dev-4", 4)]);
        let same: HashMap<String, Option<XrayUser>> =
            [("dev-1".to_string(), Some(user("dev-1", 1)))]
                .into_iter()
                .collect();
        assert!(UserDelta::for_changes(&have, &same).is_empty());
    }
}

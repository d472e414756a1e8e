//! The leader lease: may this node talk to Telegram as *the* bot right now?
//!
//! openraft does not step a leader down when it loses its quorum: a leader cut off from the
//! others (a partition, a `SIGSTOP`) still says `Leader` while the rest elect a new one. Two
//! pollers would then race for the same updates (Telegram answers the older one with 409
//! Conflict) and two senders would repeat replies. The lease closes that gap:
//!
//! - **Confirming** it asks a quorum to acknowledge this leader *now*
//!   (`Raft::ensure_linearizable`, a heartbeat round); the instant the round *started* is the
//!   lease's origin. A follower that acknowledged it resets its election timer after that
//!   instant, so no other leader can be elected before `origin + election_timeout_min`.
//! - **Using** it: a getUpdates must be over (answered, or given up by us) before the lease
//!   ends, minus a margin for the request's transit and clock-rate differences. So the long
//!   poll's server-side timeout is cut to whole seconds that fit in what is left, and the
//!   request is dropped at the lease's end if it has not been answered.
//!
//! Why not `RaftMetrics::millis_since_quorum_ack` (openraft 0.9.25 has it)? It is a snapshot
//! taken when the metrics were last published; after a `SIGSTOP`/`SIGCONT` the last
//! snapshot says "acknowledged 50 ms ago" although seconds have passed, which is exactly the
//! case the lease must catch. It is still reported by `/health` and `/metrics`.
//!
//! A sole voter needs no lease: nobody else can be elected, so it long-polls as configured.
//! With the default timing (election timeout 0.8–1.2 s) a fleet's lease leaves less than a
//! second, so its polls are short (timeout 0) with a short pause when nothing came: a
//! larger `raft.election_timeout_min_ms` allows real long polls.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use vpnkeeper_cluster::Cluster;

/// Least time a poll may use; with less left, the lease is renewed first.
const MIN_POLL_WINDOW: Duration = Duration::from_millis(100);
/// Pause after an empty short poll (timeout 0), so a fleet does not spin on getUpdates.
pub const SHORT_POLL_PAUSE: Duration = Duration::from_millis(250);

/// What the poller may do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollPermit {
    /// Poll with this server-side timeout (whole seconds); give the request up after
    /// `deadline` (from now) if it has not been answered. No deadline: no lease needed.
    Poll {
        timeout: Duration,
        deadline: Option<Duration>,
    },
    /// Too little (or no) lease left: confirm it again before polling.
    Renew,
}

/// Part of the lease kept back for the request's transit and for clocks that run at
/// slightly different rates: a quarter of the election timeout, at least 100 ms.
pub fn lease_margin(election_timeout_min: Duration) -> Duration {
    (election_timeout_min / 4).max(Duration::from_millis(100))
}

/// The lease decision, a plain function.
///
/// `ack_age`: time since the origin of the last confirmed lease (`None`: never confirmed,
/// or the confirmation failed). `configured`: `telegram.poll_timeout_secs`.
pub fn poll_permit(
    sole_voter: bool,
    ack_age: Option<Duration>,
    election_timeout_min: Duration,
    configured: Duration,
) -> PollPermit {
    if sole_voter {
        return PollPermit::Poll {
            timeout: configured,
            deadline: None,
        };
    }
    let Some(age) = ack_age else {
        return PollPermit::Renew;
    };
    let spent = age + lease_margin(election_timeout_min);
    let Some(left) = election_timeout_min.checked_sub(spent) else {
        return PollPermit::Renew;
    };
    if left < MIN_POLL_WINDOW {
        return PollPermit::Renew;
    }
    PollPermit::Poll {
        // The Bot API's timeout has whole seconds: round down, so the hold ends in time.
        timeout: Duration::from_secs(left.as_secs()).min(configured),
        deadline: Some(left),
    }
}

/// Whether a lease of age `ack_age` still covers an action that ends at once (a send).
pub fn lease_held(
    sole_voter: bool,
    ack_age: Option<Duration>,
    election_timeout_min: Duration,
) -> bool {
    sole_voter
        || ack_age
            .is_some_and(|age| age + lease_margin(election_timeout_min) < election_timeout_min)
}

/// This node's lease, shared by the loops of one leadership session.
pub struct Lease {
    cluster: Cluster,
    election_timeout_min: Duration,
    /// Origin of the last confirmed lease.
    origin: Mutex<Option<Instant>>,
}

impl Lease {
    pub fn new(cluster: Cluster) -> Lease {
        let election_timeout_min =
            Duration::from_millis(cluster.raft().config().election_timeout_min);
        Lease {
            cluster,
            election_timeout_min,
            origin: Mutex::new(None),
        }
    }

    /// This node leads and is the only voter (learners cannot be elected).
    pub fn sole_voter(&self) -> bool {
        let m = self.cluster.metrics();
        let me = self.cluster.node_id();
        let mut voters = m.membership_config.membership().voter_ids();
        m.state == openraft::ServerState::Leader
            && voters.next() == Some(me)
            && voters.next().is_none()
    }

    fn ack_age(&self) -> Option<Duration> {
        self.origin
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map(|o| o.elapsed())
    }

    /// Asks a quorum to acknowledge this leader now; true when it did within the election
    /// timeout. On failure the lease is dropped.
    ///
    /// A confirmed lease also means this node has applied every entry committed before the
    /// confirmation (`ensure_linearizable` waits for that): a new leader's reads of the
    /// offset and the outbox then include what its predecessor committed.
    pub async fn confirm(&self) -> bool {
        let origin = Instant::now();
        let asked = self.cluster.raft().ensure_linearizable();
        let ok = matches!(
            tokio::time::timeout(self.election_timeout_min, asked).await,
            Ok(Ok(_))
        );
        *self.origin.lock().unwrap_or_else(|p| p.into_inner()) = ok.then_some(origin);
        ok
    }

    /// What the poller may do now, renewing the lease once if needed.
    pub async fn permit(&self, configured: Duration) -> PollPermit {
        let decide = |lease: &Lease| {
            poll_permit(
                lease.sole_voter(),
                lease.ack_age(),
                lease.election_timeout_min,
                configured,
            )
        };
        match decide(self) {
            PollPermit::Renew if self.confirm().await => decide(self),
            p => p,
        }
    }

    /// True when this node may act as the bot now (send a reply, a broadcast message),
    /// renewing the lease if needed.
    pub async fn held(&self) -> bool {
        lease_held(self.sole_voter(), self.ack_age(), self.election_timeout_min)
            || self.confirm().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;
    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn a_sole_voter_long_polls_as_configured_without_a_lease() {
        assert_eq!(
            poll_permit(true, None, MS(1000), S(25)),
            PollPermit::Poll {
                timeout: S(25),
                deadline: None
            }
        );
        assert!(lease_held(true, None, MS(1000)));
    }

    #[test]
    fn no_confirmed_lease_means_renew_first() {
        assert_eq!(poll_permit(false, None, MS(1000), S(25)), PollPermit::Renew);
        assert!(!lease_held(false, None, MS(1000)));
    }

    #[test]
    fn a_fresh_lease_under_a_second_allows_a_short_poll_that_ends_before_it() {
        // 1000 ms election timeout, 250 ms margin, acknowledged 10 ms ago: 740 ms left.
        assert_eq!(
            poll_permit(false, Some(MS(10)), MS(1000), S(25)),
            PollPermit::Poll {
                timeout: S(0),
                deadline: Some(MS(740))
            }
        );
    }

    #[test]
    fn a_long_election_timeout_allows_long_polls_in_whole_seconds_within_the_lease() {
        // 10 s timeout, 2.5 s margin, 0.3 s old: 7.2 s left → a 7 s long poll.
        let p = poll_permit(false, Some(MS(300)), S(10), S(25));
        assert_eq!(
            p,
            PollPermit::Poll {
                timeout: S(7),
                deadline: Some(MS(7200))
            }
        );
        // Never longer than configured.
        assert_eq!(
            poll_permit(false, Some(MS(300)), S(10), S(2)),
            PollPermit::Poll {
                timeout: S(2),
                deadline: Some(MS(7200))
            }
        );
    }

    #[test]
    fn the_poll_always_ends_before_another_leader_can_be_elected() {
        for election_ms in [300u64, 1000, 1500, 3000, 10_000] {
            for age_ms in (0..election_ms + 500).step_by(37) {
                let e = MS(election_ms);
                if let PollPermit::Poll { timeout, deadline } =
                    poll_permit(false, Some(MS(age_ms)), e, S(50))
                {
                    let deadline = deadline.expect("a fleet poll has a deadline");
                    assert!(timeout <= deadline, "{election_ms} {age_ms}");
                    assert!(
                        MS(age_ms) + deadline + lease_margin(e) <= e,
                        "election {election_ms} ms, lease age {age_ms} ms"
                    );
                }
            }
        }
    }

    #[test]
    fn an_old_or_stale_lease_is_renewed_not_used() {
        // Cut off (or stopped) for longer than the election timeout.
        assert_eq!(
            poll_permit(false, Some(S(10)), MS(1000), S(25)),
            PollPermit::Renew
        );
        // Too little left for a useful poll.
        assert_eq!(
            poll_permit(false, Some(MS(680)), MS(1000), S(25)),
            PollPermit::Renew
        );
        assert!(!lease_held(false, Some(MS(800)), MS(1000)));
        assert!(lease_held(false, Some(MS(100)), MS(1000)));
    }
}

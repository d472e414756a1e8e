//! Rate limits: per API key for authenticated calls, per client IP for everything else.
//!
//! Every request is charged to exactly one bucket family:
//! - a request that proves a valid key is charged to that key, in the class of what it does
//!   (reads, writes, key creation — the last one on top of the write charge);
//! - a request without a valid key (subscription fetches, the docs, failed authentication)
//!   is charged to its client IP, so guessing keys or subscription tokens is throttled too.
//!
//! `/health` and `/metrics` are not limited: monitors poll them and they reveal no secret.
//! The buckets are GCRA (the `governor` crate): a burst of the per-minute figure, refilled
//! evenly over the minute. A limit of 0 turns that class off.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::error::ApiError;

/// Per-minute limits; 0 = unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// GET/HEAD calls per API key.
    pub reads_per_min: u32,
    /// POST/PATCH/DELETE calls per API key.
    pub writes_per_min: u32,
    /// API key creations per API key (charged in addition to the write).
    pub key_create_per_min: u32,
    /// Unauthenticated requests (subscriptions, docs, failed auth) per client IP.
    pub anonymous_per_ip_per_min: u32,
}

impl Default for RateLimits {
    /// Seed 001's recommendation: 100/min reads, 10/min key creation; writes stricter than
    /// reads.
    fn default() -> Self {
        RateLimits {
            reads_per_min: 100,
            writes_per_min: 60,
            key_create_per_min: 10,
            anonymous_per_ip_per_min: 300,
        }
    }
}

impl RateLimits {
    pub const OFF: RateLimits = RateLimits {
        reads_per_min: 0,
        writes_per_min: 0,
        key_create_per_min: 0,
        anonymous_per_ip_per_min: 0,
    };
}

/// What a keyed request is doing, for picking its bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Read,
    Write,
    KeyCreate,
}

pub(crate) struct Limiters {
    reads: Option<DefaultKeyedRateLimiter<String>>,
    writes: Option<DefaultKeyedRateLimiter<String>>,
    key_create: Option<DefaultKeyedRateLimiter<String>>,
    per_ip: Option<DefaultKeyedRateLimiter<IpAddr>>,
    clock: DefaultClock,
}

fn keyed<K: std::hash::Hash + Eq + Clone>(per_min: u32) -> Option<DefaultKeyedRateLimiter<K>> {
    NonZeroU32::new(per_min).map(|n| governor::RateLimiter::keyed(Quota::per_minute(n)))
}

impl Limiters {
    pub fn new(limits: RateLimits) -> Self {
        Limiters {
            reads: keyed(limits.reads_per_min),
            writes: keyed(limits.writes_per_min),
            key_create: keyed(limits.key_create_per_min),
            per_ip: keyed(limits.anonymous_per_ip_per_min),
            clock: DefaultClock::default(),
        }
    }

    /// Charges one request of `class` to API key `key_id`.
    pub fn check_key(&self, class: Class, key_id: &str) -> Result<(), ApiError> {
        let (limiter, what) = match class {
            Class::Read => (&self.reads, "reads per API key"),
            Class::Write => (&self.writes, "writes per API key"),
            Class::KeyCreate => (&self.key_create, "API key creations per API key"),
        };
        let Some(limiter) = limiter else {
            return Ok(());
        };
        limiter.check_key(&key_id.to_string()).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            ApiError::rate_limited(what, wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
        })
    }

    /// Charges one unauthenticated request to `ip`.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), ApiError> {
        let Some(limiter) = &self.per_ip else {
            return Ok(());
        };
        limiter.check_key(&ip).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            ApiError::rate_limited(
                "unauthenticated requests per client address",
                wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            )
        })
    }

    /// Forgets buckets that are full again, so memory follows the active clients rather
    /// than every address ever seen. Called periodically.
    pub fn retain_recent(&self) {
        for l in [&self.reads, &self.writes, &self.key_create]
            .into_iter()
            .flatten()
        {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Some(l) = &self.per_ip {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_429_with_retry_after() {
        let l = Limiters::new(RateLimits {
            reads_per_min: 3,
            ..RateLimits::OFF
        });
        for _ in 0..3 {
            l.check_key(Class::Read, "k1").unwrap();
        }
        let e = l.check_key(Class::Read, "k1").unwrap_err();
        assert_eq!(e.status, axum::http::StatusCode::TOO_MANY_REQUESTS);
        // 3/min refills one cell every 20 s.
        let secs = e.retry_after_secs.unwrap();
        assert!((1..=20).contains(&secs), "{secs}");
        // Another key has its own bucket; writes are off here.
        l.check_key(Class::Read, "k2").unwrap();
        for _ in 0..100 {
            l.check_key(Class::Write, "k1").unwrap();
        }
    }

    #[test]
    fn per_ip_buckets_are_separate() {
        let l = Limiters::new(RateLimits {
            anonymous_per_ip_per_min: 1,
            ..RateLimits::OFF
        });
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        l.check_ip(a).unwrap();
        assert!(l.check_ip(a).is_err());
        l.check_ip(b).unwrap();
        l.retain_recent();
    }
}

//! Exponential backoff with jitter, 1 s doubling up to 60 s.
//!
//! Jitter keeps several nodes (or a restarted one) from hammering the Bot API in lockstep
//! when it comes back; the cap keeps recovery within a minute of the outage ending.

use std::time::Duration;

use rand::Rng;

pub const FIRST: Duration = Duration::from_secs(1);
pub const CAP: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    pub fn new() -> Self {
        Self::default()
    }

    /// After a success: the next failure waits the shortest time again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The wait after one more failure: base 1, 2, 4 … 60 s, each drawn uniformly from
    /// [base/2, base] but never under 1 s.
    pub fn next_delay(&mut self) -> Duration {
        let base = FIRST.saturating_mul(1u32 << self.failures.min(10)).min(CAP);
        self.failures = self.failures.saturating_add(1);
        let ms = base.as_millis() as u64;
        let low = (ms / 2).max(FIRST.as_millis() as u64);
        let jittered = if low >= ms {
            ms
        } else {
            rand::thread_rng().gen_range(low..=ms)
        };
        Duration::from_millis(jittered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_with_jitter() {
        let mut b = Backoff::new();
        let delays: Vec<Duration> = (0..12).map(|_| b.next_delay()).collect();
        assert_eq!(delays[0], Duration::from_secs(1));
        for (i, d) in delays.iter().enumerate() {
            assert!(*d >= FIRST && *d <= CAP, "{i}: {d:?}");
        }
        assert!(delays[3] >= Duration::from_secs(4) && delays[3] <= Duration::from_secs(8));
        assert!(delays[11] >= Duration::from_secs(30));
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_secs(1));
    }
}

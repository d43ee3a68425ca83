//! Retry delays: exponential with jitter, capped, and overridden by the server's Retry-After.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq)]
pub struct Backoff {
    /// Delay after the first failure.
    pub base: Duration,
    /// Longest delay.
    pub max: Duration,
    /// Jitter as a fraction of the delay: 0.2 means ±20%.
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: Duration::from_secs(2),
            max: Duration::from_secs(300),
            jitter: 0.2,
        }
    }
}

impl Backoff {
    /// The delay before retry number `failures` (1 = after the first failure). `unit` is a
    /// random number in [0, 1). A server's Retry-After wins when it asks for longer.
    pub fn delay(&self, failures: u32, retry_after: Option<Duration>, unit: f64) -> Duration {
        let exp = failures.saturating_sub(1).min(30);
        let raw = self.base.saturating_mul(1u32 << exp.min(20)).min(self.max);
        let spread = 1.0 + self.jitter * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
        let jittered = raw.mul_f64(spread.max(0.0)).min(self.max);
        match retry_after {
            Some(ra) if ra > jittered => ra,
            _ => jittered,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap() {
        let b = Backoff {
            jitter: 0.0,
            ..Backoff::default()
        };
        let secs: Vec<u64> = (1..=10).map(|n| b.delay(n, None, 0.5).as_secs()).collect();
        assert_eq!(secs, [2, 4, 8, 16, 32, 64, 128, 256, 300, 300]);
        assert_eq!(b.delay(u32::MAX, None, 0.5), Duration::from_secs(300));
    }

    #[test]
    fn jitter_stays_within_its_band() {
        let b = Backoff::default();
        assert_eq!(b.delay(3, None, 0.0), Duration::from_millis(6400));
        assert_eq!(b.delay(3, None, 0.5), Duration::from_secs(8));
        assert!(b.delay(3, None, 0.999_999) <= Duration::from_millis(9600));
    }

    #[test]
    fn retry_after_wins_when_longer() {
        let b = Backoff::default();
        assert_eq!(
            b.delay(1, Some(Duration::from_secs(30)), 0.5),
            Duration::from_secs(30)
        );
        assert_eq!(
            b.delay(8, Some(Duration::from_secs(1)), 0.5),
            Duration::from_secs(256)
        );
    }
}

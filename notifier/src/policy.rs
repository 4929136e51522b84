//! When to try a failed webhook again: a pure function of the attempt count, the time spent,
//! Kyte's `Retry-After` and a jitter draw, so the schedule can be tested exhaustively.

use std::time::Duration;

/// Exponential back-off with "equal jitter": the n-th wait is between half and all of
/// `initial × 2ⁿ⁻¹` (capped at `max_delay`), so synchronized failures spread out without ever
/// retrying immediately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub initial: Duration,
    pub max_delay: Duration,
    pub max_elapsed: Duration,
}

impl RetryPolicy {
    /// The wait before the next attempt, or `None` to dead-letter now.
    /// `attempts` counts the attempts made so far (≥ 1), `elapsed` runs from the first attempt,
    /// `jitter` is a draw from [0, 1).
    pub fn next_delay(
        &self,
        attempts: u32,
        elapsed: Duration,
        retry_after: Option<Duration>,
        jitter: f64,
    ) -> Option<Duration> {
        let exponent = attempts.saturating_sub(1).min(32);
        let base = self
            .initial
            .saturating_mul(2u32.saturating_pow(exponent))
            .min(self.max_delay);
        let jitter = jitter.clamp(0.0, 1.0);
        let mut delay = base.mul_f64(0.5 + 0.5 * jitter);
        if let Some(asked) = retry_after {
            delay = delay.max(asked.min(self.max_delay));
        }
        (elapsed.saturating_add(delay) <= self.max_elapsed).then_some(delay)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            initial: Duration::from_secs(1),
            max_delay: Duration::from_secs(300),
            max_elapsed: Duration::from_secs(7200),
        }
    }

    #[test]
    fn delays_double_from_the_initial_one() {
        let p = policy();
        let full = |n| p.next_delay(n, Duration::ZERO, None, 1.0).unwrap();
        assert_eq!(full(1), Duration::from_secs(1));
        assert_eq!(full(2), Duration::from_secs(2));
        assert_eq!(full(5), Duration::from_secs(16));
        assert_eq!(full(30), Duration::from_secs(300));
        assert_eq!(
            p.next_delay(1, Duration::ZERO, None, 0.0),
            Some(Duration::from_millis(500))
        );
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_cap() {
        let p = policy();
        assert_eq!(
            p.next_delay(1, Duration::ZERO, Some(Duration::from_secs(7)), 0.0),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            p.next_delay(1, Duration::ZERO, Some(Duration::from_secs(3600)), 0.0),
            Some(Duration::from_secs(300))
        );
    }

    #[test]
    fn running_out_of_time_dead_letters() {
        let p = policy();
        assert_eq!(p.next_delay(3, Duration::from_secs(7199), None, 0.5), None);
        assert!(
            p.next_delay(3, Duration::from_secs(7000), None, 0.5)
                .is_some()
        );
    }

    proptest! {
        #[test]
        fn delays_stay_within_bounds(attempts in 1u32..100, jitter in 0.0f64..1.0, elapsed_s in 0u64..8000, ra in proptest::option::of(0u64..10_000)) {
            let p = policy();
            let elapsed = Duration::from_secs(elapsed_s);
            if let Some(d) = p.next_delay(attempts, elapsed, ra.map(Duration::from_secs), jitter) {
                prop_assert!(d >= Duration::from_millis(500));
                prop_assert!(d <= p.max_delay);
                prop_assert!(elapsed + d <= p.max_elapsed);
                if let Some(ra) = ra { prop_assert!(d >= Duration::from_secs(ra).min(p.max_delay)); }
            }
        }

        #[test]
        fn delays_never_shrink_as_attempts_grow(attempts in 1u32..60) {
            let p = policy();
            let a = p.next_delay(attempts, Duration::ZERO, None, 1.0).unwrap();
            let b = p.next_delay(attempts + 1, Duration::ZERO, None, 1.0).unwrap();
            prop_assert!(b >= a);
        }
    }
}

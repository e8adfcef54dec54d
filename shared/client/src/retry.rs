//! When to try a request again: 429 and 503, honouring `Retry-After`, a bounded number of times.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// How the client retries 429 (rate limited) and 503 (unavailable) answers.
///
/// A request is sent at most `max_attempts` times. Between attempts the client waits what the
/// server's `Retry-After` header says (seconds or an HTTP date), or, without one, `base_backoff`
/// doubled at each attempt (capped at `max_wait`). If the server asks for a longer wait than
/// `max_wait`, the client does not wait at all: it returns the error with the server's
/// `retry_after`, so the caller decides (a batch job may sleep, an interactive tool should not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per request, the first one included (1 = never retry).
    pub max_attempts: u32,
    /// The longest single wait the client accepts before retrying.
    pub max_wait: Duration,
    /// First wait when the server gives no `Retry-After`.
    pub base_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            max_wait: Duration::from_secs(30),
            base_backoff: Duration::from_millis(500),
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The wait after failed attempt `attempt` (1-based) when the server gave no `Retry-After`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(16);
        self.base_backoff.saturating_mul(factor).min(self.max_wait)
    }

    /// The wait before attempt `attempt + 1`, or `None` when the client must give up.
    pub(crate) fn next_wait(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        let wait = retry_after.unwrap_or_else(|| self.backoff(attempt));
        (wait <= self.max_wait).then_some(wait)
    }
}

/// Parses a `Retry-After` value: delta-seconds (`120`) or an HTTP date
/// (`Wed, 21 Oct 2015 07:28:00 GMT`, taken relative to `now`; a past date means "now").
/// Anything else is ignored (`None`).
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value.parse::<u64>().ok().map(Duration::from_secs);
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2015-10-21T07:27:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(parse_retry_after("0", now()), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after(" 120 ", now()),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now()),
            Some(Duration::from_secs(60))
        );
        // a date in the past: retry now
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now()),
            Some(Duration::ZERO)
        );
        for junk in ["", "-5", "1.5", "soon", "99999999999999999999999"] {
            assert_eq!(parse_retry_after(junk, now()), None, "{junk:?}");
        }
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let p = RetryPolicy {
            max_attempts: 10,
            max_wait: Duration::from_secs(3),
            base_backoff: Duration::from_millis(500),
        };
        let waits: Vec<u128> = (1..=5).map(|a| p.backoff(a).as_millis()).collect();
        assert_eq!(waits, [500, 1000, 2000, 3000, 3000]);
        assert_eq!(p.backoff(u32::MAX), Duration::from_secs(3));
    }

    #[test]
    fn gives_up_after_max_attempts_or_a_too_long_wait() {
        let p = RetryPolicy {
            max_attempts: 3,
            max_wait: Duration::from_secs(10),
            base_backoff: Duration::from_millis(100),
        };
        assert_eq!(p.next_wait(1, None), Some(Duration::from_millis(100)));
        assert_eq!(
            p.next_wait(2, Some(Duration::from_secs(2))),
            Some(Duration::from_secs(2))
        );
        assert_eq!(p.next_wait(3, Some(Duration::ZERO)), None);
        assert_eq!(p.next_wait(1, Some(Duration::from_secs(11))), None);
        assert_eq!(RetryPolicy::none().next_wait(1, Some(Duration::ZERO)), None);
    }
}

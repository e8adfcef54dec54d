//! Per-key rate limits: a token bucket per key id, in memory. A bucket holds up to
//! `rate_per_minute` tokens and refills at `rate_per_minute / 60` per second; each request takes
//! one. In AWS every Lambda container keeps its own buckets (API Gateway's throttling applies in
//! front of them); in the embedded mode there is one process and the limit is exact.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The buckets of every key seen since start (one small entry per authenticated key id).
#[derive(Default)]
pub struct TokenBuckets {
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl TokenBuckets {
    /// Takes a token from `key`'s bucket, or says in how many whole seconds one will be there.
    pub fn take(&self, key: &str, rate_per_minute: u32, now: Instant) -> Result<(), u64> {
        if rate_per_minute == 0 {
            return Err(60);
        }
        let capacity = f64::from(rate_per_minute);
        let per_second = capacity / 60.0;
        // A panic elsewhere cannot leave a bucket half-updated: recover the map.
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: capacity,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(capacity);
        bucket.at = bucket.at.max(now);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - bucket.tokens) / per_second).ceil();
            Err((wait as u64).max(1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_bucket_holds_a_minute_of_requests_and_refills_steadily() {
        let b = TokenBuckets::default();
        let t0 = Instant::now();
        for _ in 0..120 {
            assert_eq!(b.take("a", 120, t0), Ok(()));
        }
        // Empty: 2 tokens per second come back.
        assert_eq!(b.take("a", 120, t0), Err(1));
        // Another key has its own bucket.
        assert_eq!(b.take("b", 120, t0), Ok(()));
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(b.take("a", 120, t1), Ok(()));
        assert_eq!(b.take("a", 120, t1), Err(1));
        // Never more than the capacity, however long the pause.
        let t2 = t1 + Duration::from_secs(3600);
        for _ in 0..120 {
            assert_eq!(b.take("a", 120, t2), Ok(()));
        }
        assert!(b.take("a", 120, t2).is_err());
    }

    #[test]
    fn slow_keys_wait_whole_seconds_and_zero_rates_are_refused() {
        let b = TokenBuckets::default();
        let t0 = Instant::now();
        assert_eq!(b.take("slow", 1, t0), Ok(()));
        assert_eq!(b.take("slow", 1, t0), Err(60));
        assert_eq!(b.take("slow", 1, t0 + Duration::from_secs(30)), Err(30));
        assert_eq!(b.take("slow", 1, t0 + Duration::from_secs(60)), Ok(()));
        assert_eq!(b.take("none", 0, t0), Err(60));
        // A clock that seems to go back does not add tokens.
        assert_eq!(b.take("slow", 1, t0), Err(60));
    }
}

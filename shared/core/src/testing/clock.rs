//! A clock the tests set and move.

use chrono::{DateTime, Duration, TimeZone, Utc};
use std::sync::Mutex;

use super::failures::lock;
use crate::ports::Clock;

/// A [`Clock`] that stands still until a test moves it ([`FakeClock::advance`],
/// [`FakeClock::set`]), or that moves by a fixed step after every reading
/// ([`FakeClock::step_every_reading`]).
#[derive(Debug)]
pub struct FakeClock {
    now: Mutex<DateTime<Utc>>,
    step: Mutex<Duration>,
}

impl Default for FakeClock {
    fn default() -> Self {
        FakeClock::at(FakeClock::start())
    }
}

impl FakeClock {
    /// The instant a default clock shows: 15 January 2030, 09:00 UTC.
    pub fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 1, 15, 9, 0, 0)
            .single()
            .unwrap_or(DateTime::UNIX_EPOCH)
    }

    /// A clock standing at `t`.
    pub fn at(t: DateTime<Utc>) -> Self {
        FakeClock {
            now: Mutex::new(t),
            step: Mutex::new(Duration::zero()),
        }
    }

    /// Sets the time.
    pub fn set(&self, t: DateTime<Utc>) {
        *lock(&self.now) = t;
    }

    /// Moves the time forward by `d` (backward when negative).
    pub fn advance(&self, d: Duration) {
        *lock(&self.now) += d;
    }

    /// From now on every reading moves the clock forward by `d` after it is taken (zero: it
    /// stands still again).
    pub fn step_every_reading(&self, d: Duration) {
        *lock(&self.step) = d;
    }
}

impl Clock for FakeClock {
    fn now(&self) -> DateTime<Utc> {
        let step = *lock(&self.step);
        let mut now = lock(&self.now);
        let t = *now;
        *now += step;
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stands_still_moves_when_told_and_steps_when_asked() {
        let c = FakeClock::default();
        let t0 = c.now();
        assert_eq!(c.now(), t0);
        c.advance(Duration::seconds(5));
        assert_eq!(c.now(), t0 + Duration::seconds(5));
        c.step_every_reading(Duration::milliseconds(1));
        let t1 = c.now();
        assert_eq!(c.now(), t1 + Duration::milliseconds(1));
        c.set(t0);
        c.step_every_reading(Duration::zero());
        assert_eq!((c.now(), c.now()), (t0, t0));
    }
}

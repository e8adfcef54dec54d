//! A limit on the photos decoded at once in one process.
//!
//! Decoding is where a photo costs memory: tens of MB even when decoded reduced, hundreds for the
//! formats that only decode whole (see [`crate::pixels`]). Without a limit, eight uploads checked
//! at once cost eight times that. The submission checks and the embedding worker of a process share
//! one gate (it lives in the [`crate::settings::Settings`] of its desk): at most `slots` decodes
//! run together, and a decode that needs more than [`HEAVY_DECODE_BYTES`] runs alone.

use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A decode estimated above this many bytes takes every slot of the gate.
pub const HEAVY_DECODE_BYTES: u64 = 64 * 1024 * 1024;

/// The gate: a semaphore of `slots` permits, shared by its clones.
#[derive(Clone)]
pub struct DecodeGate {
    slots: u32,
    permits: Arc<Semaphore>,
}

impl std::fmt::Debug for DecodeGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecodeGate")
            .field("slots", &self.slots)
            .field("free", &self.permits.available_permits())
            .finish()
    }
}

/// The gate was closed (it never is: the error exists so that callers need not panic).
#[derive(Debug, thiserror::Error)]
#[error("the decode gate is closed")]
pub struct GateClosed;

/// Room for one decode; the room is given back when it is dropped.
#[derive(Debug)]
pub struct DecodePermit(#[allow(dead_code)] OwnedSemaphorePermit);

impl DecodeGate {
    /// A gate for `slots` decodes at once (at least 1, at most 256).
    pub fn new(slots: usize) -> DecodeGate {
        let slots = slots.clamp(1, 256) as u32;
        DecodeGate {
            slots,
            permits: Arc::new(Semaphore::new(slots as usize)),
        }
    }

    /// One slot per core: decoding is CPU bound, more at once would only add memory.
    pub fn per_core() -> DecodeGate {
        DecodeGate::new(std::thread::available_parallelism().map_or(1, usize::from))
    }

    /// How many decodes may run at once.
    pub fn slots(&self) -> u32 {
        self.slots
    }

    /// Slots free at the moment.
    pub fn free(&self) -> usize {
        self.permits.available_permits()
    }

    /// Waits until a decode estimated at `cost` bytes may run: one slot, or every slot when the
    /// decode is heavy. Hold the permit for the whole decode.
    pub async fn enter(&self, cost: u64) -> Result<DecodePermit, GateClosed> {
        let n = if cost > HEAVY_DECODE_BYTES {
            self.slots
        } else {
            1
        };
        self.permits
            .clone()
            .acquire_many_owned(n)
            .await
            .map(DecodePermit)
            .map_err(|_| GateClosed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Runs `jobs` decodes of `cost` through `gate` at once; returns the most seen running together.
    async fn most_at_once(gate: &DecodeGate, costs: &[u64]) -> usize {
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = costs
            .iter()
            .map(|&cost| {
                let (gate, running, most) = (gate.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    let _permit = gate.enter(cost).await.unwrap();
                    tokio::task::spawn_blocking(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(20));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
                    .unwrap();
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        most.load(Ordering::SeqCst)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn one_slot_means_one_decode_at_a_time() {
        let gate = DecodeGate::new(1);
        assert_eq!(most_at_once(&gate, &[1; 8]).await, 1);
        assert_eq!(gate.free(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn slots_bound_light_decodes_and_heavy_ones_run_alone() {
        let gate = DecodeGate::new(3);
        let seen = most_at_once(&gate, &[1; 9]).await;
        assert!(seen <= 3, "{seen} at once");
        assert_eq!(
            most_at_once(&gate, &[HEAVY_DECODE_BYTES + 1; 4]).await,
            1,
            "heavy decodes overlapped"
        );
        assert_eq!(gate.free(), 3);
        assert_eq!(DecodeGate::new(0).slots(), 1);
        assert!(DecodeGate::per_core().slots() >= 1);
    }
}

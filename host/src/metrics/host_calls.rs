//! Counting the calls a store's guest makes into the host: how many
//! component calls a request costs, the figure the benchmark reports.

use super::Metrics;
use std::sync::atomic::{AtomicU64, Ordering::Acquire, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use wasmtime::{CallHook, Store};

/// Every counting store's count. Each store has a counter of its own,
/// written only by its thread (no contention between workers), and
/// summed when read; a dropped store's count moves to `retired`.
#[derive(Debug, Default)]
pub(super) struct HostCalls(Mutex<Counters>);

#[derive(Debug, Default)]
struct Counters {
    retired: u64,
    live: Vec<Arc<AtomicU64>>,
}

impl Counters {
    /// Moves the counts of stores that are gone to `retired`.
    fn prune(&mut self) {
        let retired = &mut self.retired;
        self.live.retain(|c| {
            let gone = Arc::strong_count(c) == 1;
            if gone {
                // Sees the last counts of the store that dropped its
                // reference (its release pairs with this acquire).
                std::sync::atomic::fence(Acquire);
                *retired += c.load(Relaxed);
            }
            !gone
        });
    }
}

impl HostCalls {
    /// A counter for one more store.
    fn register(&self) -> Arc<AtomicU64> {
        let counter = Arc::new(AtomicU64::new(0));
        let mut counters = self.0.lock().unwrap_or_else(|e| e.into_inner());
        counters.prune();
        counters.live.push(counter.clone());
        counter
    }

    /// Every store's calls so far.
    pub(super) fn total(&self) -> u64 {
        let mut counters = self.0.lock().unwrap_or_else(|e| e.into_inner());
        counters.prune();
        counters.retired + counters.live.iter().map(|c| c.load(Relaxed)).sum::<u64>()
    }
}

impl Metrics {
    /// Counts every call `store`'s guest makes into the host, in
    /// [`MetricsSnapshot::host_calls`](super::MetricsSnapshot::host_calls):
    /// host functions (WASI's and this crate's) and the runtime's own entry
    /// points (resource drops, say). It installs the store's call hook,
    /// replacing any other, and costs a dynamic call per transition, so
    /// it is off unless asked for
    /// ([`crate::SendfileCtxBuilder::count_host_calls`] does it for stores
    /// made by [`crate::command::Runner`]).
    pub fn count_host_calls<T: 'static>(&self, store: &mut Store<T>) {
        let counter = self.host_calls.register();
        store.call_hook(move |_, hook| {
            if matches!(hook, CallHook::CallingHost) {
                // Only this store's thread writes it.
                counter.store(counter.load(Relaxed) + 1, Relaxed);
            }
            Ok(())
        });
    }
}

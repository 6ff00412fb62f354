//! How much linear memory a guest uses: a [`wasmtime::ResourceLimiter`]
//! that allows every growth and records the largest total, readable from
//! outside the store while the guest runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Records the linear memory of one store's instances. Install it with
/// `store.limiter(|state| &mut state.memory)`; read it through
/// [`MemoryUsage`].
#[derive(Debug, Default)]
pub struct MemoryTracker {
    usage: Arc<MemoryUsage>,
}

/// Linear-memory figures shared between a [`MemoryTracker`] and observers.
#[derive(Debug, Default)]
pub struct MemoryUsage {
    current: AtomicUsize,
    peak: AtomicUsize,
}

impl MemoryUsage {
    /// Bytes of linear memory now (the sum over the store's memories).
    pub fn current(&self) -> usize {
        self.current.load(Relaxed)
    }

    /// The most bytes of linear memory seen at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Relaxed)
    }
}

impl MemoryTracker {
    /// A tracker with nothing recorded.
    pub fn new() -> Self {
        Self::default()
    }

    /// The shared figures, to read while the store runs.
    pub fn usage(&self) -> Arc<MemoryUsage> {
        self.usage.clone()
    }
}

impl wasmtime::ResourceLimiter for MemoryTracker {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // `current` is 0 for a memory being created; the sum over all
        // memories of the store grows by the difference either way.
        let now = self.usage.current.fetch_add(desired - current, Relaxed) + desired - current;
        self.usage.peak.fetch_max(now, Relaxed);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        _desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(true)
    }
}

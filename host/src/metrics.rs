//! Counters of what the capability did, shared by every store that uses
//! the same [`Metrics`].

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Live counters. Cheap to update (relaxed atomics); read them with
/// [`Metrics::snapshot`].
#[derive(Debug, Default)]
pub struct Metrics {
    calls: AtomicU64,
    failed_calls: AtomicU64,
    total_bytes: AtomicU64,
    zero_copy_bytes: AtomicU64,
    fallback_bytes: AtomicU64,
    fallback_calls: AtomicU64,
    small_copy_bytes: AtomicU64,
}

/// A point-in-time copy of [`Metrics`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MetricsSnapshot {
    /// `send-file` and `blocking-send-file` calls.
    pub calls: u64,
    /// Calls that ended in an error.
    pub failed_calls: u64,
    /// Bytes written to targets: headers, file bytes and trailers.
    pub total_bytes: u64,
    /// File bytes moved inside the kernel (`sendfile`, `copy_file_range`).
    pub zero_copy_bytes: u64,
    /// File bytes copied through a host buffer because the kernel refused
    /// the zero-copy path for the descriptor pair.
    pub fallback_bytes: u64,
    /// Calls that used the copying fallback.
    pub fallback_calls: u64,
    /// File bytes of small ranges (at most 16 KiB, all in the page cache)
    /// read and sent to a socket with the headers in one system call,
    /// which costs less than zero-copy at that size.
    pub small_copy_bytes: u64,
}

/// What one call did, recorded at its end.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct CallRecord {
    pub total: u64,
    pub zero_copy: u64,
    pub fallback: u64,
    pub small_copy: u64,
    pub used_fallback: bool,
    pub failed: bool,
}

impl Metrics {
    /// New counters, all zero.
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn record(&self, call: &CallRecord) {
        self.calls.fetch_add(1, Relaxed);
        self.failed_calls.fetch_add(u64::from(call.failed), Relaxed);
        self.total_bytes.fetch_add(call.total, Relaxed);
        self.zero_copy_bytes.fetch_add(call.zero_copy, Relaxed);
        self.fallback_bytes.fetch_add(call.fallback, Relaxed);
        self.fallback_calls
            .fetch_add(u64::from(call.used_fallback), Relaxed);
        self.small_copy_bytes.fetch_add(call.small_copy, Relaxed);
    }

    /// The counters as they are now.
    pub fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            calls: self.calls.load(Relaxed),
            failed_calls: self.failed_calls.load(Relaxed),
            total_bytes: self.total_bytes.load(Relaxed),
            zero_copy_bytes: self.zero_copy_bytes.load(Relaxed),
            fallback_bytes: self.fallback_bytes.load(Relaxed),
            fallback_calls: self.fallback_calls.load(Relaxed),
            small_copy_bytes: self.small_copy_bytes.load(Relaxed),
        }
    }
}

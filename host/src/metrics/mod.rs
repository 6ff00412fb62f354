//! Counters of what the capability did, shared by every store that uses
//! the same [`Metrics`].

mod host_calls;
mod prometheus;

pub use prometheus::{Kind as PrometheusKind, PrometheusText};

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Status codes counted one by one (100 to 599); index 0 counts the rest.
const STATUSES: usize = 600;

/// Live counters. Cheap to update (relaxed atomics); read them with
/// [`Metrics::snapshot`].
#[derive(Debug)]
pub struct Metrics {
    calls: AtomicU64,
    failed_calls: AtomicU64,
    total_bytes: AtomicU64,
    zero_copy_bytes: AtomicU64,
    fallback_bytes: AtomicU64,
    fallback_calls: AtomicU64,
    small_copy_bytes: AtomicU64,
    open_connections: AtomicU64,
    /// By status code, as [`STATUSES`] says.
    responses: Box<[AtomicU64]>,
    response_body_bytes: AtomicU64,
    host_calls: host_calls::HostCalls,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            calls: AtomicU64::default(),
            failed_calls: AtomicU64::default(),
            total_bytes: AtomicU64::default(),
            zero_copy_bytes: AtomicU64::default(),
            fallback_bytes: AtomicU64::default(),
            fallback_calls: AtomicU64::default(),
            small_copy_bytes: AtomicU64::default(),
            open_connections: AtomicU64::default(),
            responses: (0..STATUSES).map(|_| AtomicU64::default()).collect(),
            response_body_bytes: AtomicU64::default(),
            host_calls: host_calls::HostCalls::default(),
        }
    }
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
    /// TCP connections guests hold now (accepted or connected through the
    /// host's `wasi:sockets/tcp`, not yet dropped).
    pub open_connections: u64,
    /// HTTP responses guests reported (`http-stats`), any status.
    pub responses: u64,
    /// Body bytes of those responses.
    pub response_body_bytes: u64,
    /// Calls from guests into the host (host functions and the runtime's
    /// own entry points), counted only in stores set up to count them
    /// ([`Metrics::count_host_calls`]).
    pub host_calls: u64,
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

    /// Adds one call. Counters it leaves unchanged are not touched: each
    /// add is an atomic read-modify-write, and a small call changes three.
    pub(crate) fn record(&self, call: &CallRecord) {
        let add = |counter: &AtomicU64, n: u64| {
            if n > 0 {
                counter.fetch_add(n, Relaxed);
            }
        };
        add(&self.calls, 1);
        add(&self.failed_calls, u64::from(call.failed));
        add(&self.total_bytes, call.total);
        add(&self.zero_copy_bytes, call.zero_copy);
        add(&self.fallback_bytes, call.fallback);
        add(&self.fallback_calls, u64::from(call.used_fallback));
        add(&self.small_copy_bytes, call.small_copy);
    }

    /// A guest reported an HTTP response (`http-stats.response-sent`).
    pub(crate) fn record_response(&self, status: u16, body_bytes: u64) {
        let index = match usize::from(status) {
            s @ 100..STATUSES => s,
            _ => 0,
        };
        self.responses[index].fetch_add(1, Relaxed);
        self.response_body_bytes.fetch_add(body_bytes, Relaxed);
    }

    /// Responses by status code, in order, those counted at least once;
    /// `None` stands for statuses outside 100..=599.
    pub fn responses_by_status(&self) -> Vec<(Option<u16>, u64)> {
        self.responses
            .iter()
            .enumerate()
            .map(|(i, n)| ((i != 0).then_some(i as u16), n.load(Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// Counts a connection open until the guard is dropped.
    pub(crate) fn connection_opened(self: &std::sync::Arc<Self>) -> OpenConnection {
        self.open_connections.fetch_add(1, Relaxed);
        OpenConnection(self.clone())
    }

    /// The counters as they are now.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let responses = self.responses.iter().map(|n| n.load(Relaxed)).sum();
        MetricsSnapshot {
            calls: self.calls.load(Relaxed),
            failed_calls: self.failed_calls.load(Relaxed),
            total_bytes: self.total_bytes.load(Relaxed),
            zero_copy_bytes: self.zero_copy_bytes.load(Relaxed),
            fallback_bytes: self.fallback_bytes.load(Relaxed),
            fallback_calls: self.fallback_calls.load(Relaxed),
            small_copy_bytes: self.small_copy_bytes.load(Relaxed),
            open_connections: self.open_connections.load(Relaxed),
            responses,
            response_body_bytes: self.response_body_bytes.load(Relaxed),
            host_calls: self.host_calls.total(),
        }
    }
}

/// One open connection in [`MetricsSnapshot::open_connections`], until
/// dropped.
#[derive(Debug)]
pub(crate) struct OpenConnection(std::sync::Arc<Metrics>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.open_connections.fetch_sub(1, Relaxed);
    }
}

//! The time as the server sees it: read once per wake-up of the event loop
//! ([`refresh`], after each `poll`), not at each use, as nginx caches its
//! time once per event-loop iteration. A request then costs no clock calls
//! into the host of its own (it made six or seven: the `Date` header, the
//! open-file cache's revalidation, the connection's timestamps, the access
//! log), and everything handled in one wake-up shares one instant: a reply
//! sent within the wake-up its request arrived in logs an elapsed time of
//! 0, and timeouts and the open-file cache's one-second revalidation are
//! measured from the wake-up, which is at most one loop iteration old.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

/// The instant of the last [`refresh`].
#[derive(Clone, Copy, Default)]
struct Instant {
    /// The monotonic clock, in nanoseconds.
    monotonic_ns: u64,
    /// The wall clock, in whole seconds since the Unix epoch.
    unix_secs: u64,
}

thread_local! {
    static NOW: Cell<Instant> = const {
        Cell::new(Instant {
            monotonic_ns: 0,
            unix_secs: 0,
        })
    };
}

/// Reads both clocks and makes that the time until the next refresh; the
/// monotonic reading.
pub fn refresh() -> u64 {
    let monotonic_ns = wasi::clocks::monotonic_clock::now();
    let unix_secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    NOW.set(Instant {
        monotonic_ns,
        unix_secs,
    });
    monotonic_ns
}

/// The monotonic clock at the last refresh, in nanoseconds.
pub fn monotonic_ns() -> u64 {
    NOW.get().monotonic_ns
}

/// The wall clock at the last refresh, in whole seconds since the Unix
/// epoch.
pub fn unix_secs() -> u64 {
    NOW.get().unix_secs
}

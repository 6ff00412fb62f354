//! Waiting on a pollable until an optional deadline: how the SDK's
//! timeouts (`set_read_timeout`, `set_write_timeout`, `connect_timeout`)
//! are kept.

use std::io;
use std::time::Duration;
use wasi::clocks::monotonic_clock;
use wasi::io::poll::{Pollable, poll};

/// When an operation with a timeout must give up; none without one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    at: Option<(monotonic_clock::Instant, Duration)>,
}

impl Deadline {
    /// `timeout` from now; never with `None`.
    pub(crate) fn after(timeout: Option<Duration>) -> Deadline {
        let at = timeout.map(|t| {
            let nanos = u64::try_from(t.as_nanos()).unwrap_or(u64::MAX);
            (monotonic_clock::now().saturating_add(nanos), t)
        });
        Deadline { at }
    }

    /// Blocks until `pollable` is ready. Past the deadline: an error of
    /// `kind` saying `what` timed out (without waiting if it has passed).
    pub(crate) fn wait(
        &self,
        pollable: &Pollable,
        what: &str,
        kind: io::ErrorKind,
    ) -> io::Result<()> {
        let Some((at, timeout)) = self.at else {
            pollable.block();
            return Ok(());
        };
        if pollable.ready() {
            return Ok(());
        }
        let timed_out = || io::Error::new(kind, format!("{what}: timed out after {timeout:?}"));
        if monotonic_clock::now() >= at {
            return Err(timed_out());
        }
        let timer = monotonic_clock::subscribe_instant(at);
        if poll(&[pollable, &timer]).contains(&0) {
            Ok(())
        } else {
            Err(timed_out())
        }
    }
}

/// A timeout as std takes it: `Some(ZERO)` is `InvalidInput`.
pub(crate) fn check_timeout(timeout: Option<Duration>) -> io::Result<Option<Duration>> {
    if timeout == Some(Duration::ZERO) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "cannot set a 0 duration timeout",
        ));
    }
    Ok(timeout)
}

//! The guest's `output-stream` of a connected socket, with the semantics of
//! `wasi:io/streams`:
//!
//! - `check-write` grants a permit; any number of `write`s whose lengths add
//!   up to at most the permit are accepted, and every accepted byte reaches
//!   the peer once, in order (a write beyond the permit traps, as in
//!   wasmtime-wasi).
//! - Bytes the socket does not take at once are kept in a [`Writer`] and go
//!   out in the background (a [`drain`] task), whether or not the guest
//!   polls, flushes or blocks elsewhere.
//! - `shutdown(send)`, or dropping the socket, sends what is still pending,
//!   then the `FIN` (dropping only the output stream sends no `FIN`, as in
//!   wasmtime-wasi, whose socket keeps its own handle on the writing half).
//!   This needs no more of the guest: the drop returns at once, and the
//!   drain goes on after it (even after the store is gone). Once the guest
//!   let go of the connection, a peer that stalls the bytes for [`LINGER`]
//!   gets the connection reset (not a `FIN`, so the loss is not mistaken
//!   for a complete stream).
//!
//! The [`Writer`] is shared with the socket resource: the capability flushes
//! it before sending file bytes, so the peer sees the guest's writes and
//! `send-file`'s bytes in the order the guest made them.

use super::reader::failure;
use bytes::{Buf, Bytes};
use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError, StreamResult};

/// The permit `check-write` grants (as wasmtime-wasi's 64 KiB): the most
/// bytes a guest can have waiting in the host per connection.
const BUDGET: usize = 64 * 1024;

/// How long bytes the guest let go of (its socket or store gone) may wait
/// without the peer taking any of them before the connection is reset;
/// twice this is the most they may take in all.
pub(crate) const LINGER: Duration = Duration::from_secs(30);

/// Locks a mutex of this module. No code panics while holding one, but if
/// some did, the state is still whole (every change is one assignment), so
/// poisoning is ignored rather than spread to the guest's next call.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Why the writing half no longer writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteEnd {
    /// Shut down by the guest (`shutdown` or dropping the stream).
    Shutdown,
    /// The peer is gone (`EPIPE`).
    Closed,
    /// A write failed with this OS error.
    Failed(i32),
}

impl From<WriteEnd> for StreamError {
    fn from(end: WriteEnd) -> Self {
        match end {
            WriteEnd::Shutdown | WriteEnd::Closed => StreamError::Closed,
            WriteEnd::Failed(code) => {
                StreamError::LastOperationFailed(failure(io::Error::from_raw_os_error(code)))
            }
        }
    }
}

/// Counts the background work still running for one context's sockets, so
/// that an embedder (the CLI's `run`, say) can let it finish before its
/// runtime stops: drains of bytes the guest wrote that the socket did not
/// take at once, and `no-cache` drops of sent file ranges waiting for the
/// peer to have them. Each ends by itself: a drain when its bytes are out,
/// when the connection fails, or after 30 s without progress once the guest
/// let go of the stream (the connection is then reset); a drop when the
/// peer has the bytes, or after 30 s.
#[derive(Debug, Default)]
pub struct PendingWrites {
    running: Mutex<usize>,
    idle: tokio::sync::Notify,
}

impl PendingWrites {
    /// How many background tasks (drains, deferred `no-cache` drops) still
    /// run.
    pub fn count(&self) -> usize {
        *lock(&self.running)
    }

    /// Waits until no background task runs, or `limit` passed; returns
    /// whether they all finished.
    pub async fn settle(&self, limit: Duration) -> bool {
        let wait = async {
            loop {
                let notified = self.idle.notified();
                if self.count() == 0 {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(limit, wait).await.is_ok()
    }
}

/// Holds one place in [`PendingWrites`] while a background task runs;
/// released when it ends, even if it is cancelled (its runtime stopping).
pub(crate) struct InFlight(Arc<PendingWrites>);

impl InFlight {
    pub(crate) fn new(pending: Arc<PendingWrites>) -> Self {
        *lock(&pending.running) += 1;
        InFlight(pending)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut running = lock(&self.0.running);
        *running -= 1;
        if *running == 0 {
            self.0.idle.notify_waiters();
        }
    }
}

/// A drain's place in [`PendingWrites`]. A drain cancelled before it
/// finished resets the connection: its bytes will not all arrive, and the
/// peer must not take what it got for the whole stream.
struct DrainGuard {
    _in_flight: InFlight,
    /// The writer, until the drain finished its work.
    unfinished: Option<Arc<Mutex<Writer>>>,
}

impl DrainGuard {
    fn new(pending: Arc<PendingWrites>, writer: Arc<Mutex<Writer>>) -> Self {
        DrainGuard {
            _in_flight: InFlight::new(pending),
            unfinished: Some(writer),
        }
    }
}

impl Drop for DrainGuard {
    fn drop(&mut self) {
        if let Some(writer) = self.unfinished.take() {
            let mut w = lock(&writer);
            w.abandon();
            w.draining = false;
        }
    }
}

/// The state of a connection's writing half.
pub(crate) struct Writer {
    stream: Arc<tokio::net::TcpStream>,
    /// Bytes accepted from the guest that the socket has not taken yet, in
    /// order.
    pending: VecDeque<Bytes>,
    /// Shutdown was asked for: no new bytes are accepted, pending ones still
    /// go out before the `FIN`.
    closing: bool,
    end: Option<WriteEnd>,
    /// A [`drain`] task is pushing `pending` out.
    draining: bool,
    /// When the guest let go of the whole connection (its socket resource
    /// dropped, or its store): from then on, a drain is bounded in time.
    orphaned: Option<tokio::time::Instant>,
    drains: Arc<PendingWrites>,
}

impl Writer {
    pub(crate) fn new(stream: Arc<tokio::net::TcpStream>, drains: Arc<PendingWrites>) -> Self {
        Self {
            stream,
            pending: VecDeque::new(),
            closing: false,
            end: None,
            draining: false,
            orphaned: None,
            drains,
        }
    }

    /// Whether new bytes (a guest write, a transfer) may be sent.
    pub(crate) fn accepting(&self) -> Result<(), WriteEnd> {
        match (self.end, self.closing) {
            (Some(end), _) => Err(end),
            (None, true) => Err(WriteEnd::Shutdown),
            (None, false) => Ok(()),
        }
    }

    /// Where this connection's background work is counted.
    pub(crate) fn in_flight(&self) -> InFlight {
        InFlight::new(self.drains.clone())
    }

    /// Whether bytes wait to be sent.
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Sends as much of the pending bytes as the socket takes now.
    pub(crate) fn try_flush(&mut self) -> Result<(), WriteEnd> {
        if let Some(end) = self.end {
            return Err(end);
        }
        while let Some(front) = self.pending.front_mut() {
            match self.stream.try_write(front) {
                Ok(n) => {
                    front.advance(n);
                    if front.is_empty() {
                        self.pending.pop_front();
                    } else if n == 0 {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let end = match e.raw_os_error() {
                        Some(libc::EPIPE) => WriteEnd::Closed,
                        Some(code) => WriteEnd::Failed(code),
                        None => WriteEnd::Failed(libc::EIO),
                    };
                    self.pending.clear();
                    self.end = Some(end);
                    return Err(end);
                }
            }
        }
        Ok(())
    }

    /// Waits until every pending byte is sent (or writing has ended).
    pub(crate) async fn flush(writer: &Mutex<Writer>) -> Result<(), WriteEnd> {
        loop {
            let stream = {
                let mut w = lock(writer);
                w.try_flush()?;
                if !w.has_pending() {
                    return Ok(());
                }
                w.stream.clone()
            };
            writable(writer, &stream).await?;
        }
    }

    /// Waits until the socket can take more bytes: pending bytes flushed and
    /// the socket writable, or writing ended (the next call reports why).
    pub(crate) async fn wait_writable(writer: &Mutex<Writer>) {
        if Writer::flush(writer).await.is_ok() {
            let stream = lock(writer).stream.clone();
            let _ = writable(writer, &stream).await;
        }
    }

    /// Shuts the socket down for writing once pending bytes are out; if the
    /// socket cannot take them now, the drain task finishes the job.
    pub(crate) fn shutdown(writer: &Arc<Mutex<Writer>>) {
        let mut w = lock(writer);
        if w.end.is_some() || w.closing {
            return;
        }
        w.closing = true;
        let _ = w.try_flush();
        if w.has_pending() {
            start_drain(writer, w);
        } else {
            w.close_write();
        }
    }

    /// The guest let go of the connection (its socket resource is gone):
    /// pending bytes still go out, then the `FIN`, but a peer that stalls
    /// them now has a bounded time (see [`drain`]).
    pub(crate) fn orphan(writer: &Arc<Mutex<Writer>>) {
        lock(writer)
            .orphaned
            .get_or_insert_with(tokio::time::Instant::now);
        Writer::shutdown(writer);
    }

    fn close_write(&mut self) {
        if self.end.is_none() {
            self.end = Some(WriteEnd::Shutdown);
            let _ = rustix::net::shutdown(&*self.stream, rustix::net::Shutdown::Write);
        }
    }

    /// Gives up on the pending bytes: the peer stalled them after the
    /// guest let go of the connection, or the runtime stopped the drain.
    /// The connection is reset when its descriptor closes (`SO_LINGER` 0),
    /// so the peer cannot mistake what it got for the whole stream.
    fn abandon(&mut self) {
        self.pending.clear();
        self.end = Some(WriteEnd::Failed(libc::ETIMEDOUT));
        let _ = rustix::net::sockopt::set_socket_linger(&*self.stream, Some(Duration::ZERO));
    }

    /// Writing failed for good (`e`), outside any write call.
    fn fail(&mut self, e: &io::Error) -> WriteEnd {
        let end = WriteEnd::Failed(e.raw_os_error().unwrap_or(libc::EIO));
        self.pending.clear();
        self.end = Some(end);
        end
    }
}

/// Waits until `stream` is writable. The wait itself failing (the runtime's
/// I/O driver gone) ends writing, rather than letting callers spin on a
/// readiness that will never come.
async fn writable(writer: &Mutex<Writer>, stream: &tokio::net::TcpStream) -> Result<(), WriteEnd> {
    match stream.writable().await {
        Ok(()) => Ok(()),
        Err(e) => Err(lock(writer).fail(&e)),
    }
}

/// Starts a [`drain`] for the pending bytes unless one runs already. Takes
/// the lock guard and releases it before spawning: a runtime that is
/// shutting down drops the new task at once, on this thread, and the task's
/// guard then takes the lock itself.
fn start_drain(writer: &Arc<Mutex<Writer>>, mut w: MutexGuard<'_, Writer>) {
    if w.draining || !w.has_pending() || w.end.is_some() {
        return;
    }
    w.draining = true;
    let guard = DrainGuard::new(w.drains.clone(), writer.clone());
    drop(w);
    let writer = writer.clone();
    // Detached: the task owns what it needs and ends by itself (see `drain`).
    // A drop outside any runtime (a store dropped by synchronous code) uses
    // wasmtime-wasi's ambient one.
    wasmtime_wasi::runtime::with_ambient_tokio_runtime(|| {
        drop(tokio::spawn(drain(writer, guard)));
    });
}

/// Pushes a writer's pending bytes out as the socket takes them, then sends
/// the `FIN` if shutdown was asked for meanwhile. Ends when nothing is
/// pending or writing fails; and, once the guest let go of the connection
/// (see [`Writer::orphan`]), when the peer took nothing for [`LINGER`] or
/// after twice `LINGER` in all. While the guest holds the socket, the
/// drain waits for the peer as long as the guest does (as wasmtime-wasi's).
async fn drain(writer: Arc<Mutex<Writer>>, mut guard: DrainGuard) {
    loop {
        let (stream, orphaned) = {
            let mut w = lock(&writer);
            let flushed = w.try_flush();
            if flushed.is_err() || !w.has_pending() {
                w.draining = false;
                if flushed.is_ok() && w.closing {
                    w.close_write();
                }
                guard.unfinished = None;
                return;
            }
            (w.stream.clone(), w.orphaned)
        };
        if orphaned.is_some_and(|t| t.elapsed() >= LINGER * 2) {
            return; // The guard resets the connection.
        }
        match tokio::time::timeout(LINGER, stream.writable()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let mut w = lock(&writer);
                w.fail(&e);
                w.draining = false;
                guard.unfinished = None;
                return;
            }
            // Stalled: the guard resets the connection if the guest let go.
            Err(_) if lock(&writer).orphaned.is_some() => return,
            Err(_) => {}
        }
    }
}

/// The writing half handed to the guest.
pub(crate) struct TcpWriter {
    writer: Arc<Mutex<Writer>>,
    /// What is left of the last `check-write`'s permit.
    permit: usize,
}

impl TcpWriter {
    pub(crate) fn new(writer: Arc<Mutex<Writer>>) -> Self {
        Self { writer, permit: 0 }
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for TcpWriter {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        let mut w = lock(&self.writer);
        w.accepting()?;
        if bytes.len() > self.permit {
            return Err(StreamError::trap("write exceeds the check-write permit"));
        }
        self.permit -= bytes.len();
        if bytes.is_empty() {
            return Ok(());
        }
        w.pending.push_back(bytes);
        w.try_flush()?;
        start_drain(&self.writer, w);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        // Pending bytes go out in the background anyway; this only tries
        // at once and reports a failed connection.
        Ok(lock(&self.writer).try_flush()?)
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        let mut w = lock(&self.writer);
        w.accepting()?;
        w.try_flush()?;
        self.permit = if w.has_pending() { 0 } else { BUDGET };
        Ok(self.permit)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for TcpWriter {
    async fn ready(&mut self) {
        Writer::wait_writable(&self.writer).await
    }
}

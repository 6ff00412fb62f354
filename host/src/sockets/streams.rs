//! The guest's `input-stream` and `output-stream` of a connected socket.
//!
//! The writing half keeps bytes the socket did not take at once in a
//! [`Writer`] shared with the socket resource: the capability flushes them
//! before sending file bytes, so the peer sees the guest's writes in order.

use bytes::{Buf, Bytes};
use rustix::net::RecvFlags;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::Interest;
use wasmtime_wasi::p2::{InputStream, OutputStream, Pollable, StreamError, StreamResult};

/// Largest read, and the write budget `check-write` grants.
const BUDGET: usize = 64 * 1024;

/// The reading half handed to the guest.
#[derive(Clone)]
pub(crate) struct TcpReader {
    stream: Arc<tokio::net::TcpStream>,
    closed: Arc<AtomicBool>,
}

impl TcpReader {
    pub(crate) fn new(stream: Arc<tokio::net::TcpStream>) -> Self {
        Self {
            stream,
            closed: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Shuts the socket down for reading; further reads report `closed`.
    pub(crate) fn shutdown(&self) {
        if !self.closed.swap(true, Ordering::AcqRel) {
            let _ = rustix::net::shutdown(&*self.stream, rustix::net::Shutdown::Read);
        }
    }
}

#[wasmtime_wasi::async_trait]
impl InputStream for TcpReader {
    fn read(&mut self, size: usize) -> StreamResult<Bytes> {
        if self.closed.load(Ordering::Acquire) {
            return Err(StreamError::Closed);
        }
        if size == 0 {
            return Ok(Bytes::new());
        }
        let want = size.min(BUDGET);
        let mut buf = Vec::with_capacity(want);
        let mut got = None;
        let result = self.stream.try_io(Interest::READABLE, || {
            // Into spare capacity: no zero-filling of bytes the kernel
            // is about to overwrite.
            let spare = rustix::buffer::spare_capacity(&mut buf);
            let (n, _) = rustix::net::recv(&*self.stream, spare, RecvFlags::DONTWAIT)?;
            got = Some(n);
            if n > 0 && n < want {
                // A short read took everything the socket had. Saying
                // would-block lets tokio clear the readiness it saw before
                // the call (a newer event survives: the clear is by tick),
                // so the guest's next poll waits for new bytes instead of
                // waking to find the socket empty. End-of-stream is never
                // cleared (tokio keeps closed states).
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(n)
        });
        match (got, result) {
            (Some(0), _) => {
                self.closed.store(true, Ordering::Release);
                Err(StreamError::Closed)
            }
            (Some(_), _) => Ok(Bytes::from(buf)),
            (None, Err(e)) if e.kind() == io::ErrorKind::WouldBlock => Ok(Bytes::new()),
            (None, Err(e)) => {
                self.closed.store(true, Ordering::Release);
                Err(StreamError::LastOperationFailed(failure(e)))
            }
            (None, Ok(_)) => unreachable!("a read that ran records its count"),
        }
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for TcpReader {
    async fn ready(&mut self) {
        if !self.closed.load(Ordering::Acquire) {
            // An error here means the socket failed: the next read says so.
            let _ = self.stream.readable().await;
        }
    }
}

/// A socket error as the `wasi:io/error` a stream reports; an `io::Error`
/// inside, so `wasi:sockets/network.network-error-code` can read it.
fn failure(e: io::Error) -> wasmtime::Error {
    wasmtime::Error::new(e)
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

/// The state of a connection's writing half.
pub(crate) struct Writer {
    stream: Arc<tokio::net::TcpStream>,
    /// Bytes accepted from the guest that the socket has not taken yet.
    pending: Bytes,
    /// Shutdown was asked for: no new bytes are accepted, pending ones still
    /// go out before the `FIN`.
    closing: bool,
    end: Option<WriteEnd>,
}

impl Writer {
    pub(crate) fn new(stream: Arc<tokio::net::TcpStream>) -> Self {
        Self {
            stream,
            pending: Bytes::new(),
            closing: false,
            end: None,
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

    /// Whether bytes wait to be sent.
    pub(crate) fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Sends as much of the pending bytes as the socket takes now.
    pub(crate) fn try_flush(&mut self) -> Result<(), WriteEnd> {
        if let Some(end) = self.end {
            return Err(end);
        }
        while !self.pending.is_empty() {
            match self.stream.try_write(&self.pending) {
                Ok(n) => self.pending.advance(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
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
                let mut w = writer.lock().unwrap();
                w.try_flush()?;
                if !w.has_pending() {
                    return Ok(());
                }
                w.stream.clone()
            };
            // An error here resurfaces from the next `try_write`.
            let _ = stream.writable().await;
        }
    }

    /// Waits until the socket can take more bytes: pending bytes flushed and
    /// the socket writable, or writing ended (the next call reports why).
    pub(crate) async fn wait_writable(writer: &Mutex<Writer>) {
        if Writer::flush(writer).await.is_ok() {
            let stream = writer.lock().unwrap().stream.clone();
            let _ = stream.writable().await;
        }
    }

    /// Shuts the socket down for writing once pending bytes are out; if the
    /// socket cannot take them now, a background task finishes the job.
    pub(crate) fn shutdown(writer: &Arc<Mutex<Writer>>) {
        let mut w = writer.lock().unwrap();
        if w.end.is_some() || w.closing {
            return;
        }
        w.closing = true;
        let _ = w.try_flush();
        if w.has_pending() {
            let writer = writer.clone();
            drop(w);
            wasmtime_wasi::runtime::spawn(async move {
                let _ = Writer::flush(&writer).await;
                writer.lock().unwrap().close_write();
            });
        } else {
            w.close_write();
        }
    }

    fn close_write(&mut self) {
        if self.end.is_none() {
            self.end = Some(WriteEnd::Shutdown);
            let _ = rustix::net::shutdown(&*self.stream, rustix::net::Shutdown::Write);
        }
    }
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

/// The writing half handed to the guest.
pub(crate) struct TcpWriter {
    writer: Arc<Mutex<Writer>>,
    /// What the last `check-write` granted.
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
        if bytes.len() > self.permit {
            return Err(StreamError::trap("write exceeds the check-write permit"));
        }
        self.permit -= bytes.len();
        let mut w = self.writer.lock().unwrap();
        w.accepting()?;
        if bytes.is_empty() {
            return Ok(());
        }
        // The permit was granted only with nothing pending.
        debug_assert!(!w.has_pending());
        w.pending = bytes;
        w.try_flush().map_err(StreamError::from)
    }

    fn flush(&mut self) -> StreamResult<()> {
        self.writer
            .lock()
            .unwrap()
            .try_flush()
            .map_err(StreamError::from)
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        let mut w = self.writer.lock().unwrap();
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

impl Drop for TcpWriter {
    fn drop(&mut self) {
        Writer::shutdown(&self.writer);
    }
}

//! The guest's `input-stream` of a connected socket.

use bytes::Bytes;
use rustix::net::RecvFlags;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::io::Interest;
use wasmtime_wasi::p2::{InputStream, Pollable, StreamError, StreamResult};

/// Largest read.
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
            // The read ran whenever `try_io` says Ok; were it not so,
            // nothing was read.
            (None, Ok(_)) => Ok(Bytes::new()),
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
pub(crate) fn failure(e: io::Error) -> wasmtime::Error {
    wasmtime::Error::new(e)
}

//! How response bodies leave the guest. `sendfile` is the point of this
//! project; `copy` and `splice` are the plain WASI 0.2 ways, kept so the
//! benchmarks can compare them in the same server (`STATIC_BODY`).

use std::io::{self, ErrorKind};
use wasi::io::poll::Pollable;
use wasi::io::streams::{InputStream, StreamError};
use wasm_sendfile_sdk::fs::File;
use wasm_sendfile_sdk::net::TcpStream;

/// Bytes the copy path reads into guest memory at once.
const COPY_CHUNK: u64 = 64 * 1024;

/// Most bytes one step of the splice path moves before it lets the event
/// loop serve the other connections.
const SPLICE_STEP: u64 = 1 << 20;

/// The way bodies are sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// The sendfile capability: the kernel moves page-cache pages to the
    /// socket; the bytes never enter the guest.
    Sendfile,
    /// `descriptor.read` into guest memory, then the socket's
    /// output-stream (`check-write` and `write`).
    Copy,
    /// `output-stream.splice` (non-blocking) from the file's input-stream
    /// (the host copies through its own buffers).
    Splice,
}

impl Via {
    /// From a name (`sendfile`, `copy`, `splice`).
    pub fn parse(name: &str) -> Option<Via> {
        match name {
            "sendfile" => Some(Via::Sendfile),
            "copy" => Some(Via::Copy),
            "splice" => Some(Via::Splice),
            _ => None,
        }
    }
}

/// The state of a body sent by [`Via::Copy`] or [`Via::Splice`].
#[derive(Default)]
pub struct Streamed {
    /// Copy: bytes read but not yet taken by the socket.
    buffer: Vec<u8>,
    taken: usize,
    /// Splice: set while the file's bytes are not ready (the host reads
    /// them in the background), the pollable that says they are. Declared
    /// before `input`, its parent, so it is dropped first.
    input_ready: Option<Pollable>,
    waiting_for_input: bool,
    /// Splice: the file's input-stream, positioned at the next byte.
    input: Option<InputStream>,
}

impl Streamed {
    /// What the body waits on when it cannot go on now: the file's bytes
    /// (splice, while the host reads them), else `None` (the socket).
    pub fn waiting_on(&self) -> Option<&Pollable> {
        self.input_ready.as_ref().filter(|_| self.waiting_for_input)
    }

    /// Sends file bytes from `pos` (at most `left`) until the socket is full
    /// (`WouldBlock`); `Ok(n)` reports progress, `Ok(0)` the file's end.
    pub fn step(
        &mut self,
        via: Via,
        stream: &TcpStream,
        file: &File,
        pos: u64,
        left: u64,
    ) -> io::Result<u64> {
        match via {
            Via::Copy => self.copy(stream, file, pos, left),
            Via::Splice => self.splice(stream, file, pos, left),
            Via::Sendfile => Err(io::Error::other("sendfile bodies are not streamed")),
        }
    }

    fn copy(&mut self, stream: &TcpStream, file: &File, pos: u64, left: u64) -> io::Result<u64> {
        if self.taken == self.buffer.len() {
            // Everything read went out, so the file position is `pos`.
            let (data, _eof) = file
                .descriptor()
                .read(left.min(COPY_CHUNK), pos)
                .map_err(|e| io::Error::other(format!("read: {e:?}")))?;
            self.buffer = data;
            self.taken = 0;
            if self.buffer.is_empty() {
                return Ok(0);
            }
        }
        let n = stream.try_write(&self.buffer[self.taken..])?;
        self.taken += n;
        Ok(n as u64)
    }

    fn splice(&mut self, stream: &TcpStream, file: &File, pos: u64, left: u64) -> io::Result<u64> {
        if self.input.is_none() {
            let input = file
                .descriptor()
                .read_via_stream(pos)
                .map_err(|e| io::Error::other(format!("read-via-stream: {e:?}")))?;
            self.input = Some(input);
        }
        let Some(input) = self.input.as_ref() else {
            return Ok(0);
        };
        // Non-blocking: a client that does not read must not stop the
        // others (`blocking-splice` would wait for it inside the loop).
        let step = left.min(SPLICE_STEP);
        let mut moved = 0;
        while moved < step {
            match stream.output().splice(input, step - moved) {
                Ok(0) => break,
                Ok(n) => moved += n,
                Err(StreamError::Closed) if moved == 0 => return Ok(0),
                Err(StreamError::Closed) => break,
                // What moved before the failure is counted; the failure
                // comes again at the next step, with nothing moved.
                Err(StreamError::LastOperationFailed(_)) if moved > 0 => break,
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(io::Error::other(e.to_debug_string()));
                }
            }
        }
        // Nothing moved: either the socket is full, or (the socket taking
        // bytes) the file's next bytes are not read yet.
        self.waiting_for_input = moved == 0 && stream.output().check_write().is_ok_and(|n| n > 0);
        if self.waiting_for_input && self.input_ready.is_none() {
            self.input_ready = Some(input.subscribe());
        }
        if moved == 0 {
            return Err(ErrorKind::WouldBlock.into());
        }
        Ok(moved)
    }
}

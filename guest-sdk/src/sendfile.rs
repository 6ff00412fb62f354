//! The capability, Rust-style: Linux's `sendfile` and a BSD-style builder.

use crate::bindings::wasm_sendfile::sendfile::sendfile as raw;
use crate::fs::File;
use crate::net::TcpStream;
use crate::wait::Deadline;
use std::fmt;
use std::io;
use std::time::Duration;
use wasi::filesystem::types::Descriptor;
use wasi::sockets::tcp::TcpSocket;

pub use raw::{ErrorCode, HostLimits, SendFlags};

/// The host's limits on calls (header and trailer bytes, buffers, chunk
/// cap, whether file targets are allowed); they do not change while the
/// guest runs.
///
/// ```no_run
/// let limits = wasm_sendfile_sdk::limits();
/// if !limits.file_targets {
///     eprintln!("this host only sends to sockets");
/// }
/// ```
pub fn limits() -> HostLimits {
    raw::limits()
}

impl ErrorCode {
    /// The code's name in the WIT contract, e.g. `"would-block"`.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::WouldBlock => "would-block",
            ErrorCode::Busy => "busy",
            ErrorCode::BadDescriptor => "bad-descriptor",
            ErrorCode::Invalid => "invalid",
            ErrorCode::NotConnected => "not-connected",
            ErrorCode::BrokenPipe => "broken-pipe",
            ErrorCode::ConnectionReset => "connection-reset",
            ErrorCode::Io => "io",
            ErrorCode::NoSpace => "no-space",
            ErrorCode::AccessDenied => "access-denied",
            ErrorCode::Interrupted => "interrupted",
            ErrorCode::Unsupported => "unsupported",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a transfer's bytes go.
#[derive(Clone, Copy)]
pub enum Target<'a> {
    /// A connected TCP socket.
    Socket(&'a TcpSocket),
    /// A connected stream: its socket, and its write timeout for blocking
    /// sends ([`TcpStream::set_write_timeout`]). What `&TcpStream` converts
    /// to.
    Stream(&'a TcpStream),
    /// A file opened for writing, written from `offset` on (positional:
    /// the file's cursor is not used or moved).
    File {
        /// The target file's descriptor.
        descriptor: &'a Descriptor,
        /// Where the first byte is written.
        offset: u64,
    },
}

impl<'a> Target<'a> {
    /// `file` as a target, written from `offset` on.
    pub fn file(file: &'a File, offset: u64) -> Self {
        Target::File {
            descriptor: file.descriptor(),
            offset,
        }
    }

    /// This target once `written` bytes of a transfer went to it: a file
    /// target's offset moves past them; a socket is a stream.
    fn after(self, written: u64) -> Self {
        match self {
            Target::File { descriptor, offset } => Target::File {
                descriptor,
                offset: offset.saturating_add(written),
            },
            socket => socket,
        }
    }

    /// A blocking send's bound: the stream's write timeout.
    fn write_timeout(self) -> Option<Duration> {
        match self {
            Target::Stream(s) => s.write_timeout().ok().flatten(),
            _ => None,
        }
    }

    fn raw(self) -> raw::Target<'a> {
        match self {
            Target::Socket(s) => raw::Target::Socket(s),
            Target::Stream(s) => raw::Target::Socket(s.socket()),
            Target::File { descriptor, offset } => {
                raw::Target::File(raw::FileTarget { descriptor, offset })
            }
        }
    }
}

impl<'a> From<&'a TcpStream> for Target<'a> {
    fn from(s: &'a TcpStream) -> Self {
        Target::Stream(s)
    }
}

impl<'a> From<&'a TcpSocket> for Target<'a> {
    fn from(s: &'a TcpSocket) -> Self {
        Target::Socket(s)
    }
}

/// What one call sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// Bytes written: headers, file bytes and trailers.
    pub total: u64,
    /// Of `total`, bytes from the file.
    pub file: u64,
    /// Whether everything still outstanding went out (always true for
    /// blocking sends). False: the socket filled up; call again when it is
    /// writable.
    pub complete: bool,
}

/// A failed call, with what went out before the failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendError {
    code: ErrorCode,
    total: u64,
    file: u64,
}

impl SendError {
    /// The capability's error code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }
    /// Bytes written before the failure: headers, file bytes and trailers.
    pub fn total(&self) -> u64 {
        self.total
    }
    /// Of `total`, bytes from the file.
    pub fn file(&self) -> u64 {
        self.file
    }
    /// Whether the socket was full (or stayed full for the stream's write
    /// timeout) and nothing was sent.
    pub fn is_would_block(&self) -> bool {
        self.code == ErrorCode::WouldBlock
    }

    /// The capability's error inside an `io::Error` from [`sendfile()`],
    /// [`try_sendfile`] or a `?` on a [`SendFile`] result: its code and
    /// partial counts. `None` for errors that did not come from the
    /// capability (a socket or file error, say).
    ///
    /// ```no_run
    /// use wasm_sendfile_sdk::{fs::File, net::TcpStream, sendfile, ErrorCode, SendError};
    /// # fn main() -> std::io::Result<()> {
    /// let stream = TcpStream::connect("127.0.0.1:8080")?;
    /// let mut file = File::open("/data/song.txt")?;
    /// if let Err(e) = sendfile(&stream, &mut file, None, 4096) {
    ///     match SendError::of(&e) {
    ///         Some(s) if s.code() == ErrorCode::BrokenPipe => eprintln!("peer left"),
    ///         _ => return Err(e),
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn of(err: &io::Error) -> Option<&SendError> {
        err.get_ref()?.downcast_ref()
    }
}

impl From<raw::SendError> for SendError {
    fn from(e: raw::SendError) -> Self {
        SendError {
            code: e.code,
            total: e.total,
            file: e.file,
        }
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sendfile failed: {} after {} bytes ({} from the file)",
            self.code, self.total, self.file
        )
    }
}

impl std::error::Error for SendError {}

impl From<SendError> for io::Error {
    /// An `io::Error` of the matching kind whose inner error is the
    /// [`SendError`] (`err.get_ref()` and `downcast_ref` give the code and the
    /// partial counts back).
    fn from(e: SendError) -> Self {
        use io::ErrorKind as K;
        let kind = match e.code {
            ErrorCode::WouldBlock => K::WouldBlock,
            ErrorCode::Busy => K::ResourceBusy,
            ErrorCode::BadDescriptor | ErrorCode::AccessDenied => K::PermissionDenied,
            ErrorCode::Invalid => K::InvalidInput,
            ErrorCode::NotConnected => K::NotConnected,
            ErrorCode::BrokenPipe => K::BrokenPipe,
            ErrorCode::ConnectionReset => K::ConnectionReset,
            ErrorCode::Io => K::Other,
            ErrorCode::NoSpace => K::StorageFull,
            ErrorCode::Interrupted => K::Interrupted,
            ErrorCode::Unsupported => K::Unsupported,
        };
        io::Error::new(kind, e)
    }
}

fn linux_style(
    blocking: bool,
    out: Target<'_>,
    input: &mut File,
    offset: Option<&mut u64>,
    count: u64,
) -> io::Result<u64> {
    let mut call = match &offset {
        Some(off) => SendFile::new(input).offset(**off),
        None => SendFile::from_cursor(input),
    }
    .count(count);
    let result = if blocking {
        call.send(out)
    } else {
        call.try_send(out)
    };
    let sent = match result {
        Ok(sent) => sent.file,
        // Linux reports a partial transfer as a short count; the error
        // surfaces on the next call.
        Err(e) if e.file() > 0 => e.file(),
        Err(e) => return Err(e.into()),
    };
    if let Some(off) = offset {
        *off += sent;
    }
    Ok(sent)
}

/// Linux `sendfile(2)`: sends up to `count` bytes of `input` to `out`,
/// waiting while the socket is full, and returns the bytes sent (fewer than
/// `count` only at the end of the file).
///
/// With `offset: None` the transfer starts at `input`'s cursor and advances
/// it; with `Some(off)` it starts at `*off`, advances `*off` by the bytes
/// sent and leaves the cursor alone.
///
/// ```no_run
/// use wasm_sendfile_sdk::{fs::File, net::TcpStream, sendfile};
/// # fn main() -> std::io::Result<()> {
/// let stream = TcpStream::connect("127.0.0.1:8080")?;
/// let mut file = File::open("/data/song.txt")?;
/// let n = sendfile(&stream, &mut file, None, 4096)?;
/// assert_eq!(file.position(), n);
/// # Ok(()) }
/// ```
pub fn sendfile<'a>(
    out: impl Into<Target<'a>>,
    input: &mut File,
    offset: Option<&mut u64>,
    count: u64,
) -> io::Result<u64> {
    linux_style(true, out.into(), input, offset, count)
}

/// Non-blocking [`sendfile()`]: sends what the socket takes now. Returns a
/// short count when the socket filled up, and `ErrorKind::WouldBlock` when
/// nothing could be sent (wait with [`TcpStream::wait_writable`]).
pub fn try_sendfile<'a>(
    out: impl Into<Target<'a>>,
    input: &mut File,
    offset: Option<&mut u64>,
    count: u64,
) -> io::Result<u64> {
    linux_style(false, out.into(), input, offset, count)
}

/// A transfer with FreeBSD's options: headers, trailers, to-EOF counts,
/// `no-disk-io`, `no-cache`, a chunk size. Resumable: after a
/// [`try_send`](SendFile::try_send) that stopped early, the next call sends
/// only what is still outstanding.
///
/// [`SendFile::new`] sends from an explicit offset (0 unless
/// [`offset`](SendFile::offset) says otherwise) and leaves the file's cursor
/// alone, like `pread`; [`SendFile::from_cursor`] starts at the cursor and
/// moves it past every file byte sent, like `read`.
///
/// ```no_run
/// use wasm_sendfile_sdk::{fs::File, net::TcpStream, SendFile};
/// # fn main() -> std::io::Result<()> {
/// let stream = TcpStream::connect("127.0.0.1:8080")?;
/// let file = File::open("/data/index.html")?;
/// let sent = SendFile::new(&file)
///     .header(format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", file.len()?))
///     .send(&stream)?;
/// assert!(sent.complete);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct SendFile<'a> {
    source: Source<'a>,
    offset: u64,
    count: Option<u64>,
    headers: Vec<Vec<u8>>,
    trailers: Vec<Vec<u8>>,
    flags: SendFlags,
    max_chunk: Option<u64>,
    sent_headers: u64,
    sent_file: u64,
    sent_trailers: u64,
    complete: bool,
}

/// What a transfer reads.
#[derive(Debug)]
enum Source<'a> {
    /// At explicit offsets.
    Descriptor(&'a Descriptor),
    /// From the file's cursor, which follows the transfer.
    Cursor(&'a mut File),
}

impl Source<'_> {
    fn descriptor(&self) -> &Descriptor {
        match self {
            Source::Descriptor(d) => d,
            Source::Cursor(f) => f.descriptor(),
        }
    }
}

fn total_len(bufs: &[Vec<u8>]) -> u64 {
    bufs.iter().map(|b| b.len() as u64).sum()
}

/// `bufs` without their first `skip` bytes.
fn skip_bytes(bufs: &[Vec<u8>], mut skip: u64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for b in bufs {
        let len = b.len() as u64;
        if skip >= len {
            skip -= len;
        } else {
            out.push(b[skip as usize..].to_vec());
            skip = 0;
        }
    }
    out
}

impl<'a> SendFile<'a> {
    /// The whole of `source` (from offset 0 to its end), no headers or
    /// trailers. The file's cursor is neither used nor moved.
    pub fn new(source: &'a File) -> Self {
        Self::from_descriptor(source.descriptor())
    }

    /// Like [`SendFile::new`] for a bare descriptor.
    pub fn from_descriptor(source: &'a Descriptor) -> Self {
        Self::with_source(Source::Descriptor(source), 0)
    }

    /// `source` from its cursor to its end (or [`count`](SendFile::count)
    /// bytes), no headers or trailers. Every call moves the cursor past the
    /// file bytes it sent, so after a complete transfer it is where the
    /// range ended, and after a partial one where the next call resumes.
    ///
    /// ```no_run
    /// use wasm_sendfile_sdk::{fs::File, net::TcpStream, SendFile};
    /// # fn main() -> std::io::Result<()> {
    /// let stream = TcpStream::connect("127.0.0.1:8080")?;
    /// let mut file = File::open("/data/song.txt")?;
    /// file.set_position(100);
    /// SendFile::from_cursor(&mut file)
    ///     .count(50)
    ///     .header("50 bytes from 100:\n")
    ///     .send(&stream)?;
    /// assert_eq!(file.position(), 150);
    /// # Ok(()) }
    /// ```
    pub fn from_cursor(source: &'a mut File) -> Self {
        let offset = source.position();
        Self::with_source(Source::Cursor(source), offset)
    }

    fn with_source(source: Source<'a>, offset: u64) -> Self {
        SendFile {
            source,
            offset,
            count: None,
            headers: Vec::new(),
            trailers: Vec::new(),
            flags: SendFlags::empty(),
            max_chunk: None,
            sent_headers: 0,
            sent_file: 0,
            sent_trailers: 0,
            complete: false,
        }
    }

    /// Start at byte `offset` of the file (for [`SendFile::from_cursor`],
    /// the cursor moves there).
    pub fn offset(mut self, offset: u64) -> Self {
        self.offset = offset;
        if let Source::Cursor(f) = &mut self.source {
            f.set_position(offset);
        }
        self
    }

    /// Send at most `count` file bytes (fewer at the end of the file).
    pub fn count(mut self, count: u64) -> Self {
        self.count = Some(count);
        self
    }

    /// Send up to the end of the file (the default; BSD `nbytes = 0`).
    pub fn to_eof(mut self) -> Self {
        self.count = None;
        self
    }

    /// Add a buffer to send before the file bytes.
    pub fn header(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.headers.push(bytes.into());
        self
    }

    /// Add a buffer to send after the file bytes.
    pub fn trailer(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.trailers.push(bytes.into());
        self
    }

    /// Fail with `busy` instead of waiting for the disk (FreeBSD
    /// `SF_NODISKIO`).
    pub fn no_disk_io(mut self) -> Self {
        self.flags |= SendFlags::NO_DISK_IO;
        self
    }

    /// Drop the sent range from the page cache afterwards.
    pub fn no_cache(mut self) -> Self {
        self.flags |= SendFlags::NO_CACHE;
        self
    }

    /// At most `bytes` file bytes per system call (capped by the host).
    pub fn max_chunk(mut self, bytes: u64) -> Self {
        self.max_chunk = Some(bytes);
        self
    }

    /// Whether everything has been sent.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// Everything sent so far by this transfer, over all calls.
    pub fn sent(&self) -> Sent {
        Sent {
            total: self.sent_headers + self.sent_file + self.sent_trailers,
            file: self.sent_file,
            complete: self.complete,
        }
    }

    /// Sends everything outstanding, waiting while the socket is full.
    ///
    /// To a [`TcpStream`] with a write timeout, a wait that lasts longer
    /// ends the call: with what went out (`complete == false`), or
    /// `would-block` if nothing did (as Linux's `sendfile` under
    /// `SO_SNDTIMEO`).
    ///
    /// A file target names where the transfer's first byte goes: pass the
    /// same target to every call of a transfer, and a call resumed after a
    /// partial one (an error, say `no-space`) writes after what went before.
    pub fn send<'t>(&mut self, target: impl Into<Target<'t>>) -> Result<Sent, SendError> {
        let target = target.into();
        match (target, target.write_timeout()) {
            (Target::Stream(stream), Some(timeout)) => self.send_within(stream, timeout),
            _ => self.call(true, target),
        }
    }

    /// Non-blocking calls, waiting for room in between, until done or
    /// until `timeout` passes without room.
    fn send_within(&mut self, stream: &TcpStream, timeout: Duration) -> Result<Sent, SendError> {
        let before = self.sent();
        let since = |now: Sent| Sent {
            total: now.total - before.total,
            file: now.file - before.file,
            complete: now.complete,
        };
        let deadline = Deadline::after(Some(timeout));
        loop {
            match self.call(false, Target::Stream(stream)) {
                Ok(sent) if sent.complete => return Ok(since(self.sent())),
                Err(e) if !e.is_would_block() => {
                    let sent = since(self.sent());
                    return Err(SendError {
                        total: sent.total,
                        file: sent.file,
                        ..e
                    });
                }
                _ => {}
            }
            if stream.wait_writable_within(deadline).is_err() {
                let sent = since(self.sent());
                if sent.total > 0 {
                    return Ok(sent);
                }
                return Err(SendError {
                    code: ErrorCode::WouldBlock,
                    total: 0,
                    file: 0,
                });
            }
        }
    }

    /// Sends what the target takes now. `Ok` with `complete == false`: call
    /// again once writable; `Err` with [`SendError::is_would_block`]:
    /// nothing could be sent.
    pub fn try_send<'t>(&mut self, target: impl Into<Target<'t>>) -> Result<Sent, SendError> {
        self.call(false, target.into())
    }

    fn call(&mut self, blocking: bool, target: Target<'_>) -> Result<Sent, SendError> {
        if self.complete {
            return Ok(Sent {
                total: 0,
                file: 0,
                complete: true,
            });
        }
        let options = raw::SendOptions {
            headers: skip_bytes(&self.headers, self.sent_headers),
            trailers: skip_bytes(&self.trailers, self.sent_trailers),
            flags: self.flags,
            max_chunk: self.max_chunk,
        };
        let count = match self.count {
            Some(c) => raw::Count::AtMost(c - self.sent_file),
            None => raw::Count::ToEof,
        };
        let offset = self.offset + self.sent_file;
        // A file target is written positionally: a resumed transfer goes on
        // where it stopped, after what it wrote before.
        let target = target.after(self.sent().total);
        let call = if blocking {
            raw::blocking_send_file
        } else {
            raw::send_file
        };
        let result = call(
            &target.raw(),
            self.source.descriptor(),
            offset,
            count,
            &options,
        );
        let (total, file) = match &result {
            Ok(t) => (t.total, t.file),
            Err(e) => (e.total, e.file),
        };
        let headers = (total_len(&self.headers) - self.sent_headers).min(total);
        self.sent_headers += headers;
        self.sent_file += file;
        self.sent_trailers += total - headers - file;
        if let Source::Cursor(f) = &mut self.source {
            f.set_position(self.offset + self.sent_file);
        }
        match result {
            Ok(t) => {
                self.complete = t.complete;
                Ok(Sent {
                    total: t.total,
                    file: t.file,
                    complete: t.complete,
                })
            }
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_whole_and_partial_buffers() {
        let bufs = vec![b"ab".to_vec(), b"cde".to_vec(), b"f".to_vec()];
        assert_eq!(skip_bytes(&bufs, 0), bufs);
        assert_eq!(skip_bytes(&bufs, 3), vec![b"de".to_vec(), b"f".to_vec()]);
        assert_eq!(skip_bytes(&bufs, 6), Vec::<Vec<u8>>::new());
        assert_eq!(total_len(&bufs), 6);
    }
}

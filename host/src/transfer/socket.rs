//! File range to a connected socket: the headers with the first file chunk
//! (one `sendfile(2)` with `sf_hdtr` on FreeBSD; `sendmsg(2)`, with
//! `MSG_MORE` on Linux, then `sendfile(2)` elsewhere), the rest of the file
//! by `sendfile(2)`, trailers by one `sendmsg(2)` under the cork
//! (`TCP_CORK`, FreeBSD's `TCP_NOPUSH`) so they share segments with the
//! file's tail.
//!
//! The socket is non-blocking. When its buffer is full, a non-blocking
//! transfer stops and reports what went out; a blocking one waits for
//! writability on the async runtime (no host thread is held). Disk reads
//! never stall the runtime: a chunk whose pages are not all resident is sent
//! from a blocking-pool thread, where `sendfile` may wait for the disk.

use super::{Failure, Mode, Outcome, Progress, Request, check_no_disk_io, errors, with_unsent};
use crate::bindings::sendfile::ErrorCode;
use crate::sockets::{WriteEnd, Writer, lock};
use crate::sys;
use crate::sys::socket::{KernelFlags, Sent};
use rustix::fd::{AsFd, BorrowedFd};
use rustix::io::Errno;
use std::io;
use std::sync::{Arc, Mutex};
use tokio::io::Interest;
use tokio::net::TcpStream;

/// Largest buffer the copying fallback reads at once.
const FALLBACK_BUFFER: usize = 64 * 1024;

/// The socket side of a transfer.
pub(crate) struct SocketTarget {
    /// The connected socket.
    pub stream: Arc<TcpStream>,
    /// Its writing half, holding bytes the guest wrote that are not sent.
    pub writer: Arc<Mutex<Writer>>,
}

/// A piece of the file range to send.
#[derive(Debug, Clone, Copy)]
struct Chunk {
    /// Bytes to ask for (the file may end sooner).
    len: usize,
    /// Whether all its pages are in the page cache.
    resident: bool,
}

/// Whether `[pos, pos + len)` of `fd` is all in the page cache; an error
/// counts as not (the chunk then goes from a thread that may wait).
fn resident(fd: BorrowedFd<'_>, pos: u64, len: u64) -> bool {
    sys::cache::is_resident(fd, pos, len).unwrap_or(false)
}

/// Whether the last piece went out or the socket filled up first.
enum Step {
    Done,
    Full,
}

/// Sets `TCP_CORK` for its lifetime; clearing it pushes queued bytes out.
struct Cork<'a>(Option<BorrowedFd<'a>>);

impl<'a> Cork<'a> {
    fn new(fd: BorrowedFd<'a>, wanted: bool) -> Self {
        Cork((wanted && sys::socket::set_cork(fd, true).is_ok()).then_some(fd))
    }
}

impl Drop for Cork<'_> {
    fn drop(&mut self) {
        if let Some(fd) = self.0 {
            let _ = sys::socket::set_cork(fd, false);
        }
    }
}

fn end_code(end: WriteEnd) -> ErrorCode {
    match end {
        WriteEnd::Shutdown | WriteEnd::Closed => ErrorCode::BrokenPipe,
        WriteEnd::Failed(raw) => errors::code(Errno::from_raw_os_error(raw)),
    }
}

/// Sends `req` to `target`.
pub(crate) async fn send(req: &Request, target: &SocketTarget, mode: Mode) -> Outcome {
    let mut tx = Transfer {
        req,
        stream: &target.stream,
        mode,
        progress: Progress::default(),
    };
    // The guest's own writes to the output-stream go out first.
    {
        let mut w = lock(&target.writer);
        w.accepting().map_err(|e| tx.fail(end_code(e)))?;
        if mode == Mode::NonBlocking {
            w.try_flush().map_err(|e| tx.fail(end_code(e)))?;
            if w.has_pending() {
                return Err(tx.fail(ErrorCode::WouldBlock));
            }
        }
    }
    if mode == Mode::Blocking {
        Writer::flush(&target.writer)
            .await
            .map_err(|e| tx.fail(end_code(e)))?;
    }
    check_no_disk_io(req).map_err(|code| tx.fail(code))?;
    if let Some(outcome) = super::small::send(req, &target.stream, mode).await {
        return outcome;
    }

    // Headers go out with the first file chunk, in one backend call where
    // the kernel can (FreeBSD's `sf_hdtr`) and else with MSG_MORE; sendfile(2) holds
    // back a partial last segment until its range ends, so headers and file
    // share segments without a cork. The cork (two more system calls) is
    // only needed to keep trailers with the file's tail.
    let fd = target.stream.as_fd();
    let cork = Cork::new(fd, !req.trailers.is_empty());
    let mut step = tx.head_and_file().await?;
    if let Step::Done = step
        && tx.progress.file == 0
        && req.trailers.is_empty()
        && !req.headers.is_empty()
    {
        // The file shrank to nothing after the headers went out with
        // MSG_MORE: clearing the cork pushes them out now.
        let _ = sys::socket::set_cork(fd, false);
    }
    if let Step::Done = step {
        let before = tx.progress.total as usize;
        step = tx
            .buffers(
                &req.trailers,
                |tx| tx.progress.total as usize - before,
                false,
            )
            .await?;
    }
    drop(cork);
    drop_once_delivered(req, &tx.progress, target);
    tx.progress.complete = matches!(step, Step::Done);
    if tx.progress.total == 0 && !tx.progress.complete {
        return Err(tx.fail(ErrorCode::WouldBlock));
    }
    Ok(tx.progress)
}

/// `no-cache` to a socket: the pages just sent stay referenced until the
/// peer has them (the socket's queue until acknowledged; over loopback, the
/// peer's receive queue until read), and `POSIX_FADV_DONTNEED` skips pages
/// in use. So the range is dropped at once, and if any of it stays, again
/// by a background pass with growing pauses until none does (FreeBSD's
/// `SF_NOCACHE` frees pages when their transmission completes), for at
/// most [`LINGER`](crate::sockets::LINGER). The pass holds the file, never
/// the connection.
fn drop_once_delivered(req: &Request, progress: &Progress, target: &SocketTarget) {
    if !req.no_cache || progress.file == 0 {
        return;
    }
    let (source, offset, len) = (req.source.clone(), req.offset, progress.file);
    let dropped = move || {
        let fd = source.as_fd();
        if sys::cache::drop_range(fd, offset, len) == Err(Errno::NOSYS) {
            // This platform cannot drop pages: nothing to wait for.
            return true;
        }
        // An error (no way to tell) counts as done: the drop is best effort.
        !sys::cache::any_resident(fd, offset, len).unwrap_or(false)
    };
    if dropped() {
        return;
    }
    let in_flight = lock(&target.writer).in_flight();
    wasmtime_wasi::runtime::with_ambient_tokio_runtime(|| {
        drop(tokio::spawn(async move {
            let _in_flight = in_flight;
            let deadline = tokio::time::Instant::now() + crate::sockets::LINGER;
            let mut pause = std::time::Duration::from_millis(1);
            while tokio::time::Instant::now() < deadline {
                tokio::time::sleep(pause).await;
                if dropped() {
                    return;
                }
                pause = (pause * 2).min(std::time::Duration::from_millis(100));
            }
        }));
    });
}

struct Transfer<'a> {
    req: &'a Request,
    stream: &'a Arc<TcpStream>,
    mode: Mode,
    progress: Progress,
}

impl Transfer<'_> {
    fn fail(&self, code: ErrorCode) -> Failure {
        Failure {
            code,
            progress: self.progress,
        }
    }

    /// The socket is full (`EAGAIN`): whether to try again (after waiting).
    /// Readiness was already cleared by [`write_op`] for exactly the event
    /// it saw; clearing it again here could erase a newer one.
    async fn wait_writable(&self) -> bool {
        match self.mode {
            Mode::NonBlocking => false,
            Mode::Blocking => {
                // An error resurfaces from the next system call.
                let _ = self.stream.writable().await;
                true
            }
        }
    }

    /// Sends what is left of `bufs` (the headers or the trailers), one
    /// `sendmsg(2)` per try; `sent` says how many of their bytes went
    /// already, and `more` whether anything follows them.
    async fn buffers(
        &mut self,
        bufs: &[Vec<u8>],
        sent: impl Fn(&Self) -> usize,
        more: bool,
    ) -> Result<Step, Failure> {
        let fd = self.stream.as_fd();
        let len: usize = bufs.iter().map(Vec::len).sum();
        while sent(self) < len {
            let parts = bufs.iter().map(Vec::as_slice);
            match with_unsent(parts, sent(self), |slices| {
                write_op(self.stream, || sys::socket::send_vectored(fd, slices, more))
            }) {
                Ok(n) => self.progress.add_buffer(n),
                Err(Errno::AGAIN) => {
                    if !self.wait_writable().await {
                        return Ok(Step::Full);
                    }
                }
                Err(Errno::INTR) => {}
                Err(e) => return Err(self.fail(errors::code(e))),
            }
        }
        Ok(Step::Done)
    }

    /// Header bytes sent so far (trailers go only after every header byte
    /// and file byte).
    fn head_sent(&self) -> usize {
        (self.progress.total - self.progress.file) as usize
    }

    /// Header bytes not sent yet.
    fn head_left(&self) -> usize {
        self.req.headers.iter().map(Vec::len).sum::<usize>() - self.head_sent()
    }

    /// Sends the headers and the file range. The headers ride with the
    /// first file chunk in one backend call; they go alone first when no
    /// file byte follows, when that chunk is read from a thread that may
    /// wait for the disk, when the file is copied, and when a combined call
    /// sent nothing.
    async fn head_and_file(&mut self) -> Result<Step, Failure> {
        let mut size = self.req.size;
        let mut copying = !self.req.zero_copy;
        self.progress.used_fallback = copying;
        let mut headers_alone = false;
        loop {
            let want = self.req.chunk(self.progress.file);
            let pos = self.req.offset + self.progress.file;
            let chunk = match want {
                0 => None,
                _ => self
                    .next_chunk(pos, want, &mut size)
                    .map_err(|e| self.fail(errors::code(e)))?,
            };
            let head_left = self.head_left();
            let Some(chunk) = chunk else {
                return self.headers(!self.req.trailers.is_empty()).await;
            };
            if head_left > 0
                && (copying || !chunk.resident || headers_alone)
                && let Step::Full = self.headers(true).await?
            {
                return Ok(Step::Full);
            }
            let result = if copying {
                self.copy_chunk(pos, chunk.len, size)
            } else {
                self.sendfile_chunk(pos, chunk).await
            };
            match result {
                Ok(Sent { head: 0, file: 0 }) if self.head_left() == 0 => return Ok(Step::Done),
                Ok(Sent { head: 0, file: 0 }) => headers_alone = true,
                Ok(sent) => {
                    self.progress.add_buffer(sent.head);
                    if sent.file > 0 {
                        self.progress.add_file(sent.file, copying);
                        if self.mode == Mode::Blocking {
                            // One chunk at a time: let other connections run.
                            tokio::task::yield_now().await;
                        }
                    }
                }
                Err(Errno::AGAIN) => {
                    if !self.wait_writable().await {
                        return Ok(Step::Full);
                    }
                }
                Err(Errno::INTR) => {}
                Err(e) if !copying && self.progress.file == 0 && errors::refuses_zero_copy(e) => {
                    copying = true;
                    self.progress.used_fallback = true;
                }
                Err(e) => return Err(self.fail(errors::code(e))),
            }
        }
    }

    /// Sends the headers not sent yet; `more`: whether anything follows.
    async fn headers(&mut self, more: bool) -> Result<Step, Failure> {
        self.buffers(&self.req.headers, Self::head_sent, more).await
    }

    /// The next chunk at `pos`, of at most `want` bytes clipped to the end of
    /// the file; `None` at the end.
    ///
    /// With the size unknown, a range whose pages are all cached goes as
    /// asked: `sendfile(2)` stops at the end by itself, and the next chunk
    /// finds it. Otherwise, and at the end as last seen, the size is looked
    /// up (the file may have grown or shrunk since).
    fn next_chunk(
        &self,
        pos: u64,
        want: u64,
        size: &mut Option<u64>,
    ) -> Result<Option<Chunk>, Errno> {
        let src = self.req.source.as_fd();
        if size.is_none() && resident(src, pos, want) {
            return Ok(Some(Chunk {
                len: want as usize,
                resident: true,
            }));
        }
        let known = match *size {
            Some(known) if pos < known => known,
            _ => {
                let now = sys::file::info(src)?.size;
                *size = Some(now);
                now
            }
        };
        if pos >= known {
            return Ok(None);
        }
        let len = want.min(known - pos);
        Ok(Some(Chunk {
            len: len as usize,
            resident: resident(src, pos, len),
        }))
    }

    /// One backend `sendfile` of `chunk` at `pos`, with the headers not
    /// sent yet when its pages are all in the page cache; on a
    /// blocking-pool thread, and without headers (the caller sent them),
    /// when they are not.
    async fn sendfile_chunk(&self, pos: u64, chunk: Chunk) -> Result<Sent, Errno> {
        let src = self.req.source.as_fd();
        let flags = KernelFlags {
            no_disk_io: self.req.no_disk_io,
            no_cache: self.req.no_cache,
        };
        let len = chunk.len;
        if chunk.resident {
            let sock = self.stream.as_fd();
            let headers = self.req.headers.iter().map(Vec::as_slice);
            return with_unsent(headers, self.head_sent(), |head| {
                write_op(self.stream, || {
                    sys::socket::sendfile(sock, head, src, pos, len, flags)
                })
            });
        }
        let file = self.req.source.clone();
        let stream = self.stream.clone();
        wasmtime_wasi::runtime::spawn_blocking(move || {
            let sock = stream.as_fd();
            write_op(&stream, || {
                sys::socket::sendfile(sock, &[], file.as_fd(), pos, len, flags)
            })
        })
        .await
    }

    /// The copying path (for descriptor pairs `sendfile` refuses, or with
    /// zero-copy off): `pread` into a bounded buffer, then `send`. Bytes read
    /// but not taken by the socket are read again next time. `MSG_MORE` only
    /// when more is known to follow (`size`: the file's size, if known), so
    /// the last piece is never held back waiting for bytes that do not come.
    fn copy_chunk(&self, pos: u64, len: usize, size: Option<u64>) -> Result<Sent, Errno> {
        let mut buf = vec![0u8; len.min(FALLBACK_BUFFER)];
        let n = sys::file::pread(self.req.source.as_fd(), &mut buf, pos)?;
        if n == 0 {
            return Ok(Sent::default());
        }
        let end = pos + n as u64;
        let file_follows = self.req.remaining(self.progress.file + n as u64) > 0
            && size.is_some_and(|size| end < size);
        let more = file_follows || !self.req.trailers.is_empty();
        let sock = self.stream.as_fd();
        let file = write_op(self.stream, || sys::socket::send(sock, &buf[..n], more))?;
        Ok(Sent { head: 0, file })
    }
}

/// Runs a write system call on the socket keeping tokio's readiness right.
///
/// Through `try_io`, an `EAGAIN` clears only the readiness tokio had seen
/// before the call, so a writability edge that arrives meanwhile is not lost
/// (with edge-triggered epoll, losing it would stall the transfer for good).
/// When tokio already believes the socket is not writable it does not run
/// the call; then it runs directly, so a stale belief never turns into a
/// spurious `would-block`.
pub(super) fn write_op<T>(
    stream: &TcpStream,
    mut op: impl FnMut() -> Result<T, Errno>,
) -> Result<T, Errno> {
    let mut ran = false;
    let result = stream.try_io(Interest::WRITABLE, || {
        ran = true;
        op().map_err(io::Error::from)
    });
    match result {
        Ok(v) => Ok(v),
        Err(_) if !ran => op(),
        // tokio replaces the closure's EAGAIN with an error of its own kind.
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Err(Errno::AGAIN),
        Err(e) => Err(Errno::from_io_error(&e).unwrap_or(Errno::IO)),
    }
}

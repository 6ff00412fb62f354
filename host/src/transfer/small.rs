//! Small ranges to a socket: read, and sent with the headers and trailers
//! in one write.
//!
//! For a few pages, the zero-copy path costs more than the copy it saves:
//! `send` of the headers with `MSG_MORE`, a page-cache check, then
//! `sendfile(2)`, whose pipe machinery dominates at this size. A range of
//! at most [`SMALL_RANGE`] bytes whose pages are all in the page cache is
//! instead read with `preadv2(RWF_NOWAIT)` (which never waits for the disk)
//! and sent in one `sendmsg(2)` with the headers and trailers (lighttpd
//! does the same below 16 KiB). The semantics are those of the zero-copy
//! path: the same bytes, counts and partial sends. The metrics count these
//! file bytes as `small_copy_bytes`, not `zero_copy_bytes`.
//!
//! Anything else takes the zero-copy path, before a byte is sent: a larger
//! range, pages not cached, `no-cache`, zero-copy turned off, a `max-chunk`
//! below the range, many headers and trailers.

use super::socket::write_op;
use super::{Failure, Mode, Outcome, Progress, Request, errors, with_unsent};
use crate::bindings::sendfile::ErrorCode;
use crate::sys;
use rustix::fd::AsFd;
use rustix::io::Errno;
use std::cell::Cell;
use tokio::net::TcpStream;

/// Largest file range sent this way.
pub(crate) const SMALL_RANGE: u64 = 16 * 1024;

/// Most headers and trailers together (each is one `iovec`).
const MAX_BUFFERS: usize = 64;

thread_local! {
    /// The buffer small ranges are read into, one per host thread, kept
    /// across calls (at most [`SMALL_RANGE`] bytes) so a call allocates
    /// nothing. A call takes it out while it runs, so a call that waits
    /// (and may resume on another thread) never shares it.
    static BUFFER: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// Sends `req` to `stream` this way: `Some(outcome)`, or `None` when the
/// request must take the zero-copy path (nothing was sent).
pub(super) async fn send(req: &Request, stream: &TcpStream, mode: Mode) -> Option<Outcome> {
    let mut buffer = BUFFER.take();
    let outcome = match read_cached(req, &mut buffer) {
        Some(n) => Some(send_read(req, &buffer[..n], stream, mode).await),
        None => None,
    };
    BUFFER.set(buffer);
    outcome
}

/// Sends the headers, `data` (the range, read) and the trailers of `req`.
async fn send_read(req: &Request, data: &[u8], stream: &TcpStream, mode: Mode) -> Outcome {
    let lengths = |bufs: &[Vec<u8>]| bufs.iter().map(Vec::len).sum::<usize>();
    let header_len = lengths(&req.headers);
    let len = header_len + data.len() + lengths(&req.trailers);
    let progress = |sent: usize| {
        let file = sent.saturating_sub(header_len).min(data.len()) as u64;
        Progress {
            total: sent as u64,
            file,
            small: file,
            complete: sent == len,
            ..Progress::default()
        }
    };
    let fd = stream.as_fd();
    let mut sent = 0;
    while sent < len {
        let parts = (req.headers.iter().map(Vec::as_slice))
            .chain([data])
            .chain(req.trailers.iter().map(Vec::as_slice));
        let result = with_unsent(parts, sent, |slices| {
            write_op(stream, || sys::socket::send_vectored(fd, slices, false))
        });
        match result {
            Ok(n) => sent += n,
            Err(Errno::AGAIN) if mode == Mode::Blocking => {
                // An error resurfaces from the next system call.
                let _ = stream.writable().await;
            }
            Err(Errno::AGAIN) => break,
            Err(Errno::INTR) => {}
            Err(e) => {
                return Err(Failure {
                    code: errors::code(e),
                    progress: progress(sent),
                });
            }
        }
    }
    if sent == 0 && len > 0 {
        return Err(Failure {
            code: ErrorCode::WouldBlock,
            progress: progress(0),
        });
    }
    Ok(progress(sent))
}

/// Reads the request's file range from the page cache into the start of
/// `buffer` (grown as needed), if it is small and all cached (or ends at
/// the end of the file); how many bytes that is.
fn read_cached(req: &Request, buffer: &mut Vec<u8>) -> Option<usize> {
    if !req.zero_copy || req.no_cache || req.headers.len() + req.trailers.len() >= MAX_BUFFERS {
        return None;
    }
    // To the end of the file: the size checked at the call may be stale,
    // so read up to the limit and take the bytes only if they end where
    // the file ends now (a file that grew takes the zero-copy path, which
    // follows the end).
    let limit = SMALL_RANGE.min(req.max_chunk);
    let (want, to_eof) = match (req.count, req.size) {
        (Some(count), _) => (count, false),
        (None, Some(size)) => (size.saturating_sub(req.offset), true),
        (None, None) => return None,
    };
    if want == 0 || want > limit {
        return None;
    }
    let fd = req.source.as_fd();
    let len = if to_eof { limit } else { want } as usize;
    if buffer.len() < len {
        // Zeroed once; later reads overwrite it, and only the bytes a read
        // returns are ever sent.
        buffer.resize(len, 0);
    }
    let n = sys::file::pread_cached(fd, &mut buffer[..len], req.offset).ok()?;
    if n == 0 {
        return None;
    }
    if to_eof || (n as u64) < want {
        // Short, or to the end: only the end of the file may stop it (not
        // pages missing from the cache).
        let size = sys::file::info(fd).ok()?.size;
        if req.offset + n as u64 != size {
            return None;
        }
    }
    Some(n)
}

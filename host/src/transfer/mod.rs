//! The transfer engine: moves headers, a file range and trailers to a
//! socket ([`socket`]) or a file ([`file`]) with the semantics of
//! `wit/sendfile.wit`, and accounts for every byte.
//!
//! It works on OS handles already checked by [`crate::p2::sendfile`]
//! (resources looked up, permissions and policy enforced); the system calls
//! themselves are in [`crate::sys`].

pub(crate) mod errors;
pub(crate) mod file;
pub(crate) mod small;
pub(crate) mod socket;

use crate::bindings::sendfile::ErrorCode;
use std::fs::File;
use std::io::IoSlice;
use std::sync::Arc;

/// Whether a socket transfer waits when the socket's buffer is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `send-file`: return what was sent so far.
    NonBlocking,
    /// `blocking-send-file`: wait (asynchronously) and go on.
    Blocking,
}

/// A validated request.
pub(crate) struct Request {
    /// The source file, kept alive across the transfer even if the guest
    /// drops its handle meanwhile.
    pub source: Arc<File>,
    /// The source's size when the call was checked, if it was looked up
    /// (for to-EOF and `no-disk-io` requests); a transfer that gets there
    /// looks again (the file may have grown). Unknown, a transfer looks it up
    /// only when it must: `sendfile(2)` stops at the end by itself.
    pub size: Option<u64>,
    /// First byte of the file range.
    pub offset: u64,
    /// Most file bytes to send; `None`: up to the end of the file.
    pub count: Option<u64>,
    /// Buffers sent before the file range.
    pub headers: Vec<Vec<u8>>,
    /// Buffers sent after the file range.
    pub trailers: Vec<Vec<u8>>,
    /// Fail with `busy` instead of reading from disk.
    pub no_disk_io: bool,
    /// Drop the sent range from the page cache afterwards.
    pub no_cache: bool,
    /// Most file bytes per system call.
    pub max_chunk: u64,
    /// Whether to try zero-copy system calls; if not, copy through a buffer
    /// from the start (see [`crate::Policy::zero_copy`]).
    pub zero_copy: bool,
}

impl Request {
    /// File bytes still wanted after `sent` of them went out.
    fn remaining(&self, sent: u64) -> u64 {
        self.count.map_or(u64::MAX, |c| c - sent)
    }

    /// Bytes the next system call should move (before clipping to EOF).
    fn chunk(&self, sent: u64) -> u64 {
        self.remaining(sent)
            .min(self.max_chunk)
            .min(crate::sys::MAX_RW_COUNT)
    }
}

/// What a transfer moved so far.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Progress {
    /// Bytes written: headers, file bytes, trailers.
    pub total: u64,
    /// File bytes written.
    pub file: u64,
    /// File bytes that went through the copying fallback.
    pub fallback: u64,
    /// File bytes of a small range read and sent with the headers
    /// ([`small`]).
    pub small: u64,
    /// Whether the fallback was used.
    pub used_fallback: bool,
    /// Whether everything asked was sent.
    pub complete: bool,
}

impl Progress {
    fn add_buffer(&mut self, n: usize) {
        self.total += n as u64;
    }

    fn add_file(&mut self, n: usize, copied: bool) {
        self.total += n as u64;
        self.file += n as u64;
        if copied {
            self.fallback += n as u64;
        }
    }
}

/// A failed transfer: the code and what went out before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Failure {
    pub code: ErrorCode,
    pub progress: Progress,
}

/// The outcome of a transfer.
pub(crate) type Outcome = Result<Progress, Failure>;

/// Which range of the source the page-cache checks look at: the file bytes
/// the request wants, clipped to the file's current size.
fn wanted_range(req: &Request, size: u64) -> (u64, u64) {
    let available = size.saturating_sub(req.offset);
    (
        req.offset,
        req.count.map_or(available, |c| c.min(available)),
    )
}

/// The source's size: as checked, else looked up now.
fn size_now(req: &Request) -> Result<u64, ErrorCode> {
    use rustix::fd::AsFd;
    match req.size {
        Some(size) => Ok(size),
        None => crate::sys::file::info(req.source.as_fd())
            .map(|info| info.size)
            .map_err(errors::code),
    }
}

/// FreeBSD `SF_NODISKIO`: `busy` unless the whole wanted range is resident.
fn check_no_disk_io(req: &Request) -> Result<(), ErrorCode> {
    use rustix::fd::AsFd;
    if !req.no_disk_io {
        return Ok(());
    }
    let fd = req.source.as_fd();
    let (offset, len) = wanted_range(req, size_now(req)?);
    match crate::sys::cache::is_resident(fd, offset, len) {
        Ok(true) => Ok(()),
        Ok(false) => Err(ErrorCode::Busy),
        Err(e) => Err(errors::code(e)),
    }
}

/// `no-cache` to a file: drop the sent range from the page cache (best
/// effort; sockets wait for the peer first, see [`socket`]).
fn drop_sent_range(req: &Request, progress: &Progress) {
    use rustix::fd::AsFd;
    if req.no_cache {
        let _ = crate::sys::cache::drop_range(req.source.as_fd(), req.offset, progress.file);
    }
}

/// Most `iovec`s [`with_unsent`] builds on the stack; longer lists (rare:
/// many headers and trailers) are collected on the heap.
const IOVECS_ON_STACK: usize = 8;

/// Calls `write` with what of `parts` is left after the first `sent`
/// bytes, as `iovec`s for one vectored write (empty parts skipped), and
/// returns what it returns. Built on the stack for a few parts, so the
/// common call (a head and a body, or one of them) allocates nothing.
pub(crate) fn with_unsent<'a, R>(
    parts: impl IntoIterator<Item = &'a [u8]>,
    sent: usize,
    write: impl FnOnce(&[IoSlice<'a>]) -> R,
) -> R {
    let mut skip = sent;
    let mut left = parts.into_iter().filter_map(|part| {
        if skip >= part.len() {
            skip -= part.len();
            return None;
        }
        let rest = &part[skip..];
        skip = 0;
        Some(IoSlice::new(rest))
    });
    let mut stack = [IoSlice::new(&[]); IOVECS_ON_STACK];
    let mut n = 0;
    while n < IOVECS_ON_STACK {
        match left.next() {
            Some(slice) => stack[n] = slice,
            None => return write(&stack[..n]),
        }
        n += 1;
    }
    match left.next() {
        None => write(&stack),
        Some(slice) => {
            let mut all = stack.to_vec();
            all.push(slice);
            all.extend(left);
            write(&all)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsent_skips_what_went_out() {
        let parts: [&[u8]; 3] = [b"head", b"", b"body"];
        let left = |sent| with_unsent(parts, sent, strings);
        assert_eq!(left(0), ["head", "body"]);
        assert_eq!(left(2), ["ad", "body"]);
        assert_eq!(left(4), ["body"]);
        assert_eq!(left(7), ["y"]);
        assert!(left(8).is_empty());
    }

    fn strings(slices: &[IoSlice<'_>]) -> Vec<String> {
        slices
            .iter()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect()
    }

    #[test]
    fn unsent_goes_past_the_stack_array_in_order() {
        let owned: Vec<String> = (0..2 * IOVECS_ON_STACK + 3)
            .map(|i| i.to_string())
            .collect();
        let parts = owned.iter().map(|s| s.as_bytes());
        let all = with_unsent(parts.clone(), 0, strings);
        assert_eq!(all, owned);
        for boundary in [IOVECS_ON_STACK - 1, IOVECS_ON_STACK, IOVECS_ON_STACK + 1] {
            let sent: usize = owned[..boundary].iter().map(String::len).sum();
            assert_eq!(with_unsent(parts.clone(), sent, strings), owned[boundary..]);
        }
        assert!(with_unsent(parts, usize::MAX, strings).is_empty());
    }
}

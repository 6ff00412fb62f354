//! The Linux backend: `sendfile(2)` (headers before it by `sendmsg(2)` with
//! `MSG_MORE`, so they share segments with the file), `TCP_CORK`,
//! `copy_file_range(2)`, `preadv2(RWF_NOWAIT)`, and `cachestat(2)` (6.5+, else
//! `mincore(2)`).
//!
//! # References
//! - `sendfile(2)`: <https://man7.org/linux/man-pages/man2/sendfile.2.html>
//! - `tcp(7)` (`TCP_CORK`): <https://man7.org/linux/man-pages/man7/tcp.7.html>
//! - `copy_file_range(2)`: <https://man7.org/linux/man-pages/man2/copy_file_range.2.html>
//! - `preadv2(2)` (`RWF_NOWAIT`): <https://man7.org/linux/man-pages/man2/preadv2.2.html>
//! - `cachestat(2)`: <https://man7.org/linux/man-pages/man2/cachestat.2.html>

use super::cache::{last_errno, mincore_count};
use super::file::without_size_signal;
use super::socket::{KernelFlags, Sent, headers_then, without_pipe_signal};
use super::{Backend, signals};
use rustix::fd::{AsRawFd, BorrowedFd};
use rustix::io::Errno;
use rustix::net::SendFlags;
use std::io::IoSlice;
use std::sync::atomic::{AtomicBool, Ordering};

pub(super) const BACKEND: Backend = Backend::Linux;

/// Never block, never raise `SIGPIPE`; `MSG_MORE` when more follows.
pub(super) fn send_flags(more: bool) -> SendFlags {
    let flags = SendFlags::NOSIGNAL | SendFlags::DONTWAIT;
    if more { flags | SendFlags::MORE } else { flags }
}

/// Sends `head`, then up to `len` (> 0) bytes of `file` from `offset`, to
/// `socket`: the headers by one `sendmsg(2)` with `MSG_MORE`, the file by
/// `sendfile(out, in, &offset, len)`, which neither uses nor moves the
/// file's own position. Stops at the first short or failed call; an error
/// after some bytes went is reported by the next call. `flags` are the
/// engine's to enforce on Linux.
///
/// `SIGPIPE`, which `sendfile` raises when the peer has gone, is kept from
/// the process: see [`signals`].
pub(crate) fn sendfile(
    socket: BorrowedFd<'_>,
    head: &[IoSlice<'_>],
    file: BorrowedFd<'_>,
    offset: u64,
    len: usize,
    _flags: KernelFlags,
) -> Result<Sent, Errno> {
    headers_then(socket, head, || {
        signals::guard_write_signals();
        let mut offset = offset;
        without_pipe_signal(rustix::fs::sendfile(socket, file, Some(&mut offset), len))
    })
}

/// Sets or clears `TCP_CORK`: while set, the kernel sends only full
/// segments, so headers, file bytes and trailers share segments; clearing
/// it pushes out whatever is queued.
pub(crate) fn set_cork(socket: BorrowedFd<'_>, on: bool) -> Result<(), Errno> {
    rustix::net::sockopt::set_tcp_cork(socket, on)
}

/// `copy_file_range(in, &off_in, out, &off_out, len, 0)`: both offsets are
/// explicit and advanced by the bytes copied; neither file's position moves.
/// Returns 0 at the end of the input.
pub(crate) fn copy_range(
    input: BorrowedFd<'_>,
    off_in: &mut u64,
    output: BorrowedFd<'_>,
    off_out: &mut u64,
    len: usize,
) -> Result<usize, Errno> {
    signals::guard_write_signals();
    without_size_signal(rustix::fs::copy_file_range(
        input,
        Some(off_in),
        output,
        Some(off_out),
        len,
    ))
}

/// `preadv2(2)` with `RWF_NOWAIT`: reads into `buf` at `offset` only what
/// is in the page cache, never waiting for the disk; `EAGAIN` when the
/// first page is not cached. Returns 0 at the end of the file.
pub(crate) fn pread_cached(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    offset: u64,
) -> Result<usize, Errno> {
    use rustix::io::{IoSliceMut, ReadWriteFlags, preadv2};
    preadv2(
        fd,
        &mut [IoSliceMut::new(buf)],
        offset,
        ReadWriteFlags::NOWAIT,
    )
}

/// `cachestat` is 451 in the unified syscall table of every architecture.
const SYS_CACHESTAT: libc::c_long = 451;

/// `struct cachestat_range` from `<linux/mman.h>`.
#[repr(C)]
struct CachestatRange {
    off: u64,
    len: u64,
}

/// `struct cachestat` from `<linux/mman.h>`.
#[repr(C)]
#[derive(Default)]
struct Cachestat {
    nr_cache: u64,
    nr_dirty: u64,
    nr_writeback: u64,
    nr_evicted: u64,
    nr_recently_evicted: u64,
}

/// Set once `cachestat` answers `ENOSYS`, so later calls go straight to
/// `mincore`.
static NO_CACHESTAT: AtomicBool = AtomicBool::new(false);

/// Resident pages of the `pages` pages of `fd` from `off` (page-aligned):
/// `cachestat(2)`, or `mincore(2)` on kernels before 6.5.
pub(super) fn cached_pages(fd: BorrowedFd<'_>, off: u64, pages: u64) -> Result<u64, Errno> {
    if !NO_CACHESTAT.load(Ordering::Relaxed) {
        let len = pages * super::cache::page_size();
        match cachestat(fd, off, len) {
            Ok(cached) => return Ok(cached),
            Err(Errno::NOSYS) => NO_CACHESTAT.store(true, Ordering::Relaxed),
            Err(e) => return Err(e),
        }
    }
    mincore_count(fd, off, pages)
}

/// Pages of `[off, off + len)` in the page cache, by `cachestat(2)`.
fn cachestat(fd: BorrowedFd<'_>, off: u64, len: u64) -> Result<u64, Errno> {
    let range = CachestatRange { off, len };
    let mut stat = Cachestat::default();
    // SAFETY: cachestat(2) reads `*cstat_range` and writes `*cstat`, both
    // valid, properly aligned `#[repr(C)]` structs of the kernel's layout that
    // outlive the call; flags "must be set to 0". `fd` is a live descriptor
    // borrowed for the duration of the call.
    let ret = unsafe {
        libc::syscall(
            SYS_CACHESTAT,
            fd.as_raw_fd(),
            &range as *const CachestatRange,
            &mut stat as *mut Cachestat,
            0u32,
        )
    };
    if ret == 0 {
        Ok(stat.nr_cache)
    } else {
        Err(last_errno())
    }
}

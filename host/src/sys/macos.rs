//! The macOS backend: `sendfile(2)` with its value-result `len`, the
//! headers just before it by `sendmsg(2)`; `mincore(2)`. File targets take
//! the engine's copying path (macOS has no `copy_file_range`); `no-cache`
//! is not taken (no `posix_fadvise`); there is no cork. The plain logic
//! (counts, errors) is in [`super::sf_hdtr`], which says why the headers
//! are not in `sf_hdtr`. macOS's `sendfile` copies the file's pages into
//! socket buffers inside the kernel: no copy through user space, but not
//! the page-sharing zero-copy of Linux and FreeBSD.
//!
//! Compile-checked in CI, not run: the tests run on Linux.
//!
//! # References
//! - `sendfile(2)`: <https://github.com/apple-oss-distributions/xnu/blob/main/bsd/man/man2/sendfile.2>

use super::cache::{last_errno, mincore_count};
use super::sf_hdtr;
use super::socket::{KernelFlags, Sent, headers_then, without_pipe_signal};
use super::{Backend, signals};
use rustix::fd::{AsRawFd, BorrowedFd};
use rustix::io::Errno;
use rustix::net::SendFlags;
use std::io::IoSlice;

pub(super) const BACKEND: Backend = Backend::MacOs;

/// Never block (macOS has neither `MSG_NOSIGNAL`, the sockets have
/// `SO_NOSIGPIPE` instead, see [`super::socket::prepare`], nor `MSG_MORE`).
pub(super) fn send_flags(_more: bool) -> SendFlags {
    SendFlags::DONTWAIT
}

/// Sends `head` by `sendmsg(2)`, then up to `len` bytes of `file` from
/// `offset` by `sendfile(fd, s, offset, &len, NULL, 0)` (`len` 0: none;
/// to macOS it would mean "to the end of the file"). macOS has no flags:
/// `no-disk-io` and `no-cache` are the engine's. `sendfile` never uses or
/// moves the file's position.
pub(crate) fn sendfile(
    socket: BorrowedFd<'_>,
    head: &[IoSlice<'_>],
    file: BorrowedFd<'_>,
    offset: u64,
    len: usize,
    _flags: KernelFlags,
) -> Result<Sent, Errno> {
    let offset = libc::off_t::try_from(offset).map_err(|_| Errno::INVAL)?;
    headers_then(socket, head, || {
        if len == 0 {
            return Ok(0);
        }
        let mut io_len = libc::off_t::try_from(len).map_err(|_| Errno::INVAL)?;
        signals::guard_write_signals();
        // SAFETY: `file` and `socket` are live descriptors borrowed for
        // the call; no `sf_hdtr` (NULL); `io_len` is a valid `off_t` the
        // kernel reads and overwrites with the bytes sent.
        let ret = unsafe {
            libc::sendfile(
                file.as_raw_fd(),
                socket.as_raw_fd(),
                offset,
                &mut io_len,
                std::ptr::null_mut(),
                0,
            )
        };
        let errno = if ret == 0 { Errno::AGAIN } else { last_errno() };
        let total = u64::try_from(io_len).unwrap_or(0);
        let sent = sf_hdtr::outcome(ret, errno, total, 0, len);
        without_pipe_signal(sent.map(|s| s.file))
    })
}

/// No cork: clearing macOS's `TCP_NOPUSH` does not push out what it held,
/// so a last partial segment would wait for the next acknowledgement.
pub(crate) fn set_cork(_socket: BorrowedFd<'_>, _on: bool) -> Result<(), Errno> {
    Err(Errno::NOSYS)
}

/// Resident pages of the `pages` pages of `fd` from `off`, by `mincore(2)`.
pub(super) fn cached_pages(fd: BorrowedFd<'_>, off: u64, pages: u64) -> Result<u64, Errno> {
    mincore_count(fd, off, pages)
}

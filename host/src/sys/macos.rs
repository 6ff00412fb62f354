//! The macOS backend: `sendfile(2)` with the headers in `sf_hdtr` and its
//! value-result `len`; `TCP_NOPUSH`; `mincore(2)`. File targets take the
//! engine's copying path (macOS has no `copy_file_range`), and `no-cache`
//! is not taken (no `posix_fadvise`). The plain logic (lengths, counts,
//! errors) is in [`super::sf_hdtr`].
//!
//! Compile-checked in CI, not run: the tests run on Linux.
//!
//! # References
//! - `sendfile(2)`: <https://github.com/apple-oss-distributions/xnu/blob/main/bsd/man/man2/sendfile.2>

use super::Backend;
use super::cache::mincore_count;
use super::sf_hdtr;
use super::socket::{KernelFlags, Sent};
use rustix::fd::{AsRawFd, BorrowedFd};
use rustix::io::Errno;
use rustix::net::SendFlags;
use std::io::IoSlice;

pub(super) const BACKEND: Backend = Backend::MacOs;

pub(crate) use super::socket::set_nopush as set_cork;

/// Never block (macOS has neither `MSG_NOSIGNAL`, see [`signals`], nor
/// `MSG_MORE`: the cork and `sf_hdtr` keep segments full instead).
pub(super) fn send_flags(_more: bool) -> SendFlags {
    SendFlags::DONTWAIT
}

/// Sends `head`, then up to `len` bytes of `file` from `offset`, to
/// `socket`, in one `sendfile(2)` with the headers in `sf_hdtr` (`len` 0
/// sends the headers alone, by `sendmsg`). macOS has no flags: `no-disk-io`
/// and `no-cache` are the engine's. `sendfile` never uses or moves the
/// file's position.
pub(crate) fn sendfile(
    socket: BorrowedFd<'_>,
    head: &[IoSlice<'_>],
    file: BorrowedFd<'_>,
    offset: u64,
    len: usize,
    _flags: KernelFlags,
) -> Result<Sent, Errno> {
    let head_len: usize = head.iter().map(|h| h.len()).sum();
    let offset = libc::off_t::try_from(offset).map_err(|_| Errno::INVAL)?;
    sf_hdtr::send_with_headers(socket, head, len, |hdtr| {
        // `len` > 0 here; a sum past `off_t` asks for at most `off_t::MAX`.
        let mut io_len = sf_hdtr::macos_len(head_len, len).unwrap_or(libc::off_t::MAX);
        // SAFETY: `file` and `socket` are live descriptors borrowed for
        // the call. `hdtr` is null or points to an `sf_hdtr` whose headers
        // are `iovec`s that outlive the call and are only read, with no
        // trailers. `io_len` is a valid `off_t` the kernel reads and
        // overwrites with the bytes sent.
        let ret = unsafe {
            libc::sendfile(
                file.as_raw_fd(),
                socket.as_raw_fd(),
                offset,
                &mut io_len,
                hdtr,
                0,
            )
        };
        (ret, io_len)
    })
}

/// Resident pages of the `pages` pages of `fd` from `off`, by `mincore(2)`.
pub(super) fn cached_pages(fd: BorrowedFd<'_>, off: u64, pages: u64) -> Result<u64, Errno> {
    mincore_count(fd, off, pages)
}

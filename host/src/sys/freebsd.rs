//! The FreeBSD backend: `sendfile(2)` with the headers in `sf_hdtr`,
//! `SF_NODISKIO` and `SF_NOCACHE`, and its partial count in `sbytes`;
//! `TCP_NOPUSH`; `copy_file_range(2)` (FreeBSD 13+); and
//! `mincore(2)`. The plain logic (flags, counts, errors) is in
//! [`super::sf_hdtr`].
//!
//! Compile-checked in CI, not run: the tests run on Linux.
//!
//! # References
//! - `sendfile(2)`: <https://man.freebsd.org/cgi/man.cgi?query=sendfile&sektion=2>
//! - `tcp(4)` (`TCP_NOPUSH`): <https://man.freebsd.org/cgi/man.cgi?query=tcp&sektion=4>
//! - `copy_file_range(2)`: <https://man.freebsd.org/cgi/man.cgi?query=copy_file_range&sektion=2>

use super::cache::{last_errno, mincore_count};
use super::file::without_size_signal;
use super::sf_hdtr;
use super::socket::{KernelFlags, Sent};
use super::{Backend, signals};
use rustix::fd::{AsRawFd, BorrowedFd};
use rustix::io::Errno;
use rustix::net::SendFlags;
use std::io::IoSlice;

pub(super) const BACKEND: Backend = Backend::FreeBsd;

const _: () = assert!(sf_hdtr::SF_NODISKIO == libc::SF_NODISKIO);
const _: () = assert!(sf_hdtr::SF_NOCACHE == libc::SF_NOCACHE);

/// Never block, never raise `SIGPIPE` (FreeBSD has no `MSG_MORE`: the cork
/// and `sf_hdtr` keep segments full instead).
pub(super) fn send_flags(_more: bool) -> SendFlags {
    SendFlags::NOSIGNAL | SendFlags::DONTWAIT
}

/// Sends `head`, then up to `len` bytes of `file` from `offset`, to
/// `socket`, in one `sendfile(2)` with the headers in `sf_hdtr` (`len` 0
/// sends the headers alone, by `sendmsg`). `flags` become `SF_NODISKIO` and
/// `SF_NOCACHE`. `sendfile` never uses or moves the file's position.
pub(crate) fn sendfile(
    socket: BorrowedFd<'_>,
    head: &[IoSlice<'_>],
    file: BorrowedFd<'_>,
    offset: u64,
    len: usize,
    flags: KernelFlags,
) -> Result<Sent, Errno> {
    let offset = libc::off_t::try_from(offset).map_err(|_| Errno::INVAL)?;
    sf_hdtr::send_with_headers(socket, head, len, |hdtr| {
        let nbytes = sf_hdtr::freebsd_nbytes(len).unwrap_or(len);
        let mut sbytes: libc::off_t = 0;
        // SAFETY: `file` and `socket` are live descriptors borrowed for
        // the call. `hdtr` is null or points to an `sf_hdtr` whose headers
        // are `iovec`s that outlive the call and are only read, with no
        // trailers. `sbytes` is a valid `off_t` the kernel writes.
        let ret = unsafe {
            libc::sendfile(
                file.as_raw_fd(),
                socket.as_raw_fd(),
                offset,
                nbytes,
                hdtr,
                &mut sbytes,
                sf_hdtr::freebsd_flags(flags),
            )
        };
        (ret, sbytes)
    })
}

pub(crate) use super::socket::set_nopush as set_cork;

/// `copy_file_range(in, &off_in, out, &off_out, len, 0)` (FreeBSD 13+):
/// both offsets explicit and advanced by the bytes copied; neither file's
/// position moves. Returns 0 at the end of the input.
pub(crate) fn copy_range(
    input: BorrowedFd<'_>,
    off_in: &mut u64,
    output: BorrowedFd<'_>,
    off_out: &mut u64,
    len: usize,
) -> Result<usize, Errno> {
    let mut a = libc::off_t::try_from(*off_in).map_err(|_| Errno::INVAL)?;
    let mut b = libc::off_t::try_from(*off_out).map_err(|_| Errno::INVAL)?;
    signals::guard_write_signals();
    // SAFETY: both descriptors are live for the call; `a` and `b` are
    // valid `off_t`s the kernel reads and advances; flags must be 0.
    let ret = unsafe {
        libc::copy_file_range(
            input.as_raw_fd(),
            &mut a,
            output.as_raw_fd(),
            &mut b,
            len,
            0,
        )
    };
    let result = if ret < 0 {
        Err(last_errno())
    } else {
        Ok(ret as usize)
    };
    if let Ok(n) = result {
        *off_in += n as u64;
        *off_out += n as u64;
    }
    without_size_signal(result)
}

/// Resident pages of the `pages` pages of `fd` from `off`, by `mincore(2)`.
pub(super) fn cached_pages(fd: BorrowedFd<'_>, off: u64, pages: u64) -> Result<u64, Errno> {
    mincore_count(fd, off, pages)
}

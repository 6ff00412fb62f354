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
use super::socket::{KernelFlags, Sent, send_vectored, without_pipe_signal};
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
    send_with_headers(socket, head, len, |hdtr| {
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

/// One BSD `sendfile(2)` of `head` and then `len` file bytes to `socket`:
/// `len` 0 sends the headers alone, by `sendmsg`; otherwise `syscall` makes
/// the call with the `sf_hdtr` it is given (null without headers) and
/// returns its result and the count it reported, headers included.
fn send_with_headers(
    socket: BorrowedFd<'_>,
    head: &[IoSlice<'_>],
    len: usize,
    syscall: impl FnOnce(*mut libc::sf_hdtr) -> (libc::c_int, i64),
) -> Result<Sent, Errno> {
    let head_len: usize = head.iter().map(|h| h.len()).sum();
    if len == 0 {
        let n = send_vectored(socket, head, false)?;
        return Ok(Sent { head: n, file: 0 });
    }
    let mut hdtr = libc::sf_hdtr {
        // IoSlice is ABI-compatible with `struct iovec` on Unix; the kernel
        // only reads the headers.
        headers: head.as_ptr() as *mut libc::iovec,
        hdr_cnt: 0,
        trailers: std::ptr::null_mut(),
        trl_cnt: 0,
    };
    let hdtr_ptr = match sf_hdtr::header_count(head.len())? {
        Some(count) => {
            hdtr.hdr_cnt = count;
            &mut hdtr as *mut libc::sf_hdtr
        }
        None => std::ptr::null_mut(),
    };
    signals::guard_write_signals();
    let (ret, total) = syscall(hdtr_ptr);
    let errno = if ret == 0 { Errno::AGAIN } else { last_errno() };
    let total = u64::try_from(total).unwrap_or(0);
    without_pipe_signal(sf_hdtr::outcome(ret, errno, total, head_len, len))
}

/// Sets or clears `TCP_NOPUSH`, FreeBSD's cork: while set, the kernel sends only full
/// segments; clearing it pushes out whatever is queued.
pub(crate) fn set_cork(socket: BorrowedFd<'_>, on: bool) -> Result<(), Errno> {
    let value: libc::c_int = on.into();
    // SAFETY: setsockopt(2) reads `size_of::<c_int>()` bytes from `value`,
    // which lives across the call; `socket` is a live descriptor.
    let ret = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NOPUSH,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if ret == 0 { Ok(()) } else { Err(last_errno()) }
}

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

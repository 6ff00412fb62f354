//! The plain logic of the BSD `sendfile(2)` calls, apart from the calls
//! themselves so that it is compiled, and unit-tested, on every platform.
//!
//! FreeBSD: `sendfile(fd, s, offset, nbytes, hdtr, &sbytes, flags)`, where
//! `nbytes = 0` means "to the end of the file" and `sbytes` counts every
//! byte sent, headers included; on `EAGAIN` (the socket is full), `EBUSY`
//! (`SF_NODISKIO` met a page not in memory) and `EINTR` some bytes may have
//! gone, and `sbytes` says how many. macOS: `sendfile(fd, s, offset, &len,
//! hdtr, 0)`, where `len` is value-result: in, the most header and file
//! bytes to send (0: to the end of the file); out, the bytes sent, headers
//! included.
//!
//! Only headers ride in `sf_hdtr`, never trailers: when the file shrinks
//! during the call, a kernel sends fewer file bytes than asked and then the
//! trailers, and the one total it reports could no longer say which bytes
//! were the file's. A trailer byte taken for a file byte would be sent
//! twice. Trailers therefore go by `send` after the file, under
//! `TCP_NOPUSH` (the BSD name of `TCP_CORK`) so they still share segments.
//!
//! # References
//! - FreeBSD `sendfile(2)`: <https://man.freebsd.org/cgi/man.cgi?query=sendfile&sektion=2>
//! - macOS `sendfile(2)`: <https://github.com/apple-oss-distributions/xnu/blob/main/bsd/man/man2/sendfile.2>

// Each BSD backend uses its own part, and the tests all of it; compiled
// everywhere so that the tests run on Linux.
#![cfg_attr(not(test), allow(dead_code))]

use super::socket::{KernelFlags, Sent};
use rustix::io::Errno;

/// FreeBSD's `SF_NODISKIO` (`<sys/socket.h>`): `EBUSY` instead of disk I/O.
pub(crate) const SF_NODISKIO: i32 = 0x0000_0001;
/// FreeBSD's `SF_NOCACHE` (`<sys/socket.h>`): free the pages once sent.
pub(crate) const SF_NOCACHE: i32 = 0x0000_0010;

/// Most `iovec`s in one list of `sf_hdtr` (`IOV_MAX` on both kernels).
pub(crate) const IOV_MAX: usize = 1024;

/// FreeBSD's `flags` argument for `flags`.
pub(crate) fn freebsd_flags(flags: KernelFlags) -> i32 {
    let mut raw = 0;
    if flags.no_disk_io {
        raw |= SF_NODISKIO;
    }
    if flags.no_cache {
        raw |= SF_NOCACHE;
    }
    raw
}

/// FreeBSD's `nbytes` for `file_len` file bytes: `None` when there are
/// none, as 0 would mean "to the end of the file"; the engine sends
/// headers alone by `sendmsg` instead.
pub(crate) fn freebsd_nbytes(file_len: usize) -> Option<usize> {
    (file_len > 0).then_some(file_len)
}

/// macOS's `len` in: the header bytes plus `file_len` file bytes (the
/// kernel counts headers against `len`: a `len` of only the file's bytes
/// would send that many bytes in all, headers first, and cut the file
/// short). `None` when there are no file bytes (0 would mean "to the end
/// of the file") or the sum does not fit an `off_t`.
pub(crate) fn macos_len(head_len: usize, file_len: usize) -> Option<i64> {
    if file_len == 0 {
        return None;
    }
    let total = head_len.checked_add(file_len)?;
    i64::try_from(total).ok()
}

/// The header list of `sf_hdtr` for `head`: its `hdr_cnt`, or `EINVAL` past
/// [`IOV_MAX`] (the kernel's own answer). An empty list is a null `hdtr`.
pub(crate) fn header_count(head_buffers: usize) -> Result<Option<i32>, Errno> {
    match head_buffers {
        0 => Ok(None),
        n if n <= IOV_MAX => Ok(Some(n as i32)),
        _ => Err(Errno::INVAL),
    }
}

/// Splits a count that includes the headers (`sbytes`, macOS's `len` out)
/// into header and file bytes: the headers went first. A count past
/// `head_len + file_len` (which a kernel never reports) is clipped.
pub(crate) fn split(total: u64, head_len: usize, file_len: usize) -> Sent {
    let total = usize::try_from(total).unwrap_or(usize::MAX);
    let head = total.min(head_len);
    Sent {
        head,
        file: (total - head).min(file_len),
    }
}

/// The outcome of a BSD `sendfile(2)` that returned `ret` (0 or -1, then
/// with `errno`) and reported `total` bytes sent (headers included).
///
/// Success, or `EAGAIN`/`EBUSY`/`EINTR` after some bytes went, is the count
/// sent: the engine accounts for those bytes and its next call meets the
/// condition again if it still holds (a full socket, a page not in memory),
/// now with nothing sent, and reports it then. Any other error, or one of
/// those with nothing sent, is the error.
pub(crate) fn outcome(
    ret: i32,
    errno: Errno,
    total: u64,
    head_len: usize,
    file_len: usize,
) -> Result<Sent, Errno> {
    let partial = matches!(errno, Errno::AGAIN | Errno::BUSY | Errno::INTR);
    if ret == 0 || (partial && total > 0) {
        Ok(split(total, head_len, file_len))
    } else {
        Err(errno)
    }
}

/// One BSD `sendfile(2)` of `head` and then `len` file bytes to `socket`:
/// `len` 0 sends the headers alone, by `sendmsg`; otherwise `syscall` makes
/// the call with the `sf_hdtr` it is given (null without headers) and
/// returns its result and the count it reported, headers included.
#[cfg(any(target_os = "freebsd", target_os = "macos"))]
pub(crate) fn send_with_headers(
    socket: rustix::fd::BorrowedFd<'_>,
    head: &[std::io::IoSlice<'_>],
    len: usize,
    syscall: impl FnOnce(*mut libc::sf_hdtr) -> (libc::c_int, i64),
) -> Result<Sent, Errno> {
    use super::socket::{send_vectored, without_pipe_signal};
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
    let hdtr_ptr = match header_count(head.len())? {
        Some(count) => {
            hdtr.hdr_cnt = count;
            &mut hdtr as *mut libc::sf_hdtr
        }
        None => std::ptr::null_mut(),
    };
    super::signals::guard_write_signals();
    let (ret, total) = syscall(hdtr_ptr);
    let errno = if ret == 0 {
        Errno::AGAIN
    } else {
        super::cache::last_errno()
    };
    let total = u64::try_from(total).unwrap_or(0);
    without_pipe_signal(outcome(ret, errno, total, head_len, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_map_to_freebsds_bits() {
        let flags = |no_disk_io, no_cache| {
            freebsd_flags(KernelFlags {
                no_disk_io,
                no_cache,
            })
        };
        assert_eq!(flags(false, false), 0);
        assert_eq!(flags(true, false), SF_NODISKIO);
        assert_eq!(flags(false, true), SF_NOCACHE);
        assert_eq!(flags(true, true), SF_NODISKIO | SF_NOCACHE);
    }

    #[test]
    fn no_file_bytes_is_never_asked_as_zero() {
        assert_eq!(freebsd_nbytes(0), None);
        assert_eq!(freebsd_nbytes(1), Some(1));
        assert_eq!(macos_len(100, 0), None);
        assert_eq!(macos_len(0, 0), None);
    }

    #[test]
    fn macos_len_counts_the_headers() {
        assert_eq!(macos_len(0, 4096), Some(4096));
        assert_eq!(macos_len(17, 4096), Some(4113));
        assert_eq!(macos_len(usize::MAX, 1), None);
        if usize::BITS == 64 {
            assert_eq!(macos_len(1, i64::MAX as usize), None);
        }
    }

    #[test]
    fn header_lists_are_bounded_like_the_kernels() {
        assert_eq!(header_count(0), Ok(None));
        assert_eq!(header_count(3), Ok(Some(3)));
        assert_eq!(header_count(IOV_MAX), Ok(Some(IOV_MAX as i32)));
        assert_eq!(header_count(IOV_MAX + 1), Err(Errno::INVAL));
    }

    #[test]
    fn counts_split_headers_first() {
        let sent = |head, file| Sent { head, file };
        assert_eq!(split(0, 10, 100), sent(0, 0));
        assert_eq!(split(4, 10, 100), sent(4, 0));
        assert_eq!(split(10, 10, 100), sent(10, 0));
        assert_eq!(split(11, 10, 100), sent(10, 1));
        assert_eq!(split(110, 10, 100), sent(10, 100));
        assert_eq!(split(500, 10, 100), sent(10, 100));
        assert_eq!(split(50, 0, 100), sent(0, 50));
        assert_eq!(split(u64::MAX, 10, 100), sent(10, 100));
    }

    #[test]
    fn partial_counts_come_with_eagain_ebusy_eintr() {
        // All sent.
        assert_eq!(
            outcome(0, Errno::AGAIN, 60, 10, 50),
            Ok(Sent { head: 10, file: 50 })
        );
        // The socket filled up, the disk was needed, a signal came: what went counts.
        for errno in [Errno::AGAIN, Errno::BUSY, Errno::INTR] {
            assert_eq!(outcome(-1, errno, 7, 10, 50), Ok(Sent { head: 7, file: 0 }));
            assert_eq!(
                outcome(-1, errno, 30, 10, 50),
                Ok(Sent { head: 10, file: 20 })
            );
            // Nothing went: the condition itself.
            assert_eq!(outcome(-1, errno, 0, 10, 50), Err(errno));
        }
        // Other errors are errors, whatever the count says.
        assert_eq!(outcome(-1, Errno::PIPE, 30, 10, 50), Err(Errno::PIPE));
        assert_eq!(outcome(-1, Errno::NOTCONN, 0, 0, 50), Err(Errno::NOTCONN));
        assert_eq!(outcome(-1, Errno::INVAL, 0, 0, 50), Err(Errno::INVAL));
    }
}

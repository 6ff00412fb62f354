//! The plain logic of the BSD `sendfile(2)` calls, apart from the calls
//! themselves so that it is compiled, and unit-tested, on every platform.
//!
//! FreeBSD: `sendfile(fd, s, offset, nbytes, hdtr, &sbytes, flags)`, where
//! `nbytes = 0` means "to the end of the file" and `sbytes` counts every
//! byte sent, headers included, on every return (`EAGAIN`: the socket is
//! full; `EBUSY`: `SF_NODISKIO` met a page not in memory; `EINTR`; and the
//! other errors). macOS: `sendfile(fd, s, offset, &len, hdtr, 0)`, where
//! `len` is value-result: in, the most bytes to send (0: to the end of the
//! file); out, the bytes sent.
//!
//! Only FreeBSD gets the headers in `sf_hdtr`. macOS sends them with a
//! `writev` of its own that may be short on a non-blocking socket, and then
//! sends file bytes anyway, so there the headers go by `sendmsg` first and
//! `sendfile` carries only the file.
//!
//! Trailers never ride in `sf_hdtr`: when the file shrinks during the call,
//! a kernel sends fewer file bytes than asked and then the trailers, and
//! the one total it reports could no longer say which bytes were the
//! file's. A trailer byte taken for a file byte would be sent twice.
//! Trailers therefore go by `sendmsg` after the file, under `TCP_NOPUSH`
//! (the BSD name of `TCP_CORK`) on FreeBSD, so they still share segments.
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
/// with `errno`) and reported `total` bytes sent (headers included; both
/// kernels report it on every path).
///
/// Whatever went counts: success, or any error after some bytes went (the
/// socket filled up, `SF_NODISKIO` met a page not in memory, a signal, the
/// peer went), is the count sent. The engine accounts for those bytes, and
/// its next call meets the condition again if it still holds, now with
/// nothing sent, and reports it then; reporting it now would lose bytes
/// that went (and a switch to copying would send them twice). An error with
/// nothing sent is the error.
pub(crate) fn outcome(
    ret: i32,
    errno: Errno,
    total: u64,
    head_len: usize,
    file_len: usize,
) -> Result<Sent, Errno> {
    if ret == 0 || total > 0 {
        Ok(split(total, head_len, file_len))
    } else {
        Err(errno)
    }
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
        // macOS: no headers in the call, the count is file bytes.
        assert_eq!(split(4096, 0, 8192), sent(0, 4096));
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
    fn what_went_counts_whatever_the_error() {
        let sent = |head, file| Ok(Sent { head, file });
        // All sent.
        assert_eq!(outcome(0, Errno::AGAIN, 60, 10, 50), sent(10, 50));
        // The socket filled up, the disk was needed, a signal came, the
        // peer went, the kernel refused the file after the headers: what
        // went counts, and the next call reports the condition.
        for errno in [
            Errno::AGAIN,
            Errno::BUSY,
            Errno::INTR,
            Errno::PIPE,
            Errno::INVAL,
            Errno::OPNOTSUPP,
        ] {
            assert_eq!(outcome(-1, errno, 7, 10, 50), sent(7, 0));
            assert_eq!(outcome(-1, errno, 10, 10, 50), sent(10, 0));
            assert_eq!(outcome(-1, errno, 30, 10, 50), sent(10, 20));
            // Nothing went: the condition itself.
            assert_eq!(outcome(-1, errno, 0, 10, 50), Err(errno));
        }
    }
}

//! Socket-side system calls: `sendfile(2)` to a socket, `send(2)` of header
//! and trailer bytes, `sendmsg(2)` of several buffers at once, `TCP_CORK`.
//!
//! # References
//! - Linux `sendfile(2)`: <https://man7.org/linux/man-pages/man2/sendfile.2.html>
//! - Linux `send(2)`: <https://man7.org/linux/man-pages/man2/send.2.html>
//! - Linux `tcp(7)` (`TCP_CORK`): <https://man7.org/linux/man-pages/man7/tcp.7.html>

use super::signals;
use rustix::fd::BorrowedFd;
use rustix::io::Errno;
use rustix::net::SendFlags;

/// `sendfile(out, in, &offset, count)`: moves up to `count` bytes of `file`
/// starting at `*offset` into `socket`, advancing `*offset` by the bytes sent.
/// The file's own position is not used or changed ("If offset is not NULL,
/// then sendfile() does not modify the file offset of in_fd").
///
/// `SIGPIPE`, which the kernel raises when the peer has gone, is kept from
/// the process: see [`signals`].
pub(crate) fn sendfile(
    socket: BorrowedFd<'_>,
    file: BorrowedFd<'_>,
    offset: &mut u64,
    count: usize,
) -> Result<usize, Errno> {
    signals::guard_write_signals();
    let result = rustix::fs::sendfile(socket, file, Some(offset), count);
    if result == Err(Errno::PIPE) {
        signals::discard_pending(signals::Signal::Pipe);
    }
    result
}

/// `send(2)` without blocking and without `SIGPIPE`; `more` sets `MSG_MORE`
/// (more data follows, so the kernel may hold a partial segment).
pub(crate) fn send(socket: BorrowedFd<'_>, buf: &[u8], more: bool) -> Result<usize, Errno> {
    let mut flags = SendFlags::NOSIGNAL | SendFlags::DONTWAIT;
    if more {
        flags |= SendFlags::MORE;
    }
    rustix::net::send(socket, buf, flags)
}

/// `sendmsg(2)` of `bufs` in order, as one write, without blocking and
/// without `SIGPIPE`: the kernel may take only a prefix.
pub(crate) fn send_vectored(
    socket: BorrowedFd<'_>,
    bufs: &[std::io::IoSlice<'_>],
) -> Result<usize, Errno> {
    rustix::net::sendmsg(
        socket,
        bufs,
        &mut rustix::net::SendAncillaryBuffer::default(),
        SendFlags::NOSIGNAL | SendFlags::DONTWAIT,
    )
}

/// Sets or clears `TCP_CORK`: while set, the kernel sends only full
/// segments, so headers, file bytes and trailers share segments; clearing
/// it pushes out whatever is queued.
pub(crate) fn set_cork(socket: BorrowedFd<'_>, on: bool) -> Result<(), Errno> {
    rustix::net::sockopt::set_tcp_cork(socket, on)
}

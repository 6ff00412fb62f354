//! Socket-side system calls shared by every backend: `send(2)` of header
//! and trailer bytes and `sendmsg(2)` of several buffers at once. The
//! file-to-socket call itself ([`sendfile`]) and the cork ([`set_cork`])
//! are the backend's.
//!
//! # References
//! - `send(2)`: <https://man7.org/linux/man-pages/man2/send.2.html>
//! - `sendmsg(2)`: <https://man7.org/linux/man-pages/man2/sendmsg.2.html>

use super::{platform, signals};
#[cfg(any(target_os = "freebsd", target_os = "macos"))]
use rustix::fd::AsRawFd;
use rustix::fd::BorrowedFd;
use rustix::io::Errno;

pub(crate) use super::platform::{sendfile, set_cork};

/// What one [`sendfile`] call sent: header bytes first, then file bytes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sent {
    /// Bytes of the headers.
    pub head: usize,
    /// Bytes of the file range.
    pub file: usize,
}

/// What the kernel may do for a [`sendfile`] call itself, where it can
/// (FreeBSD's `SF_NODISKIO` and `SF_NOCACHE`). The engine enforces both on
/// every backend anyway; these only let a kernel that knows them act sooner.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KernelFlags {
    /// Fail with `EBUSY` rather than wait for the disk.
    pub no_disk_io: bool,
    /// Free the pages once sent.
    pub no_cache: bool,
}

/// `send(2)` without blocking and without `SIGPIPE`; `more` says more
/// bytes follow, so a kernel that knows `MSG_MORE` may hold a partial
/// segment.
pub(crate) fn send(socket: BorrowedFd<'_>, buf: &[u8], more: bool) -> Result<usize, Errno> {
    signals::guard_write_signals();
    without_pipe_signal(rustix::net::send(socket, buf, platform::send_flags(more)))
}

/// `sendmsg(2)` of `bufs` in order, as one write, without blocking and
/// without `SIGPIPE`: the kernel may take only a prefix. `more` as for
/// [`send`].
pub(crate) fn send_vectored(
    socket: BorrowedFd<'_>,
    bufs: &[std::io::IoSlice<'_>],
    more: bool,
) -> Result<usize, Errno> {
    signals::guard_write_signals();
    without_pipe_signal(rustix::net::sendmsg(
        socket,
        bufs,
        &mut rustix::net::SendAncillaryBuffer::default(),
        platform::send_flags(more),
    ))
}

/// Takes the `SIGPIPE` a failed write may have raised (where `MSG_NOSIGNAL`
/// does not exist) off the thread; see [`signals`].
pub(crate) fn without_pipe_signal<T>(result: Result<T, Errno>) -> Result<T, Errno> {
    if result.as_ref().err() == Some(&Errno::PIPE) {
        signals::discard_pending(signals::Signal::Pipe);
    }
    result
}

/// The BSDs' cork, `TCP_NOPUSH`: while set, the kernel sends only full
/// segments; clearing it pushes out whatever is queued.
#[cfg(any(target_os = "freebsd", target_os = "macos"))]
pub(crate) fn set_nopush(socket: BorrowedFd<'_>, on: bool) -> Result<(), Errno> {
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
    if ret == 0 {
        Ok(())
    } else {
        Err(super::cache::last_errno())
    }
}

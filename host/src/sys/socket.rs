//! Socket-side system calls shared by every backend: `send(2)` of header
//! and trailer bytes and `sendmsg(2)` of several buffers at once. The
//! file-to-socket call itself ([`sendfile`]) and the cork ([`set_cork`])
//! are the backend's.
//!
//! # References
//! - `send(2)`: <https://man7.org/linux/man-pages/man2/send.2.html>
//! - `sendmsg(2)`: <https://man7.org/linux/man-pages/man2/sendmsg.2.html>

use super::{platform, signals};
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

/// Readies a connection the capability may write to: on the BSDs,
/// `SO_NOSIGPIPE`, as `sendfile(2)` there has no flag to keep `SIGPIPE`
/// away and macOS directs it at the whole process (see [`signals`]). Best
/// effort; nothing to do on Linux.
pub(crate) fn prepare(socket: BorrowedFd<'_>) {
    #[cfg(any(target_os = "freebsd", target_os = "macos"))]
    let _ = rustix::net::sockopt::set_socket_nosigpipe(socket, true);
    #[cfg(not(any(target_os = "freebsd", target_os = "macos")))]
    let _ = socket;
}

/// Sends `head` by one `sendmsg(2)` with `MSG_MORE` (where the kernel has
/// it), then, once all of it went, the file bytes by `file_call`. Stops at
/// a short header write; an error of `file_call` after the headers went is
/// left for the next call to report (it meets it again), so the headers
/// are counted. For kernels whose `sendfile(2)` cannot carry the headers
/// safely: Linux has no `sf_hdtr`, and macOS sends it by a `writev` that
/// may be short on a non-blocking socket, then sends file bytes anyway.
#[cfg(any(target_os = "linux", target_os = "macos"))]
pub(crate) fn headers_then(
    socket: BorrowedFd<'_>,
    head: &[std::io::IoSlice<'_>],
    file_call: impl FnOnce() -> Result<usize, Errno>,
) -> Result<Sent, Errno> {
    let mut sent = Sent::default();
    let head_len: usize = head.iter().map(|h| h.len()).sum();
    if head_len > 0 {
        sent.head = send_vectored(socket, head, true)?;
        if sent.head < head_len {
            return Ok(sent);
        }
    }
    match file_call() {
        Ok(n) => sent.file = n,
        Err(e) if sent.head == 0 => return Err(e),
        Err(_) => {}
    }
    Ok(sent)
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

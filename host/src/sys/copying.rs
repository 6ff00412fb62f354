//! The copying backend, for every platform without a backend of its own:
//! no zero-copy call exists, so [`sendfile`] (and `copy_range`, see
//! [`super::file`]) answers `ENOSYS`, the engine copies through a buffer
//! (`pread`, then `send` or `pwrite`) and counts those bytes as fallback.
//! That path is the one [`crate::Policy::zero_copy`]`(false)` takes on
//! every platform, which is how the tests run it on Linux. Without a
//! page-cache query, `no-disk-io` on a non-empty range is `unsupported`;
//! without `posix_fadvise`, `no-cache` is not taken.

use super::Backend;
use super::socket::{KernelFlags, Sent};
use rustix::fd::BorrowedFd;
use rustix::io::Errno;
use rustix::net::SendFlags;
use std::io::IoSlice;

pub(super) const BACKEND: Backend = Backend::Copying;

/// Never block (`SIGPIPE` is kept away by [`super::signals`]).
pub(super) fn send_flags(_more: bool) -> SendFlags {
    SendFlags::DONTWAIT
}

/// No zero-copy call: `ENOSYS`, nothing sent; the engine copies.
pub(crate) fn sendfile(
    _socket: BorrowedFd<'_>,
    _head: &[IoSlice<'_>],
    _file: BorrowedFd<'_>,
    _offset: u64,
    _len: usize,
    _flags: KernelFlags,
) -> Result<Sent, Errno> {
    Err(Errno::NOSYS)
}

/// No cork: the engine goes on without one.
pub(crate) fn set_cork(_socket: BorrowedFd<'_>, _on: bool) -> Result<(), Errno> {
    Err(Errno::NOSYS)
}

/// No page-cache query: `ENOSYS` (`no-disk-io` is then `unsupported`).
pub(super) fn cached_pages(_fd: BorrowedFd<'_>, _off: u64, _pages: u64) -> Result<u64, Errno> {
    Err(Errno::NOSYS)
}

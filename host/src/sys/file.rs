//! File-side system calls shared by every backend: `fstat`, positional
//! reads and writes. The zero-copy file-to-file call ([`copy_range`]) and
//! the read that never waits for the disk ([`pread_cached`]) are the
//! backend's where it has them, and `ENOSYS` here where not.
//!
//! # References
//! - `pread(2)`/`pwrite(2)`: <https://man7.org/linux/man-pages/man2/pread.2.html>

use super::signals;
use rustix::fd::BorrowedFd;
use rustix::fs::FileType;
use rustix::io::Errno;

#[cfg(any(target_os = "linux", target_os = "freebsd"))]
pub(crate) use super::platform::copy_range;
#[cfg(target_os = "linux")]
pub(crate) use super::platform::pread_cached;

/// What the transfer needs to know about a descriptor.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FileInfo {
    /// Whether it is a regular file.
    pub regular: bool,
    /// Its size in bytes now.
    pub size: u64,
}

/// `fstat(2)`, reduced to [`FileInfo`].
pub(crate) fn info(fd: BorrowedFd<'_>) -> Result<FileInfo, Errno> {
    let st = rustix::fs::fstat(fd)?;
    Ok(FileInfo {
        regular: FileType::from_raw_mode(st.st_mode) == FileType::RegularFile,
        size: u64::try_from(st.st_size).unwrap_or(0),
    })
}

/// Whether two descriptors name the same file (device and inode).
pub(crate) fn same_file(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> Result<bool, Errno> {
    let (a, b) = (rustix::fs::fstat(a)?, rustix::fs::fstat(b)?);
    Ok(a.st_dev == b.st_dev && a.st_ino == b.st_ino)
}

/// `pread(2)` into `buf` at `offset`; returns 0 at the end of the file.
pub(crate) fn pread(fd: BorrowedFd<'_>, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
    rustix::io::pread(fd, buf, offset)
}

/// `pwrite(2)` of `buf` at `offset` (never at the file's position), keeping
/// `SIGXFSZ` from the process when the write passes `RLIMIT_FSIZE`.
pub(crate) fn pwrite(fd: BorrowedFd<'_>, buf: &[u8], offset: u64) -> Result<usize, Errno> {
    signals::guard_write_signals();
    without_size_signal(rustix::io::pwrite(fd, buf, offset))
}

/// Takes the `SIGXFSZ` a write past `RLIMIT_FSIZE` raised off the thread;
/// see [`signals`].
pub(crate) fn without_size_signal<T>(result: Result<T, Errno>) -> Result<T, Errno> {
    if result.as_ref().err() == Some(&Errno::FBIG) {
        signals::discard_pending(signals::Signal::FileSize);
    }
    result
}

/// Without a zero-copy file-to-file call (macOS, the copying backend):
/// `ENOSYS`, and the engine copies through a buffer (counted as fallback).
#[cfg(not(any(target_os = "linux", target_os = "freebsd")))]
pub(crate) fn copy_range(
    _input: BorrowedFd<'_>,
    _off_in: &mut u64,
    _output: BorrowedFd<'_>,
    _off_out: &mut u64,
    _len: usize,
) -> Result<usize, Errno> {
    Err(Errno::NOSYS)
}

/// Only Linux has a read that refuses to wait for the disk
/// (`RWF_NOWAIT`); elsewhere `ENOSYS`, and small ranges take the
/// `sendfile` path (which, on FreeBSD, does not wait for the disk on a
/// non-blocking socket either).
#[cfg(not(target_os = "linux"))]
pub(crate) fn pread_cached(
    _fd: BorrowedFd<'_>,
    _buf: &mut [u8],
    _offset: u64,
) -> Result<usize, Errno> {
    Err(Errno::NOSYS)
}

//! File-side system calls: `fstat`, positional reads and writes, and
//! `copy_file_range(2)` for file-to-file transfers.
//!
//! # References
//! - Linux `copy_file_range(2)`: <https://man7.org/linux/man-pages/man2/copy_file_range.2.html>
//! - Linux `pread(2)`/`pwrite(2)`: <https://man7.org/linux/man-pages/man2/pread.2.html>
//! - Linux `preadv2(2)` (`RWF_NOWAIT`): <https://man7.org/linux/man-pages/man2/preadv2.2.html>

use super::signals;
use rustix::fd::BorrowedFd;
use rustix::fs::FileType;
use rustix::io::Errno;

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

/// `copy_file_range(in, &off_in, out, &off_out, len, 0)`: both offsets are
/// explicit and advanced by the bytes copied; neither file's position moves.
/// Returns 0 at the end of the input.
pub(crate) fn copy_range(
    input: BorrowedFd<'_>,
    off_in: &mut u64,
    output: BorrowedFd<'_>,
    off_out: &mut u64,
    len: usize,
) -> Result<usize, Errno> {
    signals::guard_write_signals();
    let result = rustix::fs::copy_file_range(input, Some(off_in), output, Some(off_out), len);
    if result == Err(Errno::FBIG) {
        signals::discard_pending(signals::Signal::FileSize);
    }
    result
}

/// `pread(2)` into `buf` at `offset`; returns 0 at the end of the file.
pub(crate) fn pread(fd: BorrowedFd<'_>, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
    rustix::io::pread(fd, buf, offset)
}

/// `preadv2(2)` with `RWF_NOWAIT`: reads into `buf` at `offset` only what
/// is in the page cache, never waiting for the disk; `EAGAIN` when the
/// first page is not cached. Returns 0 at the end of the file.
pub(crate) fn pread_cached(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    offset: u64,
) -> Result<usize, Errno> {
    use rustix::io::{IoSliceMut, ReadWriteFlags, preadv2};
    preadv2(
        fd,
        &mut [IoSliceMut::new(buf)],
        offset,
        ReadWriteFlags::NOWAIT,
    )
}

/// `pwrite(2)` of `buf` at `offset` (never at the file's position), keeping
/// `SIGXFSZ` from the process when the write passes `RLIMIT_FSIZE`.
pub(crate) fn pwrite(fd: BorrowedFd<'_>, buf: &[u8], offset: u64) -> Result<usize, Errno> {
    signals::guard_write_signals();
    let result = rustix::io::pwrite(fd, buf, offset);
    if result == Err(Errno::FBIG) {
        signals::discard_pending(signals::Signal::FileSize);
    }
    result
}

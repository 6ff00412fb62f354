//! Page-cache queries and advice: is a range resident (so reading it will
//! not wait for the disk), and dropping a range after use. How pages are
//! counted and dropped is the backend's ([`super::platform`]); `mincore(2)`
//! here serves the backends that have nothing better.
//!
//! # References
//! - `mincore(2)`: <https://man7.org/linux/man-pages/man2/mincore.2.html>
//! - `posix_fadvise(2)`: <https://man7.org/linux/man-pages/man2/posix_fadvise.2.html>
//! - FreeBSD `mincore(2)`: <https://man.freebsd.org/cgi/man.cgi?query=mincore&sektion=2>

use super::platform;
use rustix::fd::BorrowedFd;
use rustix::io::Errno;

/// The size of a page of the page cache.
pub(crate) fn page_size() -> u64 {
    rustix::param::page_size() as u64
}

/// The `errno` of the last failed libc call on this thread.
pub(crate) fn last_errno() -> Errno {
    Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::IO)
}

/// Whether every page of `[offset, offset + len)` of `fd` is in the page
/// cache. An empty range is resident.
pub(crate) fn is_resident(fd: BorrowedFd<'_>, offset: u64, len: u64) -> Result<bool, Errno> {
    let (cached, pages) = page_counts(fd, offset, len)?;
    Ok(cached >= pages)
}

/// Whether any page of `[offset, offset + len)` of `fd` is in the page
/// cache. An empty range has none.
pub(crate) fn any_resident(fd: BorrowedFd<'_>, offset: u64, len: u64) -> Result<bool, Errno> {
    Ok(page_counts(fd, offset, len)?.0 > 0)
}

/// How many pages of those `[offset, offset + len)` of `fd` spans are in
/// the page cache, and how many it spans.
fn page_counts(fd: BorrowedFd<'_>, offset: u64, len: u64) -> Result<(u64, u64), Errno> {
    if len == 0 {
        return Ok((0, 0));
    }
    let (first, pages) = page_span(offset, len, page_size());
    let cached = platform::cached_pages(fd, first, pages)?;
    Ok((cached.min(pages), pages))
}

/// The byte offset of the first page `[offset, offset + len)` touches and
/// how many pages it spans (`len` > 0).
fn page_span(offset: u64, len: u64, page: u64) -> (u64, u64) {
    let first = offset / page;
    let last = (offset.saturating_add(len) - 1) / page;
    (first * page, last - first + 1)
}

/// `mincore(2)`: maps `pages` pages of `fd` from `off` (page-aligned),
/// counts those resident, unmaps.
#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "macos"))]
pub(crate) fn mincore_count(fd: BorrowedFd<'_>, off: u64, pages: u64) -> Result<u64, Errno> {
    use rustix::fd::AsRawFd;
    let page = page_size();
    let len = usize::try_from(pages * page).map_err(|_| Errno::INVAL)?;
    let off = libc::off_t::try_from(off).map_err(|_| Errno::INVAL)?;
    // SAFETY: a fresh read-only shared mapping chosen by the kernel (addr
    // NULL), so it aliases no Rust object; `fd` is live for the call. The
    // mapping is only passed to mincore and then unmapped, never read.
    let addr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            fd.as_raw_fd(),
            off,
        )
    };
    if addr == libc::MAP_FAILED {
        return Err(last_errno());
    }
    let mut vec = vec![0u8; pages as usize];
    // SAFETY: `addr`/`len` is the mapping created above; mincore(2) writes
    // one byte per page into `vec`, which holds exactly `pages` bytes (its
    // element type is `unsigned char` on Linux and `char` on the BSDs, the
    // same size, hence the cast).
    let ret = unsafe { libc::mincore(addr, len, vec.as_mut_ptr().cast()) };
    let err = last_errno();
    // SAFETY: unmaps exactly the mapping created above, which nothing else
    // references.
    unsafe { libc::munmap(addr, len) };
    if ret != 0 {
        return Err(err);
    }
    // Bit 0 is "resident" on every kernel; the BSDs set more bits.
    Ok(vec.iter().filter(|b| *b & 1 == 1).count() as u64)
}

/// `posix_fadvise(fd, offset, len, POSIX_FADV_DONTNEED)`: drop the range from
/// the page cache (pages still in use, e.g. queued on a socket, stay).
#[cfg(any(target_os = "linux", target_os = "freebsd"))]
pub(crate) fn drop_range(fd: BorrowedFd<'_>, offset: u64, len: u64) -> Result<(), Errno> {
    match std::num::NonZeroU64::new(len) {
        Some(len) => rustix::fs::fadvise(fd, offset, Some(len), rustix::fs::Advice::DontNeed),
        None => Ok(()),
    }
}

/// Without `posix_fadvise` (macOS, say) a range cannot be dropped:
/// `ENOSYS`. `no-cache` is advice, and is then not taken.
#[cfg(not(any(target_os = "linux", target_os = "freebsd")))]
pub(crate) fn drop_range(_fd: BorrowedFd<'_>, _offset: u64, _len: u64) -> Result<(), Errno> {
    Err(Errno::NOSYS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_spans_the_pages_it_touches() {
        assert_eq!(page_span(0, 1, 4096), (0, 1));
        assert_eq!(page_span(4095, 2, 4096), (0, 2));
        assert_eq!(page_span(4096, 4096, 4096), (4096, 1));
        assert_eq!(page_span(10_000, 1, 4096), (8192, 1));
        assert_eq!(page_span(u64::MAX - 1, 10, 4096).1, 1);
    }
}

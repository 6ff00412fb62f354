//! Page-cache queries and advice: is a range resident (so reading it will
//! not wait for the disk), and dropping a range after use.
//!
//! # References
//! - Linux `cachestat(2)` (6.5+): <https://man7.org/linux/man-pages/man2/cachestat.2.html>
//! - Linux `mincore(2)`: <https://man7.org/linux/man-pages/man2/mincore.2.html>
//! - `posix_fadvise(2)`: <https://man7.org/linux/man-pages/man2/posix_fadvise.2.html>

use rustix::fd::{AsRawFd, BorrowedFd};
use rustix::io::Errno;
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicBool, Ordering};

/// `cachestat` is 451 in the unified syscall table of every architecture.
const SYS_CACHESTAT: libc::c_long = 451;

/// `struct cachestat_range` from `<linux/mman.h>`.
#[repr(C)]
struct CachestatRange {
    off: u64,
    len: u64,
}

/// `struct cachestat` from `<linux/mman.h>`.
#[repr(C)]
#[derive(Default)]
struct Cachestat {
    nr_cache: u64,
    nr_dirty: u64,
    nr_writeback: u64,
    nr_evicted: u64,
    nr_recently_evicted: u64,
}

/// Set once `cachestat` answers `ENOSYS`, so later calls go straight to
/// `mincore`.
static NO_CACHESTAT: AtomicBool = AtomicBool::new(false);

/// The `errno` of the last failed libc call on this thread.
fn last_errno() -> Errno {
    Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(Errno::IO)
}

fn page_size() -> u64 {
    rustix::param::page_size() as u64
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
    let page = page_size();
    let first = offset / page;
    let last = (offset.saturating_add(len) - 1) / page;
    let pages = last - first + 1;
    if !NO_CACHESTAT.load(Ordering::Relaxed) {
        match cachestat(fd, first * page, pages * page) {
            Ok(cached) => return Ok((cached.min(pages), pages)),
            Err(Errno::NOSYS) => NO_CACHESTAT.store(true, Ordering::Relaxed),
            Err(e) => return Err(e),
        }
    }
    Ok((mincore_count(fd, first * page, pages)?, pages))
}

/// Pages of `[off, off + len)` in the page cache, by `cachestat(2)`.
fn cachestat(fd: BorrowedFd<'_>, off: u64, len: u64) -> Result<u64, Errno> {
    let range = CachestatRange { off, len };
    let mut stat = Cachestat::default();
    // SAFETY: cachestat(2) reads `*cstat_range` and writes `*cstat`, both
    // valid, properly aligned `#[repr(C)]` structs of the kernel's layout that
    // outlive the call; flags "must be set to 0". `fd` is a live descriptor
    // borrowed for the duration of the call.
    let ret = unsafe {
        libc::syscall(
            SYS_CACHESTAT,
            fd.as_raw_fd(),
            &range as *const CachestatRange,
            &mut stat as *mut Cachestat,
            0u32,
        )
    };
    if ret == 0 {
        Ok(stat.nr_cache)
    } else {
        Err(last_errno())
    }
}

/// The `mincore(2)` fallback: map the range, count its resident pages.
fn mincore_count(fd: BorrowedFd<'_>, off: u64, pages: u64) -> Result<u64, Errno> {
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
    // one byte per page into `vec`, which holds exactly `pages` bytes.
    let ret = unsafe { libc::mincore(addr, len, vec.as_mut_ptr()) };
    let err = last_errno();
    // SAFETY: unmaps exactly the mapping created above, which nothing else
    // references.
    unsafe { libc::munmap(addr, len) };
    if ret != 0 {
        return Err(err);
    }
    Ok(vec.iter().filter(|b| *b & 1 == 1).count() as u64)
}

/// `posix_fadvise(fd, offset, len, POSIX_FADV_DONTNEED)`: drop the range from
/// the page cache (pages still in use, e.g. queued on a socket, stay).
pub(crate) fn drop_range(fd: BorrowedFd<'_>, offset: u64, len: u64) -> Result<(), Errno> {
    match NonZeroU64::new(len) {
        Some(len) => rustix::fs::fadvise(fd, offset, Some(len), rustix::fs::Advice::DontNeed),
        None => Ok(()),
    }
}

//! The system calls behind the capability, over borrowed descriptors.
//!
//! Nothing here knows about guests or resources: each function takes
//! [`BorrowedFd`](rustix::fd::BorrowedFd)s, makes one system call (or a short,
//! fixed sequence) and reports the raw [`Errno`](rustix::io::Errno). The
//! transfer engine in [`crate::transfer`] decides what to do with it.
//!
//! The calls that differ between kernels live in one backend file per
//! platform, all with the same functions (see [`Backend`]):
//!
//! | backend | file → socket | file → file | page-cache check | `no-cache` |
//! |---|---|---|---|---|
//! | `linux.rs` | `sendfile(2)`, headers by `sendmsg(2)` with `MSG_MORE` | `copy_file_range(2)` | `cachestat(2)`, else `mincore(2)` | `posix_fadvise` |
//! | `freebsd.rs` | `sendfile(2)` with headers in `sf_hdtr` | `copy_file_range(2)` | `mincore(2)` | `SF_NOCACHE` and `posix_fadvise` |
//! | `macos.rs` | `sendfile(2)`, headers by `sendmsg(2)` | copying | `mincore(2)` | not available (kept) |
//! | `copying.rs` | copying | copying | not available | not available |
//!
//! "Copying" is the engine's own fallback (`pread` into a buffer, then
//! `send` or `pwrite`), the same path [`crate::Policy::zero_copy`]`(false)`
//! takes everywhere; its bytes are counted as fallback in the metrics. The
//! portable parts are in [`file`] (`fstat`, `pread`, `pwrite`), [`socket`]
//! (`sendmsg`), [`cache`] and [`signals`]; the plain logic of the BSD
//! `sendfile(2)` calls is in [`sf_hdtr`], compiled on every platform so its
//! unit tests run on Linux too.

pub(crate) mod cache;
pub(crate) mod file;
pub(crate) mod sf_hdtr;
pub(crate) mod signals;
pub(crate) mod socket;

#[cfg(target_os = "linux")]
#[path = "linux.rs"]
mod platform;

#[cfg(target_os = "freebsd")]
#[path = "freebsd.rs"]
mod platform;

#[cfg(target_os = "macos")]
#[path = "macos.rs"]
mod platform;

#[cfg(not(any(target_os = "linux", target_os = "freebsd", target_os = "macos")))]
#[path = "copying.rs"]
mod platform;

/// The most bytes one system call is asked to move: Linux's `MAX_RW_COUNT`
/// (see the NOTES of `sendfile(2)`), which the other kernels' limits exceed.
pub(crate) const MAX_RW_COUNT: u64 = 0x7fff_f000;

/// Which system-call backend this build uses, chosen at compile time by the
/// target's operating system. Shown in the startup log and in the metrics
/// (`wasm_sendfile_backend_info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Linux: `sendfile(2)`, `copy_file_range(2)`, `cachestat(2)`,
    /// `preadv2(RWF_NOWAIT)`, `TCP_CORK`.
    Linux,
    /// FreeBSD: `sendfile(2)` with `sf_hdtr`, `SF_NODISKIO` and
    /// `SF_NOCACHE`, `copy_file_range(2)` (FreeBSD 13+), `TCP_NOPUSH`.
    FreeBsd,
    /// macOS: `sendfile(2)` with its value-result length (headers by
    /// `sendmsg(2)`); file targets are copied.
    MacOs,
    /// Any other platform: every file byte is copied through a buffer and
    /// counted as fallback.
    Copying,
}

impl Backend {
    /// The backend of this build.
    pub const CURRENT: Backend = platform::BACKEND;

    /// Its name: `linux`, `freebsd`, `macos` or `copying`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Linux => "linux",
            Backend::FreeBsd => "freebsd",
            Backend::MacOs => "macos",
            Backend::Copying => "copying",
        }
    }

    /// Whether file bytes can move without a copy through user space on
    /// this backend.
    pub fn zero_copy(self) -> bool {
        !matches!(self, Backend::Copying)
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

//! The system calls behind the capability, over borrowed descriptors.
//!
//! Nothing here knows about guests or resources: each function takes
//! [`BorrowedFd`](rustix::fd::BorrowedFd)s, makes one system call (or a short,
//! fixed sequence) and reports the raw [`Errno`](rustix::io::Errno). The
//! transfer engine in [`crate::transfer`] decides what to do with it.

pub(crate) mod cache;
pub(crate) mod file;
pub(crate) mod signals;
pub(crate) mod socket;

/// The most bytes Linux moves in one `read`/`write`/`sendfile` call
/// (`MAX_RW_COUNT`, see the NOTES of `sendfile(2)`).
pub(crate) const MAX_RW_COUNT: u64 = 0x7fff_f000;

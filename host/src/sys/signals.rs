//! Keeping `SIGPIPE` and `SIGXFSZ` away from the process.
//!
//! `sendfile(2)` to a socket whose peer has gone raises `SIGPIPE`, and a
//! write past `RLIMIT_FSIZE` raises `SIGXFSZ`; both kill a process that keeps
//! the default disposition (a C program embedding the host, say), and
//! `sendfile` has no `MSG_NOSIGNAL`. On Linux and FreeBSD both signals are
//! thread-directed: the kernel sends them to the thread that made the call.
//! So before a call that may raise them, the thread blocks them in its
//! signal mask (once per thread; a mask change costs a system call), and
//! after a call that failed with `EPIPE`/`EFBIG` the pending signal is taken
//! off the thread with a zero-timeout `sigtimedwait(2)`. The signals stay
//! blocked on threads that ran a transfer: those threads then see
//! `EPIPE`/`EFBIG` from any write, which is what Rust programs get anyway
//! (the Rust runtime ignores `SIGPIPE`).
//!
//! macOS directs `SIGPIPE` at the whole process, so there the connections
//! the capability writes to get `SO_NOSIGPIPE` instead
//! ([`super::socket::prepare`], FreeBSD too). What is left pending on the
//! calling thread is taken off by `sigpending` and `sigwait`; a `SIGXFSZ`
//! that macOS delivers to another thread of the process is not (untested
//! platform; a known gap).
//!
//! # References
//! - `pthread_sigmask(3)`: <https://man7.org/linux/man-pages/man3/pthread_sigmask.3.html>
//! - `sigtimedwait(2)`: <https://man7.org/linux/man-pages/man2/sigtimedwait.2.html>
//! - `sigpending(2)`: <https://man7.org/linux/man-pages/man2/sigpending.2.html>

use std::cell::Cell;

/// A signal a write may raise.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Signal {
    /// `SIGPIPE`: the peer closed the connection.
    Pipe,
    /// `SIGXFSZ`: the write passed the file size limit.
    FileSize,
}

impl Signal {
    fn raw(self) -> libc::c_int {
        match self {
            Signal::Pipe => libc::SIGPIPE,
            Signal::FileSize => libc::SIGXFSZ,
        }
    }
}

thread_local! {
    static GUARDED: Cell<bool> = const { Cell::new(false) };
}

fn set_of(signals: &[Signal]) -> libc::sigset_t {
    // SAFETY: sigemptyset(3) initialises the zeroed `sigset_t` it is given;
    // sigaddset(3) adds valid signal numbers to that initialised set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in signals {
            libc::sigaddset(&mut set, s.raw());
        }
        set
    }
}

/// Blocks `SIGPIPE` and `SIGXFSZ` on the calling thread (once per thread).
pub(crate) fn guard_write_signals() {
    GUARDED.with(|guarded| {
        if guarded.get() {
            return;
        }
        let set = set_of(&[Signal::Pipe, Signal::FileSize]);
        // SAFETY: pthread_sigmask(3) with SIG_BLOCK adds the initialised set
        // to this thread's mask; the old mask is not requested (NULL).
        let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
        guarded.set(rc == 0);
    });
}

/// Takes a pending `signal` off the calling thread, if there is one, so it is
/// never delivered once the mask changes.
#[cfg(not(target_os = "macos"))]
pub(crate) fn discard_pending(signal: Signal) {
    let set = set_of(&[signal]);
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: sigtimedwait(2) with a zero timeout only polls: it takes one
    // pending signal of `set` (blocked on this thread by
    // `guard_write_signals`) or returns EAGAIN at once. `info` is not
    // requested (NULL).
    unsafe {
        libc::sigtimedwait(&set, std::ptr::null_mut(), &zero);
    }
}

/// Takes a pending `signal` off the calling thread, if there is one, so it is
/// never delivered once the mask changes. macOS has no `sigtimedwait`:
/// `sigpending(2)` says whether it is pending, and only then `sigwait(3)`
/// takes it, at once.
#[cfg(target_os = "macos")]
pub(crate) fn discard_pending(signal: Signal) {
    let set = set_of(&[signal]);
    // SAFETY: sigpending(2) writes the initialised `pending`; sigismember(3)
    // reads it; sigwait(3) is called only for a signal that is pending and
    // blocked on this thread (by `guard_write_signals`), so it returns at
    // once, writing the signal number to `taken`.
    unsafe {
        let mut pending: libc::sigset_t = std::mem::zeroed();
        if libc::sigpending(&mut pending) == 0 && libc::sigismember(&pending, signal.raw()) == 1 {
            let mut taken = 0;
            libc::sigwait(&set, &mut taken);
        }
    }
}

//! File range to a file: `copy_file_range(2)` with explicit offsets on both
//! sides (WASI descriptors have no position, and `sendfile(2)` would write at
//! the target's kernel position), headers and trailers by `pwrite(2)`.
//!
//! Runs entirely on a blocking-pool thread: file I/O may wait for the disk.
//! Such a thread cannot be aborted, so the copy looks between system calls
//! (each at most [`STEP`] bytes) whether the call that started it is gone,
//! a store dropped mid-call, say, and stops there.

use super::{Failure, Outcome, Progress, Request, check_no_disk_io, drop_sent_range, errors};
use crate::bindings::sendfile::ErrorCode;
use crate::sys;
use rustix::fd::{AsFd, BorrowedFd};
use rustix::io::Errno;
use std::fs::File;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Largest buffer the copying fallback uses.
const FALLBACK_BUFFER: usize = 64 * 1024;

/// Most bytes one `copy_file_range(2)` moves: the copy notices that its
/// caller is gone within one such step.
const STEP: u64 = 64 << 20;

/// Writes `req` into `target` starting at byte `at`.
pub(crate) async fn copy(req: Request, target: Arc<File>, at: u64) -> Outcome {
    let abandoned = Arc::new(AtomicBool::new(false));
    // Dropped with this future: when the call completes, or when it is
    // dropped unfinished (its store is gone), which stops the copy.
    let _stop = StopOnDrop(abandoned.clone());
    wasmtime_wasi::runtime::spawn_blocking(move || {
        Copy::new(&req, target.as_fd(), at, &abandoned).run()
    })
    .await
}

/// Sets its flag when dropped.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

struct Copy<'a> {
    req: &'a Request,
    dst: BorrowedFd<'a>,
    /// Where the next byte goes in the target.
    at: u64,
    progress: Progress,
    /// Set once no one waits for the outcome.
    abandoned: &'a AtomicBool,
}

impl<'a> Copy<'a> {
    fn new(req: &'a Request, dst: BorrowedFd<'a>, at: u64, abandoned: &'a AtomicBool) -> Self {
        Self {
            req,
            dst,
            at,
            progress: Progress::default(),
            abandoned,
        }
    }

    /// Stops the copy if its caller is gone (the outcome reaches no one;
    /// the code only ends the loop).
    fn check_wanted(&self) -> Result<(), Failure> {
        if self.abandoned.load(Ordering::Relaxed) {
            return Err(self.fail(ErrorCode::Io));
        }
        Ok(())
    }

    fn fail(&self, code: ErrorCode) -> Failure {
        Failure {
            code,
            progress: self.progress,
        }
    }

    fn run(mut self) -> Outcome {
        check_no_disk_io(self.req).map_err(|code| self.fail(code))?;
        for header in &self.req.headers {
            self.write_all(header, false)?;
        }
        self.file()?;
        for trailer in &self.req.trailers {
            self.write_all(trailer, false)?;
        }
        drop_sent_range(self.req, &self.progress);
        self.progress.complete = true;
        Ok(self.progress)
    }

    /// `pwrite`s all of `buf` at the target position.
    fn write_all(&mut self, mut buf: &[u8], from_file: bool) -> Result<(), Failure> {
        while !buf.is_empty() {
            match sys::file::pwrite(self.dst, buf, self.at) {
                Ok(0) => return Err(self.fail(ErrorCode::NoSpace)),
                Ok(n) => {
                    self.at += n as u64;
                    buf = &buf[n..];
                    if from_file {
                        self.progress.add_file(n, true);
                    } else {
                        self.progress.add_buffer(n);
                    }
                }
                Err(Errno::INTR) => {}
                Err(e) => return Err(self.fail(errors::code(e))),
            }
        }
        Ok(())
    }

    /// Copies the file range.
    fn file(&mut self) -> Result<(), Failure> {
        let src = self.req.source.as_fd();
        let mut copying = !self.req.zero_copy;
        self.progress.used_fallback = copying;
        loop {
            self.check_wanted()?;
            let want = self.req.chunk(self.progress.file).min(STEP) as usize;
            if want == 0 {
                return Ok(());
            }
            let mut pos = self.req.offset + self.progress.file;
            if copying {
                if self.copy_chunk(pos, want)? == 0 {
                    return Ok(());
                }
                continue;
            }
            let mut at = self.at;
            let result = sys::file::copy_range(src, &mut pos, self.dst, &mut at, want);
            if let Ok(n) = result {
                self.at += n as u64;
                self.progress.add_file(n, false);
            }
            match result {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(Errno::INTR) => {}
                Err(e)
                    if self.progress.file == 0
                        && errors::refuses_zero_copy(e)
                        && !same_file(src, self.dst) =>
                {
                    copying = true;
                    self.progress.used_fallback = true;
                }
                Err(e) => return Err(self.fail(errors::code(e))),
            }
        }
    }

    /// The fallback: `pread` then `pwrite` through a bounded buffer.
    /// Returns the bytes copied, 0 at the end of the source.
    fn copy_chunk(&mut self, pos: u64, len: usize) -> Result<usize, Failure> {
        let mut buf = vec![0u8; len.min(FALLBACK_BUFFER)];
        let n = loop {
            match sys::file::pread(self.req.source.as_fd(), &mut buf, pos) {
                Ok(n) => break n,
                Err(Errno::INTR) => {}
                Err(e) => return Err(self.fail(errors::code(e))),
            }
        };
        self.write_all(&buf[..n], true)?;
        Ok(n)
    }
}

/// Whether both descriptors are the same file (overlapping copies within
/// one file are refused, not emulated).
fn same_file(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> bool {
    match (rustix::fs::fstat(a), rustix::fs::fstat(b)) {
        (Ok(a), Ok(b)) => a.st_dev == b.st_dev && a.st_ino == b.st_ino,
        _ => true,
    }
}

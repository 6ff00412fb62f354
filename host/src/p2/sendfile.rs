//! `wasm-sendfile:sendfile/sendfile`: the capability's entry points.
//!
//! Each call looks the guest's handles up in the resource table (a stale
//! handle traps, as in wasmtime-wasi), checks open modes and the host
//! policy, then hands OS handles to [`crate::transfer`]. Semantics are
//! documented in `wit/sendfile.wit`.

use crate::bindings::sendfile::{
    Count, ErrorCode, FileTarget, Host, HostLimits, SendError, SendFlags, SendOptions, Target,
    Transferred,
};
use crate::metrics::CallRecord;
use crate::sockets::{TcpSocket, Writer};
use crate::transfer::socket::SocketTarget;
use crate::transfer::{self, Mode, Outcome, Request};
use crate::view::SendfileCtxView;
use rustix::fd::AsFd;
use std::fs::File;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use wasmtime::component::Resource;
use wasmtime_wasi::OpenMode;
use wasmtime_wasi::filesystem::Descriptor;
use wasmtime_wasi::p2::{DynPollable, Pollable};

/// Most buffers in each of `headers` and `trailers` (`IOV_MAX`, as FreeBSD
/// caps each list of `sf_hdtr`); more is `invalid` (documented in the WIT).
const MAX_BUFFERS: usize = 1024;

/// Offsets are `off_t` in the kernel.
pub(crate) const MAX_OFFSET: u64 = i64::MAX as u64;

/// Where a checked request goes.
enum Destination {
    Socket(SocketTarget),
    File(Arc<File>, u64),
}

type CallResult = Result<Transferred, SendError>;

impl Host for SendfileCtxView<'_> {
    fn send_file(
        &mut self,
        target: Target,
        source: Resource<Descriptor>,
        offset: u64,
        count: Count,
        options: SendOptions,
    ) -> impl Future<Output = wasmtime::Result<CallResult>> + Send {
        let work = self.prepare(target, source, offset, count, options);
        self.call(Mode::NonBlocking, work)
    }

    fn blocking_send_file(
        &mut self,
        target: Target,
        source: Resource<Descriptor>,
        offset: u64,
        count: Count,
        options: SendOptions,
    ) -> impl Future<Output = wasmtime::Result<CallResult>> + Send {
        let work = self.prepare(target, source, offset, count, options);
        self.call(Mode::Blocking, work)
    }

    fn subscribe_writable(
        &mut self,
        socket: Resource<TcpSocket>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        let writer = self
            .table
            .get(&socket)?
            .connection()
            .map(|c| c.writer.clone());
        let waiter = self.table.push_child(Writability(writer), &socket)?;
        // `waiter` is owned, so dropping the pollable deletes it too.
        wasmtime_wasi::p2::subscribe(self.table, waiter)
    }

    fn limits(&mut self) -> wasmtime::Result<HostLimits> {
        let policy = &self.ctx.policy;
        Ok(HostLimits {
            max_header_trailer_bytes: policy.max_header_trailer_bytes as u64,
            max_buffers: MAX_BUFFERS as u32,
            max_chunk: policy.max_chunk,
            file_targets: policy.allow_file_targets,
        })
    }
}

/// What `subscribe-writable`'s pollable waits on.
struct Writability(Option<Arc<Mutex<Writer>>>);

#[wasmtime_wasi::async_trait]
impl Pollable for Writability {
    async fn ready(&mut self) {
        if let Some(writer) = &self.0 {
            Writer::wait_writable(writer).await;
        }
    }
}

/// A call, checked ([`SendfileCtxView::prepare`]): what to run, or why not.
enum Work {
    /// A stale handle: the guest traps.
    Trap(wasmtime::Error),
    /// The guest gets this error, and nothing is sent.
    Refused(ErrorCode),
    /// A file range to a socket.
    Socket(Request, SocketTarget),
    /// A file range to a file: the copy, not started. Boxed: it is rare,
    /// and its future is large (see [`SendfileCtxView::call`]).
    File(Pin<Box<dyn Future<Output = Outcome> + Send>>),
}

impl SendfileCtxView<'_> {
    /// Runs a checked call. The checks ran before this future was made, so
    /// it holds only their result, and borrows what it awaits on rather
    /// than moving it: wasmtime boxes a host call's future with the call's
    /// arguments on every call, and that allocation stays in glibc's
    /// per-thread cache (tcache: at most 1032 bytes) only while the future
    /// is small; a larger one costs a slow allocation each call.
    async fn call(&mut self, mode: Mode, work: Work) -> wasmtime::Result<CallResult> {
        let outcome = match work {
            Work::Trap(trap) => return Err(trap),
            Work::Refused(code) => Err(transfer::Failure {
                code,
                progress: Default::default(),
            }),
            Work::Socket(ref req, ref target) => transfer::socket::send(req, target, mode).await,
            Work::File(mut copy) => copy.as_mut().await,
        };
        Ok(self.finish(outcome))
    }

    /// Looks the handles up and checks them (a stale handle traps, as in
    /// wasmtime-wasi).
    fn prepare(
        &mut self,
        target: Target,
        source: Resource<Descriptor>,
        offset: u64,
        count: Count,
        options: SendOptions,
    ) -> Work {
        match self.check(target, source, offset, count, options) {
            Err(trap) => Work::Trap(trap),
            Ok(Err(code)) => Work::Refused(code),
            Ok(Ok((req, Destination::Socket(t)))) => Work::Socket(req, t),
            Ok(Ok((req, Destination::File(f, at)))) => {
                Work::File(Box::pin(transfer::file::copy(req, f, at)))
            }
        }
    }

    /// Looks the handles up and checks them; the outer error traps.
    fn check(
        &mut self,
        target: Target,
        source: Resource<Descriptor>,
        offset: u64,
        count: Count,
        options: SendOptions,
    ) -> wasmtime::Result<Result<(Request, Destination), ErrorCode>> {
        // The size is looked up now only where the request needs it from the
        // start; otherwise the transfer asks if and when it must.
        let need_size =
            matches!(count, Count::ToEof) || options.flags.contains(SendFlags::NO_DISK_IO);
        let source =
            readable_file(self.table.get(&source)?).and_then(|file| self.regular(file, need_size));
        let destination = match target {
            Target::Socket(socket) => self
                .table
                .get(&socket)?
                .connection()
                .map(|c| {
                    Destination::Socket(SocketTarget {
                        stream: c.stream.clone(),
                        writer: c.writer.clone(),
                    })
                })
                .ok_or(ErrorCode::NotConnected),
            Target::File(FileTarget { descriptor, offset }) => {
                let file = writable_file(self.table.get(&descriptor)?);
                file.and_then(|f| self.regular(f, false))
                    .and_then(|(f, _)| self.check_file_target(f, offset))
            }
        };
        Ok(self.check_request(source, destination, offset, count, options))
    }

    /// `file` if it is a regular file, with its size now if `need_size`.
    /// A descriptor checked before skips the `fstat` unless the size is
    /// needed.
    fn regular(
        &mut self,
        file: Arc<File>,
        need_size: bool,
    ) -> Result<(Arc<File>, Option<u64>), ErrorCode> {
        let known = &mut self.ctx.regular_files;
        if !need_size && known.contains(&file) {
            return Ok((file, None));
        }
        match crate::sys::file::info(file.as_fd()) {
            Ok(info) if info.regular => {
                known.insert(&file);
                Ok((file, Some(info.size)))
            }
            Ok(_) => Err(ErrorCode::Invalid),
            Err(e) => Err(transfer::errors::code(e)),
        }
    }

    fn check_file_target(&self, file: Arc<File>, offset: u64) -> Result<Destination, ErrorCode> {
        if !self.ctx.policy.allow_file_targets {
            return Err(ErrorCode::AccessDenied);
        }
        if offset > MAX_OFFSET {
            return Err(ErrorCode::Invalid);
        }
        Ok(Destination::File(file, offset))
    }

    fn check_request(
        &self,
        source: Result<(Arc<File>, Option<u64>), ErrorCode>,
        destination: Result<Destination, ErrorCode>,
        offset: u64,
        count: Count,
        options: SendOptions,
    ) -> Result<(Request, Destination), ErrorCode> {
        let (source, size) = source?;
        let destination = destination?;
        if offset > MAX_OFFSET {
            return Err(ErrorCode::Invalid);
        }
        let policy = &self.ctx.policy;
        let max_chunk = match options.max_chunk {
            Some(0) => return Err(ErrorCode::Invalid),
            Some(n) => n.min(policy.max_chunk),
            None => policy.max_chunk,
        };
        if options.headers.len() > MAX_BUFFERS || options.trailers.len() > MAX_BUFFERS {
            return Err(ErrorCode::Invalid);
        }
        let bytes: usize = options
            .headers
            .iter()
            .chain(&options.trailers)
            .map(Vec::len)
            .sum();
        if bytes > policy.max_header_trailer_bytes {
            return Err(ErrorCode::AccessDenied);
        }
        if let Destination::File(target, at) = &destination {
            let written = bytes as u64;
            overlapping_copy(&source, target, offset, *at, count, written)?;
        }
        let req = Request {
            source,
            size,
            offset,
            count: match count {
                Count::AtMost(n) => Some(n),
                Count::ToEof => None,
            },
            headers: options.headers,
            trailers: options.trailers,
            no_disk_io: options.flags.contains(SendFlags::NO_DISK_IO),
            no_cache: options.flags.contains(SendFlags::NO_CACHE),
            max_chunk,
            zero_copy: policy.zero_copy,
        };
        Ok((req, destination))
    }

    /// Records the call in the metrics and shapes its result.
    fn finish(&self, outcome: Outcome) -> CallResult {
        let (progress, code) = match outcome {
            Ok(p) => (p, None),
            Err(f) => (f.progress, Some(f.code)),
        };
        if progress.used_fallback {
            tracing::debug!(
                bytes = progress.fallback,
                "sendfile: the kernel refused zero-copy for this pair (or zero-copy is off); copied"
            );
        }
        self.ctx.metrics.record(&CallRecord {
            total: progress.total,
            zero_copy: progress.file - progress.fallback - progress.small,
            fallback: progress.fallback,
            small_copy: progress.small,
            used_fallback: progress.used_fallback,
            failed: code.is_some(),
        });
        match code {
            None => Ok(Transferred {
                total: progress.total,
                file: progress.file,
                complete: progress.complete,
            }),
            Some(code) => Err(SendError {
                code,
                total: progress.total,
                file: progress.file,
            }),
        }
    }
}

/// A file target that is the source file itself, written where the range
/// is read: `invalid`, as `copy_file_range(2)` refuses overlapping ranges of
/// one file (`EINVAL`). A to-EOF copy into its own file always overlaps: it
/// would chase its own end until the disk filled. `written` counts the
/// headers and trailers, written at the target too.
fn overlapping_copy(
    source: &File,
    target: &File,
    offset: u64,
    at: u64,
    count: Count,
    written: u64,
) -> Result<(), ErrorCode> {
    let same = crate::sys::file::same_file(source.as_fd(), target.as_fd())
        .map_err(transfer::errors::code)?;
    if !same {
        return Ok(());
    }
    let overlaps = match count {
        Count::ToEof => true,
        Count::AtMost(0) => false,
        Count::AtMost(n) => {
            let read_end = offset.saturating_add(n);
            let write_end = at.saturating_add(n).saturating_add(written);
            offset < write_end && at < read_end
        }
    };
    if overlaps {
        Err(ErrorCode::Invalid)
    } else {
        Ok(())
    }
}

/// The source must be a file opened for reading (and a regular one: see
/// `SendfileCtxView::regular`).
pub(crate) fn readable_file(d: &Descriptor) -> Result<Arc<File>, ErrorCode> {
    let Descriptor::File(f) = d else {
        return Err(ErrorCode::Invalid);
    };
    if !f.open_mode.contains(OpenMode::READ) {
        return Err(ErrorCode::BadDescriptor);
    }
    Ok(f.file.clone())
}

/// A file target must be a file opened for writing, under a preopen that
/// permits writes (and a regular one: see `SendfileCtxView::regular`).
fn writable_file(d: &Descriptor) -> Result<Arc<File>, ErrorCode> {
    let Descriptor::File(f) = d else {
        return Err(ErrorCode::Invalid);
    };
    if !f.open_mode.contains(OpenMode::WRITE) {
        return Err(ErrorCode::BadDescriptor);
    }
    if f.perms.write_not_permitted() {
        return Err(ErrorCode::AccessDenied);
    }
    Ok(f.file.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::sendfile::Host;
    use crate::ctx::SendfileCtx;
    use wasmtime::component::ResourceTable;

    /// glibc's per-thread cache (tcache) serves requests of at most this
    /// many bytes; a larger one takes the allocator's slow path.
    const TCACHE_MAX_REQUEST: usize = 1032;

    /// wasmtime boxes each async host call's future with the call's
    /// arguments beside it; the box must stay a tcache-sized request (see
    /// `SendfileCtxView::call`), with room for wasmtime's own fields.
    #[test]
    fn a_call_future_and_its_arguments_fit_the_allocator_cache() {
        let mut ctx = SendfileCtx::builder().build();
        let mut table = ResourceTable::new();
        let mut view = SendfileCtxView {
            ctx: &mut ctx,
            table: &mut table,
        };
        let options = || SendOptions {
            headers: Vec::new(),
            trailers: Vec::new(),
            flags: SendFlags::empty(),
            max_chunk: None,
        };
        let arguments =
            std::mem::size_of::<(Target, Resource<Descriptor>, u64, Count, SendOptions)>();
        let wasmtime_fields = 64;
        // Handles that name nothing: the call would trap, but its future
        // has the same type (and size) as any other.
        let stale = || Target::Socket(Resource::new_borrow(1));
        let non_blocking = {
            let call = view.send_file(
                stale(),
                Resource::new_borrow(2),
                0,
                Count::AtMost(1),
                options(),
            );
            std::mem::size_of_val(&call)
        };
        let blocking = {
            let call = view.blocking_send_file(
                stale(),
                Resource::new_borrow(2),
                0,
                Count::AtMost(1),
                options(),
            );
            std::mem::size_of_val(&call)
        };
        let sizes = [non_blocking, blocking];
        for size in sizes {
            assert!(
                size + arguments + wasmtime_fields <= TCACHE_MAX_REQUEST,
                "a host call's future is {size} bytes, its arguments {arguments}"
            );
        }
    }
}

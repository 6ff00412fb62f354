//! A file body on the wire: the response head and the file range go out
//! through the transfer engine ([`crate::transfer::socket`]), so the head
//! and the range share segments, a small cached range goes in one
//! `sendmsg` with the head, and the rest is `sendfile(2)`.

use super::io::Output;
use crate::metrics::{CallRecord, Metrics};
use crate::p2::http_file::FileBody;
use crate::policy::Policy;
use crate::sockets::{PendingWrites, Writer};
use crate::transfer::socket::SocketTarget;
use crate::transfer::{self, Mode, Progress, Request};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How sending a file body ended, and the file bytes that went out.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FileEnd {
    /// Head and whole range sent.
    Complete,
    /// The file ended before the promised length (it shrank), the client
    /// took nothing for the time allowed, or the socket failed: the
    /// connection must close.
    Short,
}

/// Sends `head` then `body`'s range to `conn`, waiting at most `idle` each
/// time the client takes nothing. Counts the call in `metrics` as the
/// capability does. Returns how it ended and the file bytes sent.
pub(crate) async fn send(
    conn: &Output,
    head: Vec<u8>,
    body: &FileBody,
    policy: &Policy,
    metrics: &Metrics,
    idle: Duration,
) -> (FileEnd, u64) {
    let target = SocketTarget {
        stream: conn.0.clone(),
        writer: Arc::new(Mutex::new(Writer::new(
            conn.0.clone(),
            Arc::new(PendingWrites::default()),
        ))),
    };
    let mut head_sent = 0usize;
    let mut file_sent = 0u64;
    let mut total = Progress::default();
    let end = loop {
        let req = Request {
            source: body.file.clone(),
            size: None,
            offset: body.offset + file_sent,
            count: Some(body.len - file_sent),
            headers: if head_sent < head.len() {
                vec![head[head_sent..].to_vec()]
            } else {
                Vec::new()
            },
            trailers: Vec::new(),
            no_disk_io: false,
            no_cache: false,
            max_chunk: policy.max_chunk,
            zero_copy: policy.zero_copy,
        };
        let progress = match transfer::socket::send(&req, &target, Mode::NonBlocking).await {
            Ok(p) => p,
            Err(f) if f.code == crate::bindings::sendfile::ErrorCode::WouldBlock => f.progress,
            Err(f) => {
                tracing::debug!(code = ?f.code, "file body: connection failed");
                add(&mut total, &f.progress);
                break FileEnd::Short;
            }
        };
        head_sent += (progress.total - progress.file) as usize;
        file_sent += progress.file;
        add(&mut total, &progress);
        if progress.complete {
            break if file_sent == body.len {
                FileEnd::Complete
            } else {
                tracing::warn!(
                    promised = body.len,
                    sent = file_sent,
                    "file body: the file shrank while it was sent; closing the connection"
                );
                FileEnd::Short
            };
        }
        if tokio::time::timeout(idle, conn.0.writable()).await.is_err() {
            break FileEnd::Short;
        }
    };
    metrics.record(&CallRecord {
        total: total.total,
        zero_copy: total.file - total.fallback - total.small,
        fallback: total.fallback,
        small_copy: total.small,
        used_fallback: total.used_fallback,
        failed: end == FileEnd::Short,
    });
    (end, file_sent)
}

/// Adds one call's progress to a response's.
fn add(total: &mut Progress, p: &Progress) {
    total.total += p.total;
    total.file += p.file;
    total.fallback += p.fallback;
    total.small += p.small;
    total.used_fallback |= p.used_fallback;
}

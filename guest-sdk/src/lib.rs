//! # wasm-sendfile guest SDK
//!
//! For components built for `wasm32-wasip2` that run in the wasm-sendfile
//! host: send a file to a TCP socket (or another file) with the host's
//! zero-copy `sendfile(2)`, passing the ordinary `wasi` handles.
//!
//! - [`fs::File`]: a file opened through the preopened directories, with a
//!   cursor (WASI descriptors have none).
//! - [`net::TcpListener`], [`net::TcpStream`]: TCP with `std` names and
//!   `std::io` traits, exposing the `wasi:sockets` socket handle.
//! - [`sendfile()`] / [`try_sendfile`]: Linux semantics (`offset: None` uses
//!   and advances the file's cursor).
//! - [`SendFile`]: FreeBSD's options (headers, trailers, to-EOF,
//!   `no-disk-io`, `no-cache`), blocking or non-blocking and resumable,
//!   from an explicit offset ([`SendFile::new`]) or from the file's cursor,
//!   which it advances ([`SendFile::from_cursor`]).
//! - Timeouts as in std: [`net::TcpStream::set_read_timeout`],
//!   [`set_write_timeout`](net::TcpStream::set_write_timeout) (which also
//!   bounds blocking sendfile calls to the stream),
//!   [`connect_timeout`](net::TcpStream::connect_timeout).
//! - [`limits()`]: what the host allows, asked up front.
//! - [`http`]: a `wasi:http` guest answers with a file, sent by the host
//!   with `sendfile(2)` (`wasm-sendfile http`).
//!
//! One error model: every call returns or converts into `std::io::Error`
//! of the matching [`std::io::ErrorKind`]. When the capability failed,
//! [`SendError::of`] gives its [`ErrorCode`] and the bytes sent before the
//! failure ([`SendFile`] returns the [`SendError`] itself, and `?` turns it
//! into an `io::Error`).
//!
//! ```no_run
//! use wasm_sendfile_sdk::{fs::File, net::TcpListener, sendfile};
//! # fn main() -> std::io::Result<()> {
//! let listener = TcpListener::bind("127.0.0.1:8080")?;
//! loop {
//!     let (stream, _peer) = listener.accept()?;
//!     let mut file = File::open("/public/index.html")?;
//!     let len = file.len()?;
//!     sendfile(&stream, &mut file, None, len)?;
//! }
//! # }
//! ```

mod bindings;
mod error;
pub mod fs;
pub mod http;
pub mod net;

/// The `wasi` crate the SDK is built on, re-exported: guests that go past
/// the SDK's wrappers (pollables, clocks, raw sockets) use these very types
/// (`Descriptor`, `TcpSocket`, `Pollable`), with no version of their own
/// to keep in step.
pub use wasi;
mod sendfile;
mod wait;

/// The capability's WIT bindings exactly as generated, for callers who
/// want the calls themselves (no cursor, no resuming).
pub mod raw {
    pub use crate::bindings::wasm_sendfile::sendfile::sendfile::*;
}

/// `http-stats`: a server guest reports each HTTP response it sent (status
/// and body bytes) to the host's metrics, which `wasm-sendfile serve
/// --metrics` exports. A guest that never calls it does not import it.
///
/// ```no_run
/// wasm_sendfile_sdk::http_stats::response_sent(200, 1024);
/// ```
pub mod http_stats {
    pub use crate::bindings::wasm_sendfile::sendfile::http_stats::response_sent;
}

pub use sendfile::{
    ErrorCode, HostLimits, SendError, SendFile, SendFlags, Sent, Target, limits, sendfile,
    try_sendfile,
};

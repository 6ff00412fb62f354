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
//!   `no-disk-io`, `no-cache`), blocking or non-blocking and resumable.
//!
//! Errors are `std::io::Error`s of the matching [`std::io::ErrorKind`];
//! [`SendError`] (inside them, or returned by [`SendFile`]) carries the
//! capability's [`ErrorCode`] and the bytes sent before the failure.
//!
//! ```no_run
//! use wasm_sendfile_sdk::{fs::File, net::TcpListener, sendfile};
//! # fn main() -> std::io::Result<()> {
//! let listener = TcpListener::bind("127.0.0.1:8080".parse().unwrap())?;
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
pub mod net;

/// The `wasi` crate the SDK is built on, re-exported: guests that go past
/// the SDK's wrappers (pollables, clocks, raw sockets) use these very types
/// (`Descriptor`, `TcpSocket`, `Pollable`), with no version of their own
/// to keep in step.
pub use wasi;
mod sendfile;

/// The capability's WIT bindings exactly as generated, for callers who
/// want the calls themselves (no cursor, no resuming).
pub mod raw {
    pub use crate::bindings::wasm_sendfile::sendfile::sendfile::*;
}

pub use sendfile::{
    ErrorCode, SendError, SendFile, SendFlags, Sent, Target, sendfile, try_sendfile,
};

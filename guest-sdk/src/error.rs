//! WASI error codes as `std::io::Error`s: one function per code type.

use std::io::{self, ErrorKind};
use wasi::filesystem::types::ErrorCode as FsCode;
use wasi::io::streams::StreamError;
use wasi::sockets::network::ErrorCode as NetCode;

/// A `wasi:filesystem` error as an `io::Error`.
pub(crate) fn fs(code: FsCode) -> io::Error {
    let kind = match code {
        FsCode::Access | FsCode::NotPermitted | FsCode::ReadOnly => ErrorKind::PermissionDenied,
        FsCode::NoEntry => ErrorKind::NotFound,
        FsCode::Exist => ErrorKind::AlreadyExists,
        FsCode::IsDirectory => ErrorKind::IsADirectory,
        FsCode::NotDirectory => ErrorKind::NotADirectory,
        FsCode::Invalid | FsCode::NameTooLong | FsCode::Loop => ErrorKind::InvalidInput,
        FsCode::InsufficientSpace | FsCode::Quota | FsCode::FileTooLarge => ErrorKind::StorageFull,
        FsCode::Interrupted => ErrorKind::Interrupted,
        FsCode::Unsupported => ErrorKind::Unsupported,
        FsCode::WouldBlock => ErrorKind::WouldBlock,
        FsCode::Busy => ErrorKind::ResourceBusy,
        FsCode::NotEmpty => ErrorKind::DirectoryNotEmpty,
        _ => ErrorKind::Other,
    };
    io::Error::new(kind, code.name())
}

/// A `wasi:sockets` error as an `io::Error` that says what was tried:
/// `access-denied: bind 127.0.0.1:9000`.
pub(crate) fn net_at(code: NetCode, op: &str, addr: std::net::SocketAddr) -> io::Error {
    let e = net(code);
    io::Error::new(e.kind(), format!("{}: {op} {addr}", code.name()))
}

/// A `wasi:sockets` error as an `io::Error`, with the code's WIT name as
/// its message (`would-block`, `access-denied`, ...).
pub(crate) fn net(code: NetCode) -> io::Error {
    let kind = match code {
        NetCode::AccessDenied => ErrorKind::PermissionDenied,
        NetCode::NotSupported => ErrorKind::Unsupported,
        NetCode::InvalidArgument => ErrorKind::InvalidInput,
        NetCode::OutOfMemory => ErrorKind::OutOfMemory,
        NetCode::Timeout => ErrorKind::TimedOut,
        NetCode::WouldBlock => ErrorKind::WouldBlock,
        NetCode::AddressInUse => ErrorKind::AddrInUse,
        NetCode::AddressNotBindable => ErrorKind::AddrNotAvailable,
        NetCode::RemoteUnreachable => ErrorKind::HostUnreachable,
        NetCode::ConnectionRefused => ErrorKind::ConnectionRefused,
        NetCode::ConnectionReset => ErrorKind::ConnectionReset,
        NetCode::ConnectionAborted => ErrorKind::ConnectionAborted,
        NetCode::InvalidState => ErrorKind::NotConnected,
        _ => ErrorKind::Other,
    };
    io::Error::new(kind, code.name())
}

/// A stream failure as an `io::Error` (a closed stream is not an error for
/// reads, so callers handle `Closed` first where it means end-of-stream).
pub(crate) fn stream(e: StreamError) -> io::Error {
    match e {
        StreamError::Closed => io::Error::new(ErrorKind::BrokenPipe, "stream closed"),
        StreamError::LastOperationFailed(err) => {
            io::Error::other(format!("stream: {}", err.to_debug_string()))
        }
    }
}

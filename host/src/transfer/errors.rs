//! From OS error numbers to the capability's `error-code`s.

use crate::bindings::sendfile::ErrorCode;
use rustix::io::Errno;

/// The `error-code` for an `errno` from a transfer system call, following
/// the error lists of Linux and FreeBSD `sendfile(2)`.
pub(crate) fn code(e: Errno) -> ErrorCode {
    match e {
        Errno::AGAIN => ErrorCode::WouldBlock,
        Errno::BUSY => ErrorCode::Busy,
        Errno::BADF => ErrorCode::BadDescriptor,
        Errno::INVAL | Errno::OVERFLOW | Errno::SPIPE | Errno::ISDIR => ErrorCode::Invalid,
        Errno::NOTCONN | Errno::DESTADDRREQ => ErrorCode::NotConnected,
        Errno::PIPE | Errno::SHUTDOWN => ErrorCode::BrokenPipe,
        Errno::CONNRESET
        | Errno::CONNABORTED
        | Errno::TIMEDOUT
        | Errno::HOSTUNREACH
        | Errno::NETUNREACH
        | Errno::NETDOWN => ErrorCode::ConnectionReset,
        Errno::NOSPC | Errno::FBIG | Errno::DQUOT => ErrorCode::NoSpace,
        Errno::ACCESS | Errno::PERM | Errno::ROFS => ErrorCode::AccessDenied,
        Errno::INTR => ErrorCode::Interrupted,
        Errno::NOSYS | Errno::OPNOTSUPP | Errno::XDEV => ErrorCode::Unsupported,
        _ => ErrorCode::Io,
    }
}

/// Whether the kernel refused zero-copy for this descriptor pair, so that
/// copying through a buffer may still work (Linux `sendfile(2)` NOTES:
/// "Applications may wish to fall back to read(2) and write(2) in the case
/// where sendfile() fails with EINVAL or ENOSYS").
pub(crate) fn refuses_zero_copy(e: Errno) -> bool {
    matches!(
        e,
        Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP | Errno::XDEV
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_errors_map_to_their_codes() {
        assert_eq!(code(Errno::AGAIN), ErrorCode::WouldBlock);
        assert_eq!(code(Errno::BUSY), ErrorCode::Busy);
        assert_eq!(code(Errno::PIPE), ErrorCode::BrokenPipe);
        assert_eq!(code(Errno::FBIG), ErrorCode::NoSpace);
        assert_eq!(code(Errno::NOTCONN), ErrorCode::NotConnected);
        assert_eq!(code(Errno::NOMEM), ErrorCode::Io);
        assert!(refuses_zero_copy(Errno::NOSYS) && !refuses_zero_copy(Errno::PIPE));
    }
}

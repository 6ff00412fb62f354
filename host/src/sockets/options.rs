//! Socket options of `wasi:sockets/tcp`, with the WASI rules for values:
//! 0 is `invalid-argument` where the WIT says so, other values are clamped
//! to what the OS accepts. Values read back are normalised as wasmtime-wasi
//! normalises them, so a guest sees the same numbers under either host.
//!
//! # References
//! - Linux `tcp(7)`, `ip(7)`, `ipv6(7)`, `socket(7)`.

use super::{Result, TcpSocket};
use rustix::net::sockopt;
use std::time::Duration;
use wasmtime_wasi::p2::bindings::sockets::network::{ErrorCode, IpAddressFamily};

/// Linux caps `TCP_KEEPIDLE` and `TCP_KEEPINTVL` at this many seconds.
const MAX_KEEPALIVE_SECS: u64 = 32_767;
/// Linux caps `TCP_KEEPCNT` at this.
const MAX_KEEPALIVE_COUNT: u32 = 127;

fn nonzero<T: Default + PartialEq>(value: T) -> Result<T> {
    if value == T::default() {
        Err(ErrorCode::InvalidArgument)
    } else {
        Ok(value)
    }
}

/// Nanoseconds to whole seconds in 1..=MAX_KEEPALIVE_SECS (rounded up).
fn keepalive_duration(nanos: u64) -> Duration {
    Duration::from_secs(nanos.div_ceil(1_000_000_000).clamp(1, MAX_KEEPALIVE_SECS))
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl TcpSocket {
    pub(crate) fn keep_alive_enabled(&self) -> Result<bool> {
        Ok(sockopt::socket_keepalive(self.fd()?)?)
    }

    pub(crate) fn set_keep_alive_enabled(&self, value: bool) -> Result<()> {
        Ok(sockopt::set_socket_keepalive(self.fd()?, value)?)
    }

    pub(crate) fn keep_alive_idle_time(&self) -> Result<u64> {
        Ok(nanos(sockopt::tcp_keepidle(self.fd()?)?))
    }

    pub(crate) fn set_keep_alive_idle_time(&self, value: u64) -> Result<()> {
        let d = keepalive_duration(nonzero(value)?);
        Ok(sockopt::set_tcp_keepidle(self.fd()?, d)?)
    }

    pub(crate) fn keep_alive_interval(&self) -> Result<u64> {
        Ok(nanos(sockopt::tcp_keepintvl(self.fd()?)?))
    }

    pub(crate) fn set_keep_alive_interval(&self, value: u64) -> Result<()> {
        let d = keepalive_duration(nonzero(value)?);
        Ok(sockopt::set_tcp_keepintvl(self.fd()?, d)?)
    }

    pub(crate) fn keep_alive_count(&self) -> Result<u32> {
        Ok(sockopt::tcp_keepcnt(self.fd()?)?)
    }

    pub(crate) fn set_keep_alive_count(&self, value: u32) -> Result<()> {
        let n = nonzero(value)?.min(MAX_KEEPALIVE_COUNT);
        Ok(sockopt::set_tcp_keepcnt(self.fd()?, n)?)
    }

    pub(crate) fn hop_limit(&self) -> Result<u8> {
        let fd = self.fd()?;
        let hops = match self.family() {
            IpAddressFamily::Ipv4 => sockopt::ip_ttl(fd)?,
            IpAddressFamily::Ipv6 => sockopt::ipv6_unicast_hops(fd)?.into(),
        };
        // A TTL no `u8` can hold is not WASI's to report (wasmtime-wasi
        // answers the same).
        u8::try_from(hops).map_err(|_| ErrorCode::NotSupported)
    }

    pub(crate) fn set_hop_limit(&self, value: u8) -> Result<()> {
        // The socket's state is checked before the value, as in
        // wasmtime-wasi (the keep-alive setters check the value first).
        let fd = self.fd()?;
        let value = nonzero(value)?;
        match self.family() {
            IpAddressFamily::Ipv4 => sockopt::set_ip_ttl(fd, value.into())?,
            IpAddressFamily::Ipv6 => sockopt::set_ipv6_unicast_hops(fd, Some(value))?,
        }
        Ok(())
    }

    pub(crate) fn receive_buffer_size(&self) -> Result<u64> {
        Ok(buffer_size_read(sockopt::socket_recv_buffer_size(
            self.fd()?,
        )?))
    }

    pub(crate) fn set_receive_buffer_size(&self, value: u64) -> Result<()> {
        let fd = self.fd()?;
        buffer_hint(sockopt::set_socket_recv_buffer_size(
            fd,
            buffer_size_to_set(value)?,
        ))
    }

    pub(crate) fn send_buffer_size(&self) -> Result<u64> {
        Ok(buffer_size_read(sockopt::socket_send_buffer_size(
            self.fd()?,
        )?))
    }

    pub(crate) fn set_send_buffer_size(&self, value: u64) -> Result<()> {
        let fd = self.fd()?;
        buffer_hint(sockopt::set_socket_send_buffer_size(
            fd,
            buffer_size_to_set(value)?,
        ))
    }
}

/// A buffer size as read back: Linux reports twice the value set (it
/// reserves as much again for bookkeeping, `socket(7)`); the half is what
/// the guest asked for, as wasmtime-wasi reports it.
fn buffer_size_read(kernel: usize) -> u64 {
    (kernel / 2) as u64
}

/// A buffer size to set: 0 is `invalid-argument`; others are hints the
/// kernel clamps, so they are only kept within what `setsockopt` takes.
fn buffer_size_to_set(value: u64) -> Result<usize> {
    let value = usize::try_from(nonzero(value)?).unwrap_or(usize::MAX);
    Ok(value.min(i32::MAX as usize))
}

/// Buffer sizes are hints: a kernel that cannot grant one (`ENOBUFS`, on
/// the BSDs) is not an error, as in wasmtime-wasi.
fn buffer_hint(result: rustix::io::Result<()>) -> Result<()> {
    match result {
        Ok(()) | Err(rustix::io::Errno::NOBUFS) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

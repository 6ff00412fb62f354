//! The host's own `wasi:sockets/tcp` socket resource.
//!
//! wasmtime-wasi keeps its socket's file descriptor private, so this crate
//! supplies a complete `tcp-socket` of its own (the WIT bindings are in
//! [`crate::p2::tcp`]) whose connected stream the capability can reach. The
//! state machine follows the WASI 0.2 `tcp` interface: a socket is created
//! unbound, may be bound, then either listens or connects; `start-*` and
//! `finish-*` calls bracket each transition.

mod options;
mod reader;
mod writer;

pub(crate) use reader::TcpReader;
pub use writer::PendingWrites;
pub(crate) use writer::{LINGER, TcpWriter, WriteEnd, Writer, lock};

use crate::metrics::{Metrics, OpenConnection};
use rustix::net::sockopt;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use wasmtime_wasi::p2::bindings::sockets::network::{ErrorCode, IpAddressFamily};
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream};

/// The backlog Rust's `std` uses for `listen`.
const DEFAULT_BACKLOG: u32 = 128;

type ConnectFuture = Pin<Box<dyn Future<Output = io::Result<tokio::net::TcpStream>> + Send>>;

/// How `start-bind` gets its socket bound.
pub(crate) enum Bind {
    /// Binds the guest's socket, with `SO_REUSEPORT` if asked
    /// ([`crate::Policy::reuse_port`]).
    Fresh { reuse_port: bool },
    /// Takes the embedder's listening socket for the address (a duplicate
    /// descriptor; see [`crate::SendfileCtxBuilder::listener`]).
    Listening(std::net::TcpListener),
}

/// The transition a `start-*` call began and its `finish-*` call completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pending {
    Bind,
    Connect,
    Listen,
}

/// Where a socket is in its life.
enum State {
    /// Created, possibly bound; may still listen or connect.
    Default(tokio::net::TcpSocket),
    /// `start-connect` was called; the connection to the address is being
    /// made.
    Connecting(ConnectFuture, SocketAddr),
    /// Connected, by `finish-connect` or `accept`.
    Connected(Connection),
    /// Listening for connections.
    Listening(Listener),
    /// A connection attempt failed, or a `connect`/`listen` consumed the
    /// socket and failed: every later call reports this error (as
    /// wasmtime-wasi's do; `unknown` where nothing more specific is known).
    Closed(ErrorCode),
}

/// The error a consumed socket reports when nothing more is known.
const CONSUMED: ErrorCode = ErrorCode::Unknown;

/// A connected socket: the stream and the halves handed to the guest.
pub(crate) struct Connection {
    /// The OS socket, shared with the guest's input and output streams.
    pub(crate) stream: Arc<tokio::net::TcpStream>,
    /// The writing half's state, shared with the guest's `output-stream`, so
    /// the capability can flush bytes the guest wrote before its own.
    pub(crate) writer: Arc<Mutex<Writer>>,
    /// The peer's address, recorded when the connection was made: once the
    /// connection closes the kernel no longer reports it (`ENOTCONN`), but
    /// WASI's `remote-address` must.
    peer: SocketAddr,
    reader: Option<TcpReader>,
    streams_taken: bool,
    /// Counted in the metrics' open connections while it lives.
    _open: OpenConnection,
}

impl Connection {
    fn new(stream: tokio::net::TcpStream, peer: SocketAddr, shared: &Shared) -> Self {
        // TCP_NODELAY, as nginx (`tcp_nodelay on`) and Go set it: WASI 0.2
        // has no option for it, and with Nagle a guest that answers in two
        // writes waits for the peer's delayed ACK (~40 ms) before the second
        // goes out. Bytes meant to share segments are joined anyway: by
        // `MSG_MORE` and `TCP_CORK` in the capability. Best effort.
        let _ = stream.set_nodelay(true);
        crate::sys::socket::prepare(std::os::fd::AsFd::as_fd(&stream));
        let stream = Arc::new(stream);
        Self {
            writer: Arc::new(Mutex::new(Writer::new(
                stream.clone(),
                shared.drains.clone(),
            ))),
            _open: shared.metrics.connection_opened(),
            stream,
            peer,
            reader: None,
            streams_taken: false,
        }
    }
}

impl Drop for Connection {
    /// The guest let go of the socket: bytes it wrote still go out, then
    /// the `FIN`, within a bounded time (see [`Writer::orphan`]).
    fn drop(&mut self) {
        Writer::orphan(&self.writer);
    }
}

/// A listening socket and a connection accepted while the guest waited.
struct Listener {
    listener: tokio::net::TcpListener,
    ready: Option<io::Result<(tokio::net::TcpStream, SocketAddr)>>,
}

/// A `wasi:sockets/tcp` `tcp-socket` resource.
pub struct TcpSocket {
    state: State,
    family: IpAddressFamily,
    backlog: u32,
    pending: Option<Pending>,
    connect_result: Option<io::Result<tokio::net::TcpStream>>,
    shared: Shared,
}

/// What every socket of one context shares.
#[derive(Clone)]
pub(crate) struct Shared {
    /// Where a connection's writer counts its background drains.
    pub(crate) drains: Arc<PendingWrites>,
    /// Where connections are counted.
    pub(crate) metrics: Arc<Metrics>,
}

/// Result of socket operations, in WASI error codes.
pub(crate) type Result<T, E = ErrorCode> = std::result::Result<T, E>;

fn family_of(ip: &IpAddr) -> IpAddressFamily {
    match ip {
        IpAddr::V4(_) => IpAddressFamily::Ipv4,
        IpAddr::V6(_) => IpAddressFamily::Ipv6,
    }
}

/// Whether `ip` names one host (not multicast or broadcast).
fn is_unicast(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !v4.is_multicast() && !v4.is_broadcast(),
        IpAddr::V6(v6) => !v6.is_multicast(),
    }
}

/// IPv4-mapped (`::ffff:a.b.c.d`) and the deprecated IPv4-compatible
/// (`::a.b.c.d`, RFC 4291 §2.5.5.1) IPv6 addresses are refused, as
/// wasmtime-wasi refuses them: WASI's IPv6 sockets are IPv6-only, and the
/// kernel's handling of IPv4-compatible addresses is its own.
fn is_v4_in_v6(ip: &IpAddr) -> bool {
    let IpAddr::V6(v6) = ip else {
        return false;
    };
    let compatible = matches!(v6.segments(), [0, 0, 0, 0, 0, 0, _, _])
        && !v6.is_unspecified()
        && !v6.is_loopback();
    compatible || v6.to_ipv4_mapped().is_some()
}

impl TcpSocket {
    /// A new, unbound socket of `family`; its connections count their
    /// background writes and are counted where `shared` says.
    pub(crate) fn new(family: IpAddressFamily, shared: Shared) -> io::Result<Self> {
        let socket = match family {
            IpAddressFamily::Ipv4 => tokio::net::TcpSocket::new_v4()?,
            IpAddressFamily::Ipv6 => {
                let s = tokio::net::TcpSocket::new_v6()?;
                sockopt::set_ipv6_v6only(&s, true)?;
                s
            }
        };
        Ok(Self::with_state(State::Default(socket), family, shared))
    }

    fn with_state(state: State, family: IpAddressFamily, shared: Shared) -> Self {
        Self {
            state,
            family,
            backlog: DEFAULT_BACKLOG,
            pending: None,
            connect_result: None,
            shared,
        }
    }

    /// Takes the unconnected socket out of the `Default` state (leaving
    /// `Closed`), for `connect` or `listen`.
    fn take_default(&mut self) -> Result<tokio::net::TcpSocket> {
        match std::mem::replace(&mut self.state, State::Closed(CONSUMED)) {
            State::Default(socket) => Ok(socket),
            other => {
                self.state = other;
                Err(ErrorCode::InvalidState)
            }
        }
    }

    pub(crate) fn family(&self) -> IpAddressFamily {
        self.family
    }

    /// The connection, if the socket is connected.
    pub(crate) fn connection(&self) -> Option<&Connection> {
        match &self.state {
            State::Connected(c) => Some(c),
            _ => None,
        }
    }

    fn check_no_pending(&self) -> Result<()> {
        match self.pending {
            Some(_) => Err(ErrorCode::ConcurrencyConflict),
            None => Ok(()),
        }
    }

    /// Completes the `start-*` of kind `kind`.
    pub(crate) fn finish(&mut self, kind: Pending) -> Result<()> {
        if self.pending != Some(kind) {
            return Err(ErrorCode::NotInProgress);
        }
        self.pending = None;
        Ok(())
    }

    fn check_address(&self, addr: &SocketAddr) -> Result<()> {
        let ip = addr.ip();
        if family_of(&ip) != self.family || !is_unicast(&ip) || is_v4_in_v6(&ip) {
            return Err(ErrorCode::InvalidArgument);
        }
        Ok(())
    }

    /// Whether the socket has a local address.
    pub(crate) fn is_bound(&self) -> bool {
        match &self.state {
            State::Default(s) => s.local_addr().is_ok_and(|a| a.port() != 0),
            State::Connecting(..) | State::Closed(_) => false,
            State::Connected(_) | State::Listening(_) => true,
        }
    }

    /// `start-bind`. `allowed` is the host policy's verdict on `addr`;
    /// `bind` says whether to bind this socket or take the embedder's
    /// listening one.
    pub(crate) fn start_bind(&mut self, addr: SocketAddr, allowed: bool, bind: Bind) -> Result<()> {
        self.check_no_pending()?;
        let State::Default(socket) = &self.state else {
            return Err(ErrorCode::InvalidState);
        };
        if self.is_bound() {
            return Err(ErrorCode::InvalidState);
        }
        self.check_address(&addr)?;
        if !allowed {
            return Err(ErrorCode::AccessDenied);
        }
        let reuse_port = match bind {
            Bind::Fresh { reuse_port } => reuse_port,
            Bind::Listening(listener) => {
                // The socket the guest created is closed; it gets the
                // embedder's, already bound and listening.
                listener.set_nonblocking(true)?;
                let fd = std::os::fd::OwnedFd::from(listener);
                let socket = tokio::net::TcpSocket::from_std_stream(fd.into());
                self.state = State::Default(socket);
                self.pending = Some(Pending::Bind);
                return Ok(());
            }
        };
        // Like std and wasmtime-wasi: let a restarted server reuse a port
        // whose old connections linger in TIME_WAIT.
        socket.set_reuseaddr(true).map_err(ErrorCode::from)?;
        if reuse_port {
            socket.set_reuseport(true).map_err(ErrorCode::from)?;
        }
        socket.bind(addr).map_err(|e| match e.raw_os_error() {
            Some(libc::EADDRNOTAVAIL) => ErrorCode::AddressNotBindable,
            _ => ErrorCode::from(e),
        })?;
        self.pending = Some(Pending::Bind);
        Ok(())
    }

    /// `start-connect`. `allowed` is the host policy's verdict on `addr`.
    pub(crate) fn start_connect(&mut self, addr: SocketAddr, allowed: bool) -> Result<()> {
        self.check_no_pending()?;
        if !matches!(self.state, State::Default(_)) {
            return Err(ErrorCode::InvalidState);
        }
        self.check_address(&addr)?;
        if addr.ip().is_unspecified() || addr.port() == 0 {
            return Err(ErrorCode::InvalidArgument);
        }
        let socket = self.take_default()?;
        // Refused by the policy: as in wasmtime-wasi, whose check runs in
        // the connection attempt, `start-connect` succeeds and
        // `finish-connect` reports `access-denied`; the socket is used up.
        let attempt: ConnectFuture = if allowed {
            Box::pin(socket.connect(addr))
        } else {
            drop(socket);
            Box::pin(std::future::ready(Err(
                io::ErrorKind::PermissionDenied.into()
            )))
        };
        self.state = State::Connecting(attempt, addr);
        self.pending = Some(Pending::Connect);
        Ok(())
    }

    /// Polls a connection attempt, keeping its result for `finish-connect`.
    fn poll_connect(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let State::Connecting(fut, _) = &mut self.state
            && self.connect_result.is_none()
        {
            match fut.as_mut().poll(cx) {
                Poll::Ready(r) => self.connect_result = Some(r),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(())
    }

    /// `finish-connect`: the guest's input and output streams, once the
    /// connection is made.
    pub(crate) fn finish_connect(&mut self) -> Result<(DynInputStream, DynOutputStream)> {
        if self.pending != Some(Pending::Connect) {
            return Err(ErrorCode::NotInProgress);
        }
        if self
            .poll_connect(&mut Context::from_waker(std::task::Waker::noop()))
            .is_pending()
        {
            return Err(ErrorCode::WouldBlock);
        }
        self.pending = None;
        // Whatever the outcome, the attempt is over: its future completed
        // and must not be polled again.
        let State::Connecting(_, peer) =
            std::mem::replace(&mut self.state, State::Closed(CONSUMED))
        else {
            return Err(ErrorCode::InvalidState);
        };
        let Some(result) = self.connect_result.take() else {
            return Err(ErrorCode::InvalidState);
        };
        let stream = match result {
            Ok(stream) => stream,
            Err(e) => {
                let code = ErrorCode::from(e);
                self.state = State::Closed(code);
                return Err(code);
            }
        };
        // The peer is the address connected to: asking the kernel
        // (`getpeername`) fails once the peer has reset the connection,
        // which must not fail `finish-connect` (the streams report it).
        let mut conn = Connection::new(stream, peer, &self.shared);
        let streams = take_streams(&mut conn)?;
        self.state = State::Connected(conn);
        Ok(streams)
    }

    /// `start-listen`: WASI 0.2 requires an explicit bind first. `allowed`
    /// is the host policy's verdict on listening at the bound address.
    pub(crate) fn start_listen(&mut self, allowed: bool) -> Result<()> {
        self.check_no_pending()?;
        if !matches!(self.state, State::Default(_)) || !self.is_bound() {
            return Err(ErrorCode::InvalidState);
        }
        // Refused or failed, the socket is used up (as wasmtime-wasi's).
        let socket = self.take_default()?;
        if !allowed {
            return Err(ErrorCode::AccessDenied);
        }
        match socket.listen(self.backlog) {
            Ok(listener) => {
                self.state = State::Listening(Listener {
                    listener,
                    ready: None,
                });
                self.pending = Some(Pending::Listen);
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Polls for an incoming connection, keeping it for `accept`.
    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let State::Listening(l) = &mut self.state
            && l.ready.is_none()
        {
            match l.listener.poll_accept(cx) {
                Poll::Ready(r) => l.ready = Some(r),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(())
    }

    /// `accept`, first half: the next connection waiting, or `would-block`.
    /// The caller asks the policy about its peer, then [`TcpSocket::adopt`]s
    /// it (or [`refuse`]s it).
    pub(crate) fn next_connection(&mut self) -> Result<(tokio::net::TcpStream, SocketAddr)> {
        if !matches!(self.state, State::Listening(_)) {
            return Err(ErrorCode::InvalidState);
        }
        if self
            .poll_accept(&mut Context::from_waker(std::task::Waker::noop()))
            .is_pending()
        {
            return Err(ErrorCode::WouldBlock);
        }
        let State::Listening(l) = &mut self.state else {
            return Err(ErrorCode::InvalidState);
        };
        let Some(accepted) = l.ready.take() else {
            return Err(ErrorCode::WouldBlock);
        };
        accepted.map_err(accept_error)
    }

    /// `accept`, second half: a socket for a connection this listener
    /// accepted, and its streams.
    pub(crate) fn adopt(
        &self,
        stream: tokio::net::TcpStream,
        peer: SocketAddr,
    ) -> Result<(TcpSocket, DynInputStream, DynOutputStream)> {
        let mut conn = Connection::new(stream, peer, &self.shared);
        let (input, output) = take_streams(&mut conn)?;
        let socket = Self::with_state(State::Connected(conn), self.family, self.shared.clone());
        Ok((socket, input, output))
    }

    /// `local-address`.
    pub(crate) fn local_address(&self) -> Result<SocketAddr> {
        Ok(match &self.state {
            State::Default(_) if !self.is_bound() => return Err(ErrorCode::InvalidState),
            State::Default(s) => s.local_addr()?,
            State::Connected(c) => c.stream.local_addr()?,
            State::Listening(l) => l.listener.local_addr()?,
            State::Connecting(..) => return Err(ErrorCode::InvalidState),
            State::Closed(code) => return Err(*code),
        })
    }

    /// The wildcard address of the socket's family (port 0): what an
    /// implicit bind binds to.
    pub(crate) fn wildcard(&self) -> SocketAddr {
        match self.family {
            IpAddressFamily::Ipv4 => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
            IpAddressFamily::Ipv6 => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
        }
    }

    /// `remote-address`.
    pub(crate) fn remote_address(&self) -> Result<SocketAddr> {
        match &self.state {
            State::Connected(c) => Ok(c.peer),
            State::Closed(code) => Err(*code),
            _ => Err(ErrorCode::InvalidState),
        }
    }

    /// `is-listening`.
    pub(crate) fn is_listening(&self) -> bool {
        matches!(self.state, State::Listening(_))
    }

    /// `set-listen-backlog-size`: kept for `listen`, or applied at once to a
    /// listening socket.
    pub(crate) fn set_listen_backlog_size(&mut self, value: u64) -> Result<()> {
        if value == 0 {
            return Err(ErrorCode::InvalidArgument);
        }
        let value = u32::try_from(value)
            .unwrap_or(u32::MAX)
            .min(i32::MAX as u32);
        match &self.state {
            State::Default(_) => {}
            State::Listening(l) => {
                rustix::net::listen(&l.listener, value as i32)
                    .map_err(|_| ErrorCode::NotSupported)?;
            }
            State::Closed(code) => return Err(*code),
            _ => return Err(ErrorCode::InvalidState),
        }
        self.backlog = value;
        Ok(())
    }

    /// `shutdown`.
    pub(crate) fn shutdown(&mut self, how: std::net::Shutdown) -> Result<()> {
        let State::Connected(conn) = &mut self.state else {
            return Err(ErrorCode::InvalidState);
        };
        if matches!(how, std::net::Shutdown::Read | std::net::Shutdown::Both)
            && let Some(reader) = &conn.reader
        {
            reader.shutdown();
        }
        if matches!(how, std::net::Shutdown::Write | std::net::Shutdown::Both) {
            Writer::shutdown(&conn.writer);
        }
        Ok(())
    }

    /// The descriptor for socket options, in any state but connecting.
    pub(crate) fn fd(&self) -> Result<rustix::fd::BorrowedFd<'_>> {
        use rustix::fd::AsFd;
        match &self.state {
            State::Default(s) => Ok(s.as_fd()),
            State::Connected(c) => Ok(c.stream.as_fd()),
            State::Listening(l) => Ok(l.listener.as_fd()),
            State::Connecting(..) => Err(ErrorCode::InvalidState),
            State::Closed(code) => Err(*code),
        }
    }

    /// Waits until the current operation can make progress: a connection
    /// attempt finished, or a connection is waiting to be accepted. Ready at
    /// once in every other state, `start-listen` not yet finished included
    /// (as wasmtime-wasi's).
    pub(crate) async fn ready(&mut self) {
        std::future::poll_fn(|cx| match (&self.state, self.pending) {
            (State::Connecting(..), _) => self.poll_connect(cx),
            (State::Listening(_), None) => self.poll_accept(cx),
            _ => Poll::Ready(()),
        })
        .await
    }
}

/// Resets a connection the policy refused at `accept` (`SO_LINGER` 0,
/// then close), before the guest ever sees it, as wasmtime-wasi does.
pub(crate) fn refuse(stream: tokio::net::TcpStream) {
    let _ = sockopt::set_socket_linger(&stream, Some(std::time::Duration::ZERO));
}

/// Linux's `accept(2)` passes errors of the pending connection through
/// (`ECONNRESET`, network errors, ...); other systems do not, and WASI
/// folds them all into `connection-aborted`, as wasmtime-wasi does. The
/// listener stays usable.
fn accept_error(e: io::Error) -> ErrorCode {
    match e.raw_os_error() {
        Some(raw) if pending_connection_error(raw) => ErrorCode::ConnectionAborted,
        _ => e.into(),
    }
}

/// Whether `accept(2)` failed for the pending connection, not the listener.
fn pending_connection_error(raw: i32) -> bool {
    #[cfg(target_os = "linux")]
    if raw == libc::ENONET {
        return true;
    }
    matches!(
        raw,
        libc::ECONNRESET
            | libc::ENETRESET
            | libc::EHOSTUNREACH
            | libc::EHOSTDOWN
            | libc::ENETDOWN
            | libc::ENETUNREACH
            | libc::EPROTO
            | libc::ENOPROTOOPT
            | libc::EOPNOTSUPP
    )
}

/// Hands out a connection's input and output streams (once).
fn take_streams(conn: &mut Connection) -> Result<(DynInputStream, DynOutputStream)> {
    if conn.streams_taken {
        return Err(ErrorCode::InvalidState);
    }
    conn.streams_taken = true;
    let reader = TcpReader::new(conn.stream.clone());
    conn.reader = Some(reader.clone());
    let writer = TcpWriter::new(conn.writer.clone());
    Ok((Box::new(reader), Box::new(writer)))
}

#[wasmtime_wasi::async_trait]
impl wasmtime_wasi::p2::Pollable for TcpSocket {
    async fn ready(&mut self) {
        TcpSocket::ready(self).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_accept_errors_fold_into_connection_aborted() {
        for errno in [libc::ECONNRESET, libc::ENETUNREACH, libc::EPROTO] {
            let e = io::Error::from_raw_os_error(errno);
            assert!(matches!(accept_error(e), ErrorCode::ConnectionAborted));
        }
        let e = io::Error::from_raw_os_error(libc::EMFILE);
        assert!(!matches!(accept_error(e), ErrorCode::ConnectionAborted));
    }

    #[test]
    fn ipv4_in_ipv6_addresses_are_recognised() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        for v4_in_v6 in ["::ffff:127.0.0.1", "::127.0.0.1", "::1.2.3.4"] {
            assert!(is_v4_in_v6(&ip(v4_in_v6)), "{v4_in_v6}");
        }
        for plain in ["::", "::1", "fe80::1", "2001:db8::1", "127.0.0.1"] {
            assert!(!is_v4_in_v6(&ip(plain)), "{plain}");
        }
    }
}

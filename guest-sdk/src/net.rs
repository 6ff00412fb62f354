//! TCP with `std` names over `wasi:sockets`, exposing the socket handle the
//! capability needs.
//!
//! Every fallible call returns `std::io::Result`. Field order matters:
//! streams and pollables are children of their socket in the host's table,
//! so they are declared (and dropped) before it.

use crate::error;
use crate::wait::{Deadline, check_timeout};
use std::cell::Cell;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{
    Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, SocketAddrV4, SocketAddrV6, ToSocketAddrs,
};
use std::time::Duration;
use wasi::io::poll::Pollable;
use wasi::io::streams::{InputStream, OutputStream, StreamError};
use wasi::sockets::network::{
    ErrorCode, IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, Ipv6SocketAddress,
};
use wasi::sockets::tcp::{ShutdownType, TcpSocket};

/// Largest write `blocking-write-and-flush` accepts at once.
const MAX_WRITE: usize = 4096;

fn to_wasi(addr: SocketAddr) -> IpSocketAddress {
    match addr {
        SocketAddr::V4(a) => {
            let [a0, a1, a2, a3] = a.ip().octets();
            IpSocketAddress::Ipv4(Ipv4SocketAddress {
                port: a.port(),
                address: (a0, a1, a2, a3),
            })
        }
        SocketAddr::V6(a) => {
            let s = a.ip().segments();
            IpSocketAddress::Ipv6(Ipv6SocketAddress {
                port: a.port(),
                flow_info: a.flowinfo(),
                address: (s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]),
                scope_id: a.scope_id(),
            })
        }
    }
}

fn from_wasi(addr: IpSocketAddress) -> SocketAddr {
    match addr {
        IpSocketAddress::Ipv4(a) => {
            let (a0, a1, a2, a3) = a.address;
            SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(a0, a1, a2, a3), a.port))
        }
        IpSocketAddress::Ipv6(a) => {
            let (s0, s1, s2, s3, s4, s5, s6, s7) = a.address;
            let ip = Ipv6Addr::new(s0, s1, s2, s3, s4, s5, s6, s7);
            SocketAddr::V6(SocketAddrV6::new(ip, a.port, a.flow_info, a.scope_id))
        }
    }
}

fn new_socket(addr: &SocketAddr, op: &str) -> io::Result<TcpSocket> {
    let family = match addr {
        SocketAddr::V4(_) => IpAddressFamily::Ipv4,
        SocketAddr::V6(_) => IpAddressFamily::Ipv6,
    };
    wasi::sockets::tcp_create_socket::create_tcp_socket(family)
        .map_err(|code| error::net_at(code, op, *addr))
}

/// Calls `op` until it stops saying `would-block`, waiting on `pollable`
/// until `deadline`; errors say they come from `what` at `addr`.
fn until_ready<T>(
    pollable: &Pollable,
    deadline: Deadline,
    (what, addr): (&str, SocketAddr),
    mut op: impl FnMut() -> Result<T, ErrorCode>,
) -> io::Result<T> {
    loop {
        match op() {
            Err(ErrorCode::WouldBlock) => {
                deadline.wait(pollable, &format!("{what} {addr}"), ErrorKind::TimedOut)?
            }
            other => return other.map_err(|code| error::net_at(code, what, addr)),
        }
    }
}

/// `op` on each address `addrs` gives, in order, until one succeeds; the
/// last error otherwise (as std's `bind` and `connect` do).
fn each_addr<T>(
    addrs: impl ToSocketAddrs,
    mut op: impl FnMut(SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for addr in addrs.to_socket_addrs()? {
        match op(addr) {
            Ok(t) => return Ok(t),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        )
    }))
}

/// A listening socket.
pub struct TcpListener {
    ready: Pollable,
    socket: TcpSocket,
}

impl TcpListener {
    /// Binds to `addr` and listens (the host's policy must allow the
    /// address). `addr` is anything std's `TcpListener::bind` takes: a
    /// `SocketAddr`, `"127.0.0.1:9000"`, `("::1", 9000)`; each address it
    /// names is tried in turn (names other than IP literals need the host's
    /// name lookup). Errors name the step and the address: `access-denied:
    /// bind 127.0.0.1:9000`.
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        each_addr(addr, Self::bind_one)
    }

    fn bind_one(addr: SocketAddr) -> io::Result<TcpListener> {
        let socket = new_socket(&addr, "bind")?;
        let network = wasi::sockets::instance_network::instance_network();
        let ready = socket.subscribe();
        socket
            .start_bind(&network, to_wasi(addr))
            .map_err(|code| error::net_at(code, "bind", addr))?;
        let forever = Deadline::after(None);
        until_ready(&ready, forever, ("bind", addr), || socket.finish_bind())?;
        socket
            .start_listen()
            .map_err(|code| error::net_at(code, "listen", addr))?;
        until_ready(&ready, forever, ("listen", addr), || socket.finish_listen())?;
        Ok(TcpListener { ready, socket })
    }

    /// Waits for the next connection.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let here = self.local_addr()?;
        let forever = Deadline::after(None);
        let (socket, input, output) =
            until_ready(&self.ready, forever, ("accept on", here), || {
                self.socket.accept()
            })?;
        let stream = TcpStream::from_parts(socket, input, output);
        let peer = stream.peer_addr()?;
        Ok((stream, peer))
    }

    /// The next connection if one is waiting; `WouldBlock` otherwise.
    pub fn try_accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (socket, input, output) = self.socket.accept().map_err(error::net)?;
        let stream = TcpStream::from_parts(socket, input, output);
        let peer = stream.peer_addr()?;
        Ok((stream, peer))
    }

    /// A pollable that is ready when a connection is waiting.
    pub fn subscribe(&self) -> Pollable {
        self.socket.subscribe()
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket
            .local_address()
            .map(from_wasi)
            .map_err(error::net)
    }

    /// The underlying `wasi:sockets` socket.
    pub fn socket(&self) -> &TcpSocket {
        &self.socket
    }
}

/// A connected socket with its input and output streams.
pub struct TcpStream {
    input: InputStream,
    output: OutputStream,
    socket: TcpSocket,
    read_timeout: Cell<Option<Duration>>,
    write_timeout: Cell<Option<Duration>>,
}

impl TcpStream {
    /// Connects to `addr` (the host's policy must allow the address).
    /// `addr` is anything std's `TcpStream::connect` takes; each address it
    /// names is tried in turn. Errors name the address:
    /// `connection-refused: connect 127.0.0.1:9000`.
    pub fn connect(addr: impl ToSocketAddrs) -> io::Result<TcpStream> {
        each_addr(addr, |a| Self::connect_within(a, None))
    }

    /// Connects to `addr`, giving up after `timeout` with
    /// `ErrorKind::TimedOut` (as std's `connect_timeout`; a zero timeout is
    /// `InvalidInput`).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use wasm_sendfile_sdk::net::TcpStream;
    /// # fn main() -> std::io::Result<()> {
    /// let addr = "127.0.0.1:8080".parse().unwrap();
    /// let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    /// # Ok(()) }
    /// ```
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        Self::connect_within(*addr, check_timeout(Some(timeout))?)
    }

    fn connect_within(addr: SocketAddr, timeout: Option<Duration>) -> io::Result<TcpStream> {
        let deadline = Deadline::after(timeout);
        let socket = new_socket(&addr, "connect")?;
        let network = wasi::sockets::instance_network::instance_network();
        socket
            .start_connect(&network, to_wasi(addr))
            .map_err(|code| error::net_at(code, "connect", addr))?;
        let (input, output) = {
            let ready = socket.subscribe();
            until_ready(&ready, deadline, ("connect", addr), || {
                socket.finish_connect()
            })?
        };
        Ok(TcpStream::from_parts(socket, input, output))
    }

    /// Wraps the parts `accept` or `finish-connect` returned.
    pub fn from_parts(socket: TcpSocket, input: InputStream, output: OutputStream) -> TcpStream {
        TcpStream {
            input,
            output,
            socket,
            read_timeout: Cell::new(None),
            write_timeout: Cell::new(None),
        }
    }

    /// Bounds each blocking read: one that waits longer fails with
    /// `ErrorKind::WouldBlock` (as std on Linux). `None`, the default,
    /// waits forever; a zero duration is `InvalidInput`.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.read_timeout.set(check_timeout(timeout)?);
        Ok(())
    }

    /// Bounds each blocking write, flush and blocking sendfile to this
    /// stream: one that waits longer fails with `ErrorKind::WouldBlock`
    /// (as std on Linux). A sendfile that sent part before the timeout
    /// returns the short count instead, as Linux does. `None`, the
    /// default, waits forever; a zero duration is `InvalidInput`.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use wasm_sendfile_sdk::{fs::File, net::TcpStream, sendfile};
    /// # fn main() -> std::io::Result<()> {
    /// let stream = TcpStream::connect("127.0.0.1:8080")?;
    /// stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    /// let mut file = File::open("/data/song.txt")?;
    /// let len = file.len()?;
    /// // Short if the peer stopped reading for 10 s.
    /// let sent = sendfile(&stream, &mut file, None, len)?;
    /// # Ok(()) }
    /// ```
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.write_timeout.set(check_timeout(timeout)?);
        Ok(())
    }

    /// The read timeout ([`TcpStream::set_read_timeout`]).
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.read_timeout.get())
    }

    /// The write timeout ([`TcpStream::set_write_timeout`]).
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        Ok(self.write_timeout.get())
    }

    /// Waits until the socket can take more bytes, for at most the write
    /// timeout.
    pub(crate) fn wait_writable_within(&self, deadline: Deadline) -> io::Result<()> {
        deadline.wait(&self.subscribe_writable(), "write", ErrorKind::WouldBlock)
    }

    /// The underlying `wasi:sockets` socket: what the capability sends to.
    pub fn socket(&self) -> &TcpSocket {
        &self.socket
    }

    /// The input stream.
    pub fn input(&self) -> &InputStream {
        &self.input
    }

    /// The output stream.
    pub fn output(&self) -> &OutputStream {
        &self.output
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.socket
            .remote_address()
            .map(from_wasi)
            .map_err(error::net)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket
            .local_address()
            .map(from_wasi)
            .map_err(error::net)
    }

    /// Shuts down reading, writing or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let how = match how {
            Shutdown::Read => ShutdownType::Receive,
            Shutdown::Write => ShutdownType::Send,
            Shutdown::Both => ShutdownType::Both,
        };
        self.socket.shutdown(how).map_err(error::net)
    }

    /// Sets the kernel's send buffer size (`SO_SNDBUF`).
    pub fn set_send_buffer_size(&self, bytes: u64) -> io::Result<()> {
        self.socket.set_send_buffer_size(bytes).map_err(error::net)
    }

    /// Sets the kernel's receive buffer size (`SO_RCVBUF`).
    pub fn set_receive_buffer_size(&self, bytes: u64) -> io::Result<()> {
        self.socket
            .set_receive_buffer_size(bytes)
            .map_err(error::net)
    }

    /// A pollable that is ready when the socket can take more bytes.
    pub fn subscribe_writable(&self) -> Pollable {
        crate::bindings::wasm_sendfile::sendfile::sendfile::subscribe_writable(&self.socket)
    }

    /// Blocks until the socket can take more bytes.
    pub fn wait_writable(&self) {
        self.subscribe_writable().block()
    }

    /// A pollable that is ready when there are bytes (or end-of-stream) to read.
    pub fn subscribe_readable(&self) -> Pollable {
        self.input.subscribe()
    }

    /// Writes what the socket takes now without waiting; `WouldBlock` if it
    /// takes nothing. Bytes written this way go out before any later
    /// sendfile on this stream.
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        let room = self.output.check_write().map_err(error::stream)?;
        if room == 0 && !buf.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        self.output.write(&buf[..n]).map_err(error::stream)?;
        Ok(n)
    }

    /// Reads what is available now without waiting: `Ok(0)` at
    /// end-of-stream, `WouldBlock` if nothing is there yet.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self.input.read(buf.len() as u64) {
            Ok(data) if data.is_empty() && !buf.is_empty() => Err(io::ErrorKind::WouldBlock.into()),
            Ok(data) => {
                buf[..data.len()].copy_from_slice(&data);
                Ok(data.len())
            }
            Err(StreamError::Closed) => Ok(0),
            Err(e) => Err(error::stream(e)),
        }
    }
}

impl Read for &TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(timeout) = self.read_timeout.get() else {
            return match self.input.blocking_read(buf.len() as u64) {
                Ok(data) => {
                    buf[..data.len()].copy_from_slice(&data);
                    Ok(data.len())
                }
                Err(StreamError::Closed) => Ok(0),
                Err(e) => Err(error::stream(e)),
            };
        };
        let deadline = Deadline::after(Some(timeout));
        loop {
            match self.try_read(buf) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    deadline.wait(&self.input.subscribe(), "read", ErrorKind::WouldBlock)?
                }
                other => return other,
            }
        }
    }
}

impl Write for &TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(MAX_WRITE);
        let Some(timeout) = self.write_timeout.get() else {
            self.output
                .blocking_write_and_flush(&buf[..n])
                .map_err(error::stream)?;
            return Ok(n);
        };
        let deadline = Deadline::after(Some(timeout));
        loop {
            match self.try_write(&buf[..n]) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    deadline.wait(&self.output.subscribe(), "write", ErrorKind::WouldBlock)?
                }
                other => return other,
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        let Some(timeout) = self.write_timeout.get() else {
            return self.output.blocking_flush().map_err(error::stream);
        };
        self.output.flush().map_err(error::stream)?;
        let deadline = Deadline::after(Some(timeout));
        // The flush is done when the stream takes writes again.
        while self.output.check_write().map_err(error::stream)? == 0 {
            deadline.wait(&self.output.subscribe(), "flush", ErrorKind::WouldBlock)?;
        }
        Ok(())
    }
}

impl Read for TcpStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl Write for TcpStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&*self).flush()
    }
}

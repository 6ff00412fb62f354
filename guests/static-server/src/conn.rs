//! One client connection: read requests, send replies, in order
//! (pipelined requests wait in the buffer), never blocking.

use crate::Config;
use crate::body::{Streamed, Via};
use crate::files::{self, Reply};
use crate::http::{self, Parsed};
use std::io::ErrorKind;
use std::net::SocketAddr;
use wasi::io::poll::Pollable;
use wasm_sendfile_sdk::SendFile;
use wasm_sendfile_sdk::net::TcpStream;

/// Most bytes of request head buffered (more: 431).
pub const MAX_HEAD: usize = 16 * 1024;

/// Whether the connection lives on.
#[derive(Debug, PartialEq, Eq)]
pub enum State {
    Open,
    Closed,
}

/// A reply being sent.
struct Outgoing {
    reply: Reply,
    head_sent: usize,
    file_sent: u64,
    /// The body's state when it is not sent by sendfile.
    streamed: Streamed,
    method: String,
    target: String,
    started_ns: u64,
}

/// A client connection. Pollables are children of the socket: declared
/// (so dropped) before the stream.
pub struct Conn {
    pub readable: Pollable,
    pub writable: Pollable,
    stream: TcpStream,
    peer: SocketAddr,
    buf: Vec<u8>,
    out: Option<Outgoing>,
    /// Close once the current reply is out.
    closing: bool,
    /// The peer sent end-of-stream.
    peer_done: bool,
    /// Bytes of the last request's body still to discard before the next
    /// request (they are never parsed as one).
    discard: u64,
    /// When the connection last made progress (monotonic ns).
    pub last_active: u64,
    /// When the request being received began (monotonic ns): its head (and
    /// body) must be complete within the header timeout, however slowly
    /// its bytes trickle in (slowloris).
    head_started: Option<u64>,
}

fn now_ns() -> u64 {
    wasi::clocks::monotonic_clock::now()
}

impl Conn {
    pub fn new(stream: TcpStream, peer: SocketAddr) -> Conn {
        Conn {
            readable: stream.subscribe_readable(),
            writable: stream.subscribe_writable(),
            stream,
            peer,
            buf: Vec::new(),
            out: None,
            closing: false,
            peer_done: false,
            discard: 0,
            last_active: now_ns(),
            head_started: None,
        }
    }

    /// Whether the connection has outlived its timeouts at `now`: no
    /// progress for `idle_ns`, or a request still incomplete `header_ns`
    /// after its first byte.
    pub fn expired(&self, now: u64, idle_ns: u64, header_ns: u64) -> bool {
        now.saturating_sub(self.last_active) >= idle_ns
            || self
                .head_started
                .is_some_and(|t| now.saturating_sub(t) >= header_ns)
    }

    /// Whether the connection waits to write (else it waits to read).
    pub fn wants_write(&self) -> bool {
        self.out.is_some()
    }

    /// The pollable this connection waits on now.
    pub fn pollable(&self) -> &Pollable {
        match &self.out {
            Some(out) => out.streamed.waiting_on().unwrap_or(&self.writable),
            None => &self.readable,
        }
    }

    /// Makes what progress the socket allows now.
    pub fn step(&mut self, cfg: &Config) -> State {
        if !self.wants_write() && self.read().is_err() {
            return State::Closed;
        }
        self.advance(cfg)
    }

    /// Reads what has arrived (up to the head limit).
    fn read(&mut self) -> std::io::Result<()> {
        let mut chunk = [0u8; 8192];
        while self.buf.len() <= MAX_HEAD {
            match self.stream.try_read(&mut chunk) {
                Ok(0) => {
                    self.peer_done = true;
                    break;
                }
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    self.last_active = now_ns();
                    self.head_started.get_or_insert(self.last_active);
                    if n < chunk.len() {
                        // A short read took all there was; asking again
                        // would only hear would-block.
                        break;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Sends, then parses the next request, until the socket is full or no
    /// complete request is buffered.
    fn advance(&mut self, cfg: &Config) -> State {
        loop {
            if self.out.is_some() {
                match self.send(cfg.via) {
                    Ok(true) => {
                        self.log_done(cfg.access_log);
                        if self.closing {
                            return State::Closed;
                        }
                    }
                    Ok(false) => return State::Open,
                    Err(_) => return State::Closed,
                }
            }
            if self.discard > 0 {
                let n = self.discard.min(self.buf.len() as u64);
                self.buf.drain(..n as usize);
                self.discard -= n;
                if self.discard > 0 {
                    return if self.peer_done {
                        State::Closed
                    } else {
                        State::Open
                    };
                }
            }
            match http::parse(&self.buf) {
                Parsed::Request(req, len, body) => {
                    self.buf.drain(..len);
                    self.discard = body;
                    // The next request's clock starts with its first byte
                    // (already here, if pipelined); a body still to come
                    // counts as this request's.
                    self.head_started = (!self.buf.is_empty() || body > 0).then(now_ns);
                    let keep_alive = req.keep_alive();
                    self.closing = !keep_alive;
                    self.start(
                        files::reply(&cfg.files, &req, keep_alive),
                        &req.method,
                        &req.target,
                    );
                }
                Parsed::Partial if self.buf.len() > MAX_HEAD => self.fail(431),
                Parsed::Partial if self.peer_done => return State::Closed,
                Parsed::Partial => return State::Open,
                Parsed::Error(status) => self.fail(status),
            }
        }
    }

    /// Answers an unparseable request and closes after it.
    fn fail(&mut self, status: u16) {
        self.buf.clear();
        self.closing = true;
        let reply = Reply {
            status,
            head: http::error_response(status, false, false),
            body: None,
        };
        self.start(reply, "-", "-");
    }

    fn start(&mut self, reply: Reply, method: &str, target: &str) {
        self.out = Some(Outgoing {
            reply,
            head_sent: 0,
            file_sent: 0,
            streamed: Streamed::default(),
            method: method.to_string(),
            target: target.to_string(),
            started_ns: now_ns(),
        });
    }

    /// Sends what the socket takes of the current reply; `Ok(true)` when
    /// all of it is out.
    fn send(&mut self, via: Via) -> std::io::Result<bool> {
        let out = self.out.as_mut().expect("a reply");
        let head = &out.reply.head;
        let body = out.reply.body.as_ref();
        if body.is_none() || via != Via::Sendfile {
            while out.head_sent < head.len() {
                match self.stream.try_write(&head[out.head_sent..]) {
                    Ok(n) => {
                        out.head_sent += n;
                        self.last_active = now_ns();
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                    Err(e) => return Err(e),
                }
            }
        }
        let Some((file, start, len)) = body else {
            return Ok(true);
        };
        if via != Via::Sendfile {
            while out.file_sent < *len {
                let (pos, left) = (start + out.file_sent, len - out.file_sent);
                match out.streamed.step(via, &self.stream, file, pos, left) {
                    Ok(0) => {
                        // The file shrank: the promised length is wrong.
                        self.closing = true;
                        return Ok(true);
                    }
                    Ok(n) => {
                        out.file_sent += n;
                        self.last_active = now_ns();
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                    Err(e) => return Err(e),
                }
            }
            return Ok(true);
        }
        let mut transfer = SendFile::new(file)
            .offset(start + out.file_sent)
            .count(len - out.file_sent);
        if out.head_sent < head.len() {
            transfer = transfer.header(&head[out.head_sent..]);
        }
        match transfer.try_send(&self.stream) {
            Ok(sent) => {
                out.head_sent += (sent.total - sent.file) as usize;
                out.file_sent += sent.file;
                self.last_active = now_ns();
                if sent.complete && out.file_sent < *len {
                    // The file shrank under us: the length we promised is
                    // wrong, so the connection cannot be reused.
                    self.closing = true;
                }
                Ok(sent.complete)
            }
            Err(e) if e.is_would_block() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// One access-log line: peer, method, target, status, bytes, duration.
    fn log_done(&mut self, enabled: bool) {
        let out = self.out.take().expect("a reply");
        if !enabled {
            return;
        }
        let bytes = out.head_sent as u64 + out.file_sent;
        let ms = (now_ns() - out.started_ns) as f64 / 1e6;
        println!(
            "{} \"{} {}\" {} {} {:.3}ms",
            self.peer, out.method, out.target, out.reply.status, bytes, ms
        );
    }
}

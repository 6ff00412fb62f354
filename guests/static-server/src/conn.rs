//! One client connection: read requests, send replies, in order
//! (pipelined requests wait in the buffer), never blocking.

use crate::body::{Streamed, Via};
use crate::files::{self, Reply};
use crate::http::{self, Parsed};
use crate::log::{self, Entry};
use crate::{Config, Timeouts};
use http_rules::Headers;
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
    /// The request line, for the log (`None`: not parsed).
    request: Option<String>,
    referer: Option<String>,
    user_agent: Option<String>,
    /// When the request's first byte came (monotonic ns).
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
    /// its bytes trickle in (slowloris). For the first request, the clock
    /// starts at accept (as nginx's `client_header_timeout` does).
    head_started: Option<u64>,
    /// Replies completed on this connection.
    served: u64,
}

fn now_ns() -> u64 {
    crate::clock::monotonic_ns()
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
            head_started: Some(now_ns()),
            served: 0,
        }
    }

    /// Whether the connection has outlived its timeouts at `now`: a reply
    /// that made no progress for the send timeout, a request still
    /// incomplete the header timeout after its first byte (however slowly
    /// its bytes come; for a connection's first request, after accept), or
    /// no request for the keep-alive timeout after the last reply.
    pub fn expired(&self, now: u64, t: &Timeouts) -> bool {
        let since = |t0: u64| now.saturating_sub(t0);
        match (&self.out, self.head_started) {
            (Some(_), _) => since(self.last_active) >= t.send_ns,
            (None, Some(first_byte)) => since(first_byte) >= t.header_ns,
            (None, None) => since(self.last_active) >= t.keepalive_ns,
        }
    }

    /// Whether the connection is an idle keep-alive one: it has been
    /// answered, and nothing of a next request has come, not even unread
    /// in its socket. Such a connection may be closed to make room for a
    /// new one, or at shutdown, and no one loses a response.
    pub fn is_idle(&self) -> bool {
        self.served > 0
            && self.out.is_none()
            && self.head_started.is_none()
            && self.buf.is_empty()
            && !self.readable.ready()
    }

    /// Closes the connection once the reply in progress (if any) is out.
    pub fn close_after_reply(&mut self) {
        self.closing = true;
    }

    /// Ends the connection; a reply still in progress is logged with the
    /// bytes that went out (a transfer cut short).
    pub fn close(mut self, to: log::Report) {
        if self.out.is_some() {
            self.log_done(to);
        }
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
                        self.log_done(cfg.report);
                        self.served += 1;
                        if self.closing {
                            return State::Closed;
                        }
                        // A request already (partly) here gets the whole
                        // header timeout from now, not from when the last
                        // one was parsed.
                        if self.head_started.is_some() {
                            self.head_started = Some(now_ns());
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
                    let started = self.head_started.unwrap_or_else(now_ns);
                    self.buf.drain(..len);
                    self.discard = body;
                    // The next request's clock starts with its first byte
                    // (already here, if pipelined); a body still to come
                    // counts as this request's.
                    self.head_started = (!self.buf.is_empty() || body > 0).then(now_ns);
                    let keep_alive = req.keep_alive()
                        && !self.closing
                        && !cfg.draining.get()
                        && cfg.timeouts.keepalive_ns > 0;
                    self.closing = !keep_alive;
                    let reply = files::reply(
                        &cfg.files,
                        &mut cfg.open_files.borrow_mut(),
                        &req,
                        keep_alive,
                    );
                    // What the log needs is kept only when there is a log.
                    let logged = cfg.report.access_log.then_some(&req);
                    self.start(reply, logged, started);
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
        let started = self.head_started.unwrap_or_else(now_ns);
        self.buf.clear();
        self.head_started = None;
        self.closing = true;
        let reply = Reply {
            status,
            head: http::error_response(status, false, false),
            body: None,
        };
        self.start(reply, None, started);
    }

    /// Starts sending `reply` to `req` (`None`: a request not parsed, or
    /// no access log), whose first byte came at `started_ns`.
    fn start(&mut self, reply: Reply, req: Option<&http::Request>, started_ns: u64) {
        let header = |name| req.and_then(|r| r.header(name)).map(str::to_string);
        self.out = Some(Outgoing {
            reply,
            head_sent: 0,
            file_sent: 0,
            streamed: Streamed::default(),
            request: req.map(http::Request::line),
            referer: header("referer"),
            user_agent: header("user-agent"),
            started_ns,
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
        let Some((open, start, len)) = body else {
            return Ok(true);
        };
        if via != Via::Sendfile {
            while out.file_sent < *len {
                let (pos, left) = (start + out.file_sent, len - out.file_sent);
                match out.streamed.step(via, &self.stream, &open.file, pos, left) {
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
        let mut transfer = SendFile::new(&open.file)
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
            Err(e) => {
                // What went out before the failure still counts (the log
                // shows the bytes sent).
                out.head_sent += (e.total() - e.file()) as usize;
                out.file_sent += e.file();
                Err(e.into())
            }
        }
    }

    /// Ends the reply in progress, reporting it (access log, metrics).
    fn log_done(&mut self, to: log::Report) {
        let out = self.out.take().expect("a reply");
        if !to.access_log && !to.metrics {
            return;
        }
        let head_body = out.head_sent.saturating_sub(out.reply.header_len());
        to.report(&Entry {
            peer: self.peer,
            request: out.request.as_deref(),
            status: out.reply.status,
            body_bytes: head_body as u64 + out.file_sent,
            referer: out.referer.as_deref(),
            user_agent: out.user_agent.as_deref(),
            elapsed_ns: now_ns().saturating_sub(out.started_ns),
        });
    }
}

//! One client connection: requests read in turn (pipelined ones from the
//! buffer), each answered by a fresh instance of the component, with the
//! limits and timeouts of [`super::HttpConfig`].

use super::HttpServer;
use super::file_body::{self, FileEnd};
use super::incoming::{self, PumpEnd};
use super::io::{Conn, Input, IoEnd, Output};
use super::request::{self, Head, Refusal};
use super::response::{self, BodyEnd, Framing};
use crate::p2::http_file::FileBody;
use bytes::Buf;
use std::time::Duration;
use tokio::time::Instant;
use wasmtime::{Store, UpdateDeadline};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, Scheme};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// What the guest answered.
type Answer = Result<http::Response<HyperOutgoingBody>, ErrorCode>;

/// Serves requests on `stream` until either side ends the connection.
pub(crate) async fn serve(server: &HttpServer, stream: tokio::net::TcpStream) {
    let _ = stream.set_nodelay(true);
    crate::sys::socket::prepare(std::os::fd::AsFd::as_fd(&stream));
    let local = stream.local_addr().ok();
    let mut conn = Conn::new(stream);
    let mut first = true;
    loop {
        let head = match next_head(server, &mut conn.input, first).await {
            Next::Request(head) => head,
            Next::Closed => return,
            Next::Refused(r) => {
                tracing::debug!(status = r.status, why = r.why, "request refused");
                refuse(server, &conn.output, r.status, r.why).await;
                conn.close_gently().await;
                return;
            }
        };
        first = false;
        match exchange(server, &mut conn, *head, local).await {
            After::KeepAlive if !server.shutting_down() => {}
            After::Reset => return conn.reset(),
            _ => return conn.close_gently().await,
        }
    }
}

/// What becomes of the connection after a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    /// It may carry the next request.
    KeepAlive,
    /// It closes, after the client has had time to read the response.
    Close,
    /// It is reset: the response was cut short where only an orderly
    /// close would have ended it (HTTP/1.0 without a length), so the
    /// client must not take what it got for the whole body.
    Reset,
}

enum Next {
    Request(Box<Head>),
    Closed,
    Refused(Refusal),
}

/// Reads the next request head. Waiting for its first byte is bounded by
/// the keep-alive timeout (the header timeout for a connection's first
/// request); from the first byte, the whole head by the header timeout.
async fn next_head(server: &HttpServer, conn: &mut Input, first: bool) -> Next {
    let config = &server.config;
    let mut started = (!conn.buf.is_empty() || first).then(Instant::now);
    // Where the last look for the head's end stopped.
    let mut scanned = 0;
    loop {
        // Empty lines before a request are ignored (RFC 9112 §2.2).
        while conn.buf.starts_with(b"\r\n") {
            conn.buf.advance(2);
            scanned = 0;
        }
        let look = request::may_be_complete(&conn.buf, scanned) || conn.buf.len() > config.max_head;
        scanned = conn.buf.len();
        if look {
            match request::parse(&conn.buf, config.max_head) {
                Ok(Some((head, len))) => {
                    conn.buf.advance(len);
                    return Next::Request(Box::new(head));
                }
                Ok(None) => {}
                Err(refusal) => return Next::Refused(refusal),
            }
        }
        let wait = match started {
            Some(t) => config.header_timeout.saturating_sub(t.elapsed()),
            None if config.keepalive_timeout.is_zero() => return Next::Closed,
            None if server.shutting_down() => return Next::Closed,
            None => config.keepalive_timeout,
        };
        // Between requests of a kept-alive connection, it is idle: the
        // server may close it to make room (see `idle`).
        let idle = (started.is_none() && !first).then(|| server.idle.enter());
        let read = tokio::select! {
            read = conn.read_more(wait) => read,
            // An idle connection closes when the server stops; a request
            // already begun is read and answered.
            () = server.stopped(), if started.is_none() => return Next::Closed,
            () = evicted(idle.as_ref()) => return Next::Closed,
        };
        drop(idle);
        match read {
            Ok(_) => {
                started.get_or_insert_with(Instant::now);
            }
            Err(IoEnd::TimedOut) if !conn.buf.is_empty() => {
                return Next::Refused(Refusal {
                    status: 408,
                    why: "request head not received in time",
                });
            }
            Err(_) => return Next::Closed,
        }
    }
}

/// Resolves when an idle connection is told to close; never if not idle.
async fn evicted(idle: Option<&super::idle::Idle<'_>>) {
    match idle {
        Some(idle) => idle.evicted().await,
        None => std::future::pending().await,
    }
}

/// Runs one request through a new instance and sends its response.
/// Returns what becomes of the connection.
async fn exchange(
    server: &HttpServer,
    conn: &mut Conn,
    head: Head,
    local: Option<std::net::SocketAddr>,
) -> After {
    let config = &server.config;
    let method = head.method.clone();
    let version = head.version;
    let framing = head.framing;
    let close = !head.keep_alive || config.keepalive_timeout.is_zero();
    if let request::Framing::Length(n) = framing
        && n > config.max_body
    {
        return refuse(server, &conn.output, 413, "request body too large").await;
    }
    if head.expect_continue && framing != request::Framing::Empty {
        let cont = b"HTTP/1.1 100 Continue\r\n\r\n";
        if conn
            .output
            .write_all(cont, config.send_timeout)
            .await
            .is_err()
        {
            return After::Close;
        }
    }
    let (tx, body) = incoming::channel(framing);
    let req = request_of(head, body, local);
    let (answer, task) = match start(server, req) {
        Ok(started) => started,
        Err(e) => {
            tracing::warn!(error = %e, "could not start the component");
            let why = "the server could not start the component";
            return refuse(server, &conn.output, 500, why).await;
        }
    };
    // The body is read while the guest runs, and while its response goes
    // out (a guest may answer first and read on).
    let pump = incoming::pump(
        &mut conn.input,
        framing,
        tx,
        config.header_timeout,
        config.max_body,
    );
    let mut pump = std::pin::pin!(pump);
    let mut pumped = None;
    let answer = {
        let mut answer = std::pin::pin!(tokio::time::timeout(config.request_timeout, answer));
        loop {
            tokio::select! {
                a = &mut answer => break a,
                end = &mut pump, if pumped.is_none() => pumped = Some(end),
            }
        }
    };
    let response = match answer {
        Ok(Ok(Ok(response))) if !(200..=599).contains(&response.status().as_u16()) => {
            tracing::warn!(status = %response.status(), "the component answered with a status outside 200..=599");
            let why = "the component answered with an interim (1xx) or unknown status";
            return refuse(server, &conn.output, 500, why).await;
        }
        Ok(Ok(Ok(response))) => response,
        Ok(Ok(Err(code))) => {
            tracing::warn!(?code, "the component answered with an error");
            return refuse(server, &conn.output, 500, "the component failed").await;
        }
        Ok(Err(_)) => {
            // The outparam was dropped unset: the guest returned or trapped.
            match task.await {
                Ok(Err(e)) => tracing::warn!(error = %e.root_cause(), "the component trapped"),
                _ => tracing::warn!("the component returned without answering"),
            }
            let why = "the component did not answer";
            return refuse(server, &conn.output, 500, why).await;
        }
        Err(_) => {
            task.abort();
            tracing::warn!("the component did not answer in time");
            let why = "the component did not answer in time";
            return refuse(server, &conn.output, 504, why).await;
        }
    };
    // A request body not read to its end yet may never be: the response
    // then says the connection closes.
    let reply = Reply {
        server,
        out: &conn.output,
        bodiless: response::bodiless(&method),
        version,
        close: close || pumped != Some(PumpEnd::Complete),
    };
    let rest_of_body = async {
        match pumped {
            Some(end) => end,
            None => (&mut pump).await,
        }
    };
    let ((status, sent, after), pumped) = tokio::join!(reply.send(response, task), rest_of_body);
    server.metrics.record_response(status, sent);
    match after {
        After::KeepAlive if pumped != PumpEnd::Complete => After::Close,
        after => after,
    }
}

/// Request from a checked head and the body's channel.
fn request_of(
    head: Head,
    body: incoming::IncomingBody,
    local: Option<std::net::SocketAddr>,
) -> http::Request<incoming::IncomingBody> {
    let mut req = http::Request::new(body);
    *req.method_mut() = head.method;
    *req.uri_mut() = head.uri;
    *req.version_mut() = head.version;
    *req.headers_mut() = head.headers;
    if req.uri().authority().is_none() && !req.headers().contains_key(http::header::HOST) {
        // HTTP/1.0 without Host: the address the client reached.
        let host = local.map_or_else(|| "localhost".to_string(), |a| a.to_string());
        if let Ok(v) = http::HeaderValue::from_str(&host) {
            req.headers_mut().insert(http::header::HOST, v);
        }
    }
    req
}

/// Sending one guest's response.
struct Reply<'a> {
    server: &'a HttpServer,
    out: &'a Output,
    /// A HEAD request: the head alone.
    bodiless: bool,
    version: http::Version,
    /// Whether the client asked to close after this response.
    close: bool,
}

impl Reply<'_> {
    /// Sends `response` (its guest's `task` still running, perhaps
    /// writing the body). Returns the status, the body bytes sent, and
    /// what becomes of the connection.
    async fn send(
        &self,
        response: http::Response<HyperOutgoingBody>,
        task: GuestTask,
    ) -> (u16, u64, After) {
        let config = &self.server.config;
        let idle = config.send_timeout;
        let mut task = Some(task);
        let (parts, body) = response.into_parts();
        let status = parts.status;
        let mut close = self.close;
        let done = |ok: bool| if ok { After::KeepAlive } else { After::Close };
        let (sent, after) = if let Some(file) = parts.extensions.get::<FileBody>() {
            let framing = Framing::of(status, Some(file.len()), self.version);
            let head = response::head(status, &parts.headers, framing, close, self.version);
            if self.bodiless || framing == Framing::None {
                (0, done(self.out.write_all(&head, idle).await.is_ok()))
            } else {
                let (policy, metrics) = (&self.server.policy, &self.server.metrics);
                let (end, sent) =
                    file_body::send(self.out, head, file, policy, metrics, idle).await;
                (sent, done(end == FileEnd::Complete))
            }
        } else {
            let length = response::declared_length(&parts.headers, &body);
            let framing = Framing::of(status, length, self.version);
            close |= framing == Framing::UntilClose;
            let head = response::head(status, &parts.headers, framing, close, self.version);
            if self.out.write_all(&head, idle).await.is_err() {
                (0, After::Close)
            } else if self.bodiless || framing == Framing::None {
                (0, After::KeepAlive)
            } else {
                // wasmtime-wasi-http ends a body the same way whether the
                // guest finished it or its store went away (a trap): a
                // chunked body is only ended, and one delimited by the
                // close only closed in order, once the guest has returned
                // from `handle` (which its time limit bounds).
                let returned = async {
                    let task = task.take().expect("the guest's task");
                    match task.await {
                        Ok(Ok(())) => true,
                        Ok(Err(e)) => {
                            tracing::warn!(error = %e.root_cause(), "the component failed mid-body");
                            false
                        }
                        Err(_) => false,
                    }
                };
                let (end, sent) =
                    response::send_body(self.out, body, framing, idle, returned).await;
                let after = match end {
                    BodyEnd::Complete => After::KeepAlive,
                    BodyEnd::Broken if framing == Framing::UntilClose => After::Reset,
                    BodyEnd::Broken => After::Close,
                };
                (sent, after)
            }
        };
        if let Some(task) = task {
            watch(task);
        }
        let after = match after {
            After::KeepAlive if close => After::Close,
            after => after,
        };
        (status.as_u16(), sent, after)
    }
}

/// Answers with the server's own error; the connection then closes.
async fn refuse(server: &HttpServer, out: &Output, status: u16, why: &str) -> After {
    let _ = out
        .write_all(&response::error(status, why), server.config.send_timeout)
        .await;
    server.metrics.record_response(status, 0);
    After::Close
}

type GuestTask = tokio::task::JoinHandle<wasmtime::Result<()>>;

/// Makes the store, the request and the outparam, and runs the guest's
/// `handle` on a task of its own (it may go on writing the body after
/// answering).
fn start(
    server: &HttpServer,
    req: http::Request<incoming::IncomingBody>,
) -> wasmtime::Result<(tokio::sync::oneshot::Receiver<Answer>, GuestTask)> {
    let mut store = Store::new(server.pre.engine(), (server.new_state)()?);
    if store.data().sendfile.count_host_calls {
        let metrics = store.data().sendfile.metrics().clone();
        metrics.count_host_calls(&mut store);
    }
    // The guest may run until its deadline, by the wall clock, whatever it
    // does: compute (the epoch callback stops it), wait in a host call, or
    // go on after answering (the task's timeout ends it, and dropping the
    // store releases all it held). Every tick a computing guest yields its
    // thread to the other tasks.
    let limit = server.config.guest_limit();
    let deadline = std::time::Instant::now() + limit;
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |_| {
        Ok(if std::time::Instant::now() >= deadline {
            UpdateDeadline::Interrupt
        } else {
            UpdateDeadline::Yield(1)
        })
    });
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let req = store
        .data_mut()
        .http()
        .new_incoming_request(Scheme::Http, req)?;
    let out = store.data_mut().http().new_response_outparam(sender)?;
    let pre = server.pre.clone();
    let task = tokio::spawn(async move {
        let run = async {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, req, out)
                .await
        };
        match tokio::time::timeout(limit, run).await {
            Ok(result) => result,
            Err(_) => Err(wasmtime::format_err!(
                "the component ran past its time (request timeout and 1 s)"
            )),
        }
    });
    Ok((receiver, task))
}

/// Logs a guest that traps after it answered (while writing its body, say).
fn watch(task: GuestTask) {
    tokio::spawn(async move {
        if let Ok(Err(e)) = task.await {
            tracing::warn!(error = %e.root_cause(), "the component trapped after answering");
        }
    });
}

/// How often the engine's epoch advances while the server runs: how long
/// a guest computes before it yields to the other tasks on its thread.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

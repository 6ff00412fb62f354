//! `serve --metrics ADDR`: answers `GET /metrics` with the server's
//! counters in Prometheus' text format, on an address of its own (as
//! nginx's `stub_status` is usually kept off the public port).
//!
//! Scrapers are trusted no more than any client: a request must arrive
//! within [`REQUEST_TIMEOUT`] and fit in [`MAX_HEAD`] bytes, each
//! connection gets one response and is closed, and at most
//! [`MAX_SCRAPERS`] are served at once (more wait in the backlog).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wasm_sendfile::{Metrics, PrometheusKind, PrometheusText};
use wasmtime::Result;
use wasmtime::error::Context;

/// Longest request head read.
const MAX_HEAD: usize = 8192;
/// How long a scraper may take to send its request, and to take the
/// response.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Scrapes served at once.
const MAX_SCRAPERS: usize = 16;

/// What the endpoint reports besides the capability's [`Metrics`].
pub struct ServerFigures {
    /// Every worker's counters.
    pub metrics: Arc<Metrics>,
    /// Worker guests started again after they ended.
    pub restarts: AtomicU64,
    /// Workers configured.
    pub workers: usize,
}

impl ServerFigures {
    /// Everything, as Prometheus text.
    fn render(&self) -> String {
        let mut out = PrometheusText::new();
        self.metrics.write_prometheus(&mut out);
        out.family(
            "workers",
            PrometheusKind::Gauge,
            "Worker guests serving.",
            &[("", self.workers as u64)],
        );
        out.family(
            "worker_restarts_total",
            PrometheusKind::Counter,
            "Worker guests started again after they ended (a trap, say).",
            &[("", self.restarts.load(Relaxed))],
        );
        out.finish()
    }
}

/// Listens on `addr` (now, so a taken address is an error at startup) and
/// returns the task serving it.
pub async fn start(
    addr: SocketAddr,
    figures: Arc<ServerFigures>,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("--metrics: cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_SCRAPERS));
    let task = tokio::spawn(async move {
        loop {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            let (conn, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors, say: try again shortly.
                    tracing::warn!("--metrics: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            let figures = figures.clone();
            tokio::spawn(async move {
                let _ = tokio::time::timeout(REQUEST_TIMEOUT, answer(conn, &figures)).await;
                drop(slot);
            });
        }
    });
    Ok((local, task))
}

/// Reads one request and answers it; the connection closes after.
async fn answer(mut conn: TcpStream, figures: &ServerFigures) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    let (status, body, head_only) = loop {
        let n = conn.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&head) {
            Ok(httparse::Status::Complete(_)) => {
                let (status, body) = respond(&req, figures);
                break (status, body, req.method == Some("HEAD"));
            }
            Ok(httparse::Status::Partial) if head.len() < MAX_HEAD => {}
            Ok(httparse::Status::Partial) => {
                break ("431 Request Header Fields Too Large", None, false);
            }
            Err(_) => break ("400 Bad Request", None, false),
        }
    };
    let (kind, body) = match &body {
        Some(text) => ("text/plain; version=0.0.4; charset=utf-8", text.as_str()),
        None => ("text/plain; charset=utf-8", ""),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        body.len(),
        if head_only { "" } else { body }
    );
    conn.write_all(response.as_bytes()).await?;
    conn.shutdown().await?;
    // Whatever else the client sent (a body, a second request) is read and
    // dropped until it closes (within the caller's timeout): closing with
    // unread bytes would reset the connection, and the reset can destroy
    // the response before the client reads it.
    while conn.read(&mut buf).await? > 0 {}
    Ok(())
}

/// The status and, for a scrape, the metrics.
fn respond(
    req: &httparse::Request<'_, '_>,
    figures: &ServerFigures,
) -> (&'static str, Option<String>) {
    let path = req.path.unwrap_or("");
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    match (req.method, path) {
        (Some("GET" | "HEAD"), "/metrics") => ("200 OK", Some(figures.render())),
        (Some("GET" | "HEAD"), _) => ("404 Not Found", None),
        _ => ("405 Method Not Allowed", None),
    }
}

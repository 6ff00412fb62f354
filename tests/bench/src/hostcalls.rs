//! Component calls per request: the calls a guest server makes into the
//! host (WASI's functions, the capability's, the runtime's own entry
//! points), counted by `serve --metrics` or `http --metrics` (every
//! request's instance, in `http`) while one keep-alive connection
//! makes a fixed number of requests for the 1 KiB file.

use crate::servers::Server;
use crate::syscalls::keep_alive;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// The metric read.
const METRIC: &str = "wasm_sendfile_host_calls_total ";

/// Calls into the host per request of `server` (started by
/// [`Server::start_with_metrics`]) for `n` requests of `path`.
pub fn per_request(server: &Server, path: &str, n: usize) -> Result<f64, String> {
    let metrics = server
        .metrics
        .ok_or_else(|| format!("{}: no metrics endpoint", server.kind.label()))?;
    let before = scrape(metrics)?;
    keep_alive(server.addr, path, n).map_err(|e| format!("{}: {e}", server.kind.label()))?;
    // The guest reports a response just after it went out.
    std::thread::sleep(Duration::from_millis(200));
    let after = scrape(metrics)?;
    Ok(after.saturating_sub(before) as f64 / n as f64)
}

/// The host-call count the endpoint at `addr` reports now.
fn scrape(addr: SocketAddr) -> Result<u64, String> {
    let fail = |e: std::io::Error| format!("scraping {addr}: {e}");
    let mut conn = TcpStream::connect(addr).map_err(fail)?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(fail)?;
    conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        .map_err(fail)?;
    let mut text = String::new();
    conn.read_to_string(&mut text).map_err(fail)?;
    text.lines()
        .find_map(|l| l.strip_prefix(METRIC))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("no {} in the metrics", METRIC.trim()))
}

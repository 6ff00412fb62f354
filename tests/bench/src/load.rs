//! The clients: one connection downloading a large file as fast as it can
//! (our own, so the byte count is checked), and wrk for many keep-alive
//! connections asking for small files.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

/// A download: body bytes and the seconds it took.
#[derive(Clone, Copy, Debug)]
pub struct Download {
    /// Body bytes received.
    pub bytes: u64,
    /// From connecting to the last byte.
    pub seconds: f64,
}

/// GETs `path` over one connection, discarding the body; fails unless the
/// status is 200 and exactly `expected` body bytes arrive.
pub fn download(addr: SocketAddr, path: &str, expected: u64) -> io::Result<Download> {
    let start = Instant::now();
    let mut conn = TcpStream::connect(addr)?;
    conn.set_read_timeout(Some(Duration::from_secs(120)))?;
    write!(
        conn,
        "GET /{path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = vec![0u8; 1 << 20];
    let mut got = 0usize;
    let body_start = loop {
        let n = conn.read(&mut buf[got..])?;
        if n == 0 {
            return Err(io::Error::other("connection closed in the head"));
        }
        got += n;
        if let Some(i) = buf[..got].windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if got == buf.len() {
            return Err(io::Error::other("head too long"));
        }
    };
    if !buf.starts_with(b"HTTP/1.1 200") {
        let line = String::from_utf8_lossy(&buf[..body_start]);
        return Err(io::Error::other(format!(
            "status: {}",
            line.lines().next().unwrap_or("")
        )));
    }
    let mut bytes = (got - body_start) as u64;
    loop {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
    }
    let seconds = start.elapsed().as_secs_f64();
    if bytes != expected {
        return Err(io::Error::other(format!(
            "got {bytes} body bytes, expected {expected}"
        )));
    }
    Ok(Download { bytes, seconds })
}

/// What a wrk run measured.
#[derive(Clone, Copy, Debug)]
pub struct Requests {
    /// Completed requests per second.
    pub per_second: f64,
    /// Completed requests.
    pub count: u64,
}

/// Runs wrk (one thread, `connections` keep-alive connections, for
/// `seconds`) on the CPUs `cpus` against `path`. Any socket error or
/// non-2xx answer fails the run.
pub fn wrk(
    addr: SocketAddr,
    path: &str,
    connections: usize,
    seconds: u64,
    cpus: &str,
) -> Result<Requests, String> {
    let out = Command::new("taskset")
        .args(["-c", cpus, "wrk", "-t1"])
        .arg(format!("-c{connections}"))
        .arg(format!("-d{seconds}s"))
        .arg(format!("http://{addr}/{path}"))
        .output()
        .map_err(|e| format!("running wrk: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "wrk failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    if let Some(bad) = text
        .lines()
        .find(|l| l.contains("Socket errors") || l.contains("Non-2xx"))
    {
        return Err(format!("wrk saw errors: {}", bad.trim()));
    }
    let per_second = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("no Requests/sec in wrk's output:\n{text}"))?;
    let count = text
        .lines()
        .find_map(|l| l.trim().split_once(" requests in "))
        .and_then(|(n, _)| n.trim().parse().ok())
        .ok_or_else(|| format!("no request count in wrk's output:\n{text}"))?;
    Ok(Requests { per_second, count })
}

//! System calls per request: `strace -c -f` attached to each server while
//! one keep-alive connection makes a fixed number of requests for the
//! 1 KiB file. The count includes every thread of the server (event-loop
//! waits included) and is divided by the requests made.

use crate::servers::Server;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

/// Makes `n` requests for `path` over one keep-alive connection, checking
/// each response's status and reading its body (by `Content-Length`).
pub fn keep_alive(addr: SocketAddr, path: &str, n: usize) -> io::Result<()> {
    let mut conn = TcpStream::connect(addr)?;
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let request = format!("GET /{path} HTTP/1.1\r\nHost: bench\r\n\r\n");
    let mut buf = Vec::with_capacity(1 << 16);
    let mut chunk = vec![0u8; 1 << 16];
    for _ in 0..n {
        conn.write_all(request.as_bytes())?;
        let (head_len, body_len) = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
                if !head.starts_with("http/1.1 200") {
                    return Err(io::Error::other(format!("not 200: {head}")));
                }
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .ok_or_else(|| io::Error::other("no Content-Length"))?;
                break (i + 4, len);
            }
            let got = conn.read(&mut chunk)?;
            if got == 0 {
                return Err(io::Error::other("closed"));
            }
            buf.extend_from_slice(&chunk[..got]);
        };
        while buf.len() < head_len + body_len {
            let got = conn.read(&mut chunk)?;
            if got == 0 {
                return Err(io::Error::other("closed in the body"));
            }
            buf.extend_from_slice(&chunk[..got]);
        }
        buf.drain(..head_len + body_len);
    }
    Ok(())
}

/// System calls per request of `server` for `n` requests of `path`.
pub fn per_request(server: &Server, path: &str, n: usize) -> Result<f64, String> {
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    let out = scratch.path().join("strace.txt");
    let mut strace = Command::new("strace")
        .args(["-c", "-f", "-q", "-o"])
        .arg(&out)
        .args(["-p", &server.proc().0.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("strace: {e}"))?;
    // Attaching takes a moment; requests before it would go uncounted.
    std::thread::sleep(Duration::from_millis(500));
    let made = keep_alive(server.addr, path, n);
    std::thread::sleep(Duration::from_millis(200));
    let _ = rustix::process::kill_process(
        rustix::process::Pid::from_child(&strace),
        rustix::process::Signal::INT,
    );
    let _ = strace.wait();
    made.map_err(|e| format!("{}: {e}", server.kind.label()))?;
    let text = std::fs::read_to_string(&out).map_err(|e| format!("strace output: {e}"))?;
    let calls = total_calls(&text).ok_or_else(|| format!("no total in strace's table: {text}"))?;
    Ok(calls as f64 / n as f64)
}

/// The `calls` column of the `total` row of `strace -c`'s table.
fn total_calls(table: &str) -> Option<u64> {
    let total = table.lines().find(|l| l.trim_end().ends_with(" total"))?;
    total.split_whitespace().nth(3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_the_total_row() {
        let table = "% time     seconds  usecs/call     calls    errors syscall\n\
                     ------ ----------- ----------- --------- --------- ----------------\n\
                      53.62    0.139399          14      9856         1 sendfile\n\
                     ------ ----------- ----------- --------- --------- ----------------\n\
                     100.00    0.259967           8     30899        13 total\n";
        assert_eq!(super::total_calls(table), Some(30899));
    }
}

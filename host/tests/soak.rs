//! Load and soak against `wasm-sendfile serve`: many concurrent keep-alive
//! clients on loopback fetching small and large files and checking every
//! byte, next to clients that stall (never read) and clients that reset
//! mid-response. The well-behaved clients must see zero failures, and once
//! everyone has gone the server's open descriptors must be back to their
//! baseline and its RSS no higher than after a warm-up at the same
//! concurrency (guest linear memory never shrinks, so the baseline is taken
//! warm; what must not happen is growth with time).
//!
//! CI runs it short: 200 connections for 8 s. The long run:
//! `SOAK_CONNECTIONS=1000 SOAK_SECONDS=60 cargo test --release -p wasm-sendfile --test soak -- --nocapture`.

mod common;

use common::Server;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The files served: (name, contents).
fn files() -> Vec<(&'static str, Vec<u8>)> {
    let make = |n: usize, salt: u8| (0..n).map(|i| (i % 251) as u8 ^ salt).collect();
    vec![
        ("small", make(1024, 1)),
        ("medium", make(64 * 1024, 2)),
        ("large", make(1 << 20, 3)),
    ]
}

/// Reads one response; `Ok(body)` when the status is 200.
fn response(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    if !head.starts_with("HTTP/1.1 200 ") {
        return Err(std::io::Error::other(head));
    }
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| std::io::Error::other("no Content-Length"))?;
    let mut body = vec![0u8; len];
    s.read_exact(&mut body)?;
    Ok(body)
}

/// Counters shared by the clients.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    failed: AtomicU64,
    resets: AtomicU64,
}

/// A well-behaved client: keep-alive requests until `stop`, every body
/// checked.
fn good(
    addr: SocketAddr,
    files: Arc<Vec<(&'static str, Vec<u8>)>>,
    seed: usize,
    stop: Arc<AtomicBool>,
    t: Arc<Tally>,
) {
    let Ok(mut s) = TcpStream::connect(addr) else {
        t.failed.fetch_add(1, Ordering::Relaxed);
        return;
    };
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut i = seed;
    while !stop.load(Ordering::Relaxed) {
        // Mostly small files, some large.
        let (name, want) = &files[[0, 0, 0, 1, 1, 2][i % 6]];
        i += 1;
        let req = format!("GET /{name} HTTP/1.1\r\nHost: soak\r\n\r\n");
        let result = s.write_all(req.as_bytes()).and_then(|()| response(&mut s));
        match result {
            Ok(body) if body == *want => t.ok.fetch_add(1, Ordering::Relaxed),
            Ok(_) | Err(_) => {
                eprintln!("client {seed}: {:?}", result.err());
                t.failed.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
    }
}

/// A client that asks for the large file and never reads.
fn staller(addr: SocketAddr, stop: Arc<AtomicBool>) {
    if let Ok(mut s) = TcpStream::connect(addr) {
        let _ = s.write_all(b"GET /large HTTP/1.1\r\nHost: soak\r\n\r\n");
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A client that asks for the large file, reads a little, and resets the
/// connection (SO_LINGER 0), over and over.
fn resetter(addr: SocketAddr, stop: Arc<AtomicBool>, t: Arc<Tally>) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut s) = TcpStream::connect(addr) else {
            continue;
        };
        let _ = s.write_all(b"GET /large HTTP/1.1\r\nHost: soak\r\n\r\n");
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        let _ = rustix::net::sockopt::set_socket_linger(&s, Some(Duration::ZERO));
        drop(s);
        t.resets.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `n` clients (every tenth a staller, every tenth a resetter) for
/// `secs`; returns the tally once all have finished.
fn load(addr: SocketAddr, n: usize, secs: u64) -> Arc<Tally> {
    let files = Arc::new(files());
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let (files, stop, t) = (files.clone(), stop.clone(), tally.clone());
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || match i % 10 {
                    8 => staller(addr, stop),
                    9 => resetter(addr, stop, t),
                    _ => good(addr, files, i, stop, t),
                })
                .unwrap()
        })
        .collect();
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    tally
}

fn proc_status_kib(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The server's open descriptors, but for files inside `served`: those are
/// its open-file cache, bounded by design (256 per worker) and kept or
/// dropped as the cache sees fit, not leaks.
fn open_fds(pid: u32, served: &std::path::Path) -> usize {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    dir.filter_map(|e| e.ok())
        .filter(|e| {
            std::fs::read_link(e.path()).map_or(true, |p| !(p.starts_with(served) && p != served))
        })
        .count()
}

/// What the server's descriptors point at, for failure messages.
fn fd_list(pid: u32) -> String {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return String::new();
    };
    dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Waits (bounded) for the server's descriptors to fall back to `base`.
fn fds_settle(pid: u32, base: usize, served: &std::path::Path) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = open_fds(pid, served);
        if now <= base || Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn soak_many_clients_with_stallers_and_resetters() {
    let n = env_or("SOAK_CONNECTIONS", 200) as usize;
    let secs = env_or("SOAK_SECONDS", 8);
    // Both ends of every connection live on this machine.
    let want = (2 * n + 256) as u64;
    let (_, hard) = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .pipe(|r| (r.current, r.maximum));
    let limit = hard.map_or(want, |h| want.min(h));
    rustix::process::setrlimit(
        rustix::process::Resource::Nofile,
        rustix::process::Rlimit {
            current: Some(limit),
            maximum: hard,
        },
    )
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    for (name, data) in files() {
        std::fs::write(dir.path().join(name), data).unwrap();
    }
    let max = (n + 64).to_string();
    let server = Server::start(
        dir.path(),
        &["--quiet", "--max-connections", &max, "--idle-timeout", "5"],
    );
    let pid = server.pid();
    // Every worker up and one request served before the first count.
    std::thread::sleep(Duration::from_secs(1));
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.write_all(b"GET /small HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n")
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    assert_eq!(response(&mut s).unwrap().len(), 1024);
    drop(s);
    std::thread::sleep(Duration::from_millis(500));
    let served = dir.path().canonicalize().unwrap();
    let idle_fds = open_fds(pid, &served);

    // Warm-up at full concurrency, then the baseline.
    let warm = load(server.addr, n, 2);
    assert_eq!(
        warm.failed.load(Ordering::Relaxed),
        0,
        "failures in warm-up"
    );
    let base_fds = fds_settle(pid, idle_fds, &served);
    assert_eq!(
        base_fds,
        idle_fds,
        "descriptors left after warm-up: {}",
        fd_list(pid)
    );
    let base_rss = proc_status_kib(pid, "VmRSS:");

    let t = load(server.addr, n, secs);
    let ok = t.ok.load(Ordering::Relaxed);
    let failed = t.failed.load(Ordering::Relaxed);
    let fds = fds_settle(pid, idle_fds, &served);
    let rss = proc_status_kib(pid, "VmRSS:");
    eprintln!(
        "soak: {n} connections, {secs} s: {ok} responses checked, {failed} failed, {} resets; \
         fds {fds} (idle {idle_fds}); RSS {rss} KiB (warm baseline {base_rss} KiB)",
        t.resets.load(Ordering::Relaxed)
    );
    assert_eq!(failed, 0, "well-behaved clients saw failures");
    assert!(ok > n as u64, "too few responses: {ok}");
    assert_eq!(fds, idle_fds, "descriptors leaked: {}", fd_list(pid));
    assert!(
        rss <= base_rss + 16 * 1024,
        "RSS grew from {base_rss} KiB to {rss} KiB"
    );
}

/// `x.pipe(f)` is `f(x)`: keeps the rlimit lines readable.
trait Pipe: Sized {
    fn pipe<R>(self, f: impl FnOnce(Self) -> R) -> R {
        f(self)
    }
}
impl<T> Pipe for T {}

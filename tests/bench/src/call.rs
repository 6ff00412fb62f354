//! The cost of one call: a one-byte non-blocking `send-file` made by a
//! guest through the component boundary, against the bare `sendfile(2)`
//! from native code, both to a loopback socket drained by a thread. Each
//! sender is a process of its own (`wasm-sendfile run call-bench`, `bench
//! bare-sendfile`) pinned to the same CPU, so the two are measured alike.
//!
//! The drain reads in batches, sleeping between them, rather than blocking
//! in `recv`: a blocked reader is woken by every one-byte segment, and that
//! wake-up (scheduler work charged to the sender's `sendfile`) costs more
//! the slower the sender is, which would inflate whichever side is slower
//! by more than its own overhead.

use crate::servers::Programs;
use std::fs::File;
use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wasm_sendfile_tests::{Peer, guests};

/// How long the drain sleeps between batches.
const DRAIN_PAUSE: Duration = Duration::from_micros(200);

/// In the background: accepts one connection and reads it to the end in
/// batches (everything available, then a [`DRAIN_PAUSE`]); the byte count.
fn drain_in_batches(peer: Peer) -> JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut conn = peer.accept();
        conn.set_nonblocking(true).expect("non-blocking");
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            match conn.read(&mut buf) {
                Ok(0) => return total,
                Ok(n) => total += n as u64,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(Instant::now() < deadline, "the sender never finished");
                    std::thread::sleep(DRAIN_PAUSE);
                }
                Err(e) => panic!("drain: {e}"),
            }
        }
    })
}

/// `n` back-to-back one-byte `sendfile(2)` calls of `file` to `addr` on a
/// non-blocking socket (waiting for room when it is full, as the guest
/// does), from this process; their total time. What `bench bare-sendfile`
/// runs, in a process of its own.
pub fn bare_loop(addr: SocketAddr, file: &Path, n: u64) -> Duration {
    let sock = std::net::TcpStream::connect(addr).expect("connect");
    sock.set_nonblocking(true).expect("non-blocking");
    // As the host sets it on every guest connection.
    sock.set_nodelay(true).expect("TCP_NODELAY");
    let src = File::open(file).expect("open");
    let start = Instant::now();
    let mut done = 0;
    while done < n {
        match rustix::fs::sendfile(&sock, &src, Some(&mut 0), 1) {
            Ok(1) => done += 1,
            Ok(k) => panic!("sendfile moved {k} bytes, not 1"),
            Err(rustix::io::Errno::AGAIN) => {
                let mut fds = [rustix::event::PollFd::new(
                    &sock,
                    rustix::event::PollFlags::OUT,
                )];
                let _ = rustix::event::poll(&mut fds, None);
            }
            Err(e) => panic!("sendfile: {e}"),
        }
    }
    start.elapsed()
}

/// Runs `program args` pinned to `cpu`, sending `n` one-byte calls to
/// `drain` in this process; the nanoseconds it printed, checked against
/// the bytes the drain got.
fn timed(program: &Path, args: &[String], cpu: &str, n: u64, drain: JoinHandle<u64>) -> Duration {
    let out = Command::new("taskset")
        .args(["-c", cpu])
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", program.display()));
    assert!(
        out.status.success(),
        "{} {args:?} failed",
        program.display()
    );
    assert_eq!(drain.join().expect("drain"), n);
    let ns: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("nanoseconds");
    Duration::from_nanos(ns)
}

/// The bare loop in a process of its own (`bench bare-sendfile`) pinned
/// to `cpu`; its time.
pub fn bare_syscall(programs: &Programs, cpu: &str, file: &Path, n: u64) -> Duration {
    let peer = Peer::new();
    let addr = peer.addr();
    let drain = drain_in_batches(peer);
    let args = [
        "bare-sendfile".to_string(),
        addr.to_string(),
        file.display().to_string(),
        n.to_string(),
    ];
    timed(&programs.bench, &args, cpu, n, drain)
}

/// `n` back-to-back one-byte non-blocking `send-file` calls made by the
/// `call-bench` guest under `wasm-sendfile run`, pinned to `cpu` (timed
/// inside the guest, around the loop only); their total time. `file` must
/// be directly inside a directory (it is preopened).
pub fn through_guest(programs: &Programs, cpu: &str, file: &Path, n: u64) -> Duration {
    let dir = file.parent().expect("a directory");
    let name = file.file_name().expect("a name").to_string_lossy();
    let peer = Peer::new();
    let addr = peer.addr();
    let drain = drain_in_batches(peer);
    let args = [
        "run".to_string(),
        "--dir-ro".to_string(),
        format!("{}::/d", dir.display()),
        "--allow-connect".to_string(),
        addr.to_string(),
        guests::CALL_BENCH.to_string(),
        "--".to_string(),
        addr.to_string(),
        format!("/d/{name}"),
        n.to_string(),
    ];
    timed(&programs.wasm_sendfile, &args, cpu, n, drain)
}

/// Nanoseconds per call, (through the guest, bare syscall): the medians of
/// `runs` batches of `n` calls each, the two kinds alternating, each
/// sender a process of its own pinned to `cpu` (the drain runs in this
/// process, wherever it is pinned).
pub fn per_call_ns(programs: &Programs, cpu: &str, file: &Path, n: u64, runs: usize) -> (f64, f64) {
    let (mut guest, mut bare) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        guest.push(through_guest(programs, cpu, file, n).as_nanos() as f64 / n as f64);
        bare.push(bare_syscall(programs, cpu, file, n).as_nanos() as f64 / n as f64);
    }
    (crate::median(&guest), crate::median(&bare))
}

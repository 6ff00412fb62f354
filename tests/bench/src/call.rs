//! The cost of one call: a one-byte non-blocking `send-file` made by a
//! guest through the component boundary, against the bare `sendfile(2)`
//! the host ends up making, both to a loopback socket drained by a thread.
//!
//! The drain reads in batches, sleeping between them, rather than blocking
//! in `recv`: a blocked reader is woken by every one-byte segment, and that
//! wake-up (scheduler work charged to the sender's `sendfile`) costs more
//! the slower the sender is, which would inflate whichever side is slower
//! by more than its own overhead.

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wasm_sendfile_tests::{Guest, Peer, guests};

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

/// `n` back-to-back one-byte `sendfile(2)` calls from this process on a
/// non-blocking socket (waiting for room when it is full, as the guest
/// does); their total time.
pub fn bare_syscall(file: &Path, n: u64) -> Duration {
    let peer = Peer::new();
    let addr = peer.addr();
    let drain = drain_in_batches(peer);
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
    let elapsed = start.elapsed();
    drop(sock);
    assert_eq!(drain.join().expect("drain"), n);
    elapsed
}

/// `n` back-to-back one-byte non-blocking `send-file` calls made by the
/// `call-bench` guest (timed inside it, around the loop only); their total
/// time. `file` must be directly inside a directory (it is preopened).
pub fn through_guest(file: &Path, n: u64) -> Duration {
    let dir = file.parent().expect("a directory");
    let name = file.file_name().expect("a name").to_string_lossy();
    let peer = Peer::new();
    let addr = peer.addr();
    let drain = drain_in_batches(peer);
    let out = Guest::new(guests::CALL_BENCH)
        .dir_ro(dir, "/d")
        .allow_connect(addr)
        .args([addr.to_string(), format!("/d/{name}"), n.to_string()])
        .run();
    out.assert_success();
    assert_eq!(drain.join().expect("drain"), n);
    let ns: u64 = out.stdout.trim().parse().expect("nanoseconds");
    Duration::from_nanos(ns)
}

/// Nanoseconds per call, (through the guest, bare syscall): the medians of
/// `runs` batches of `n` calls each, the two kinds alternating.
pub fn per_call_ns(file: &Path, n: u64, runs: usize) -> (f64, f64) {
    let (mut guest, mut bare) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        guest.push(through_guest(file, n).as_nanos() as f64 / n as f64);
        bare.push(bare_syscall(file, n).as_nanos() as f64 / n as f64);
    }
    (crate::median(&guest), crate::median(&bare))
}

//! The cost of one call: a one-byte non-blocking `send-file` made by a
//! guest through the component boundary, against the bare `sendfile(2)`
//! from native code, both to a loopback socket drained by a thread. Each
//! sender is a process of its own (`wasm-sendfile run call-bench`, `bench
//! bare`) pinned to the same CPU, so the two are measured alike.
//!
//! Three more loops split the difference: natively, the system calls the
//! host makes for a small cached range (`preadv2` and `sendmsg`: the
//! kernel's share); through the guest, a `send-file` of zero bytes (the
//! boundary and the host's checks, no I/O) and `limits` (a call that does
//! nothing: the boundary alone).
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

/// What a native loop sends one byte with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Bare {
    /// `sendfile(2)`.
    Sendfile,
    /// `preadv2(RWF_NOWAIT)` into a buffer, then `sendmsg(2)`: what the
    /// host does for a small range whose pages are cached.
    ReadSend,
}

/// `n` back-to-back one-byte sends of `file` to `addr` by `how` on a
/// non-blocking socket (waiting for room when it is full, as the guest
/// does), from this process; their total time. What `bench bare` runs, in a
/// process of its own.
pub fn bare_loop(how: Bare, addr: SocketAddr, file: &Path, n: u64) -> Duration {
    use rustix::io::{IoSliceMut, ReadWriteFlags};
    let sock = std::net::TcpStream::connect(addr).expect("connect");
    sock.set_nonblocking(true).expect("non-blocking");
    // As the host sets it on every guest connection.
    sock.set_nodelay(true).expect("TCP_NODELAY");
    let src = File::open(file).expect("open");
    let mut byte = [0u8; 1];
    let start = Instant::now();
    let mut done = 0;
    while done < n {
        let sent = match how {
            Bare::Sendfile => rustix::fs::sendfile(&sock, &src, Some(&mut 0), 1),
            Bare::ReadSend => {
                let mut bufs = [IoSliceMut::new(&mut byte)];
                let read = rustix::io::preadv2(&src, &mut bufs, 0, ReadWriteFlags::NOWAIT);
                assert_eq!(read, Ok(1), "preadv2");
                rustix::net::sendmsg(
                    &sock,
                    &[std::io::IoSlice::new(&byte)],
                    &mut rustix::net::SendAncillaryBuffer::default(),
                    rustix::net::SendFlags::NOSIGNAL | rustix::net::SendFlags::DONTWAIT,
                )
            }
        };
        match sent {
            Ok(1) => done += 1,
            Ok(k) => panic!("{how:?} moved {k} bytes, not 1"),
            Err(rustix::io::Errno::AGAIN) => {
                let mut fds = [rustix::event::PollFd::new(
                    &sock,
                    rustix::event::PollFlags::OUT,
                )];
                let _ = rustix::event::poll(&mut fds, None);
            }
            Err(e) => panic!("{how:?}: {e}"),
        }
    }
    start.elapsed()
}

/// Runs `program args` pinned to `cpu`, sending `bytes` in all to `drain`
/// in this process; the nanoseconds it printed, checked against the bytes
/// the drain got.
fn timed(
    program: &Path,
    args: &[String],
    cpu: &str,
    bytes: u64,
    drain: JoinHandle<u64>,
) -> Duration {
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
    assert_eq!(drain.join().expect("drain"), bytes);
    let ns: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("nanoseconds");
    Duration::from_nanos(ns)
}

/// The native loop `how` in a process of its own (`bench bare`) pinned to
/// `cpu`; its time.
pub fn bare(programs: &Programs, how: Bare, cpu: &str, file: &Path, n: u64) -> Duration {
    let peer = Peer::new();
    let addr = peer.addr();
    let drain = drain_in_batches(peer);
    let how = clap::ValueEnum::to_possible_value(&how).expect("a name");
    let args = [
        "bare".to_string(),
        how.get_name().to_string(),
        addr.to_string(),
        file.display().to_string(),
        n.to_string(),
    ];
    timed(&programs.bench, &args, cpu, n, drain)
}

/// What the `call-bench` guest's timed calls do (its `KIND` argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestCall {
    /// `send-file` of one byte.
    SendOne,
    /// `send-file` of zero bytes.
    SendNone,
    /// `limits`.
    Limits,
}

impl GuestCall {
    fn arg(self) -> &'static str {
        match self {
            GuestCall::SendOne => "send-1",
            GuestCall::SendNone => "send-0",
            GuestCall::Limits => "limits",
        }
    }

    /// Bytes `n` such calls send.
    fn bytes(self, n: u64) -> u64 {
        if self == GuestCall::SendOne { n } else { 0 }
    }
}

/// `n` back-to-back calls of kind `call` made by the `call-bench` guest
/// under `wasm-sendfile run`, pinned to `cpu` (timed inside the guest,
/// around the loop only); their total time. `file` must be directly inside
/// a directory (it is preopened).
pub fn through_guest(
    programs: &Programs,
    call: GuestCall,
    cpu: &str,
    file: &Path,
    n: u64,
) -> Duration {
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
        call.arg().to_string(),
    ];
    timed(&programs.wasm_sendfile, &args, cpu, call.bytes(n), drain)
}

/// Nanoseconds per call of each loop (medians).
#[derive(Debug, Clone, Copy)]
pub struct CallCosts {
    /// Guest: `send-file` of one byte.
    pub guest: f64,
    /// Native: `sendfile(2)` of one byte.
    pub bare: f64,
    /// Native: `preadv2` + `sendmsg` of one byte.
    pub read_send: f64,
    /// Guest: `send-file` of zero bytes.
    pub guest_empty: f64,
    /// Guest: `limits`.
    pub guest_limits: f64,
}

impl CallCosts {
    /// The guest's one-byte call over the bare `sendfile(2)`.
    pub fn ratio(&self) -> f64 {
        self.guest / self.bare
    }
}

/// Nanoseconds per call of each loop: the medians of `runs` batches of `n`
/// calls each, the kinds taking turns, each sender a process of its own
/// pinned to `cpu` (the drain runs in this process, wherever it is pinned).
pub fn per_call_ns(programs: &Programs, cpu: &str, file: &Path, n: u64, runs: usize) -> CallCosts {
    let mut samples = [(); 5].map(|()| Vec::with_capacity(runs));
    let per_call = |d: Duration| d.as_nanos() as f64 / n as f64;
    for _ in 0..runs {
        samples[0].push(per_call(through_guest(
            programs,
            GuestCall::SendOne,
            cpu,
            file,
            n,
        )));
        samples[1].push(per_call(bare(programs, Bare::Sendfile, cpu, file, n)));
        samples[2].push(per_call(bare(programs, Bare::ReadSend, cpu, file, n)));
        samples[3].push(per_call(through_guest(
            programs,
            GuestCall::SendNone,
            cpu,
            file,
            n,
        )));
        samples[4].push(per_call(through_guest(
            programs,
            GuestCall::Limits,
            cpu,
            file,
            n,
        )));
    }
    let [guest, bare, read_send, guest_empty, guest_limits] = samples.map(|s| crate::median(&s));
    CallCosts {
        guest,
        bare,
        read_send,
        guest_empty,
        guest_limits,
    }
}

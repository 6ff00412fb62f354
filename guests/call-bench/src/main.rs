//! `call-bench ADDR FILE N [KIND]`: connects to ADDR, then makes N calls of
//! one KIND through the component boundary, and prints how long they took
//! in nanoseconds, timed with the monotonic clock around the loop only (not
//! instantiation or connecting). The kinds split the cost of a call:
//!
//! - `send-1` (the default): a non-blocking `send-file` of one byte of FILE
//!   (offset 0) to the connection. A call that finds the socket full waits
//!   for it and counts again.
//! - `send-0`: the same call asking for zero bytes: the component boundary
//!   and the host's checks, with no I/O.
//! - `limits`: the capability's `limits`, a call that takes nothing and
//!   does nothing: the component boundary alone.

use wasi::clocks::monotonic_clock;
use wasm_sendfile_sdk::fs::File;
use wasm_sendfile_sdk::net::TcpStream;
use wasm_sendfile_sdk::raw::{self, Count, SendOptions, Target};

/// What each timed call does.
#[derive(Clone, Copy)]
enum Kind {
    SendOne,
    SendNone,
    Limits,
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (addr, path, n, kind) = match args.as_slice() {
        [addr, path, n] => (addr, path, n, Kind::SendOne),
        [addr, path, n, kind] => (addr, path, n, parse_kind(kind)),
        _ => usage(),
    };
    let n: u64 = n.parse().map_err(std::io::Error::other)?;
    let stream = TcpStream::connect(addr.as_str())?;
    let file = File::open(path)?;
    let target = Target::Socket(stream.socket());
    let options = SendOptions {
        headers: Vec::new(),
        trailers: Vec::new(),
        flags: raw::SendFlags::empty(),
        max_chunk: None,
    };
    let send = |bytes: u64| {
        raw::send_file(
            &target,
            file.descriptor(),
            0,
            Count::AtMost(bytes),
            &options,
        )
    };
    let start = monotonic_clock::now();
    let mut done = 0;
    while done < n {
        match kind {
            Kind::Limits => {
                std::hint::black_box(raw::limits());
                done += 1;
            }
            Kind::SendNone => match send(0) {
                Ok(sent) if sent.total == 0 && sent.complete => done += 1,
                Ok(sent) => panic!("sent {} bytes, not 0", sent.total),
                Err(e) => panic!("send-file of nothing failed: {:?}", e.code),
            },
            Kind::SendOne => match send(1) {
                Ok(sent) if sent.total == 1 => done += 1,
                Ok(sent) => panic!("sent {} bytes, not 1", sent.total),
                Err(e) if e.code == raw::ErrorCode::WouldBlock => stream.wait_writable(),
                Err(e) => panic!("send-file failed: {:?}", e.code),
            },
        }
    }
    println!("{}", monotonic_clock::now() - start);
    Ok(())
}

fn parse_kind(name: &str) -> Kind {
    match name {
        "send-1" => Kind::SendOne,
        "send-0" => Kind::SendNone,
        "limits" => Kind::Limits,
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!("usage: call-bench ADDR FILE N [send-1|send-0|limits]");
    std::process::exit(2);
}

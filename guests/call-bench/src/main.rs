//! `call-bench ADDR FILE N`: connects to ADDR, then makes N non-blocking
//! `send-file` calls of one byte of FILE (offset 0) through the component
//! boundary, and prints how long they took in nanoseconds, timed with the
//! monotonic clock around the loop only (not instantiation or connecting).
//! A call that finds the socket full waits for it and counts again.

use wasi::clocks::monotonic_clock;
use wasm_sendfile_sdk::fs::File;
use wasm_sendfile_sdk::net::TcpStream;
use wasm_sendfile_sdk::raw::{self, Count, SendOptions, Target};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [addr, path, n] = args.as_slice() else {
        eprintln!("usage: call-bench ADDR FILE N");
        std::process::exit(2);
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
    let start = monotonic_clock::now();
    let mut done = 0;
    while done < n {
        match raw::send_file(&target, file.descriptor(), 0, Count::AtMost(1), &options) {
            Ok(sent) if sent.total == 1 => done += 1,
            Ok(sent) => panic!("sent {} bytes, not 1", sent.total),
            Err(e) if e.code == raw::ErrorCode::WouldBlock => stream.wait_writable(),
            Err(e) => panic!("send-file failed: {:?}", e.code),
        }
    }
    println!("{}", monotonic_clock::now() - start);
    Ok(())
}

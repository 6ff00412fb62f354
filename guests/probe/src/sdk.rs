//! Probe commands for the SDK's std-like surface: the cursor builder,
//! timeouts, `SendError::of`, `limits()`. Each prints one line per step.

use crate::Args;
use std::io::{Read, Write};
use std::time::{Duration, Instant};
use wasm_sendfile_sdk::fs::File;
use wasm_sendfile_sdk::net::TcpStream;
use wasm_sendfile_sdk::{SendError, SendFile, limits, sendfile, try_sendfile};

/// `limits`: the host's limits as the guest sees them.
pub fn show_limits() -> std::io::Result<()> {
    let l = limits();
    println!(
        "limits header-trailer-bytes={} buffers={} chunk={} file-targets={}",
        l.max_header_trailer_bytes, l.max_buffers, l.max_chunk, l.file_targets
    );
    Ok(())
}

/// `cursor-builder connect=ADDR path=FILE`: a builder from the cursor at
/// 10 sends a header and 20 bytes and leaves the cursor at 30; Linux-style
/// `sendfile` goes on from there with 5 more.
pub fn cursor_builder(args: &Args) -> std::io::Result<()> {
    let stream = TcpStream::connect(args.addr())?;
    let mut file = File::open(args.get("path").expect("path=FILE"))?;
    file.set_position(10);
    let sent = SendFile::from_cursor(&mut file)
        .header("H")
        .count(20)
        .send(&stream)?;
    println!("builder sent={} position={}", sent.total, file.position());
    let more = sendfile(&stream, &mut file, None, 5)?;
    println!("sendfile sent={more} position={}", file.position());
    let at = SendFile::from_cursor(&mut file).offset(100).count(1);
    drop(at);
    println!("offset moves the cursor: position={}", file.position());
    Ok(())
}

/// `timeouts connect=ADDR path=FILE`, against a peer that neither sends
/// nor reads: each bounded wait ends after its timeout.
pub fn timeouts(args: &Args) -> std::io::Result<()> {
    let stream = TcpStream::connect(args.addr())?;
    let zero = stream.set_read_timeout(Some(Duration::ZERO));
    println!("zero read timeout: {:?}", zero.map_err(|e| e.kind()));
    let timeout = Duration::from_millis(300);
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    println!(
        "timeouts: read={:?} write={:?}",
        stream.read_timeout()?,
        stream.write_timeout()?
    );

    let start = Instant::now();
    let read = (&stream).read(&mut [0u8; 16]);
    println!(
        "read: {:?} waited-enough={}",
        read.map_err(|e| e.kind()),
        bounded(start, timeout)
    );

    // The file is far larger than the socket's buffers: the first call
    // sends part and stops when the peer does not read; the second sends
    // nothing and says would-block.
    let mut file = File::open(args.get("path").expect("path=FILE"))?;
    let len = file.len()?;
    let start = Instant::now();
    let first = sendfile(&stream, &mut file, None, len)?;
    println!(
        "sendfile: short={} cursor-follows={} waited-enough={}",
        first > 0 && first < len,
        file.position() == first,
        bounded(start, timeout)
    );
    // Room may open up for a while (the kernel grows the send buffer);
    // once the peer's window is shut for good, a call sends nothing.
    let mut sent = first;
    let again = loop {
        let start = Instant::now();
        match sendfile(&stream, &mut file, None, len - sent) {
            Ok(n) if n > 0 && sent + n < len && sent < (len / 2) => sent += n,
            Ok(n) => break (Ok(n), bounded(start, timeout)),
            Err(e) => {
                let code = SendError::of(&e).map(|s| s.code().name());
                break (Err((e.kind(), code)), bounded(start, timeout));
            }
        }
    };
    println!(
        "sendfile again: {:?} waited-enough={} cursor-follows={}",
        again.0,
        again.1,
        file.position() == sent
    );
    let start = Instant::now();
    let write = (&stream).write_all(&[b'w'; 1 << 16]);
    println!(
        "write: {:?} waited-enough={}",
        write.map_err(|e| e.kind()),
        bounded(start, timeout)
    );
    Ok(())
}

/// Whether a wait bounded by `timeout` lasted at least that long, and not
/// far longer.
fn bounded(start: Instant, timeout: Duration) -> bool {
    let waited = start.elapsed();
    waited >= timeout && waited < timeout * 20
}

/// `connect-timeout connect=ADDR`: a zero timeout is refused; a real one
/// connects.
pub fn connect_timeout(args: &Args) -> std::io::Result<()> {
    let addr = args.addr();
    let zero = TcpStream::connect_timeout(&addr, Duration::ZERO).map(|_| ());
    println!("zero: {:?}", zero.map_err(|e| e.kind()));
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    println!("connected: {}", stream.peer_addr()? == addr);
    Ok(())
}

/// `send-error-of connect=ADDR path=FILE`: a file opened for writing only
/// cannot be a source; the `io::Error` carries the capability's code.
pub fn send_error_of(args: &Args) -> std::io::Result<()> {
    let stream = TcpStream::connect(args.addr())?;
    let mut file = File::options()
        .write(true)
        .open(args.get("path").expect("path=FILE"))?;
    let err = try_sendfile(&stream, &mut file, None, 5).expect_err("not readable");
    let code = SendError::of(&err).map(|s| (s.code().name(), s.total()));
    println!("kind={:?} code={code:?}", err.kind());
    let other = std::io::Error::other("not from the capability");
    println!("other: {:?}", SendError::of(&other).is_none());
    Ok(())
}

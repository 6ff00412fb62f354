//! Test guest: drives the capability as the integration tests direct, and
//! prints one line per outcome for them to check.
//!
//! `probe COMMAND key=value...`. Outcomes print as
//! `ok total=T file=F complete=C` or `err code=CODE total=T file=F`.

mod sdk;

use std::collections::HashMap;
use std::io::{ErrorKind, Write};
use std::net::SocketAddr;
use wasm_sendfile_sdk::fs::File;
use wasm_sendfile_sdk::net::{TcpListener, TcpStream};
use wasm_sendfile_sdk::{ErrorCode, SendError, SendFile, Sent, Target, sendfile};

/// Parsed `key=value` arguments; `header` and `trailer` may repeat.
struct Args {
    one: HashMap<String, String>,
    headers: Vec<String>,
    trailers: Vec<String>,
}

impl Args {
    fn parse(raw: &[String]) -> Args {
        let mut args = Args {
            one: HashMap::new(),
            headers: Vec::new(),
            trailers: Vec::new(),
        };
        for a in raw {
            let (k, v) = a.split_once('=').unwrap_or((a, ""));
            match k {
                "header" => args.headers.push(v.to_string()),
                "trailer" => args.trailers.push(v.to_string()),
                _ => {
                    args.one.insert(k.to_string(), v.to_string());
                }
            }
        }
        args
    }

    fn get(&self, k: &str) -> Option<&str> {
        self.one.get(k).map(String::as_str)
    }

    fn num(&self, k: &str) -> Option<u64> {
        self.get(k).map(|v| v.parse().expect("a number"))
    }

    fn addr(&self) -> SocketAddr {
        self.get("connect").expect("connect=ADDR").parse().unwrap()
    }

    fn flag(&self, k: &str) -> bool {
        self.one.contains_key(k)
    }
}

fn report(result: &Result<Sent, SendError>) {
    match result {
        Ok(s) => println!(
            "ok total={} file={} complete={}",
            s.total, s.file, s.complete
        ),
        Err(e) => println!(
            "err code={} total={} file={}",
            e.code().name(),
            e.total(),
            e.file()
        ),
    }
}

/// Opens the source as `source-mode` says (default: read).
fn open_source(args: &Args) -> std::io::Result<File> {
    let path = args.get("file").expect("file=PATH");
    match args.get("source-mode") {
        Some("write") => File::options().write(true).open(path),
        _ => File::open(path),
    }
}

/// Builds the transfer the arguments describe.
fn transfer<'a>(args: &Args, file: &'a File) -> SendFile<'a> {
    let mut t = SendFile::new(file).offset(args.num("offset").unwrap_or(0));
    if let Some(c) = args.num("count") {
        t = t.count(c);
    }
    for h in &args.headers {
        t = t.header(h.as_bytes());
    }
    for h in &args.trailers {
        t = t.trailer(h.as_bytes());
    }
    if args.flag("no-disk-io") {
        t = t.no_disk_io();
    }
    if args.flag("no-cache") {
        t = t.no_cache();
    }
    if let Some(n) = args.num("max-chunk") {
        t = t.max_chunk(n);
    }
    t
}

/// `send`: one transfer to a socket (connect=ADDR) or a file
/// (to-file=PATH, at=OFFSET). `prefix=S` writes S to the socket's stream
/// first; `nonblocking` uses `try_send`; `hold-ms=N` keeps the socket open
/// N ms after the transfer; `retry-after-ms=N` (file targets) resumes the
/// transfer N ms after an error.
fn send(args: &Args) -> std::io::Result<()> {
    let file = open_source(args)?;
    let mut t = transfer(args, &file);
    let result = if let Some(path) = args.get("to-file") {
        let out = match args.get("target-mode") {
            Some("read") => File::open(path)?,
            _ => File::options().write(true).create(true).open(path)?,
        };
        let target = Target::file(&out, args.num("at").unwrap_or(0));
        let first = if args.flag("nonblocking") {
            t.try_send(target)
        } else {
            t.send(target)
        };
        match args.num("retry-after-ms") {
            // `retry-after-ms=N`: after an error, report it, wait, and
            // resume the same transfer to the same target.
            Some(ms) if first.is_err() => {
                report(&first);
                std::thread::sleep(std::time::Duration::from_millis(ms));
                t.send(target)
            }
            _ => first,
        }
    } else {
        let stream = TcpStream::connect(args.addr())?;
        if let Some(p) = args.get("prefix") {
            (&stream).write_all(p.as_bytes())?;
        }
        let result = if args.flag("nonblocking") {
            t.try_send(&stream)
        } else {
            t.send(&stream)
        };
        if let Some(ms) = args.num("hold-ms") {
            // Keep the connection open a while: what the peer reads now
            // went out without waiting for the close.
            report(&result);
            std::io::stdout().flush()?;
            std::thread::sleep(std::time::Duration::from_millis(ms));
            return Ok(());
        }
        result
    };
    report(&result);
    Ok(())
}

/// `script`: the transfers listed in the file `ops=PATH`, one per line in
/// `send`'s `key=value` syntax, one after another from the same source to
/// one socket (connect=ADDR) or file (to-file=PATH, each transfer written
/// where the previous one ended). Prints `op=I ` and the outcome per line.
fn script(args: &Args) -> std::io::Result<()> {
    let file = open_source(args)?;
    let ops = std::fs::read_to_string(args.get("ops").expect("ops=PATH"))?;
    let out_file = match args.get("to-file") {
        Some(path) => Some(File::options().write(true).create(true).open(path)?),
        None => None,
    };
    let stream = match out_file {
        None => Some(TcpStream::connect(args.addr())?),
        Some(_) => None,
    };
    let mut at = 0;
    for (i, line) in ops.lines().enumerate() {
        let words: Vec<String> = line.split_whitespace().map(String::from).collect();
        let mut t = transfer(&Args::parse(&words), &file);
        let result = match (&out_file, &stream) {
            (Some(out), _) => t.send(Target::file(out, at)),
            (None, Some(stream)) => t.send(stream),
            (None, None) => unreachable!("a target"),
        };
        if let Ok(sent) = &result {
            at += sent.total;
        }
        print!("op={i} ");
        report(&result);
    }
    Ok(())
}

/// `fs-ops path=P` (P must not exist): the SDK's `std`-like file calls,
/// one line each: create_new twice, a write, an append, set_len,
/// metadata, sync_all.
fn fs_ops(args: &Args) -> std::io::Result<()> {
    let path = args.get("path").expect("path=P");
    let outcome = |r: Result<(), ErrorKind>| match r {
        Ok(()) => "ok".to_string(),
        Err(kind) => format!("err {kind:?}"),
    };
    let kind = |r: &std::io::Result<File>| r.as_ref().map(|_| ()).map_err(|e| e.kind());
    let first = File::options().write(true).create_new(true).open(path);
    println!("create_new: {}", outcome(kind(&first)));
    let again = File::options().write(true).create_new(true).open(path);
    println!("create_new again: {}", outcome(kind(&again)));
    let mut file = first?;
    file.write_all(b"abc")?;
    let mut appender = File::options().append(true).open(path)?;
    file.set_position(0);
    file.write_all(b"X")?;
    appender.write_all(b"de")?;
    println!("after append: len={}", file.len()?);
    file.set_len(2)?;
    println!("after set_len: size={}", file.metadata()?.size);
    println!(
        "sync_all: {}",
        outcome(file.sync_all().map_err(|e| e.kind()))
    );
    Ok(())
}

/// `cursor`: Linux "offset NULL" mode: `sendfile(None)` of `first`, then
/// of `second` bytes, then one with an explicit offset=`explicit`
/// (count `second`) that must leave the cursor alone.
fn cursor(args: &Args) -> std::io::Result<()> {
    let stream = TcpStream::connect(args.addr())?;
    let mut file = open_source(args)?;
    file.set_position(args.num("start").unwrap_or(0));
    let a = sendfile(&stream, &mut file, None, args.num("first").unwrap())?;
    println!("first={a} position={}", file.position());
    let b = sendfile(&stream, &mut file, None, args.num("second").unwrap())?;
    println!("second={b} position={}", file.position());
    let mut off = args.num("explicit").unwrap();
    let c = sendfile(
        &stream,
        &mut file,
        Some(&mut off),
        args.num("second").unwrap(),
    )?;
    println!("explicit={c} offset={off} position={}", file.position());
    Ok(())
}

/// `cursor-reset`: cursor-mode `sendfile` of the whole file while the peer
/// resets the connection part-way: Linux reports the bytes that went out
/// (and the cursor moves by exactly those); the next call reports the error.
fn cursor_reset(args: &Args) -> std::io::Result<()> {
    let stream = TcpStream::connect(args.addr())?;
    let mut file = open_source(args)?;
    let len = file.len()?;
    let first = sendfile(&stream, &mut file, None, len)?;
    println!("first={first} position={}", file.position());
    match sendfile(&stream, &mut file, None, len) {
        Ok(n) => println!("second ok={n}"),
        Err(e) => println!("second error={:?} position={}", e.kind(), file.position()),
    }
    Ok(())
}

/// `nonblock`: against a peer that does not read: `try_send` until the
/// socket is full (a partial success), once more (would-block), then write
/// `marker` so the test starts reading, then finish with waits.
fn nonblock(args: &Args) -> std::io::Result<()> {
    let stream = TcpStream::connect(args.addr())?;
    stream.set_send_buffer_size(args.num("sndbuf").unwrap_or(4096))?;
    let file = open_source(args)?;
    let mut t = transfer(args, &file);
    let first = t.try_send(&stream);
    report(&first);
    let mut second = t.try_send(&stream);
    // The peer is not reading: keep trying until the socket is really full.
    let mut tries = 0;
    while matches!(&second, Ok(s) if !s.complete) && tries < 1000 {
        second = t.try_send(&stream);
        tries += 1;
    }
    report(&second);
    File::create(args.get("marker").expect("marker=PATH"))?;
    while !t.is_complete() {
        match t.try_send(&stream) {
            Ok(_) => {}
            Err(e) if e.is_would_block() => stream.wait_writable(),
            Err(e) => return Err(e.into()),
        }
    }
    let s = t.sent();
    println!("done total={} file={}", s.total, s.file);
    Ok(())
}

/// `churn rounds=N`: N times, opens the source, connects, sends the whole
/// file without blocking (waiting for writability as needed, through a
/// fresh pollable each time), then drops everything. Every handle the
/// round made is gone after it, so the host's table must be too.
fn churn(args: &Args) -> std::io::Result<()> {
    let rounds = args.num("rounds").expect("rounds=N");
    for _ in 0..rounds {
        let file = open_source(args)?;
        let stream = TcpStream::connect(args.addr())?;
        let mut t = SendFile::new(&file);
        while !t.is_complete() {
            match t.try_send(&stream) {
                Ok(_) => {}
                Err(e) if e.is_would_block() => stream.wait_writable(),
                Err(e) => return Err(e.into()),
            }
        }
        stream.wait_writable();
    }
    println!("churned rounds={rounds}");
    Ok(())
}

/// Error cases that need a socket in a given state.
fn socket_state(args: &Args) -> std::io::Result<()> {
    let file = open_source(args)?;
    let mut t = transfer(args, &file);
    match args.get("state") {
        Some("listening") => {
            let l = TcpListener::bind(args.get("bind").unwrap())?;
            report(&t.send(l.socket()));
        }
        Some("unconnected") => {
            let s = wasi::sockets::tcp_create_socket::create_tcp_socket(
                wasi::sockets::network::IpAddressFamily::Ipv4,
            )
            .unwrap();
            report(&t.send(&s));
        }
        Some("peer-closed") => {
            // The test closes its end. The first failure is usually a reset;
            // keep sending until the kernel says EPIPE (which is when it
            // raises SIGPIPE), or give up after a while.
            let stream = TcpStream::connect(args.addr())?;
            let mut last = t.send(&stream);
            for _ in 0..200 {
                if matches!(&last, Err(e) if e.code() == ErrorCode::BrokenPipe) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
                t = transfer(args, &file);
                last = t.send(&stream);
            }
            report(&last);
        }
        Some("pending-writes") => {
            // Fill the socket through the output-stream (the peer is not
            // reading) until it takes no more: the file must not jump ahead.
            let stream = TcpStream::connect(args.addr())?;
            stream.set_send_buffer_size(4096)?;
            let mut wrote = 0u64;
            for _ in 0..100_000 {
                let n = stream
                    .output()
                    .check_write()
                    .map_err(std::io::Error::other)?;
                if n == 0 {
                    break;
                }
                let chunk = vec![b'p'; n.min(65_536) as usize];
                stream
                    .output()
                    .write(&chunk)
                    .map_err(std::io::Error::other)?;
                wrote += chunk.len() as u64;
            }
            println!("wrote={wrote}");
            report(&t.try_send(&stream));
        }
        Some("trap-mid-transfer") => {
            // Starts a transfer the peer does not read, then traps with the
            // socket and file still open.
            let stream = TcpStream::connect(args.addr())?;
            let first = t.try_send(&stream);
            report(&first);
            std::io::stdout().flush()?;
            panic!("trapping mid-transfer on purpose");
        }
        Some("spin-mid-transfer") => {
            // A runaway guest: starts a transfer the peer does not read,
            // then retries without ever waiting, burning CPU in its own code
            // until the embedder's epoch deadline stops it.
            let stream = TcpStream::connect(args.addr())?;
            report(&t.try_send(&stream));
            std::io::stdout().flush()?;
            loop {
                let _ = t.try_send(&stream);
            }
        }
        Some("shutdown") => {
            let stream = TcpStream::connect(args.addr())?;
            stream.shutdown(std::net::Shutdown::Write)?;
            report(&t.send(&stream));
        }
        other => panic!("unknown state {other:?}"),
    }
    Ok(())
}

/// `hostile case=...`: raw WIT calls a well-behaved SDK would never make.
/// Outcomes print as `raw ok ...` or `raw err ...`; the handle cases trap.
fn hostile(args: &Args) -> std::io::Result<()> {
    use wasm_sendfile_sdk::raw;
    let file = open_source(args)?;
    let stream = TcpStream::connect(args.addr())?;
    let options = |(headers, trailers): (Vec<Vec<u8>>, Vec<Vec<u8>>)| raw::SendOptions {
        headers,
        trailers,
        flags: raw::SendFlags::empty(),
        max_chunk: None,
    };
    let target = raw::Target::Socket(stream.socket());
    let none = || (Vec::new(), Vec::new());
    let call = |offset: u64, count: raw::Count, lists| match raw::blocking_send_file(
        &target,
        file.descriptor(),
        offset,
        count,
        &options(lists),
    ) {
        Ok(t) => println!(
            "raw ok total={} file={} complete={}",
            t.total, t.file, t.complete
        ),
        Err(e) => println!(
            "raw err code={} total={} file={}",
            e.code.name(),
            e.total,
            e.file
        ),
    };
    match args.get("case") {
        Some("huge-count") => call(0, raw::Count::AtMost(u64::MAX), none()),
        Some("max-offset") => call(u64::MAX, raw::Count::AtMost(u64::MAX), none()),
        Some("max-off-t") => call(i64::MAX as u64, raw::Count::AtMost(u64::MAX), none()),
        Some("many-headers") => call(0, raw::Count::ToEof, (vec![Vec::new(); 5000], Vec::new())),
        Some("huge-headers") => call(
            0,
            raw::Count::ToEof,
            (vec![vec![b'h'; 8 << 20]], Vec::new()),
        ),
        // Each list within its own limit (1024), more than it together.
        Some("full-lists") => call(
            0,
            raw::Count::AtMost(10),
            (vec![b"h".to_vec(); 1000], vec![b"t".to_vec(); 1024]),
        ),
        Some("many-trailers") => call(0, raw::Count::ToEof, (Vec::new(), vec![Vec::new(); 1025])),
        Some("stale-socket") => {
            let socket = wasi::sockets::tcp_create_socket::create_tcp_socket(
                wasi::sockets::network::IpAddressFamily::Ipv4,
            )
            .unwrap();
            let handle = socket.handle();
            drop(socket);
            // A handle that was just dropped.
            send_with_forged_socket(handle, &file, &options(none()));
        }
        // A descriptor's handle passed as a tcp-socket.
        Some("wrong-type") => {
            send_with_forged_socket(file.descriptor().handle(), &file, &options(none()))
        }
        other => panic!("unknown case {other:?}"),
    }
    Ok(())
}

/// Calls `send-file` with a tcp-socket forged from `handle`: the host must
/// trap the guest (so nothing is printed), never crash.
fn send_with_forged_socket(
    handle: u32,
    file: &File,
    options: &wasm_sendfile_sdk::raw::SendOptions,
) {
    use wasm_sendfile_sdk::raw;
    // SAFETY (of the guest, not the host): deliberately forges a handle the
    // guest does not own as a tcp-socket; it is forgotten, never dropped.
    let forged = unsafe { wasi::sockets::tcp::TcpSocket::from_handle(handle) };
    let r = raw::send_file(
        &raw::Target::Socket(&forged),
        file.descriptor(),
        0,
        raw::Count::ToEof,
        options,
    );
    std::mem::forget(forged);
    println!("raw returned {}", r.is_ok());
}

/// `open`: tries to open `file`, printing the error kind if it fails.
fn open(args: &Args) -> std::io::Result<()> {
    match File::open(args.get("file").unwrap()) {
        Ok(f) => println!("opened dir={}", f.is_dir()?),
        Err(e) => println!("open-error kind={:?}", e.kind()),
    }
    Ok(())
}

/// `open-raw path=P`: `wasi:filesystem` `open-at` on the first preopen
/// with `P` exactly as given (no SDK in between), following symlinks;
/// prints `raw-opened` or `raw-error code=CODE`. An opened file is then sent
/// nowhere: the point is whether the open itself escapes.
fn open_raw(args: &Args) -> std::io::Result<()> {
    use wasi::filesystem::types::{DescriptorFlags, OpenFlags, PathFlags};
    let preopens = wasi::filesystem::preopens::get_directories();
    let (dir, _) = preopens.first().expect("a preopen");
    let path = args.get("path").expect("path=P");
    match dir.open_at(
        PathFlags::SYMLINK_FOLLOW,
        path,
        OpenFlags::empty(),
        DescriptorFlags::READ,
    ) {
        Ok(_) => println!("raw-opened"),
        Err(code) => println!("raw-error code={code:?}"),
    }
    Ok(())
}

/// `net`: bind or connect, printing the error kind if refused.
fn net(args: &Args) -> std::io::Result<()> {
    let outcome = if let Some(addr) = args.get("bind") {
        TcpListener::bind(addr).map(|_| ())
    } else {
        TcpStream::connect(args.addr()).map(|_| ())
    };
    match outcome {
        Ok(()) => println!("net ok"),
        Err(e) if e.kind() == ErrorKind::PermissionDenied => println!("net denied"),
        Err(e) => println!("net error kind={:?}", e.kind()),
    }
    Ok(())
}

fn main() -> std::io::Result<()> {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, rest) = raw.split_first().expect("a command");
    let args = Args::parse(rest);
    match cmd.as_str() {
        "send" => send(&args),
        "script" => script(&args),
        "cursor" => cursor(&args),
        "fs-ops" => fs_ops(&args),
        "limits" => sdk::show_limits(),
        "cursor-builder" => sdk::cursor_builder(&args),
        "timeouts" => sdk::timeouts(&args),
        "connect-timeout" => sdk::connect_timeout(&args),
        "send-error-of" => sdk::send_error_of(&args),
        "nonblock" => nonblock(&args),
        "churn" => churn(&args),
        "cursor-reset" => cursor_reset(&args),
        "socket-state" => socket_state(&args),
        "open" => open(&args),
        "open-raw" => open_raw(&args),
        "net" => net(&args),
        "hostile" => hostile(&args),
        other => panic!("unknown command {other}"),
    }
}

//! A complete guest: answers each connection on ADDR with an HTTP response
//! whose body is FILE, sent by the sendfile capability, for N connections.
//!
//! `hello-sendfile FILE ADDR N`, with FILE inside a preopened directory
//! and ADDR allowed to bind, e.g.
//! `wasm-sendfile run hello-sendfile.wasm --dir-ro public::/public
//! --allow-bind 127.0.0.1:8080 -- /public/index.html 127.0.0.1:8080 10`.
//!
//! Its `Cargo.toml`, built with `cargo build --target wasm32-wasip2`:
//!
//! ```toml
//! [dependencies]
//! wasm-sendfile-sdk = { path = "path/to/wasm-sendfile/guest-sdk" }
//! ```

use std::io::{Error, ErrorKind, Read};
use wasm_sendfile_sdk::SendFile;
use wasm_sendfile_sdk::fs::File;
use wasm_sendfile_sdk::net::TcpListener;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path, addr, n] = args.as_slice() else {
        return Err(Error::new(ErrorKind::InvalidInput, "usage: FILE ADDR N"));
    };
    let n: usize = n
        .parse()
        .map_err(|e| Error::new(ErrorKind::InvalidInput, e))?;
    // Like std: "127.0.0.1:8080", "[::1]:8080", a SocketAddr, ...
    let listener = TcpListener::bind(addr.as_str())?;
    for _ in 0..n {
        let (mut stream, _peer) = listener.accept()?;
        // Read the request head (this example answers whatever it asks).
        // All of it: closing a socket with unread bytes resets the
        // connection, and the peer would lose the response.
        let mut request = Vec::new();
        let mut chunk = [0u8; 4096];
        while !request.ends_with(b"\r\n\r\n") && request.len() < 64 * 1024 {
            match stream.read(&mut chunk)? {
                0 => break,
                got => request.extend_from_slice(&chunk[..got]),
            }
        }
        if !request.ends_with(b"\r\n\r\n") {
            continue;
        }
        let file = File::open(path)?;
        let len = file.len()?;
        let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n");
        // The head, then the file's `len` bytes from offset 0. `send`
        // waits while the socket is full and returns once all went out (a
        // short count only with an error, counting what went before it).
        let sent = SendFile::new(&file).header(head).count(len).send(&stream)?;
        println!("sent {} bytes ({} of the file)", sent.total, sent.file);
    }
    Ok(())
}

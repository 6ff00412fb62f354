//! The seed's example client (`shared/seeds/000_*.txt`), as a guest: sends a
//! file to the server by sendfile with "count 0 = the whole file" (the
//! macOS/Python semantics), then prints the reply as `b'...'`.
//!
//! `song-client FILE_PATH [ADDR]`; ADDR defaults to localhost:34422 as in the
//! seed (127.0.0.1: WASI has no name lookup in our host's policy).

use std::io::Read;
use wasm_sendfile_sdk::SendFile;
use wasm_sendfile_sdk::fs::File;
use wasm_sendfile_sdk::net::TcpStream;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: song-client FILE_PATH [ADDR]");
        std::process::exit(2);
    };
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:34422".to_string());
    let addr: std::net::SocketAddr = addr.parse().map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("address `{addr}`: {e}"),
        )
    })?;
    let file = File::open(&path)?;
    let mut stream = TcpStream::connect(addr)?;
    // os.sendfile(sock, src, 0, 0): with count 0, the whole file.
    SendFile::new(&file).to_eof().send(&stream)?;
    let mut reply = vec![0u8; 2048];
    let n = stream.read(&mut reply)?;
    println!("{}", pyrepr::bytes_repr(&reply[..n]));
    Ok(())
}

//! The seed's example server (`shared/seeds/000_*.txt`), as a guest: for each
//! connection, receive up to 1 KiB, print it, reply with the song file by
//! sendfile, close, keep accepting.
//!
//! `song-server SONG_PATH [ADDR]`; ADDR defaults to `$SONG_ADDR`, then to
//! 127.0.0.1:34422 as in the seed. SONG_PATH is inside a preopen.
//! `$SONG_MAX_CONNECTIONS` stops it after that many connections (for tests).

use std::io::Read;
use std::net::SocketAddr;
use wasm_sendfile_sdk::SendFile;
use wasm_sendfile_sdk::fs::File;
use wasm_sendfile_sdk::net::TcpListener;

const DEFAULT_ADDR: &str = "127.0.0.1:34422";

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let Some(song) = args.next() else {
        eprintln!("usage: song-server SONG_PATH [ADDR]");
        std::process::exit(2);
    };
    let addr = args
        .next()
        .or_else(|| std::env::var("SONG_ADDR").ok())
        .unwrap_or_else(|| DEFAULT_ADDR.to_string());
    let addr: SocketAddr = addr.parse().map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("address `{addr}`: {e}"),
        )
    })?;
    let max: Option<u64> = std::env::var("SONG_MAX_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok());

    println!("Server socket created");
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    println!("Server bound with ip {} port {}", bound.ip(), bound.port());

    let mut count = 0u64;
    while max.is_none_or(|m| count < m) {
        let (mut client, _) = listener.accept()?;
        count += 1;
        println!("Accepted {count} connections till now");
        let mut buf = [0u8; 1024];
        let n = client.read(&mut buf)?;
        println!("{}", pyrepr::bytes_repr(&buf[..n]));
        if n > 0 {
            // Python's os.sendfile(client, src, 0, 0): the whole file.
            let file = File::open(&song)?;
            SendFile::new(&file).to_eof().send(&client)?;
        }
        drop(client);
        println!("Client connection closed");
    }
    Ok(())
}

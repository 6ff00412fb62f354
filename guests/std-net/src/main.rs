//! A guest written against Rust's `std::net` only, with no knowledge of the
//! capability: it must run unchanged on the host's own `wasi:sockets/tcp`.
//!
//! `std-net client ADDR MESSAGE`: connects, writes MESSAGE, shuts down
//! writing, prints the reply. `std-net server ADDR`: accepts one connection,
//! echoes it back upper-cased, prints the local and peer addresses.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("client") => {
            let mut stream = TcpStream::connect(&args[2])?;
            stream.set_nodelay(true)?;
            stream.write_all(args[3].as_bytes())?;
            stream.shutdown(Shutdown::Write)?;
            let mut reply = String::new();
            stream.read_to_string(&mut reply)?;
            println!("reply={reply}");
            println!("peer={}", stream.peer_addr()?);
        }
        Some("server") => {
            let listener = TcpListener::bind(&args[2])?;
            println!("listening={}", listener.local_addr()?);
            let (mut stream, peer) = listener.accept()?;
            let mut request = String::new();
            stream.read_to_string(&mut request)?;
            stream.write_all(request.to_uppercase().as_bytes())?;
            println!("peer={peer}");
            println!("request={request}");
        }
        _ => {
            eprintln!("usage: std-net client ADDR MESSAGE | std-net server ADDR");
            std::process::exit(2);
        }
    }
    Ok(())
}

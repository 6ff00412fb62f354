//! The reference: a native HTTP/1.1 server calling `sendfile(2)` directly,
//! with no sandbox in the way. One thread per connection on blocking
//! sockets, the head sent with `MSG_MORE` so it shares a segment with the
//! body (what nginx's `tcp_nopush` and our host's `TCP_CORK` do). It is the
//! physical limit of this machine, not a production server: it answers GET
//! for files only, 200 or 404.

use rustix::fs::sendfile;
use rustix::net::{SendFlags, send};
use std::fs::File;
use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};

/// Most bytes of request head read (more: the connection is dropped).
const MAX_HEAD: usize = 16 * 1024;

/// Serves the files of `root` on `addr` until killed.
pub fn serve(root: &Path, addr: SocketAddr) -> io::Result<()> {
    let listener = TcpListener::bind(addr)?;
    for conn in listener.incoming() {
        let conn = conn?;
        let root = root.to_path_buf();
        std::thread::spawn(move || {
            let _ = connection(conn, &root);
        });
    }
    Ok(())
}

/// Answers requests on one connection until the client closes it (or
/// asks to, with `Connection: close`).
fn connection(mut conn: TcpStream, root: &Path) -> io::Result<()> {
    let mut buf = vec![0u8; MAX_HEAD];
    let mut filled = 0;
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf[..filled]) {
            Ok(httparse::Status::Complete(len)) => {
                let path = file_path(root, req.path.unwrap_or("/"));
                let close = req.headers.iter().any(|h| {
                    h.name.eq_ignore_ascii_case("connection")
                        && h.value.eq_ignore_ascii_case(b"close")
                });
                reply(&conn, path)?;
                if close {
                    return Ok(());
                }
                buf.copy_within(len..filled, 0);
                filled -= len;
            }
            Ok(httparse::Status::Partial) if filled < buf.len() => {
                let n = conn.read(&mut buf[filled..])?;
                if n == 0 {
                    return Ok(());
                }
                filled += n;
            }
            _ => return Err(io::ErrorKind::InvalidData.into()),
        }
    }
}

/// `root` joined with the target's path, refusing `..`.
fn file_path(root: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split('?').next().unwrap_or("");
    let rel = path.trim_start_matches('/');
    (!rel.split('/').any(|s| s == "..")).then(|| root.join(rel))
}

fn reply(conn: &TcpStream, path: Option<PathBuf>) -> io::Result<()> {
    let opened = path.and_then(|p| File::open(p).ok()).and_then(|f| {
        let size = f.metadata().ok()?.len();
        Some((f, size))
    });
    let Some((file, size)) = opened else {
        return send_all(
            conn,
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
            false,
        );
    };
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {size}\r\n\r\n"
    );
    send_all(conn, head.as_bytes(), size > 0)?;
    let mut offset = 0u64;
    while offset < size {
        let want = (size - offset).min(0x7fff_f000) as usize;
        match sendfile(conn, &file, Some(&mut offset), want) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

fn send_all(conn: &TcpStream, mut buf: &[u8], more: bool) -> io::Result<()> {
    let flags = if more {
        SendFlags::MORE
    } else {
        SendFlags::empty()
    } | SendFlags::NOSIGNAL;
    while !buf.is_empty() {
        match send(conn, buf, flags) {
            Ok(n) => buf = &buf[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

//! `wasm-sendfile http` against components that misbehave (the
//! `http-probe` guest): each costs only its own request, never the server
//! or another client (issue 13).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

mod common;

use common::{Server, curl, raw};

fn probe(dir: &std::path::Path, flags: &[&str]) -> Server {
    Server::http(wasm_sendfile_artifacts::HTTP_PROBE, dir, flags)
}

fn site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "0123456789abcdefghij").unwrap();
    std::fs::write(dir.path().join("w.txt"), "w").unwrap();
    dir
}

#[test]
fn misbehaving_components_cost_only_their_own_request() {
    let dir = site();
    // One thread: a guest that never yields would stall everything.
    let s = probe(dir.path(), &["--request-timeout", "2", "--workers", "1"]);
    // A component spinning forever does not hold up the others.
    let spin = {
        let url = s.url("/spin");
        std::thread::spawn(move || {
            let start = Instant::now();
            (curl(&url, &[]).0, start.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    let start = Instant::now();
    assert_eq!(
        curl(&s.url("/file/a.txt"), &[]),
        (200, "0123456789abcdefghij".into())
    );
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    let (code, took) = spin.join().unwrap();
    assert_eq!(code, 504);
    assert!(took < Duration::from_secs(5), "{took:?}");

    for (path, status) in [
        ("/trap", 500),
        ("/never", 500),
        ("/taken", 500),
        ("/hang", 504),
    ] {
        assert_eq!(curl(&s.url(path), &[]).0, status, "{path}");
        assert_eq!(curl(&s.url("/file/a.txt"), &[]).0, 200, "after {path}");
    }
}

#[test]
fn open_body_errors_are_typed() {
    let dir = site();
    let grant = format!("{}::/", dir.path().display());
    let s = probe(dir.path(), &["--dir", &grant]);
    let answer = |path: &str| curl(&s.url(path), &[]);
    assert_eq!(answer("/body-error/a.txt"), (200, "ok 20".into()));
    assert_eq!(answer("/body-error/root"), (200, "invalid".into()));
    assert_eq!(
        answer("/body-error/write-only/w.txt"),
        (200, "bad-descriptor".into())
    );
}

#[test]
fn a_component_trapping_mid_body_closes_only_its_connection() {
    let dir = site();
    let s = probe(dir.path(), &[]);
    let got = raw(s.addr, b"GET /trap-mid-body HTTP/1.1\r\nHost: x\r\n\r\n");
    let (head, body) = got.split_once("\r\n\r\n").unwrap();
    assert!(
        head.to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{head}"
    );
    // The part written went out; the body's end never came: the client can
    // tell the body is incomplete.
    assert!(body.contains(&"x".repeat(1000)), "{body}");
    assert!(!body.ends_with("0\r\n\r\n"), "{body}");
    assert_eq!(curl(&s.url("/file/a.txt"), &[]).0, 200);
}

#[test]
fn request_bodies_cut_short_or_too_large_are_errors_to_the_guest() {
    let dir = site();
    let s = probe(dir.path(), &["--header-timeout", "2"]);
    let count = |req: &[u8], close_write: bool| {
        let mut conn = TcpStream::connect(s.addr).unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        conn.write_all(req).unwrap();
        if close_write {
            conn.shutdown(Shutdown::Write).unwrap();
        }
        let mut out = String::new();
        let _ = conn.read_to_string(&mut out);
        out.split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or(out)
    };
    let whole = count(
        b"POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\n0123456789",
        false,
    );
    assert_eq!(whole, "10");
    let chunked = count(
        b"POST /count HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\nX-Trailer: 1\r\n\r\n",
        false,
    );
    assert_eq!(chunked, "7");
    // Cut short: the client promises 1000 bytes and leaves after 10.
    let short = count(
        b"POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789",
        true,
    );
    assert_eq!(short, "error after 10");
    // Stalled: the rest never comes; the body pause limit ends it.
    let start = Instant::now();
    let stalled = count(
        b"POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789",
        false,
    );
    assert_eq!(stalled, "error after 10");
    assert!(start.elapsed() < Duration::from_secs(10));
    // Badly chunked.
    let bad = count(
        b"POST /count HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n",
        false,
    );
    assert_eq!(bad, "error after 0");
    // Chunk-size lines a front proxy could read differently (request
    // smuggling): a bare LF in an extension, a line with no digits.
    for body in [&b"2;\nxx\r\nab\r\n0\r\n\r\n"[..], b"\r\n\r\n"] {
        let mut req =
            b"POST /count HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        req.extend_from_slice(body);
        assert_eq!(count(&req, false), "error after 0");
    }
    // A bad trailer line.
    let bad_trailer = count(
        b"POST /count HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nno colon\r\n\r\n",
        false,
    );
    assert_eq!(bad_trailer, "error after 1");
}

#[test]
fn a_body_over_the_limit_is_413_and_an_unread_body_closes_in_order() {
    let dir = site();
    let s = probe(dir.path(), &[]);
    // Over the 64 MiB limit by its declared length: 413 before any guest
    // runs, and no 100 Continue.
    let large = raw(
        s.addr,
        b"POST /count HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 100000000000\r\n\r\n",
    );
    assert!(large.starts_with("HTTP/1.1 413"), "{large}");
    // A guest that answers without reading a large body: the response says
    // the connection closes, and arrives whole although the client is
    // still sending.
    let mut conn = TcpStream::connect(s.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    conn.write_all(b"POST /file/a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n")
        .unwrap();
    let chunk = vec![b'u'; 1 << 20];
    for _ in 0..4 {
        if conn.write_all(&chunk).is_err() {
            break;
        }
    }
    let mut got = Vec::new();
    let _ = conn.read_to_end(&mut got);
    let got = String::from_utf8_lossy(&got).to_ascii_lowercase();
    assert!(got.starts_with("http/1.1 200"), "{got}");
    assert!(got.contains("connection: close\r\n"), "{got}");
    assert!(got.ends_with("0123456789abcdefghij"), "{got}");
}

#[test]
fn a_body_cut_short_never_looks_whole() {
    let dir = site();
    let s = probe(dir.path(), &["--request-timeout", "1"]);
    // Chunked, the guest stalling mid-body: the connection closes at the
    // guest's time limit, without the last chunk.
    let start = Instant::now();
    let got = raw(s.addr, b"GET /stall-mid-body HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    assert!(got.contains(&"x".repeat(1000)), "{got}");
    assert!(!got.ends_with("0\r\n\r\n"), "{got}");
    // HTTP/1.0, delimited by the close: a trap resets the connection, so
    // the client sees an error, not an end.
    let mut conn = TcpStream::connect(s.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    conn.write_all(b"GET /trap-mid-body HTTP/1.0\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let end = conn.read_to_end(&mut got);
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains(&"x".repeat(1000)), "{text}");
    assert_eq!(
        end.map_err(|e| e.kind()),
        Err(std::io::ErrorKind::ConnectionReset),
        "{text}"
    );
}

#[test]
fn a_guest_may_answer_first_and_read_the_request_body_after() {
    let dir = site();
    let s = probe(dir.path(), &[]);
    let upload = dir.path().join("upload.bin");
    std::fs::write(&upload, vec![7u8; 3_000_000]).unwrap();
    let file = format!("@{}", upload.display());
    for extra in [&[][..], &["-H", "Transfer-Encoding: chunked"][..]] {
        let mut args = vec!["-X", "POST", "--data-binary", &file];
        args.extend_from_slice(extra);
        let (code, body) = curl(&s.url("/answer-then-count"), &args);
        assert_eq!((code, body.as_str()), (200, "3000000"), "{extra:?}");
    }
}

#[test]
fn at_the_connection_limit_idle_connections_make_room_else_503() {
    let dir = site();
    let s = probe(dir.path(), &["--max-connections", "2"]);
    let request = b"GET /file/a.txt HTTP/1.1\r\nHost: x\r\n\r\n";
    // Two kept-alive connections, each idle after one response.
    let mut held: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut c = TcpStream::connect(s.addr).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            c.write_all(request).unwrap();
            let mut buf = [0u8; 4096];
            let n = c.read(&mut buf).unwrap();
            assert!(String::from_utf8_lossy(&buf[..n]).ends_with("0123456789abcdefghij"));
            c
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    // A third client is served: the oldest idle connection made room.
    assert_eq!(curl(&s.url("/file/a.txt"), &[]).0, 200);
    let mut buf = [0u8; 16];
    assert_eq!(
        held[0].read(&mut buf).unwrap_or(0),
        0,
        "the oldest was closed"
    );
    // With no idle connection to close, a new one gets 503: two
    // connections whose requests are under way (the component hangs).
    drop(held.drain(..));
    std::thread::sleep(Duration::from_millis(200));
    let busy: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut c = TcpStream::connect(s.addr).unwrap();
            c.write_all(b"GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            c
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let third = raw(s.addr, request);
    assert!(third.starts_with("HTTP/1.1 503"), "{third}");
    drop(busy);
}

#[test]
fn a_file_shrinking_mid_body_closes_the_connection_short() {
    let dir = site();
    let big: Vec<u8> = (0..32_000_000u32).map(|i| (i % 251) as u8).collect();
    let path = dir.path().join("big.bin");
    std::fs::write(&path, &big).unwrap();
    let s = probe(dir.path(), &[]);
    let mut conn = TcpStream::connect(s.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    conn.write_all(b"GET /file/big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // Read the head and a little of the body, then shrink the file while
    // the rest has not been sent (the client is not reading).
    let mut first = vec![0u8; 4096];
    let n = conn.read(&mut first).unwrap();
    let text = String::from_utf8_lossy(&first[..n]).to_ascii_lowercase();
    assert!(text.contains("content-length: 32000000"), "{text}");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(1_000_000)
        .unwrap();
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest)
        .expect("the server closes the connection");
    let body = n - text.find("\r\n\r\n").unwrap() - 4 + rest.len();
    assert!(body < 32_000_000, "a short body: {body}");
    // The server goes on serving.
    assert_eq!(curl(&s.url("/file/a.txt"), &[]).0, 200);
}

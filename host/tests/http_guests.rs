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
    // Over the 64 MiB limit, by its declared length.
    let large = count(
        b"POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000000\r\n\r\n",
        false,
    );
    assert_eq!(large, "error after 0");
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
fn connections_over_the_limit_get_503() {
    let dir = site();
    let s = probe(dir.path(), &["--max-connections", "2"]);
    let held: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(s.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let third = raw(s.addr, b"GET /file/a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(third.starts_with("HTTP/1.1 503"), "{third}");
    drop(held);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(curl(&s.url("/file/a.txt"), &[]).0, 200);
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

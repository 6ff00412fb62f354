//! `wasm-sendfile serve` against hostile requests and hostile files in its
//! root (issue 10): each runs next to a well-behaved client, which must go
//! on getting its 200s; the process must stay up and stop on a signal.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

mod common;

use common::{Server, raw};

/// A site with a page, a directory with an index, dotfiles and a secret.
fn site(base: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir_in(base).unwrap();
    let put = |name: &str, data: &str| std::fs::write(dir.path().join(name), data).unwrap();
    std::fs::create_dir(dir.path().join("docs")).unwrap();
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    put("hello.txt", "hello\n");
    put("docs/index.html", "<p>docs</p>");
    put("secret.txt", "SECRET");
    put(".env", "API_KEY=1");
    put(".git/config", "[core]");
    dir
}

/// One `GET path` with `Connection: close`: status line and body.
fn get(addr: SocketAddr, path: &str, extra: &str) -> (String, String) {
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n");
    let resp = raw(addr, req.as_bytes());
    let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
    (
        head.lines().next().unwrap_or("").to_string(),
        body.to_string(),
    )
}

/// The well-behaved client: must get its page, promptly.
fn still_serves(addr: SocketAddr) {
    let start = Instant::now();
    assert_eq!(
        get(addr, "/hello.txt", ""),
        ("HTTP/1.1 200 OK".to_string(), "hello\n".to_string())
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

/// Sends SIGINT and waits (bounded) for the server to end.
fn stops_on_sigint(mut s: Server) {
    s.interrupt();
    let status = s.wait_end(Duration::from_secs(5));
    assert!(status.success(), "{status:?}");
}

/// Finding 1: a FIFO in the root froze every worker and SIGINT. Now it is
/// never opened (404, as nginx), and the server stops on SIGINT.
#[test]
fn a_fifo_is_404_and_freezes_nothing() {
    let dir = site(&std::env::temp_dir());
    let fifo = dir.path().join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let s = Server::start(dir.path(), &["--workers", "2", "--quiet"]);
    for _ in 0..3 {
        assert_eq!(get(s.addr, "/fifo", "").0, "HTTP/1.1 404 Not Found");
        still_serves(s.addr);
    }
    stops_on_sigint(s);
}

/// Finding 2: a file modified at or past the year 9999 panicked the guest
/// in `httpdate` and, with two workers, ended the process. Now its
/// `Last-Modified` is the last date HTTP can name.
#[test]
fn a_file_from_the_far_future_is_served() {
    // tmpfs stores such times (ext4 cannot).
    let base = Path::new("/dev/shm");
    let base = if base.is_dir() {
        base.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let dir = site(&base);
    let path = dir.path().join("future.txt");
    std::fs::write(&path, "from the future").unwrap();
    let year_10000 = std::time::UNIX_EPOCH + Duration::from_secs(253_402_300_800 + 86_400);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(year_10000)
        .unwrap();
    let s = Server::start(dir.path(), &["--workers", "2", "--quiet"]);
    for _ in 0..3 {
        let resp = raw(
            s.addr,
            b"GET /future.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
        assert!(
            resp.contains("Last-Modified: Fri, 31 Dec 9999 23:59:59 GMT\r\n"),
            "{resp}"
        );
        assert!(resp.ends_with("from the future"), "{resp}");
        still_serves(s.addr);
    }
}

/// Finding 3: request bodies were never framed, so a body could smuggle a
/// second request. Now a `Content-Length` body is read and discarded, and
/// any `Transfer-Encoding` (alone or next to a length) is refused with the
/// connection closed.
#[test]
fn request_bodies_never_become_requests() {
    let dir = site(&std::env::temp_dir());
    let s = Server::start(dir.path(), &[]);
    let smuggled = "GET /secret.txt HTTP/1.1\r\nHost: x\r\n\r\n";
    // CL: the body is discarded; the next request on the connection is
    // answered, the smuggled one never.
    let cl = format!(
        "GET /hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{smuggled}\
         GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        smuggled.len()
    );
    let resp = raw(s.addr, cl.as_bytes());
    assert_eq!(resp.matches("HTTP/1.1 200 OK").count(), 2, "{resp}");
    assert!(!resp.contains("SECRET"), "{resp}");
    // CL.TE, TE.CL, TE alone (chunked), TE.TE and CL.CL: one error, closed.
    let cases: [(&str, &str); 5] = [
        ("Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", "400"),
        ("Transfer-Encoding: chunked\r\nContent-Length: 4\r\n", "400"),
        ("Transfer-Encoding: chunked\r\n", "501"),
        (
            "Transfer-Encoding: chunked\r\nTransfer-Encoding: cow\r\n",
            "400",
        ),
        ("Content-Length: 4\r\nContent-Length: 5\r\n", "400"),
    ];
    for (headers, status) in cases {
        let req = format!("GET /hello.txt HTTP/1.1\r\nHost: x\r\n{headers}\r\n0\r\n\r\n{smuggled}");
        let resp = raw(s.addr, req.as_bytes());
        assert!(
            resp.starts_with(&format!("HTTP/1.1 {status} ")),
            "{headers}: {resp}"
        );
        assert_eq!(resp.matches("HTTP/1.1 ").count(), 1, "{headers}: {resp}");
        assert!(resp.contains("Connection: close\r\n"), "{resp}");
    }
    // A body over the limit: 413, closed.
    let big = "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n";
    assert!(raw(s.addr, big.as_bytes()).starts_with("HTTP/1.1 413 "));
    still_serves(s.addr);
    let log = s.log_lines();
    assert!(!log.iter().any(|l| l.contains("secret")), "{log:?}");
}

/// Findings 6, 7, 8, 10 and 12: safe defaults and HTTP/1.1 as nginx speaks
/// it.
#[test]
fn safe_defaults_and_http_1_1_details() {
    let dir = site(&std::env::temp_dir());
    std::fs::create_dir(dir.path().join("d")).unwrap();
    std::fs::create_dir(dir.path().join("d/index.html")).unwrap();
    std::fs::create_dir(dir.path().join("old")).unwrap();
    std::fs::write(dir.path().join("old/index.htm"), "old index").unwrap();
    std::fs::create_dir(dir.path().join("empty")).unwrap();
    let s = Server::start(dir.path(), &["--quiet"]);
    let status = |path: &str, extra: &str| get(s.addr, path, extra).0;
    // Dotfiles are not served.
    assert_eq!(status("/.env", ""), "HTTP/1.1 404 Not Found");
    assert_eq!(status("/.git/config", ""), "HTTP/1.1 404 Not Found");
    // A directory named index.html is no index: 403, not a closed connection.
    assert_eq!(status("/d/", ""), "HTTP/1.1 403 Forbidden");
    assert_eq!(status("/empty/", ""), "HTTP/1.1 403 Forbidden");
    assert_eq!(
        get(s.addr, "/old/", ""),
        ("HTTP/1.1 200 OK".into(), "old index".into())
    );
    // Absolute-form targets (RFC 9112 §3.2.2).
    assert_eq!(
        get(s.addr, "http://x/hello.txt", ""),
        ("HTTP/1.1 200 OK".into(), "hello\n".into())
    );
    // A directory without its slash: 301 to it, keeping the query.
    let resp = raw(
        s.addr,
        b"GET /docs?a=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(
        resp.starts_with("HTTP/1.1 301 Moved Permanently\r\n"),
        "{resp}"
    );
    assert!(resp.contains("Location: /docs/?a=1\r\n"), "{resp}");
    // Dot segments are removed while they stay inside the root.
    assert_eq!(status("/sub/../hello.txt", ""), "HTTP/1.1 200 OK");
    assert_eq!(status("/sub/../../hello.txt", ""), "HTTP/1.1 403 Forbidden");
    // Preconditions.
    assert_eq!(
        status("/hello.txt", "If-Match: \"other\"\r\n"),
        "HTTP/1.1 412 Precondition Failed"
    );
    assert_eq!(status("/hello.txt", "If-Match: *\r\n"), "HTTP/1.1 200 OK");
    let old = "If-Unmodified-Since: Sat, 01 Jan 2000 00:00:00 GMT\r\n";
    assert_eq!(
        status("/hello.txt", old),
        "HTTP/1.1 412 Precondition Failed"
    );
    // Host is required in HTTP/1.1; HTTP/2.0 in a request line is 505.
    let resp = raw(
        s.addr,
        b"GET /hello.txt HTTP/1.1\r\nConnection: close\r\n\r\n",
    );
    assert!(resp.starts_with("HTTP/1.1 400 "), "{resp}");
    let resp = raw(s.addr, b"GET /hello.txt HTTP/2.0\r\nHost: x\r\n\r\n");
    assert!(resp.starts_with("HTTP/1.1 505 "), "{resp}");
    still_serves(s.addr);
    // With --dotfiles allow, dotfiles are files like any other.
    let open = Server::start(dir.path(), &["--quiet", "--dotfiles", "allow"]);
    assert_eq!(
        get(open.addr, "/.env", ""),
        ("HTTP/1.1 200 OK".into(), "API_KEY=1".into())
    );
}

/// Finding 9: a second `serve` on a taken port used to start without a
/// word and split the requests (SO_REUSEPORT). Now it fails with a clear
/// error and the first keeps every request.
#[test]
fn a_taken_port_is_an_error_even_for_another_serve() {
    let first_dir = site(&std::env::temp_dir());
    let s = Server::start(first_dir.path(), &["--workers", "2", "--quiet"]);
    let other = site(&std::env::temp_dir());
    std::fs::write(other.path().join("hello.txt"), "other\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wasm-sendfile"))
        .args(["serve", other.path().to_str().unwrap(), "--listen"])
        .arg(s.addr.to_string())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("cannot listen on {}", s.addr)),
        "{err}"
    );
    for _ in 0..12 {
        still_serves(s.addr);
    }
}

/// Finding 5: clients trickling one header byte at a time held every
/// connection slot for as long as they liked (the idle timer restarted on
/// every byte). Now a request must arrive in full within the header
/// timeout of its first byte, and the slots come back.
#[test]
fn slowloris_gets_its_slots_taken_back() {
    let dir = site(&std::env::temp_dir());
    let s = Server::start(
        dir.path(),
        &[
            "--workers",
            "1",
            "--max-connections",
            "4",
            "--header-timeout",
            "2",
            "--quiet",
        ],
    );
    let addr = s.addr;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let trickles: Vec<_> = (0..4)
        .map(|_| {
            let stop = stop.clone();
            let mut conn = TcpStream::connect(addr).unwrap();
            std::thread::spawn(move || {
                let head = b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nX-Slow: ";
                for byte in head.iter().chain(std::iter::repeat(&b'a')).take(40) {
                    if stop.load(std::sync::atomic::Ordering::Relaxed)
                        || conn.write_all(&[*byte]).is_err()
                    {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(300));
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    // All four slots are taken now.
    let full = raw(addr, b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(full.starts_with("HTTP/1.1 503 "), "{full}");
    // Past the header timeout (and the once-a-second sweep), they are gone.
    std::thread::sleep(Duration::from_millis(3500));
    still_serves(addr);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in trickles {
        t.join().unwrap();
    }
}

/// Finding 4: with `--body splice`, one client that never read stopped
/// every other connection of its worker (`blocking-splice` in the event
/// loop). Now the splice path does not block either.
#[test]
fn a_client_that_never_reads_stops_no_one_with_splice_bodies() {
    let dir = site(&std::env::temp_dir());
    let big: Vec<u8> = (0..20_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.path().join("big.bin"), &big).unwrap();
    let s = Server::start(
        dir.path(),
        &["--workers", "1", "--body", "splice", "--quiet"],
    );
    let mut stalled = TcpStream::connect(s.addr).unwrap();
    stalled
        .write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..5 {
        still_serves(s.addr);
    }
    drop(stalled);
}

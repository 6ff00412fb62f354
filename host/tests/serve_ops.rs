//! Running `wasm-sendfile serve` as an operator does (issue 10): the access
//! log, the timeouts, the connection limit, shutting down without cutting
//! responses short, and directory listings.

use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

mod common;

use common::{Server, raw};

/// Size of the big file: more than loopback socket buffers hold, so a
/// client that reads nothing stalls its response.
const BIG: usize = 8 << 20;

fn site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), "hello\n").unwrap();
    let big: Vec<u8> = (0..BIG).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.path().join("big.bin"), big).unwrap();
    dir
}

/// Sends `request` on a new connection, without reading.
fn send(addr: SocketAddr, request: &str) -> TcpStream {
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.write_all(request.as_bytes()).unwrap();
    conn
}

/// Reads from `conn` until the server closes it (EOF or reset); the bytes
/// and how long that took. Panics past `bound`.
fn read_until_closed(conn: &mut TcpStream, bound: Duration) -> (Vec<u8>, Duration) {
    let start = Instant::now();
    conn.set_read_timeout(Some(bound)).unwrap();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("not closed within {bound:?}: {e}"),
        }
    }
    (got, start.elapsed())
}

/// The lines of the log file at `path`, waiting (bounded) until one
/// satisfies `want`.
fn log_until(path: &Path, want: impl Fn(&str) -> bool) -> Vec<String> {
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        if lines.iter().any(|l| want(l)) {
            return lines;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no such line in {lines:#?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The lines of the log file at `path` once it has `n` of them (waits up
/// to 10 s; then whatever there is).
fn log_until_count(path: &Path, n: usize) -> Vec<String> {
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        if lines.len() >= n || start.elapsed() > Duration::from_secs(10) {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Checks one line is nginx's `combined` format plus the seconds taken:
/// `IP - - [dd/Mon/yyyy:hh:mm:ss +0000] "REQUEST" STATUS BYTES "REF" "UA" S.mmm`.
fn assert_combined(line: &str) {
    let (ip, rest) = line.split_once(" - - [").expect(line);
    assert_eq!(ip, "127.0.0.1", "{line}");
    let (time, rest) = rest.split_once("] \"").expect(line);
    let t = time.as_bytes();
    assert!(
        time.len() == 26
            && t[2] == b'/'
            && t[6] == b'/'
            && t[11] == b':'
            && time.ends_with(" +0000"),
        "{line}"
    );
    let secs = line.rsplit(' ').next().unwrap();
    let (whole, ms) = secs.split_once('.').expect(line);
    assert!(
        whole.parse::<u64>().is_ok() && ms.len() == 3 && ms.parse::<u32>().is_ok(),
        "{line}"
    );
    assert_eq!(rest.matches('"').count(), 5, "{line}");
}

/// Finding 13: one line per response in the `combined` format with the
/// time taken, to `--access-log FILE`, including 503s and transfers cut
/// short (with the bytes that went out).
#[test]
fn the_access_log_has_every_response_with_the_bytes_sent() {
    let dir = site();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("access.log");
    let s = Server::start(
        dir.path(),
        &[
            "--access-log",
            log.to_str().unwrap(),
            "--workers",
            "1",
            "--max-connections",
            "1",
            "--send-timeout",
            "1",
            "--header-timeout",
            "2",
        ],
    );
    let ok = raw(
        s.addr,
        b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nReferer: http://r/\"x\r\nUser-Agent: agent/1\r\nConnection: close\r\n\r\n",
    );
    assert!(ok.ends_with("\r\n\r\nhello\n"), "{ok}");
    let lines = log_until(&log, |l| l.contains("/hello.txt"));
    assert_combined(&lines[0]);
    assert!(
        lines[0].contains("\"GET /hello.txt HTTP/1.1\" 200 6 \"http://r/\\x22x\" \"agent/1\" "),
        "{lines:?}"
    );

    // A client that reads nothing: its response is cut short at the send
    // timeout, and the log says how much of the body went out.
    let mut stalled = send(s.addr, "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    let lines = log_until(&log, |l| l.contains("/big.bin"));
    let line = lines.iter().find(|l| l.contains("/big.bin")).unwrap();
    assert_combined(line);
    let bytes: usize = line
        .split("\" 200 ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect(line);
    assert!(bytes > 0 && bytes < BIG, "{line}");
    let (got, _) = read_until_closed(&mut stalled, Duration::from_secs(10));
    let head_len = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(
        got.len() - head_len,
        bytes,
        "the log counts the body bytes sent"
    );

    // The one slot taken by a request in progress: the next gets 503,
    // which is logged too.
    let _busy = send(s.addr, "GET /hello.txt HTTP/1.1\r\n");
    std::thread::sleep(Duration::from_millis(200));
    let full = raw(s.addr, b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(full.starts_with("HTTP/1.1 503 "), "{full}");
    let lines = log_until(&log, |l| l.contains(" 503 "));
    let line = lines.iter().find(|l| l.contains(" 503 ")).unwrap();
    assert_combined(line);
    assert!(line.contains("\"-\" 503 24 \"-\" \"-\" "), "{line}");
    // Nothing else went to standard output.
    assert_eq!(s.log_lines(), Vec::<String>::new());
}

/// `--access-log off` (and `--quiet`) log nothing; `-` is standard output.
#[test]
fn the_access_log_can_be_off() {
    let dir = site();
    let s = Server::start(dir.path(), &["--access-log", "off"]);
    assert!(raw(s.addr, b"GET /hello.txt HTTP/1.0\r\n\r\n").ends_with("hello\n"));
    assert_eq!(s.log_lines(), Vec::<String>::new());
}

/// Keep-alive, header and send timeouts are separate (nginx's
/// `keepalive_timeout`, `client_header_timeout`, `send_timeout`): an idle
/// connection goes after the first, a stalled response after the last.
#[test]
fn keepalive_and_send_timeouts_are_separate() {
    let dir = site();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("access.log");
    let s = Server::start(
        dir.path(),
        &[
            "--keepalive-timeout",
            "1",
            "--send-timeout",
            "4",
            "--access-log",
            log.to_str().unwrap(),
        ],
    );
    let mut idle = send(s.addr, "GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    let (got, took) = read_until_closed(&mut idle, Duration::from_secs(10));
    assert!(got.ends_with(b"hello\n"));
    assert!(
        took < Duration::from_secs(3),
        "keep-alive timeout: {took:?}"
    );
    // A response the client does not read: cut short (and logged) at the
    // send timeout, well after the keep-alive timeout.
    let start = Instant::now();
    let _stalled = send(s.addr, "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    log_until(&log, |l| l.contains("/big.bin"));
    let took = start.elapsed();
    assert!(took > Duration::from_secs(3), "send timeout: {took:?}");
}

/// At the connection limit, the longest-idle keep-alive connection makes
/// room for a new one (as nginx reuses idle connections); only when every
/// connection is busy does a new one get 503.
#[test]
fn at_the_limit_idle_connections_make_room() {
    let dir = site();
    let s = Server::start(
        dir.path(),
        &["--max-connections", "2", "--workers", "1", "--quiet"],
    );
    let mut idle = send(s.addr, "GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut first = vec![0u8; 1024];
    let n = idle.read(&mut first).unwrap();
    assert!(first[..n].ends_with(b"hello\n"));
    let _busy = send(s.addr, "GET /hello.txt HTTP/1.1\r\n");
    std::thread::sleep(Duration::from_millis(200));
    let ok = raw(
        s.addr,
        b"GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(ok.ends_with("hello\n"), "{ok}");
    let (rest, _) = read_until_closed(&mut idle, Duration::from_secs(5));
    assert!(rest.is_empty(), "the idle connection was closed quietly");
    let _busy2 = send(s.addr, "GET /hello.txt HTTP/1.1\r\n");
    std::thread::sleep(Duration::from_millis(200));
    let full = raw(s.addr, b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(full.starts_with("HTTP/1.1 503 "), "{full}");
}

/// SIGINT stops taking connections and closes idle ones at once, but a
/// response in progress is finished (up to `--shutdown-timeout`) before
/// the process ends.
#[test]
fn sigint_finishes_responses_in_progress() {
    let dir = site();
    let mut s = Server::start(dir.path(), &["--shutdown-timeout", "20", "--workers", "2"]);
    let mut idle = send(s.addr, "GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut first = vec![0u8; 1024];
    let n = idle.read(&mut first).unwrap();
    assert!(first[..n].ends_with(b"hello\n"));
    // A slow reader: about 2 s for the whole body.
    let mut slow = send(s.addr, "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut got = vec![0u8; 256 << 10];
    slow.read_exact(&mut got).unwrap();
    // A response is logged once all of it is out: this one is not yet.
    assert!(!s.log_lines().iter().any(|l| l.contains("/big.bin")));
    s.interrupt();
    let (rest, took) = read_until_closed(&mut idle, Duration::from_secs(5));
    assert!(rest.is_empty() && took < Duration::from_secs(2), "{took:?}");
    let mut buf = vec![0u8; 256 << 10];
    loop {
        let n = slow.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        std::thread::sleep(Duration::from_millis(50));
    }
    let head_len = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(
        std::str::from_utf8(&got[..head_len])
            .unwrap()
            .contains("Content-Length: 8388608\r\n")
    );
    assert_eq!(got.len() - head_len, BIG, "the response was cut short");
    let log = s.log_lines();
    assert!(
        log.iter()
            .any(|l| l.contains(&format!("\"GET /big.bin HTTP/1.1\" 200 {BIG} "))),
        "{log:?}"
    );
    let status = s.wait_end(Duration::from_secs(5));
    assert!(status.success(), "{status:?}");
    assert!(TcpStream::connect(s.addr).is_err(), "still listening");
}

/// A client that never reads cannot hold the shutdown past its bound.
#[test]
fn sigint_is_bounded_by_the_shutdown_timeout() {
    let dir = site();
    let mut s = Server::start(dir.path(), &["--shutdown-timeout", "1", "--quiet"]);
    let _stalled = send(s.addr, "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    s.interrupt();
    s.wait_end(Duration::from_secs(5));
    assert!(start.elapsed() >= Duration::from_millis(900));
}

/// `--listing`: a directory without an index is listed, names escaped for
/// HTML and encoded for URLs, dotfiles left out; without it, 403.
#[test]
fn listing_escapes_names_and_hides_dotfiles() {
    let dir = site();
    let d = dir.path().join("files");
    std::fs::create_dir_all(d.join("sub dir")).unwrap();
    std::fs::write(d.join("<img src=x onerror=alert(1)>&.txt"), "12345").unwrap();
    std::fs::write(d.join(".secret"), "x").unwrap();
    let s = Server::start(dir.path(), &["--listing", "--quiet"]);
    let page = raw(
        s.addr,
        b"GET /files/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(page.contains("Content-Type: text/html; charset=utf-8\r\n"));
    assert!(!page.contains("<img"), "{page}");
    assert!(
        page.contains(
            "<a href=\"./%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E%26.txt\">&lt;img src=x onerror=alert(1)&gt;&amp;.txt</a>"
        ),
        "{page}"
    );
    assert!(
        page.contains("<a href=\"./sub%20dir/\">sub dir/</a>"),
        "{page}"
    );
    assert!(page.contains("<td>5</td>"), "{page}");
    assert!(!page.contains("secret"), "{page}");
    // The links work.
    let file = raw(
        s.addr,
        b"GET /files/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E%26.txt HTTP/1.0\r\n\r\n",
    );
    assert!(file.ends_with("\r\n\r\n12345"), "{file}");
    let plain = Server::start(dir.path(), &["--quiet"]);
    let refused = raw(plain.addr, b"GET /files/ HTTP/1.0\r\n\r\n");
    assert!(refused.starts_with("HTTP/1.1 403 "), "{refused}");
}

/// A log that cannot be written (a full disk) used to panic the guest at
/// every request, and five such ends stopped the server. Serving goes on.
#[test]
fn a_failing_access_log_does_not_stop_serving() {
    let dir = site();
    let mut s = Server::start(dir.path(), &["--access-log", "/dev/full", "--workers", "1"]);
    for _ in 0..8 {
        let ok = raw(s.addr, b"GET /hello.txt HTTP/1.0\r\n\r\n");
        assert!(ok.ends_with("\r\n\r\nhello\n"), "{ok}");
    }
    assert!(s.try_wait().is_none(), "the server stopped");
}

/// Two workers append to one log while clients send the longest fields,
/// all escaped fourfold: every line stays whole (one write each, under
/// 4096 bytes), one per response.
#[test]
fn long_hostile_fields_cannot_mix_log_lines() {
    let dir = site();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("access.log");
    let s = Server::start(
        dir.path(),
        &["--access-log", log.to_str().unwrap(), "--workers", "2"],
    );
    let addr = s.addr;
    let clients: Vec<_> = ["\"", "\\", "A", "B"]
        .into_iter()
        .map(|fill| {
            std::thread::spawn(move || {
                let value = fill.repeat(3000);
                for _ in 0..25 {
                    let req = format!(
                        "GET /hello.txt?{} HTTP/1.1\r\nHost: x\r\nReferer: {value}\r\n\
                         User-Agent: {value}\r\nConnection: close\r\n\r\n",
                        "q".repeat(2000)
                    );
                    assert!(raw(addr, req.as_bytes()).ends_with("hello\n"));
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let lines = log_until_count(&log, 100);
    assert_eq!(lines.len(), 100, "one line per response");
    for line in &lines {
        assert_combined(line);
        assert!(line.len() < 4096, "{}", line.len());
    }
}

/// A client that reads part of a big response and then goes away: the
/// log counts at least the body bytes it received (a failing send used to
/// lose the count of what went out before it, logging 0).
#[test]
fn a_transfer_cut_by_the_client_logs_what_went_out() {
    let dir = site();
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("access.log");
    let s = Server::start(
        dir.path(),
        &["--access-log", log.to_str().unwrap(), "--workers", "1"],
    );
    for round in 1..=4 {
        let mut conn = send(s.addr, "GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut got = vec![0u8; 1_000_000];
        conn.read_exact(&mut got).unwrap();
        // A reset, not a FIN: the server's next send fails.
        rustix::net::sockopt::set_socket_linger(&conn, Some(Duration::ZERO)).unwrap();
        drop(conn);
        let lines = log_until_count(&log, round);
        let line = &lines[round - 1];
        let bytes: usize = line
            .split("\" 200 ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse().ok())
            .expect(line);
        assert!(bytes >= 1_000_000 - 300, "{line}");
    }
}

/// At the connection limit, connections whose requests have arrived
/// (even unread) are never taken for idle ones: every client gets a
/// response, 200 or 503, and never a silent close.
#[test]
fn at_the_limit_every_request_gets_an_answer() {
    let dir = site();
    let s = Server::start(
        dir.path(),
        &["--max-connections", "1", "--workers", "1", "--quiet"],
    );
    for _ in 0..3 {
        let conns: Vec<TcpStream> = (0..3)
            .map(|_| {
                send(
                    s.addr,
                    "GET /hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                )
            })
            .collect();
        for mut conn in conns {
            let (got, _) = read_until_closed(&mut conn, Duration::from_secs(10));
            let text = String::from_utf8_lossy(&got);
            assert!(
                text.starts_with("HTTP/1.1 200 ") || text.starts_with("HTTP/1.1 503 "),
                "no answer: {text:?}"
            );
        }
    }
}

/// The trailing-slash redirect is built from the normalized path: a target
/// like `//evil.example/../docs` must not redirect off the site.
#[test]
fn the_directory_redirect_stays_on_the_site() {
    let dir = site();
    std::fs::create_dir(dir.path().join("docs")).unwrap();
    let s = Server::start(dir.path(), &["--quiet"]);
    for target in ["//example.com/../docs", "//example.com/%2e%2e/docs?x"] {
        let resp = raw(
            s.addr,
            format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        assert!(resp.starts_with("HTTP/1.1 301 "), "{resp}");
        let location = resp
            .lines()
            .find_map(|l| l.strip_prefix("Location: "))
            .unwrap();
        assert!(location.starts_with("/docs/"), "{target}: {location}");
    }
}

/// `serve DIR` with one worker on a free port, in a shell that limits open
/// descriptors (soft and hard: the server raises its soft limit to the
/// hard one) to `limit`; returns once it listens, its stderr piped.
fn serve_with_fd_limit(dir: &Path, limit: u32) -> (std::process::Child, SocketAddr) {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let script = format!(
        "ulimit -n {limit} && exec '{}' serve '{}' --listen {addr} --workers 1 --quiet",
        env!("CARGO_BIN_EXE_wasm-sendfile"),
        dir.display()
    );
    let mut child = std::process::Command::new("sh")
        .args(["-c", &script])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("serving "), "{first}");
    (child, addr)
}

/// Out of descriptors, accepting pauses (as nginx does) instead of
/// spinning on the error and flooding the log; serving resumes once
/// descriptors are free.
#[test]
fn out_of_descriptors_accepting_pauses() {
    let dir = site();
    let (mut child, addr) = serve_with_fd_limit(dir.path(), 64);
    let crowd: Vec<TcpStream> = (0..80).map(|_| TcpStream::connect(addr).unwrap()).collect();
    std::thread::sleep(Duration::from_secs(2));
    drop(crowd);
    std::thread::sleep(Duration::from_millis(1500));
    let ok = raw(addr, b"GET /hello.txt HTTP/1.0\r\n\r\n");
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let complaints = stderr.matches("accept failed").count();
    assert!(complaints > 0, "the limit was not reached: {stderr}");
    assert!(complaints <= 10, "{complaints} complaints in about 2 s");
    assert!(ok.ends_with("hello\n"), "{ok}");
}

/// `--keepalive-timeout 0` turns keep-alive off, as nginx's does; a zero
/// header or send timeout is refused.
#[test]
fn keepalive_zero_means_close_and_zero_timeouts_are_refused() {
    let dir = site();
    let s = Server::start(dir.path(), &["--keepalive-timeout", "0", "--quiet"]);
    let resp = raw(s.addr, b"GET /hello.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(resp.contains("\r\nConnection: close\r\n"), "{resp}");
    for flag in ["--header-timeout", "--send-timeout"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_wasm-sendfile"))
            .args(["serve", dir.path().to_str().unwrap(), flag, "0"])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{flag} 0 accepted");
    }
}

/// The open-file cache (issue 11) keeps files open across requests, but a
/// file changed in place, replaced (a file renamed over it, same size and
/// modification time) or removed is noticed within a second.
#[test]
fn cached_files_that_change_are_noticed_within_a_second() {
    let dir = site();
    let path = dir.path().join("page.txt");
    std::fs::write(&path, "first").unwrap();
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    let s = Server::start(dir.path(), &["--workers", "1", "--quiet"]);
    let body = || {
        let resp = raw(s.addr, b"GET /page.txt HTTP/1.0\r\n\r\n");
        let (head, body) = resp.split_once("\r\n\r\n").unwrap();
        (head.lines().next().unwrap().to_string(), body.to_string())
    };
    let ok = |text: &str| ("HTTP/1.1 200 OK".to_string(), text.to_string());
    assert_eq!(body(), ok("first"));
    assert_eq!(body(), ok("first"), "served again (from the cache)");
    // Waits for `want`, which must come within about a second.
    let changes_to = |want: (String, String), what: &str| {
        let start = Instant::now();
        while body() != want {
            assert!(
                start.elapsed() < Duration::from_millis(1500),
                "{what} not noticed: {:?}",
                body()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    // Replaced: same size, same modification time, another file.
    let fresh = dir.path().join("fresh.txt");
    std::fs::write(&fresh, "other").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&fresh)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    std::fs::rename(&fresh, &path).unwrap();
    changes_to(ok("other"), "a file renamed over it");
    // Changed in place, size and modification time as before.
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    let file = std::fs::File::options().write(true).open(&path).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, b"OTHER", 0).unwrap();
    file.set_modified(mtime).unwrap();
    changes_to(ok("OTHER"), "a change in place");
    // Removed.
    std::fs::remove_file(&path).unwrap();
    changes_to(
        (
            "HTTP/1.1 404 Not Found".to_string(),
            "404 Not Found\n".to_string(),
        ),
        "removal",
    );
}

/// A directory's index is cached too, and a new `index.html` beside the
/// served `index.htm` is noticed within about a second.
#[test]
fn cached_directory_indexes_follow_a_new_index() {
    let dir = site();
    std::fs::create_dir(dir.path().join("d")).unwrap();
    std::fs::write(dir.path().join("d/index.htm"), "old").unwrap();
    let s = Server::start(dir.path(), &["--workers", "1", "--quiet"]);
    let body = || {
        let resp = raw(s.addr, b"GET /d/ HTTP/1.0\r\n\r\n");
        resp.split_once("\r\n\r\n").unwrap().1.to_string()
    };
    assert_eq!(body(), "old");
    assert_eq!(body(), "old");
    std::fs::write(dir.path().join("d/index.html"), "new").unwrap();
    let start = Instant::now();
    while body() != "new" {
        assert!(start.elapsed() < Duration::from_millis(1500), "not noticed");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Out of descriptors, a file that exists is 503 (try again), never 404;
/// the open-file cache gives descriptors back.
#[test]
fn out_of_descriptors_files_are_503_not_404() {
    let dir = site();
    for i in 0..150 {
        std::fs::write(dir.path().join(format!("f{i}.txt")), format!("{i}")).unwrap();
    }
    let (mut child, addr) = serve_with_fd_limit(dir.path(), 96);
    let mut statuses = std::collections::BTreeMap::new();
    for i in 0..150 {
        let resp = raw(addr, format!("GET /f{i}.txt HTTP/1.0\r\n\r\n").as_bytes());
        let status = resp.get(9..12).unwrap_or("none").to_string();
        if status == "200" {
            assert!(resp.ends_with(&format!("\r\n\r\n{i}")), "{resp}");
        }
        *statuses.entry(status).or_insert(0) += 1;
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(!statuses.contains_key("404"), "{statuses:?}");
    assert!(
        statuses.get("200").copied().unwrap_or(0) >= 100,
        "{statuses:?}"
    );
}

//! `wasm-sendfile serve` as users meet it: the real binary serving a real
//! directory to real clients (curl, Python's http.client, raw sockets).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

mod common;

use common::{Server, TIMEOUT, raw, site};

/// Runs curl with `args`; returns its stdout.
fn curl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "30"])
        .args(args)
        .output()
        .expect("curl is installed (.ci/run installs it)");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn curl_text(args: &[&str]) -> String {
    String::from_utf8(curl(args)).unwrap()
}

/// Runs a Python 3 `script`, which must succeed; its stdout.
fn python(script: &str) -> String {
    let out = Command::new("python3")
        .args(["-c", script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn curl_get_head_types_and_bodies() {
    let dir = site();
    let s = Server::start(dir.path(), &["--idle-timeout", "5"]);
    assert_eq!(curl_text(&[&s.url("/")]), "<h1>home</h1>\n");
    assert_eq!(curl_text(&[&s.url("/docs/")]), "<p>docs</p>");
    let head = curl_text(&["-I", &s.url("/docs/a.txt")]);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("Content-Length: 20\r\n"), "{head}");
    assert!(
        head.contains("Content-Type: text/plain; charset=utf-8\r\n"),
        "{head}"
    );
    assert!(
        head.contains("Last-Modified: ") && head.contains("ETag: \""),
        "{head}"
    );
    let html = curl_text(&["-I", &s.url("/index.html")]);
    assert!(
        html.contains("Content-Type: text/html; charset=utf-8\r\n"),
        "{html}"
    );
    let big = curl(&[&s.url("/big.bin")]);
    assert!(big == std::fs::read(dir.path().join("big.bin")).unwrap());
    let log = s.log_lines();
    assert!(
        log.iter()
            .any(|l| l.contains("\"GET /big.bin HTTP/1.1\" 200 5000000 ")),
        "{log:?}"
    );
}

#[test]
fn curl_ranges_including_suffix_and_unsatisfiable() {
    let dir = site();
    let s = Server::start(dir.path(), &["--idle-timeout", "5"]);
    let url = s.url("/docs/a.txt");
    assert_eq!(curl_text(&["-r", "2-5", &url]), "2345");
    assert_eq!(curl_text(&["-r", "15-", &url]), "fghij");
    assert_eq!(curl_text(&["-r", "-3", &url]), "hij");
    let head = curl_text(&["-i", "-r", "-3", &url]);
    assert!(
        head.starts_with("HTTP/1.1 206 Partial Content\r\n"),
        "{head}"
    );
    assert!(head.contains("Content-Range: bytes 17-19/20\r\n"), "{head}");
    let code = curl_text(&["-o", "/dev/null", "-w", "%{http_code}", "-r", "20-", &url]);
    assert_eq!(code, "416");
    // If-Range with a stale validator: the whole file, 200.
    let stale = curl_text(&["-i", "-r", "0-1", "-H", "If-Range: \"stale\"", &url]);
    assert!(stale.starts_with("HTTP/1.1 200 OK") && stale.ends_with("0123456789abcdefghij"));
}

#[test]
fn curl_conditional_requests_give_304() {
    let dir = site();
    let s = Server::start(dir.path(), &["--idle-timeout", "5"]);
    let url = s.url("/docs/a.txt");
    let head = curl_text(&["-I", &url]);
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap()
            .trim()
            .to_string()
    };
    let (etag, modified) = (header("ETag:"), header("Last-Modified:"));
    let code =
        |extra: &str| curl_text(&["-o", "/dev/null", "-w", "%{http_code}", "-H", extra, &url]);
    assert_eq!(code(&format!("If-None-Match: {etag}")), "304");
    assert_eq!(code("If-None-Match: \"other\""), "200");
    assert_eq!(code(&format!("If-Modified-Since: {modified}")), "304");
    assert_eq!(
        code("If-Modified-Since: Mon, 01 Jan 2001 00:00:00 GMT"),
        "200"
    );
}

#[test]
fn refusals_traversal_missing_and_methods() {
    let dir = site();
    let outside = dir.path().parent().unwrap().join("outside-secret.txt");
    std::fs::write(&outside, "secret").unwrap();
    std::os::unix::fs::symlink(&outside, dir.path().join("link.txt")).unwrap();
    let s = Server::start(dir.path(), &["--idle-timeout", "5"]);
    let code = |args: &[&str]| {
        let mut all = vec!["-o", "/dev/null", "-w", "%{http_code}"];
        all.extend_from_slice(args);
        curl_text(&all)
    };
    assert_eq!(
        code(&["--path-as-is", &s.url("/../outside-secret.txt")]),
        "403"
    );
    assert_eq!(
        code(&["--path-as-is", &s.url("/%2e%2e/outside-secret.txt")]),
        "403"
    );
    assert_eq!(
        code(&[
            "--path-as-is",
            &s.url("/docs/%2E%2E%2F..%2Foutside-secret.txt")
        ]),
        "403"
    );
    // The symlink leads outside the preopen: the host refuses to follow it.
    assert_ne!(code(&[&s.url("/link.txt")]), "200");
    assert_eq!(code(&[&s.url("/nope.html")]), "404");
    assert_eq!(code(&["-X", "POST", &s.url("/")]), "405");
    std::fs::remove_file(outside).unwrap();
}

#[test]
fn keep_alive_reuses_one_connection() {
    let dir = site();
    let s = Server::start(dir.path(), &["--idle-timeout", "5"]);
    let out = curl_text(&[
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
        "-w",
        "%{num_connects} ",
        &s.url("/"),
        &s.url("/docs/a.txt"),
        &s.url("/big.bin"),
    ]);
    assert_eq!(out, "1 0 0 ");
}

#[test]
fn python_http_client_keeps_the_connection() {
    let dir = site();
    let s = Server::start(dir.path(), &["--idle-timeout", "5"]);
    let script = format!(
        "import http.client\n\
         c = http.client.HTTPConnection('127.0.0.1', {port}, timeout=30)\n\
         ports = set()\n\
         for path in ['/docs/a.txt', '/', '/docs/a.txt']:\n\
         \x20   c.request('GET', path)\n\
         \x20   r = c.getresponse()\n\
         \x20   ports.add(c.sock.getsockname()[1])\n\
         \x20   print(r.status, r.getheader('Content-Length'), r.read().decode().strip())\n\
         c.request('GET', '/big.bin', headers={{'Range': 'bytes=1000-1009'}})\n\
         r = c.getresponse()\n\
         ports.add(c.sock.getsockname()[1])\n\
         print(r.status, list(r.read()))\n\
         print('connections', len(ports))\n",
        port = s.addr.port()
    );
    let out = python(&script);
    let want: Vec<u32> = (1000..1010).map(|i| i % 253).collect();
    assert_eq!(
        out,
        format!(
            "200 20 0123456789abcdefghij\n200 14 <h1>home</h1>\n200 20 0123456789abcdefghij\n206 {want:?}\n\
             connections 1\n"
        )
    );
    assert_eq!(s.log_lines().len(), 4);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let dir = site();
    let s = Server::start(dir.path(), &["--idle-timeout", "5"]);
    let mut conn = TcpStream::connect(s.addr).unwrap();
    conn.set_read_timeout(Some(TIMEOUT)).unwrap();
    conn.write_all(
        b"GET /docs/a.txt HTTP/1.1\r\nHost: x\r\n\r\n\
          HEAD / HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut all = String::new();
    conn.read_to_string(&mut all).unwrap();
    let statuses: Vec<_> = all.matches("HTTP/1.1 200 OK").collect();
    assert_eq!(statuses.len(), 3, "{all}");
    let a = all.find("0123456789abcdefghij").unwrap();
    let home = all.find("<h1>home</h1>").unwrap();
    assert!(a < home, "{all}");
    assert!(all.ends_with("<h1>home</h1>\n"), "{all}");
}

#[test]
fn a_stalled_client_does_not_hold_up_the_others() {
    let dir = site();
    let s = Server::start(dir.path(), &["--idle-timeout", "5"]);
    // Asks for 5 MB and never reads: its socket fills up and stays full.
    let mut stalled = TcpStream::connect(s.addr).unwrap();
    stalled
        .write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let clients: Vec<_> = (0..16)
        .map(|i| {
            let name = if i % 2 == 0 { "docs/a.txt" } else { "big.bin" };
            let url = s.url(&format!("/{name}"));
            std::thread::spawn(move || (name, curl(&[&url])))
        })
        .collect();
    for client in clients {
        let (name, body) = client.join().unwrap();
        assert!(
            body == std::fs::read(dir.path().join(name)).unwrap(),
            "{name} differs"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(30));
    // The stalled client is still connected (within the idle timeout) and
    // received only part of its response.
    stalled.set_nonblocking(true).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let got = stalled.read(&mut buf).unwrap_or(0);
    assert!(got > 0 && got < 5_000_000);
}

#[test]
fn malformed_oversized_and_overlong_requests_get_small_errors() {
    let dir = site();
    let s = Server::start(dir.path(), &["--idle-timeout", "5"]);
    let bad = raw(s.addr, b"\x16\x03\x01 not http\r\n\r\n");
    assert!(bad.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{bad}");
    assert!(bad.ends_with("\r\n\r\n400 Bad Request\n"), "{bad}");
    let long = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(5000));
    let resp = raw(s.addr, long.as_bytes());
    assert!(resp.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{resp}");
    let many: String = (0..100).map(|i| format!("X-H{i}: v\r\n")).collect();
    let resp = raw(s.addr, format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes());
    assert!(resp.starts_with("HTTP/1.1 431 "), "{resp}");
    let huge = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n", "b".repeat(40_000));
    let resp = raw(s.addr, huge.as_bytes());
    assert!(resp.starts_with("HTTP/1.1 431 "), "{resp}");
    // The server is still fine.
    assert_eq!(curl_text(&[&s.url("/docs/a.txt")]), "0123456789abcdefghij");
}

#[test]
fn idle_connections_are_closed_at_the_keepalive_timeout() {
    let dir = site();
    let s = Server::start(dir.path(), &["--keepalive-timeout", "2"]);
    let mut idle = TcpStream::connect(s.addr).unwrap();
    idle.write_all(b"GET /docs/a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.ends_with(b"abcdefghij") {
        let n = idle.read(&mut buf).unwrap();
        assert!(n > 0, "closed before the reply");
        got.extend_from_slice(&buf[..n]);
    }
    let started = Instant::now();
    // Closed after the timeout: EOF, no response.
    assert_eq!(idle.read(&mut buf).unwrap(), 0);
    let took = started.elapsed();
    assert!(
        took > Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
}

#[test]
fn small_responses_written_in_pieces_are_not_delayed() {
    // `--body copy` writes the head and the body as two writes. Without
    // TCP_NODELAY, Nagle holds the body until the client's delayed ACK of
    // the head (~40 ms a request on Linux); 20 requests on one connection
    // would take 800 ms or more.
    let dir = site();
    let s = Server::start(dir.path(), &["--idle-timeout", "5", "--body", "copy"]);
    let script = format!(
        "import http.client, time\n\
         c = http.client.HTTPConnection('127.0.0.1', {port}, timeout=30)\n\
         c.request('GET', '/docs/a.txt'); c.getresponse().read()\n\
         start = time.monotonic()\n\
         for _ in range(20):\n\
         \x20   c.request('GET', '/docs/a.txt')\n\
         \x20   assert c.getresponse().read() == b'0123456789abcdefghij'\n\
         print(round((time.monotonic() - start) * 1000))\n",
        port = s.addr.port()
    );
    let out = python(&script);
    let ms: u64 = out.trim().parse().unwrap();
    assert!(ms < 400, "20 small responses took {ms} ms");
}

/// Issue 12: `--listen` takes a bare PORT and HOST:PORT with a name; a
/// directory whose path contains `::` is served as given; text says it
/// is UTF-8; `--cache-control` adds the header to files' responses.
#[test]
fn listen_forms_odd_paths_charset_and_cache_control() {
    use std::io::BufRead;
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("a::b");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("t.txt"), "é").unwrap();
    for listen in ["PORT", "localhost:PORT"] {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let listen = listen.replace("PORT", &port.to_string());
        let mut child = Command::new(env!("CARGO_BIN_EXE_wasm-sendfile"))
            .arg("serve")
            .arg(&dir)
            .args(["--listen", &listen, "--quiet"])
            .args(["--cache-control", "max-age=60"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let url = first
            .trim()
            .strip_prefix(&format!("serving {} on ", dir.display()))
            .unwrap_or_else(|| panic!("{first}"))
            .to_string();
        let ok = curl_text(&["-i", &format!("{url}t.txt")]);
        let _ = child.kill();
        let _ = child.wait();
        assert!(
            url == format!("http://127.0.0.1:{port}/") || url == format!("http://[::1]:{port}/"),
            "{url}"
        );
        assert!(
            ok.contains("Content-Type: text/plain; charset=utf-8\r\n"),
            "{ok}"
        );
        assert!(ok.contains("Cache-Control: max-age=60\r\n"), "{ok}");
        assert!(ok.ends_with("\r\n\r\né"), "{ok}");
    }
}

/// Issue 12: pre-compressed siblings (nginx's `gzip_static`, for br and
/// gzip) are sent when the client accepts them, with `Content-Encoding`
/// and `Vary`; curl `--compressed` gets the original back.
#[test]
fn precompressed_siblings_are_sent_to_clients_that_accept_them() {
    let dir = tempfile::tempdir().unwrap();
    let css = "body { color: #333; }\n".repeat(200);
    std::fs::write(dir.path().join("style.css"), &css).unwrap();
    let gz = dir.path().join("style.css.gz");
    python(&format!(
        "import gzip\nopen({:?}, 'wb').write(gzip.compress(open({:?}, 'rb').read()))\n",
        gz.display().to_string(),
        dir.path().join("style.css").display().to_string()
    ));
    std::fs::write(dir.path().join("style.css.br"), "BROTLI BYTES").unwrap();
    // One worker: one open-file cache, so "noticed" below is for every
    // later request.
    let s = Server::start(dir.path(), &["--quiet", "--workers", "1"]);
    let get = |accept: &str| {
        let accept = if accept.is_empty() {
            String::new()
        } else {
            format!("Accept-Encoding: {accept}\r\n")
        };
        let req =
            format!("GET /style.css HTTP/1.1\r\nHost: x\r\n{accept}Connection: close\r\n\r\n");
        let mut conn = TcpStream::connect(s.addr).unwrap();
        conn.set_read_timeout(Some(TIMEOUT)).unwrap();
        conn.write_all(req.as_bytes()).unwrap();
        let mut got = Vec::new();
        conn.read_to_end(&mut got).unwrap();
        let at = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        (
            String::from_utf8_lossy(&got[..at]).into_owned(),
            got[at..].to_vec(),
        )
    };
    let (head, body) = get("gzip, deflate");
    assert!(head.contains("\r\nContent-Encoding: gzip\r\n"), "{head}");
    assert!(head.contains("\r\nVary: Accept-Encoding\r\n"), "{head}");
    assert!(
        head.contains("\r\nContent-Type: text/css; charset=utf-8\r\n"),
        "{head}"
    );
    assert_eq!(body, std::fs::read(&gz).unwrap());
    let (head, body) = get("gzip, br");
    assert!(head.contains("\r\nContent-Encoding: br\r\n"), "{head}");
    assert_eq!(body, b"BROTLI BYTES");
    for refused in ["", "identity", "gzip;q=0, br;q=0"] {
        let (head, body) = get(refused);
        assert!(!head.contains("Content-Encoding"), "{refused}: {head}");
        assert!(head.contains("\r\nVary: Accept-Encoding\r\n"), "{head}");
        assert_eq!(body, css.as_bytes());
    }
    // A sibling removed is noticed within about a second.
    std::fs::remove_file(dir.path().join("style.css.br")).unwrap();
    let start = Instant::now();
    while get("br").1 != css.as_bytes() {
        assert!(start.elapsed() < Duration::from_millis(1500), "still br");
        std::thread::sleep(Duration::from_millis(20));
    }
    // With only the real gzip sibling left, curl decodes it to the CSS.
    assert_eq!(curl_text(&["--compressed", &s.url("/style.css")]), css);
}

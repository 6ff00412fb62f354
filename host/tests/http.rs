//! `wasm-sendfile http` as users meet it: the real binary running the
//! bundled `wasi:http` components (`http-files`, `http-hello`) against
//! curl, Python's http.client and raw sockets (issue 13).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

mod common;

use common::{Server, big, curl, curl_bytes, metrics_addr, raw, sample, scrape_until, site};

/// The head of a raw response, lowercased, and its body.
fn split(response: &str) -> (String, &str) {
    let (head, body) = response.split_once("\r\n\r\n").expect("a full head");
    (head.to_ascii_lowercase(), body)
}

/// A chunked body decoded; panics unless it is well framed and ends with
/// the last chunk.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").expect("a chunk-size line");
        let size = usize::from_str_radix(size, 16).expect("a hex size");
        if size == 0 {
            assert_eq!(rest, "\r\n", "nothing after the last chunk");
            return out;
        }
        out.push_str(&rest[..size]);
        body = rest[size..]
            .strip_prefix("\r\n")
            .expect("CRLF after a chunk");
    }
}

#[test]
fn files_ranges_conditionals_and_errors_over_curl() {
    let dir = site();
    let s = Server::http("http-files", dir.path(), &["--metrics", "127.0.0.1:0"]);
    let metrics = metrics_addr(&s);

    assert_eq!(curl(&s.url("/"), &[]), (200, "<h1>home</h1>\n".into()));
    assert_eq!(curl(&s.url("/docs/"), &[]), (200, "<p>docs</p>".into()));
    assert_eq!(curl_bytes(&s.url("/big.bin"), &[]), (200, big()));
    // Ranges: a middle, a suffix, past the end.
    assert_eq!(
        curl(&s.url("/docs/a.txt"), &["-r", "3-6"]),
        (206, "3456".into())
    );
    assert_eq!(
        curl(&s.url("/docs/a.txt"), &["-r", "-4"]),
        (206, "ghij".into())
    );
    let (code, _) = curl(&s.url("/docs/a.txt"), &["-r", "50-60"]);
    assert_eq!(code, 416);
    // Conditional: the ETag it sent makes a 304 with no body.
    let head = raw(
        s.addr,
        b"HEAD /docs/a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let (head, body) = split(&head);
    assert!(head.contains("content-length: 20"), "{head}");
    assert!(head.contains("content-type: text/plain"), "{head}");
    assert_eq!(body, "", "HEAD has no body");
    let etag = head
        .lines()
        .find_map(|l| l.strip_prefix("etag: "))
        .expect("an etag")
        .to_string();
    let (code, body) = curl(
        &s.url("/docs/a.txt"),
        &["-H", &format!("If-None-Match: {etag}")],
    );
    assert_eq!((code, body.as_str()), (304, ""));
    // Errors.
    assert_eq!(curl(&s.url("/.env"), &[]).0, 404);
    assert_eq!(curl(&s.url("/missing"), &[]).0, 404);
    assert_eq!(curl(&s.url("/%2e%2e/x"), &[]).0, 403);
    assert_eq!(curl(&s.url("/"), &["-X", "DELETE"]).0, 405);
    let redirect = raw(
        s.addr,
        b"GET /docs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(redirect.starts_with("HTTP/1.1 301"), "{redirect}");
    assert!(
        split(&redirect).0.contains("location: /docs/\r\n"),
        "{redirect}"
    );

    // Every file byte of those bodies went by the transfer engine, none
    // through the guest: zero-copy for the big file, the small ones with
    // their head in one write.
    let text = scrape_until(metrics, |t| {
        sample(t, "wasm_sendfile_http_responses_total{status=\"206\"}") == Some(2)
    });
    let by = |p: &str| {
        sample(
            &text,
            &format!("wasm_sendfile_sendfile_file_bytes_total{{path=\"{p}\"}}"),
        )
        .unwrap()
    };
    assert!(by("zero_copy") >= 5_000_000, "{text}");
    assert_eq!(
        by("zero_copy") + by("small_copy"),
        14 + 11 + 5_000_000 + 4 + 4,
        "{text}"
    );
    assert_eq!(by("fallback"), 0, "{text}");
    // Every request's instance counts its calls into the host.
    let host_calls = sample(&text, "wasm_sendfile_host_calls_total").unwrap();
    assert!(host_calls >= 10, "{text}");
}

#[test]
fn file_bodies_go_by_sendfile_and_the_stream_guest_does_not() {
    let dir = site();
    for (flags, by_sendfile) in [
        (&[][..], true),
        (&["--env", "HTTP_FILES_BODY=stream"][..], false),
    ] {
        let s = Server::http("http-files", dir.path(), flags);
        let pid = s.pid().to_string();
        let trace = dir.path().join(format!("trace-{by_sendfile}"));
        let mut strace = Command::new("strace")
            .args(["-f", "-e", "trace=sendfile", "-o"])
            .arg(&trace)
            .args(["-p", &pid])
            .spawn()
            .expect("strace (.ci/run installs it)");
        // strace attaches to each thread in turn; wait until it has.
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(curl_bytes(&s.url("/big.bin"), &[]), (200, big()));
        std::thread::sleep(Duration::from_millis(200));
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_raw(strace.id() as i32).unwrap(),
            rustix::process::Signal::INT,
        );
        let _ = strace.wait();
        let trace = std::fs::read_to_string(&trace).unwrap();
        let sent: u64 = trace
            .lines()
            .filter(|l| l.contains("sendfile("))
            .filter_map(|l| l.rsplit_once("= ")?.1.trim().parse::<u64>().ok())
            .sum();
        if by_sendfile {
            assert_eq!(sent, 5_000_000, "{trace}");
        } else {
            assert_eq!(sent, 0, "{trace}");
        }
    }
}

#[test]
fn keep_alive_pipelining_and_head_share_one_connection() {
    let dir = site();
    let s = Server::http("http-files", dir.path(), &[]);
    let mut conn = TcpStream::connect(s.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    // Three requests in one write: HEAD of a file, a range, the index.
    conn.write_all(
        b"HEAD /docs/a.txt HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /docs/a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-3\r\n\r\n\
          GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut all = String::new();
    conn.read_to_string(&mut all).unwrap();
    let statuses: Vec<&str> = all
        .match_indices("HTTP/1.1 ")
        .map(|(i, _)| &all[i + 9..i + 12])
        .collect();
    assert_eq!(statuses, ["200", "206", "200"], "{all}");
    assert!(all.contains("\r\n\r\n0123HTTP/1.1 200"), "{all}");
    assert!(all.ends_with("\r\n\r\n<h1>home</h1>\n"), "{all}");

    // HTTP/1.0 keep-alive, asked for: said so, and honoured.
    let mut conn = TcpStream::connect(s.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    for _ in 0..2 {
        conn.write_all(b"GET /docs/a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap();
        let mut got = Vec::new();
        while !got.ends_with(b"0123456789abcdefghij") {
            let mut buf = [0u8; 4096];
            let n = conn.read(&mut buf).unwrap();
            assert!(n > 0, "closed: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&got).to_ascii_lowercase();
        assert!(text.contains("connection: keep-alive\r\n"), "{text}");
    }

    // Python's http.client: 50 requests on one kept-alive connection.
    let script = format!(
        r#"
import http.client
c = http.client.HTTPConnection("127.0.0.1", {port}, timeout=20)
for i in range(50):
    c.request("GET", "/docs/a.txt" if i % 2 else "/big.bin")
    r = c.getresponse()
    body = r.read()
    assert r.status == 200, r.status
    assert len(body) == (20 if i % 2 else 5000000), len(body)
print("ok", c.sock is not None)
"#,
        port = s.addr.port()
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok True");
}

#[test]
fn a_plain_wasi_http_component_runs_unchanged() {
    let dir = site();
    let s = Server::http("http-hello", dir.path(), &[]);
    // No length from the guest: chunked to HTTP/1.1, until close to 1.0.
    let got = raw(
        s.addr,
        b"GET /hi?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let (head, body) = split(&got);
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    assert_eq!(
        dechunk(body),
        "hello from wasi:http\nGET /hi?x=1\nbody: 0 bytes\n"
    );
    let got = raw(s.addr, b"GET / HTTP/1.0\r\n\r\n");
    let (head, body) = split(&got);
    assert!(!head.contains("transfer-encoding"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    assert!(body.starts_with("hello from wasi:http\n"), "{body}");
    // Request bodies reach the guest byte for byte, by length or chunked.
    let upload: Vec<u8> = (0..300_000u32).map(|i| (i % 241) as u8).collect();
    std::fs::write(dir.path().join("upload.bin"), &upload).unwrap();
    let file = format!("@{}", dir.path().join("upload.bin").display());
    for extra in [&[][..], &["-H", "Transfer-Encoding: chunked"][..]] {
        let mut args = vec!["-X", "POST", "--data-binary", &file];
        args.extend_from_slice(extra);
        let (code, body) = curl_bytes(&s.url("/up"), &args);
        assert_eq!(code, 200);
        let text = b"hello from wasi:http\nPOST /up\nbody: 300000 bytes\n";
        assert_eq!(&body[..text.len()], text, "{extra:?}");
        assert!(
            body[text.len()..] == upload[..],
            "{extra:?}: echoed body differs"
        );
    }
}

#[test]
fn hostile_requests_get_clear_refusals() {
    let dir = site();
    let s = Server::http("http-files", dir.path(), &["--header-timeout", "1"]);
    let status = |req: &[u8]| raw(s.addr, req).get(9..12).unwrap_or("").to_string();
    assert_eq!(status(b"GARBAGE\r\n\r\n"), "400");
    assert_eq!(status(b"GET / HTTP/1.1\r\n\r\n"), "400", "no Host");
    let smuggle = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n";
    assert_eq!(status(smuggle), "400");
    assert_eq!(
        status(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"),
        "501"
    );
    let huge = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    assert_eq!(status(huge.as_bytes()), "431");
    // A head that never ends: 408 after the header timeout, not a hang.
    let start = Instant::now();
    assert_eq!(status(b"GET / HTTP/1.1\r\nHost: x\r\n"), "408");
    assert!(start.elapsed() < Duration::from_secs(5));
    // An idle connection that sends nothing is closed quietly.
    let mut idle = TcpStream::connect(s.addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = Vec::new();
    let _ = idle.read_to_end(&mut buf);
    assert!(buf.is_empty(), "{}", String::from_utf8_lossy(&buf));
    // The server still answers.
    assert_eq!(
        curl(&s.url("/docs/a.txt"), &[]),
        (200, "0123456789abcdefghij".into())
    );
}

#[test]
fn a_signal_stops_the_server_and_closes_idle_connections() {
    let dir = site();
    let mut s = Server::http("http-files", dir.path(), &["--keepalive-timeout", "60"]);
    let mut idle = TcpStream::connect(s.addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    idle.write_all(b"GET /docs/a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = idle.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).ends_with("0123456789abcdefghij"));
    let start = Instant::now();
    s.interrupt();
    assert!(s.wait_end(Duration::from_secs(10)).success());
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(
        idle.read(&mut buf).unwrap_or(0),
        0,
        "the idle connection was closed"
    );
}

//! `serve --metrics ADDR`: the server's counters in Prometheus' text
//! format, scraped with curl as a platform team's Prometheus would (issue
//! 12).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

mod common;

use common::{Server, curl, curl_bytes, metrics_addr, raw, sample, scrape_until};

/// `serve` on `dir` with `workers` workers, its metrics on a port of its
/// own and no access log.
fn serve_with_metrics(dir: &std::path::Path, workers: &str) -> Server {
    Server::start(
        dir,
        &[
            "--workers",
            workers,
            "--metrics",
            "127.0.0.1:0",
            "--access-log",
            "off",
        ],
    )
}

#[test]
fn the_metrics_endpoint_counts_responses_bytes_and_connections() {
    let dir = tempfile::tempdir().unwrap();
    let body: Vec<u8> = (0..1000).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.path().join("a.bin"), &body).unwrap();
    let server = serve_with_metrics(dir.path(), "2");
    let metrics = metrics_addr(&server);

    for _ in 0..3 {
        let (code, got) = curl_bytes(&server.url("/a.bin"), &[]);
        assert_eq!((code, got), (200, body.clone()));
    }
    let missing = raw(
        server.addr,
        b"GET /missing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
    let not_found_body = missing.split_once("\r\n\r\n").unwrap().1.len() as u64;
    // One keep-alive connection stays open, its response done.
    let mut held = TcpStream::connect(server.addr).unwrap();
    held.write_all(b"GET /a.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    held.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut got = Vec::new();
    while !got.ends_with(&body) {
        let mut buf = [0u8; 4096];
        let n = held.read(&mut buf).unwrap();
        assert!(n > 0, "closed early");
        got.extend_from_slice(&buf[..n]);
    }

    let text = scrape_until(metrics, |t| {
        sample(t, "wasm_sendfile_http_responses_total{status=\"200\"}") == Some(4)
            && sample(t, "wasm_sendfile_http_responses_total{status=\"404\"}") == Some(1)
            && sample(t, "wasm_sendfile_open_connections") == Some(1)
    });
    assert_eq!(
        sample(&text, "wasm_sendfile_http_response_body_bytes_total"),
        Some(4000 + not_found_body),
        "{text}"
    );
    let file_bytes = ["zero_copy", "small_copy", "fallback"].map(|p| {
        sample(
            &text,
            &format!("wasm_sendfile_sendfile_file_bytes_total{{path=\"{p}\"}}"),
        )
        .unwrap()
    });
    assert_eq!(file_bytes.iter().sum::<u64>(), 4000, "{text}");
    assert_eq!(file_bytes[2], 0, "no fallback on a regular file: {text}");
    assert_eq!(sample(&text, "wasm_sendfile_workers"), Some(2));
    assert_eq!(
        sample(&text, "wasm_sendfile_backend_info{backend=\"linux\"}"),
        Some(1),
        "{text}"
    );
    assert_eq!(
        sample(&text, "wasm_sendfile_worker_restarts_total"),
        Some(0)
    );
    for family in [
        "# TYPE wasm_sendfile_http_responses_total counter",
        "# TYPE wasm_sendfile_open_connections gauge",
        "# HELP wasm_sendfile_sendfile_file_bytes_total ",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(family)),
            "{family}: {text}"
        );
    }

    // Closed, the connection is no longer counted.
    drop(held);
    let text = scrape_until(metrics, |t| {
        sample(t, "wasm_sendfile_open_connections") == Some(0)
    });

    // The guests' calls into the host are counted: each request takes
    // some (accept, read, send-file, ...), and not hundreds.
    let before = sample(&text, "wasm_sendfile_host_calls_total").unwrap();
    for _ in 0..10 {
        let (code, _) = curl_bytes(&server.url("/a.bin"), &[]);
        assert_eq!(code, 200);
    }
    let text = scrape_until(metrics, |t| {
        sample(t, "wasm_sendfile_http_responses_total{status=\"200\"}") == Some(14)
    });
    let per_request = (sample(&text, "wasm_sendfile_host_calls_total").unwrap() - before) / 10;
    assert!(
        (3..200).contains(&per_request),
        "{per_request} calls per request"
    );
}

#[test]
fn the_metrics_endpoint_answers_only_scrapes_and_never_hangs() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve_with_metrics(dir.path(), "1");
    let metrics = metrics_addr(&server);
    let (code, _) = curl(&format!("http://{metrics}/other"), &[]);
    assert_eq!(code, 404);
    let (code, _) = curl(&format!("http://{metrics}/metrics"), &["-X", "POST"]);
    assert_eq!(code, 405);
    let (code, body) = curl(&format!("http://{metrics}/metrics"), &["-I"]);
    assert_eq!(code, 200);
    assert!(body.contains("version=0.0.4"), "{body}");
    let garbage = raw(metrics, b"\x00\x01 not http\r\n\r\n");
    assert!(garbage.starts_with("HTTP/1.1 400"), "{garbage}");
    // HEAD after a blank line (which parsers skip) has no body.
    let head = raw(metrics, b"\r\nHEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(
        head.starts_with("HTTP/1.1 200") && head.ends_with("\r\n\r\n"),
        "{head}"
    );
    // Bytes after the request (a body, a second request) do not reset the
    // connection before the scraper has the response.
    for _ in 0..20 {
        let scraped = raw(
            metrics,
            b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        assert!(scraped.contains("wasm_sendfile_workers 1"), "{scraped}");
    }
    // Scrapers that send nothing, or an endless head, hold no slot for
    // long: the endpoint still answers.
    let silent: Vec<TcpStream> = (0..20)
        .map(|_| TcpStream::connect(metrics).unwrap())
        .collect();
    let mut endless = TcpStream::connect(metrics).unwrap();
    let _ = endless.write_all(&[b'a'; 9000]);
    let start = Instant::now();
    let (code, text) = curl(&format!("http://{metrics}/metrics"), &[]);
    assert_eq!(code, 200);
    assert!(text.contains("wasm_sendfile_workers 1"), "{text}");
    assert!(start.elapsed() < Duration::from_secs(8));
    drop(silent);
    // The metrics are not on the served port.
    let (code, _) = curl(&server.url("/metrics"), &[]);
    assert_eq!(code, 404);
}

/// The static server reads the clocks once per wake-up of its event loop,
/// not at each use (the `Date` header, the open-file cache, timestamps):
/// a request on a kept-alive connection, one at a time, costs the host
/// calls of its wake-up (poll, clocks), its read and its `send-file`, and
/// the response report. It cost 11 when every use read a clock.
#[test]
fn a_kept_alive_request_makes_no_clock_calls_of_its_own() {
    const MOST_CALLS: u64 = 7;
    const REQUESTS: u64 = 50;
    let dir = tempfile::tempdir().unwrap();
    let body: Vec<u8> = (0..1000).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.path().join("a.bin"), &body).unwrap();
    let server = serve_with_metrics(dir.path(), "1");
    let metrics = metrics_addr(&server);
    let mut conn = TcpStream::connect(server.addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = |conn: &mut TcpStream| {
        conn.write_all(b"GET /a.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut got = Vec::new();
        while !(got.ends_with(&body) && got.starts_with(b"HTTP/1.1 200")) {
            let mut buf = [0u8; 4096];
            let n = conn.read(&mut buf).unwrap();
            assert!(n > 0, "closed early");
            got.extend_from_slice(&buf[..n]);
        }
    };
    // The first request opens the file and fills the server's caches.
    request(&mut conn);
    let responses = "wasm_sendfile_http_responses_total{status=\"200\"}";
    let text = scrape_until(metrics, |t| sample(t, responses) == Some(1));
    let before = sample(&text, "wasm_sendfile_host_calls_total").unwrap();
    for _ in 0..REQUESTS {
        request(&mut conn);
    }
    let text = scrape_until(metrics, |t| sample(t, responses) == Some(1 + REQUESTS));
    let calls = sample(&text, "wasm_sendfile_host_calls_total").unwrap() - before;
    assert!(
        calls <= MOST_CALLS * REQUESTS,
        "{calls} host calls for {REQUESTS} requests"
    );
}

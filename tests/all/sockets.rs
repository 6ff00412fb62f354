//! The host's own `wasi:sockets/tcp`: an unchanged `std::net` guest, the
//! policy's bind and connect checks, and the preopen sandbox.

use super::{put, workdir};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};
use wasm_sendfile_tests::{Guest, PEER_TIMEOUT, Peer, guests, read_all};

#[test]
fn std_net_client_guest_runs_unchanged() {
    let peer = Peer::new();
    let addr = peer.addr();
    let echo = std::thread::spawn(move || {
        let mut conn = peer.accept();
        let mut request = Vec::new();
        conn.read_to_end(&mut request).unwrap();
        conn.write_all(&request.to_ascii_uppercase()).unwrap();
    });
    let out = Guest::new(guests::STD_NET)
        .allow_connect(addr)
        .args(["client", &addr.to_string(), "hello from std"])
        .run();
    echo.join().unwrap();
    out.assert_success();
    assert_eq!(out.line("reply="), "reply=HELLO FROM STD");
    assert_eq!(out.line("peer="), format!("peer={addr}"));
}

#[test]
fn std_net_server_guest_runs_unchanged() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let client = {
        let addr = addr.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + PEER_TIMEOUT;
            let mut conn = loop {
                match TcpStream::connect(&addr) {
                    Ok(c) => break c,
                    Err(_) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    Err(e) => panic!("server never listened: {e}"),
                }
            };
            conn.write_all(b"ping").unwrap();
            conn.shutdown(Shutdown::Write).unwrap();
            conn.set_read_timeout(Some(PEER_TIMEOUT)).unwrap();
            read_all(conn, None)
        })
    };
    let out = Guest::new(guests::STD_NET)
        .allow_bind(&addr)
        .args(["server", &addr])
        .run();
    out.assert_success();
    assert_eq!(client.join().unwrap(), b"PING");
    assert_eq!(out.line("request="), "request=ping");
}

#[test]
fn bind_and_connect_outside_the_policy_are_refused() {
    let peer = Peer::new();
    let addr = peer.addr();
    let out = Guest::new(guests::PROBE)
        .args(["net", &format!("connect={addr}")])
        .run();
    assert_eq!(out.line("net"), "net denied");
    let out = Guest::new(guests::PROBE)
        .allow_bind("127.0.0.1:1")
        .args(["net", "bind=127.0.0.1:0"])
        .run();
    assert_eq!(out.line("net"), "net denied");
    let out = Guest::new(guests::PROBE)
        .allow_bind("127.0.0.1")
        .args(["net", "bind=127.0.0.1:0"])
        .run();
    assert_eq!(out.line("net"), "net ok");
}

#[test]
fn files_outside_the_preopens_cannot_be_opened() {
    let outside = workdir();
    put(outside.path(), "secret", b"secret");
    let dir = workdir();
    let public = dir.path().join("public");
    std::fs::create_dir(&public).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret"), public.join("link")).unwrap();
    put(&public, "ok", b"fine");
    // The probe's `open` (through the SDK, `file=`) or `open-raw` (a raw
    // `open-at` on the preopen, `path=`), on `public` as `/data`.
    let probe = |command: &str, arg: String| {
        Guest::new(guests::PROBE)
            .dir_ro(&public, "/data")
            .args([command.to_string(), arg])
            .run()
    };
    let open = |path: &str| probe("open", format!("file={path}"));
    assert_eq!(open("/data/ok").line("opened"), "opened dir=false");
    for escape in ["/data/../secret", "/data/link"] {
        let out = open(escape);
        assert!(
            out.line("open-error").starts_with("open-error"),
            "{escape}: {out:#?}"
        );
    }
    let secret = outside.path().join("secret");
    let out = open(secret.to_str().unwrap());
    assert_eq!(out.line("open-error"), "open-error kind=NotFound");

    // The same escapes as raw `open-at` calls on the preopen, with no SDK
    // path handling in between: the host refuses each.
    let open_raw = |path: &str| probe("open-raw", format!("path={path}"));
    assert_eq!(open_raw("ok").line("raw"), "raw-opened");
    // Every escape names a file that exists on the host.
    put(dir.path(), "secret", b"secret");
    let outside_name = outside.path().file_name().unwrap().to_str().unwrap();
    let escapes = [
        "../secret".to_string(),
        "./../secret".to_string(),
        format!("nothing/../../../{outside_name}/secret"),
        format!("../../{outside_name}/secret"),
        "link".to_string(),
        secret.to_str().unwrap().to_string(),
    ];
    for escape in &escapes {
        let out = open_raw(escape);
        assert!(
            out.line("raw").starts_with("raw-error code="),
            "{escape}: {out:#?}"
        );
    }
}

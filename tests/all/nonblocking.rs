//! The non-blocking call against a peer that stops reading: partial
//! progress, then `would-block`, then completion after waiting.

use super::{put, workdir};
use std::time::{Duration, Instant};
use wasm_sendfile_tests::{Guest, PEER_TIMEOUT, Peer, guests, pattern, probe_against, read_all};

#[test]
fn partial_progress_then_would_block_then_completion() {
    let dir = workdir();
    let size = 16 << 20;
    let data = pattern(size);
    put(dir.path(), "big", &data);
    let marker = dir.path().join("full");
    // Default buffers: a non-reading peer still fills them, and a tiny
    // receive buffer would only make the rest of the transfer crawl.
    let peer = Peer::new();
    let addr = peer.addr();
    let reader = {
        let marker = marker.clone();
        std::thread::spawn(move || {
            let conn = peer.accept();
            // Read nothing until the guest has seen the socket full.
            let deadline = Instant::now() + PEER_TIMEOUT;
            while !marker.exists() {
                assert!(Instant::now() < deadline, "guest never filled the socket");
                std::thread::sleep(Duration::from_millis(5));
            }
            read_all(conn, None)
        })
    };
    let out = Guest::new(guests::PROBE)
        .dir(dir.path(), "/data")
        .allow_connect(addr)
        .args(["nonblock", &format!("connect={addr}"), "file=/data/big"])
        .args(["header=HDR", "trailer=TRL", "marker=/data/full"])
        .run();
    out.assert_success();

    // First call: a success that says the socket filled up first.
    let first_total = out.num("ok", "total");
    assert!(first_total > 0 && first_total < size as u64, "{out:#?}");
    assert_eq!(out.field("ok", "complete"), "false");
    // Once full, nothing more goes: would-block with nothing sent.
    assert_eq!(out.line("err"), "err code=would-block total=0 file=0");
    // After waiting for writability the transfer completes, byte-exact.
    let total = size as u64 + 6;
    assert_eq!(out.line("done"), format!("done total={total} file={size}"));
    let mut want = b"HDR".to_vec();
    want.extend_from_slice(&data);
    want.extend_from_slice(b"TRL");
    assert!(reader.join().unwrap() == want, "bytes differ");
}

#[test]
fn pending_stream_writes_go_first_so_a_full_socket_is_would_block() {
    let dir = workdir();
    put(dir.path(), "f", &pattern(1000));
    let peer = Peer::with_small_receive_buffer();
    let addr = peer.addr();
    let (done, wait) = std::sync::mpsc::channel::<()>();
    // Hold the connection without reading until the guest has finished.
    let holder = std::thread::spawn(move || {
        let conn = peer.accept();
        let _ = wait.recv_timeout(PEER_TIMEOUT);
        drop(conn);
    });
    let args = ["socket-state", "state=pending-writes", "file=/data/f"];
    let out = probe_against(addr, dir.path(), &args, |g| g);
    done.send(()).unwrap();
    holder.join().unwrap();
    assert!(out.num("wrote", "wrote") > 0, "{out:#?}");
    assert_eq!(out.line("err"), "err code=would-block total=0 file=0");
}

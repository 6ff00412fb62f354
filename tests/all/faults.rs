//! Faults during a transfer: the file changes under a blocking send that
//! waits on a full socket. The result follows the file as it is when each
//! chunk is read, and every byte reported went out.

use super::{put, workdir};
use std::sync::mpsc;
use std::time::Duration;
use wasm_sendfile_tests::{Guest, Output, PEER_TIMEOUT, Peer, pattern, probe_against, read_all};

/// A peer that reads nothing until told to, then reads to the end.
fn held_peer() -> (
    std::net::SocketAddr,
    mpsc::Sender<()>,
    std::thread::JoinHandle<Vec<u8>>,
) {
    let peer = Peer::new();
    let addr = peer.addr();
    let (go, wait) = mpsc::channel::<()>();
    let reader = std::thread::spawn(move || {
        let conn = peer.accept();
        wait.recv_timeout(PEER_TIMEOUT).expect("told to read");
        read_all(conn, None)
    });
    (addr, go, reader)
}

#[test]
fn a_file_truncated_during_a_blocked_send_gives_a_short_count() {
    let dir = workdir();
    let size = 32 << 20;
    let data = pattern(size);
    put(dir.path(), "f", &data);
    let path = dir.path().join("f");
    let (addr, go, reader) = held_peer();
    let shrink = std::thread::spawn(move || {
        // The socket fills within milliseconds; then the send waits.
        std::thread::sleep(Duration::from_millis(500));
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(1 << 20)
            .unwrap();
        go.send(()).unwrap();
    });
    let out = probe_against(addr, dir.path(), &["send", "file=/data/f"], |g| g);
    shrink.join().unwrap();
    let got = reader.join().unwrap();
    out.assert_success();
    assert_eq!(out.field("ok", "complete"), "true");
    let sent = out.num("ok", "file") as usize;
    assert!(sent < size, "not short: {out:#?}");
    assert_eq!(got.len(), sent, "reported and received counts differ");
    // Zero-copy: bytes already queued on the socket reference the file's
    // pages, so past the new end they may reflect the truncation (see the
    // WIT docs). The bytes the file still holds must be intact.
    let kept = sent.min(1 << 20);
    assert!(got[..kept] == data[..kept], "bytes differ");
}

#[test]
fn a_file_grown_during_a_blocked_to_eof_send_is_followed_to_its_new_end() {
    let dir = workdir();
    let first = pattern(8 << 20);
    put(dir.path(), "f", &first);
    let path = dir.path().join("f");
    let more: Vec<u8> = pattern(3 << 20).iter().map(|b| b ^ 0xff).collect();
    let (addr, go, reader) = held_peer();
    let grow = {
        let more = more.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap();
            f.write_all(&more).unwrap();
            go.send(()).unwrap();
        })
    };
    let out = probe_against(addr, dir.path(), &["send", "file=/data/f"], |g| g);
    grow.join().unwrap();
    let got = reader.join().unwrap();
    out.assert_success();
    let total = (8 << 20) + (3 << 20);
    assert_eq!(
        out.line("ok"),
        format!("ok total={total} file={total} complete=true")
    );
    let mut want = first;
    want.extend_from_slice(&more);
    assert!(got == want, "bytes differ");
}

/// After the guest is gone: the peer sees the connection end, and no
/// descriptor of this process is left on the source file.
fn assert_released(
    file: &std::path::Path,
    go: mpsc::Sender<()>,
    reader: std::thread::JoinHandle<Vec<u8>>,
    size: usize,
) {
    go.send(()).unwrap();
    let got = reader.join().unwrap();
    assert!(got.len() < size, "the whole file went out");
    assert!(got == pattern(size)[..got.len()], "bytes differ");
    // Blocking-pool threads may hold the file a moment longer.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while wasm_sendfile_tests::fds_open_on(file) > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the source file is still open"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs the probe with `args` from a 32 MiB `/data/f` against a peer that
/// reads nothing until the guest is gone; checks that the guest's end
/// released the socket and the file, and returns its output.
fn released_after(args: &[&str], setup: impl FnOnce(Guest) -> Guest) -> Output {
    let dir = workdir();
    let size = 32 << 20;
    put(dir.path(), "f", &pattern(size));
    let (addr, go, reader) = held_peer();
    let out = probe_against(addr, dir.path(), args, setup);
    assert_released(&dir.path().join("f"), go, reader, size);
    out
}

#[test]
fn a_guest_killed_while_blocked_in_a_send_releases_socket_and_file() {
    let out = released_after(&["send", "file=/data/f"], |g| {
        g.timeout(Duration::from_secs(2))
    });
    assert_eq!(out.error.as_deref(), Some("guest timed out"), "{out:#?}");
}

#[test]
fn a_guest_stopped_by_its_epoch_deadline_mid_transfer_releases_socket_and_file() {
    let out = released_after(
        &["socket-state", "state=spin-mid-transfer", "file=/data/f"],
        |g| g.epoch_deadline(Duration::from_millis(300)),
    );
    assert_eq!(out.trap, Some(wasmtime::Trap::Interrupt), "{out:#?}");
    // Stopped with the transfer under way: some bytes out, not all.
    assert_eq!(out.field("ok", "complete"), "false");
    assert!(out.metrics.total_bytes > 0, "{out:#?}");
    // It spun: many calls in its own loop, no wait it could be stuck in.
    assert!(out.metrics.calls > 10, "{out:#?}");
    // Until the store went, its table held what the guest held.
    assert!(out.table_entries > 0);
}

#[test]
fn a_guest_trapping_mid_transfer_releases_socket_and_file() {
    let out = released_after(
        &["socket-state", "state=trap-mid-transfer", "file=/data/f"],
        |g| g,
    );
    assert!(!out.success && out.error.is_some(), "{out:#?}");
    assert_eq!(out.field("ok", "complete"), "false");
}

#[test]
fn a_peer_reset_mid_transfer_reports_the_partial_count_and_moves_the_cursor_by_it() {
    let dir = workdir();
    let size = 32 << 20;
    let data = pattern(size);
    put(dir.path(), "f", &data);
    let peer = Peer::new();
    let addr = peer.addr();
    let resetter = std::thread::spawn(move || {
        use std::io::Read;
        let mut conn = peer.accept();
        let mut got = vec![0u8; 256 * 1024];
        conn.read_exact(&mut got).unwrap();
        // Close with unread data and SO_LINGER 0: the kernel sends RST.
        rustix::net::sockopt::set_socket_linger(&conn, Some(Duration::ZERO)).unwrap();
        drop(conn);
        got
    });
    let out = probe_against(addr, dir.path(), &["cursor-reset", "file=/data/f"], |g| g);
    let head = resetter.join().unwrap();
    out.assert_success();
    assert!(head == data[..head.len()], "bytes differ");
    let first = out.num("first", "first");
    assert!(
        first >= head.len() as u64 && first < size as u64,
        "{out:#?}"
    );
    assert_eq!(out.num("first", "position"), first);
    let kind = out.field("second", "error");
    assert!(
        kind == "ConnectionReset" || kind == "BrokenPipe",
        "{out:#?}"
    );
    assert_eq!(
        out.num("second", "position"),
        first,
        "a failed call moved the cursor"
    );
}

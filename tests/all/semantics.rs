//! The documented semantics: offsets, counts, EOF, headers and trailers,
//! the SDK's cursor, ordering, sizes past 4 GiB.

use super::{put, send_to_peer, workdir};
use std::io::Read;
use std::time::{Duration, Instant};
use wasm_sendfile_tests::{Guest, Peer, guests, pattern, probe_against, probe_to_collector};

const SIZE: usize = 100_000;

#[test]
fn explicit_offset_and_count_send_exactly_that_range() {
    let dir = workdir();
    let data = pattern(SIZE);
    put(dir.path(), "f", &data);
    let (out, got) = send_to_peer(dir.path(), "f", &["offset=1000", "count=50000"]);
    assert_eq!(got, &data[1000..51000]);
    assert_eq!(out.line("ok"), "ok total=50000 file=50000 complete=true");
    assert_eq!(out.metrics.zero_copy_bytes, 50000);
    assert_eq!(out.metrics.fallback_bytes, 0);
}

/// Issue 11: a small range (at most 16 KiB) in the page cache is read and
/// sent with the headers and trailers in one write (counted apart, as
/// `small_copy_bytes`); the same range not cached, or a larger one, goes
/// by sendfile. The bytes and counts are the same either way.
#[test]
fn small_cached_ranges_go_with_the_headers_in_one_write() {
    let dir = workdir();
    let data = pattern(SIZE);
    put(dir.path(), "f", &data);
    let args = ["offset=1000", "count=5000", "header=HEAD", "trailer=TAIL"];
    let (out, got) = send_to_peer(dir.path(), "f", &args);
    let mut want = b"HEAD".to_vec();
    want.extend_from_slice(&data[1000..6000]);
    want.extend_from_slice(b"TAIL");
    assert_eq!(got, want);
    assert_eq!(out.line("ok"), "ok total=5008 file=5000 complete=true");
    let m = out.metrics;
    assert_eq!((m.small_copy_bytes, m.zero_copy_bytes), (5000, 0));
    // Not in the page cache: never read here (that could wait for the
    // disk); sendfile sends it.
    wasm_sendfile_tests::evict(&dir.path().join("f"));
    let (out, got) = send_to_peer(dir.path(), "f", &args);
    assert_eq!(got, want);
    let m = out.metrics;
    assert_eq!((m.small_copy_bytes, m.zero_copy_bytes), (0, 5000));
    // A range ending at the end of the file, shorter than asked.
    wasm_sendfile_tests::warm(&dir.path().join("f"));
    let (out, got) = send_to_peer(dir.path(), "f", &["offset=99000", "count=16384"]);
    assert_eq!(got, &data[99_000..]);
    assert_eq!(out.line("ok"), "ok total=1000 file=1000 complete=true");
    assert_eq!(out.metrics.small_copy_bytes, 1000);
}

#[test]
fn to_eof_sends_the_rest_of_the_file() {
    let dir = workdir();
    let data = pattern(SIZE);
    put(dir.path(), "f", &data);
    let (out, got) = send_to_peer(dir.path(), "f", &["offset=99000"]);
    assert_eq!(got, &data[99_000..]);
    assert_eq!(out.num("ok", "file"), 1000);
}

#[test]
fn count_past_eof_stops_at_eof_without_error() {
    let dir = workdir();
    let data = pattern(SIZE);
    put(dir.path(), "f", &data);
    let (out, got) = send_to_peer(dir.path(), "f", &["offset=90000", "count=50000"]);
    assert_eq!(got, &data[90_000..]);
    assert_eq!(out.line("ok"), "ok total=10000 file=10000 complete=true");
}

#[test]
fn offset_at_or_past_eof_is_success_with_zero_bytes() {
    let dir = workdir();
    put(dir.path(), "f", &pattern(SIZE));
    for offset in [SIZE, SIZE + 1, 1 << 40] {
        let (out, got) = send_to_peer(dir.path(), "f", &[&format!("offset={offset}")]);
        assert!(got.is_empty());
        assert_eq!(out.line("ok"), "ok total=0 file=0 complete=true");
    }
}

#[test]
fn empty_file_and_zero_count_send_nothing() {
    let dir = workdir();
    put(dir.path(), "empty", b"");
    put(dir.path(), "f", &pattern(10));
    let (out, got) = send_to_peer(dir.path(), "empty", &[]);
    assert!(got.is_empty());
    assert_eq!(out.line("ok"), "ok total=0 file=0 complete=true");
    let (out, got) = send_to_peer(dir.path(), "f", &["count=0"]);
    assert!(got.is_empty());
    assert_eq!(out.line("ok"), "ok total=0 file=0 complete=true");
}

#[test]
fn headers_and_trailers_surround_the_range_and_count_in_the_total() {
    let dir = workdir();
    let data = pattern(SIZE);
    put(dir.path(), "f", &data);
    let (out, got) = send_to_peer(
        dir.path(),
        "f",
        &[
            "offset=10",
            "count=20000",
            "header=HEAD-1;",
            "header=HEAD-2;",
            "trailer=;TAIL",
        ],
    );
    let mut want = b"HEAD-1;HEAD-2;".to_vec();
    want.extend_from_slice(&data[10..20_010]);
    want.extend_from_slice(b";TAIL");
    assert_eq!(got, want);
    assert_eq!(out.line("ok"), "ok total=20019 file=20000 complete=true");
}

#[test]
fn headers_and_trailers_go_out_even_past_eof() {
    let dir = workdir();
    put(dir.path(), "f", &pattern(10));
    let (out, got) = send_to_peer(dir.path(), "f", &["offset=50", "header=H", "trailer=T"]);
    assert_eq!(got, b"HT");
    assert_eq!(out.line("ok"), "ok total=2 file=0 complete=true");
}

#[test]
fn cursor_mode_advances_the_cursor_and_explicit_offsets_do_not() {
    let dir = workdir();
    let data = pattern(SIZE);
    put(dir.path(), "f", &data);
    let (out, got) = probe_to_collector(
        dir.path(),
        &[
            "cursor",
            "file=/data/f",
            "start=10",
            "first=100",
            "second=50",
            "explicit=5000",
        ],
        |g| g,
    );
    out.assert_success();
    assert_eq!(out.line("first"), "first=100 position=110");
    assert_eq!(out.line("second"), "second=50 position=160");
    assert_eq!(out.line("explicit"), "explicit=50 offset=5050 position=160");
    let mut want = data[10..160].to_vec();
    want.extend_from_slice(&data[5000..5050]);
    assert_eq!(got, want);
}

#[test]
fn bytes_written_to_the_stream_go_out_before_the_file() {
    let dir = workdir();
    let data = pattern(SIZE);
    put(dir.path(), "f", &data);
    let (out, got) = send_to_peer(dir.path(), "f", &["prefix=WRITTEN-FIRST|", "count=3000"]);
    let mut want = b"WRITTEN-FIRST|".to_vec();
    want.extend_from_slice(&data[..3000]);
    assert_eq!(got, want);
    // The prefix is the guest's own write, not part of the call's total.
    assert_eq!(out.num("ok", "total"), 3000);
}

#[test]
fn blocking_send_of_a_large_file_to_a_slow_reader_delivers_every_byte() {
    let dir = workdir();
    let data = pattern(16 << 20);
    put(dir.path(), "big", &data);
    let peer = Peer::new();
    let addr = peer.addr();
    let received = peer.collect_slowly(64 * 1024, Duration::from_millis(1));
    let out = Guest::new(guests::PROBE)
        .dir(dir.path(), "/data")
        .allow_connect(addr)
        .args(["send", &format!("connect={addr}"), "file=/data/big"])
        .run();
    out.assert_success();
    assert_eq!(
        out.line("ok"),
        format!("ok total={0} file={0} complete=true", 16 << 20)
    );
    assert!(received.join().unwrap() == data, "bytes differ");
}

#[test]
fn max_chunk_changes_the_steps_not_the_bytes() {
    let dir = workdir();
    let data = pattern(1 << 20);
    put(dir.path(), "f", &data);
    let (out, got) = send_to_peer(dir.path(), "f", &["max-chunk=4096", "offset=7"]);
    assert!(got == data[7..], "bytes differ");
    assert_eq!(out.num("ok", "file"), (1 << 20) - 7);
}

#[test]
fn offsets_and_sizes_past_4_gib_work() {
    // A sparse file of 5 GiB with real bytes around the 4 GiB mark.
    let dir = workdir();
    let path = dir.path().join("sparse");
    let base: u64 = (4 << 30) + 12_345;
    let data = pattern(300_000);
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::File::create(&path).unwrap();
        f.set_len(5 << 30).unwrap();
        f.write_all_at(&data, base).unwrap();
    }
    let (out, got) = send_to_peer(
        dir.path(),
        "sparse",
        &[&format!("offset={base}"), "count=300000"],
    );
    assert!(got == data, "bytes differ");
    assert_eq!(out.num("ok", "file"), 300_000);

    // To the end, from just before it: the last bytes (zeros of the hole).
    let (out, got) = send_to_peer(
        dir.path(),
        "sparse",
        &[&format!("offset={}", (5u64 << 30) - 1000)],
    );
    assert_eq!(got, vec![0u8; 1000]);
    assert_eq!(out.num("ok", "file"), 1000);
}

#[test]
fn the_last_bytes_go_out_at_once_while_the_connection_stays_open() {
    // Whatever the path and however the range ends, the peer gets every
    // byte while the guest still holds the connection open. A last piece
    // wrongly left under `MSG_MORE` or `TCP_CORK` waits for the kernel's
    // 200 ms cork ceiling instead (measured: ~200 ms, against microseconds
    // when right).
    let limit = Duration::from_millis(150);
    let data = pattern(1_000);
    let cases: [(bool, &[&str], Vec<u8>); 7] = [
        (true, &[], data.clone()),
        (true, &["count=1000"], data.clone()),
        (true, &["count=5000"], data.clone()),
        // Headers with MSG_MORE, then no file bytes after all.
        (
            true,
            &["header=HEAD", "offset=1000", "count=10"],
            b"HEAD".to_vec(),
        ),
        // The host's copying path: to EOF (size known), counted (unknown).
        (false, &[], data.clone()),
        (false, &["count=1000"], data.clone()),
        (false, &["count=5000"], data.clone()),
    ];
    for (zero_copy, extra, want) in cases {
        let dir = workdir();
        put(dir.path(), "f", &data);
        let peer = Peer::new();
        let addr = peer.addr();
        let len = want.len();
        let reader = std::thread::spawn(move || {
            let mut conn = peer.accept();
            conn.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
            // Timed from the accept: the guest sends right after connecting.
            let start = Instant::now();
            let mut got = vec![0u8; len];
            conn.read_exact(&mut got)
                .expect("every byte before the close");
            (got, start.elapsed())
        });
        let mut args = vec!["send", "file=/data/f", "hold-ms=1000"];
        args.extend_from_slice(extra);
        let out = probe_against(addr, dir.path(), &args, |g| {
            g.policy(|b| b.zero_copy(zero_copy))
        });
        out.assert_success();
        let (got, took) = reader.join().unwrap();
        assert!(got == want, "{extra:?}: bytes differ");
        assert!(
            took < limit,
            "zero-copy {zero_copy}, {extra:?}: the bytes took {took:?}"
        );
    }
}

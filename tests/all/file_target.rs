//! File-to-file transfers: positional writes, policy, refusals, and the
//! copying fallback across filesystems.

use super::{put, workdir};
use wasm_sendfile_tests::{Guest, guests, pattern};

fn copy(dir: &std::path::Path, allow: bool, args: &[&str]) -> wasm_sendfile_tests::Output {
    Guest::new(guests::PROBE)
        .dir(dir, "/data")
        .policy(|p| p.allow_file_targets(allow))
        .args(["send", "file=/data/src"])
        .args(args)
        .run()
}

#[test]
fn copies_the_range_with_headers_and_trailers_at_the_target_offset() {
    let dir = workdir();
    let data = pattern(10_000);
    put(dir.path(), "src", &data);
    put(dir.path(), "dst", &[b'x'; 1000]);
    let out = copy(
        dir.path(),
        true,
        &[
            "to-file=/data/dst",
            "at=50",
            "offset=100",
            "count=300",
            "header=H",
            "trailer=T",
        ],
    );
    assert_eq!(out.line("ok"), "ok total=302 file=300 complete=true");
    let got = std::fs::read(dir.path().join("dst")).unwrap();
    let mut want = vec![b'x'; 50];
    want.push(b'H');
    want.extend_from_slice(&data[100..400]);
    want.push(b'T');
    want.extend_from_slice(&[b'x'; 1000 - 352]);
    assert_eq!(got, want);
    assert_eq!(out.metrics.zero_copy_bytes, 300);
}

#[test]
fn file_targets_need_the_policy_and_a_writable_descriptor() {
    let dir = workdir();
    put(dir.path(), "src", &pattern(100));
    put(dir.path(), "dst", b"unchanged");
    let out = copy(dir.path(), false, &["to-file=/data/dst"]);
    assert_eq!(out.line("err"), "err code=access-denied total=0 file=0");
    let out = copy(dir.path(), true, &["to-file=/data/dst", "target-mode=read"]);
    assert_eq!(out.line("err"), "err code=bad-descriptor total=0 file=0");
    assert_eq!(std::fs::read(dir.path().join("dst")).unwrap(), b"unchanged");
}

#[test]
fn across_filesystems_the_copy_falls_back_and_is_counted() {
    // /dev/shm is tmpfs, the work directory a disk: copy_file_range
    // answers EXDEV, and the host copies through its bounded buffer.
    let shm = std::path::Path::new("/dev/shm");
    if !shm.is_dir() {
        eprintln!("skipped: no /dev/shm on this machine");
        return;
    }
    let src = tempfile::tempdir_in(shm).unwrap();
    let dst = workdir();
    let data = pattern(300_000);
    put(src.path(), "src", &data);
    let out = Guest::new(guests::PROBE)
        .dir(src.path(), "/src")
        .dir(dst.path(), "/dst")
        .policy(|p| p.allow_file_targets(true))
        .args(["send", "file=/src/src", "to-file=/dst/out", "offset=5"])
        .run();
    assert_eq!(out.line("ok"), "ok total=299995 file=299995 complete=true");
    assert!(std::fs::read(dst.path().join("out")).unwrap() == data[5..]);
    assert_eq!(out.metrics.fallback_calls, 1);
    assert_eq!(out.metrics.fallback_bytes, 299_995);
    assert_eq!(out.metrics.zero_copy_bytes, 0);
}

/// Issue 10, finding 11: a file copied into itself at its own end, to EOF,
/// grew until the disk was full (inside an uncancellable task). Copies of a
/// file into itself whose ranges overlap are `invalid`, as
/// `copy_file_range(2)` has it; disjoint ones are done.
#[test]
fn a_file_copied_into_itself_is_refused_where_the_ranges_overlap() {
    let dir = workdir();
    let data = pattern(10_000);
    put(dir.path(), "src", &data);
    let onto_itself = |args: &[&str]| copy(dir.path(), true, args);
    for args in [
        &["to-file=/data/src", "at=10000"][..],
        &["to-file=/data/src", "at=0", "offset=5000"],
        &["to-file=/data/src", "at=100", "count=200"],
        &[
            "to-file=/data/src",
            "at=399",
            "offset=200",
            "count=200",
            "header=H",
        ],
    ] {
        let out = onto_itself(args);
        assert_eq!(
            out.line("err"),
            "err code=invalid total=0 file=0",
            "{args:?}"
        );
    }
    assert_eq!(std::fs::read(dir.path().join("src")).unwrap(), data);
    // Disjoint ranges of one file copy as any other.
    let out = onto_itself(&["to-file=/data/src", "at=5000", "count=100"]);
    assert_eq!(out.line("ok"), "ok total=100 file=100 complete=true");
    let mut want = data.clone();
    want[5000..5100].copy_from_slice(&data[..100]);
    assert_eq!(std::fs::read(dir.path().join("src")).unwrap(), want);
}

/// Issue 10: a copy into a file runs on a blocking thread, which cannot be
/// aborted; dropping its store mid-call used to leave it copying to the
/// end. It now stops within one step.
#[test]
fn a_file_copy_stops_when_its_store_is_dropped() {
    let dir = workdir();
    // Sparse: 2 GiB to copy, none of it on disk.
    let len = 2u64 << 30;
    std::fs::File::create(dir.path().join("src"))
        .unwrap()
        .set_len(len)
        .unwrap();
    put(dir.path(), "dst", b"");
    let out = Guest::new(guests::PROBE)
        .dir(dir.path(), "/data")
        .policy(|p| p.allow_file_targets(true))
        .args(["send", "file=/data/src", "to-file=/data/dst"])
        .timeout(std::time::Duration::from_millis(150))
        .run();
    assert_eq!(out.error.as_deref(), Some("guest timed out"));
    let size = || std::fs::metadata(dir.path().join("dst")).unwrap().len();
    let stopped_at = size();
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(size(), stopped_at, "still copying");
    assert!(
        stopped_at > 0 && stopped_at < len,
        "copied {stopped_at} of {len}"
    );
}

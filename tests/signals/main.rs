//! The host survives the signals a write can raise, even in a process that
//! keeps their default (fatal) dispositions, as a C program embedding the
//! host might: `SIGPIPE` from `sendfile(2)` to a closed peer, and `SIGXFSZ`
//! from writing past `RLIMIT_FSIZE`. Its own binary, because it changes
//! process-wide state (signal dispositions, resource limits).
//!
//! Runs without the test harness; prints `2 passed, 0 failed` on success.

use std::time::Duration;
use wasm_sendfile_tests::{Guest, Peer, guests, pattern, probe_against};

fn default_disposition(signal: libc::c_int) {
    // SAFETY: signal(2) with SIG_DFL installs no handler code; it only
    // resets the disposition (Rust's runtime had set SIGPIPE to SIG_IGN).
    let old = unsafe { libc::signal(signal, libc::SIG_DFL) };
    assert_ne!(old, libc::SIG_ERR);
}

/// `sendfile` to a peer that closed: `broken-pipe`, no death.
fn broken_pipe_is_an_error_not_a_signal() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    std::fs::write(dir.path().join("f"), pattern(1 << 20)).unwrap();
    let peer = Peer::new();
    let addr = peer.addr();
    let closer = std::thread::spawn(move || {
        let conn = peer.accept();
        std::thread::sleep(Duration::from_millis(20));
        drop(conn);
    });
    let args = ["socket-state", "state=peer-closed", "file=/data/f"];
    let out = probe_against(addr, dir.path(), &args, |g| g);
    closer.join().unwrap();
    assert_eq!(out.field("err", "code"), "broken-pipe", "{out:#?}");
}

/// A file target past `RLIMIT_FSIZE`: `no-space` with the bytes written so
/// far, no death.
fn file_size_limit_is_no_space_not_a_signal() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    std::fs::write(dir.path().join("src"), pattern(1 << 20)).unwrap();
    let limit = 100_000;
    rustix::process::setrlimit(
        rustix::process::Resource::Fsize,
        rustix::process::Rlimit {
            current: Some(limit),
            maximum: None,
        },
    )
    .unwrap();
    let out = Guest::new(guests::PROBE)
        .dir(dir.path(), "/data")
        .policy(|p| p.allow_file_targets(true))
        .args(["send", "file=/data/src", "to-file=/data/dst", "header=H"])
        .run();
    assert_eq!(out.field("err", "code"), "no-space", "{out:#?}");
    assert_eq!(out.num("err", "total"), limit);
    assert_eq!(out.num("err", "file"), limit - 1);
    let written = std::fs::read(dir.path().join("dst")).unwrap();
    assert_eq!(written.len() as u64, limit);
    assert!(written[1..] == pattern(1 << 20)[..limit as usize - 1]);
}

/// Issue 12: a file-target transfer resumed after `no-space` (the limit
/// raised meanwhile) writes the rest after what it wrote, not again at the
/// target's first offset.
fn a_resumed_file_transfer_goes_on_where_it_stopped() {
    let set_limit = |current| {
        rustix::process::setrlimit(
            rustix::process::Resource::Fsize,
            rustix::process::Rlimit {
                current,
                maximum: None,
            },
        )
        .unwrap();
    };
    // No limit while the source is written (an earlier test set one).
    set_limit(None);
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let data = pattern(1 << 20);
    std::fs::write(dir.path().join("src"), &data).unwrap();
    set_limit(Some(100_000));
    let lift = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        set_limit(None);
    });
    let out = Guest::new(guests::PROBE)
        .dir(dir.path(), "/data")
        .policy(|p| p.allow_file_targets(true))
        .args(["send", "file=/data/src", "to-file=/data/dst", "header=H"])
        .args(["retry-after-ms=1000"])
        .run();
    lift.join().unwrap();
    assert_eq!(out.field("err", "code"), "no-space", "{out:#?}");
    assert_eq!(
        out.line("ok"),
        format!(
            "ok total={} file={} complete=true",
            (1 << 20) - 99_999,
            (1 << 20) - 99_999
        )
    );
    let written = std::fs::read(dir.path().join("dst")).unwrap();
    assert_eq!(written.len(), 1 + (1 << 20));
    assert_eq!(written[0], b'H');
    assert!(written[1..] == data[..], "the rest went elsewhere");
}

fn main() {
    default_disposition(libc::SIGPIPE);
    default_disposition(libc::SIGXFSZ);
    let tests: [(&str, fn()); 3] = [
        (
            "broken_pipe_is_an_error_not_a_signal",
            broken_pipe_is_an_error_not_a_signal,
        ),
        (
            "file_size_limit_is_no_space_not_a_signal",
            file_size_limit_is_no_space_not_a_signal,
        ),
        (
            "a_resumed_file_transfer_goes_on_where_it_stopped",
            a_resumed_file_transfer_goes_on_where_it_stopped,
        ),
    ];
    for (name, test) in tests {
        test();
        println!("test {name} ... ok");
    }
    println!("3 passed, 0 failed");
}

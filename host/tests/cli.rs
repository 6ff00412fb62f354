//! The `wasm-sendfile` command line, run as a user would.

use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Output};
use std::time::Duration;
use wasm_sendfile_artifacts::PROBE;

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wasm-sendfile"))
        .args(args)
        .output()
        .expect("run wasm-sendfile")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn run_sends_a_file_from_a_preopen_to_an_allowed_peer() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("song.txt"), "The wheels on the bus").unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let peer = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut got = String::new();
        conn.read_to_string(&mut got).unwrap();
        got
    });
    let dir_arg = format!("{}::/data", dir.path().display());
    let out = cli(&[
        "run",
        PROBE,
        "--dir",
        &dir_arg,
        "--allow-connect",
        &addr,
        "--",
        "send",
        &format!("connect={addr}"),
        "file=/data/song.txt",
        "offset=4",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "ok total=17 file=17 complete=true\n"
    );
    assert_eq!(peer.join().unwrap(), "wheels on the bus");
}

#[test]
fn a_missing_component_is_one_clear_line() {
    let out = cli(&["run", "/nonexistent/x.wasm"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("error: loading `/nonexistent/x.wasm`"),
        "{err}"
    );
}

#[test]
fn a_guest_trap_is_one_clear_line_and_a_failure() {
    let out = cli(&["run", PROBE, "--", "no-such-command"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: guest trapped: "), "{err}");
    assert!(last.contains("unreachable"), "{err}");
}

#[test]
fn bad_flags_are_refused_before_running() {
    let out = cli(&["run", PROBE, "--allow-bind", "not-an-address"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("invalid address `not-an-address`"));
    let dir_arg = "/nonexistent-dir::/data";
    let out = cli(&["run", PROBE, "--dir", dir_arg]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).starts_with("error: --dir `/nonexistent-dir`"),
        "{}",
        stderr(&out)
    );
}

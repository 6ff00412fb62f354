//! The `wasm-sendfile` command line, run as a user would.

use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Output};
use std::time::Duration;
use wasm_sendfile_artifacts::{PROBE, TCP_SCRIPT};

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
        err.starts_with("error: `/nonexistent/x.wasm`: no such file"),
        "{err}"
    );
}

/// Issue 12: a mistyped bundled guest lists the bundled ones; a file that
/// is not a component gets wasmtime's whole message, not its first line;
/// `--max-chunk 0` is refused by the flag's type.
#[test]
fn user_mistakes_get_complete_messages() {
    let out = cli(&["run", "static-sever"]);
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("bundled: song-server, song-client, static-server"),
        "{err}"
    );
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("bogus.wasm");
    std::fs::write(&bogus, "not wasm at all").unwrap();
    let out = cli(&["run", bogus.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("magic"), "{err}");
    assert!(!err.trim_end().ends_with('['), "cut off: {err}");
    let out = cli(&["run", PROBE, "--max-chunk", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    for bad in ["", " ", "a\x1bb", "a\rb"] {
        let out = cli(&["serve", ".", "--cache-control", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", stderr(&out));
    }
    // A refused bind: the guest (through the SDK) names the step and the
    // address; the host says which policy refused it.
    let hello = wasm_sendfile_artifacts::HELLO_SENDFILE;
    let out = cli(&["run", hello, "--", "/x", "127.0.0.1:9", "1"]);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(err.contains("access-denied: bind 127.0.0.1:9"), "{err}");
    assert!(
        err.contains(
            "TcpBind 127.0.0.1:9 refused by the host's policy: no allow_bind (--allow-bind) rules"
        ),
        "{err}"
    );
    // RUST_LOG tunes the host's log: at `error`, the warning is gone.
    let quiet = Command::new(env!("CARGO_BIN_EXE_wasm-sendfile"))
        .args(["run", hello, "--", "/x", "127.0.0.1:9", "1"])
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    let err = stderr(&quiet);
    assert!(err.contains("access-denied: bind 127.0.0.1:9"), "{err}");
    assert!(!err.contains("refused by the host's policy"), "{err}");
    assert!(!err.contains("system-call backend"), "{err}");
}

#[test]
fn the_startup_log_names_the_system_call_backend() {
    let out = Command::new(env!("CARGO_BIN_EXE_wasm-sendfile"))
        .args(["run", wasm_sendfile_artifacts::HELLO_SENDFILE, "--", "/x"])
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    let err = stderr(&out);
    let line = err
        .lines()
        .find(|l| l.contains("sendfile system-call backend"))
        .unwrap_or_else(|| panic!("no backend line: {err}"));
    assert!(
        line.contains("backend=\"linux\"") || line.contains("backend=linux"),
        "{line}"
    );
    assert!(line.contains("zero_copy=true"), "{line}");
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

#[test]
fn serve_workers_share_one_port_and_report_stats_on_sigint() {
    use std::io::{BufRead, BufReader, Write};
    let dir = tempfile::tempdir().unwrap();
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.path().join("f.bin"), &body).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_wasm-sendfile"))
        .args(["serve", dir.path().to_str().unwrap()])
        .args(["--listen", "127.0.0.1:0", "--workers", "2", "--quiet"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Port 0 is resolved once by the host, so every worker shares it.
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first
        .trim()
        .strip_prefix(&format!("serving {} on http://", dir.path().display()))
        .and_then(|url| url.strip_suffix('/'))
        .unwrap();
    let addr: std::net::SocketAddr = url.parse().unwrap();
    assert_ne!(addr.port(), 0);
    // Many short connections: the kernel spreads them over both workers.
    let clients: Vec<_> = (0..24)
        .map(|_| {
            std::thread::spawn(move || {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                s.write_all(b"GET /f.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    .unwrap();
                let mut got = Vec::new();
                s.read_to_end(&mut got).unwrap();
                got
            })
        })
        .collect();
    for c in clients {
        let got = c.join().unwrap();
        let split = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert!(got.starts_with(b"HTTP/1.1 200 OK\r\n"));
        assert!(got[split..] == body[..], "body differs");
    }
    let pid = rustix::process::Pid::from_child(&child);
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    let stats = err
        .lines()
        .find(|l| l.starts_with("stats:"))
        .expect("a stats line");
    assert!(stats.contains("workers=2"), "{stats}");
    assert!(
        stats.contains(&format!("zero_copy_bytes={}", 24 * body.len())),
        "{stats}"
    );
}

/// `run`'s network switches, as `wasmtime run -S` (issue 9, finding 7).
fn script(flags: &[&str], steps: &[&str]) -> String {
    let mut args = vec!["run", TCP_SCRIPT];
    args.extend_from_slice(flags);
    args.push("--");
    args.extend_from_slice(steps);
    let out = cli(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn tcp_can_be_switched_off() {
    assert_eq!(
        script(&["-S", "tcp=n"], &["create:4"]),
        "create:4 -> err access-denied\n"
    );
    assert_eq!(script(&[], &["create:6"]), "create:6 -> ok slot=0\n");
    let out = cli(&["run", TCP_SCRIPT, "-S", "tpc"]);
    assert!(stderr(&out).contains("known: tcp"), "{}", stderr(&out));
}

/// A UDP echo peer on loopback that answers one datagram.
fn udp_echo() -> (String, std::thread::JoinHandle<()>) {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let addr = socket.local_addr().unwrap().to_string();
    let t = std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        if let Ok((n, from)) = socket.recv_from(&mut buf) {
            socket.send_to(&buf[..n], from).unwrap();
        }
    });
    (addr, t)
}

#[test]
fn udp_follows_the_same_address_rules_as_tcp() {
    let (addr, echo) = udp_echo();
    let step = format!("udp-echo:{addr}");
    let allowed = ["--allow-bind", "127.0.0.1", "--allow-connect", &addr];
    assert_eq!(script(&allowed, &[&step]), format!("{step} -> ok ping\n"));
    echo.join().unwrap();
    // No rule for the peer, or UDP off: refused before anything is sent.
    let refused = format!("{step} -> err access-denied\n");
    assert_eq!(script(&["--allow-bind", "127.0.0.1"], &[&step]), refused);
    let mut off = allowed.to_vec();
    off.extend(["-S", "udp=n"]);
    assert_eq!(script(&off, &[&step]), refused);
}

#[test]
fn name_lookup_is_off_unless_allowed() {
    assert_eq!(
        script(&["-S", "allow-ip-name-lookup"], &["lookup:localhost"]),
        "lookup:localhost -> ok found=true\n"
    );
    // wasmtime-wasi's answer when lookups are not allowed.
    assert_eq!(
        script(&[], &["lookup:localhost"]),
        "lookup:localhost -> err permanent-resolver-failure\n"
    );
}

#[test]
fn a_refused_address_is_named_on_stderr() {
    let out = cli(&["run", TCP_SCRIPT, "--", "create:4", "bind:0:127.0.0.1:0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "create:4 -> ok slot=0\nbind:0:127.0.0.1:0 -> err access-denied\n"
    );
    let err = stderr(&out);
    assert!(
        err.contains("TcpBind 127.0.0.1:0 refused by the host's policy: no allow_bind"),
        "{err}"
    );
}

//! Interop with the seed's own Python programs
//! (`shared/seeds/000_df12fecc2b5768b7.txt`): its client against our
//! song-server guests (the Rust one and the Python one), and our
//! song-client guest against its server. The
//! programs are taken from the seed text at test time and changed only as
//! the issue allows: the song file paths, and the server stopping after one
//! connection.
//!
//! The seed ran on macOS, where `os.sendfile(..., 0, 0)` sends the whole
//! file; on Linux a count of 0 sends nothing (and the seed's client would
//! wait forever for a reply). Each program therefore runs under a shim that
//! gives `os.sendfile` the macOS meaning of count 0, which the seed documents
//! ("In macOS, a zero value for the count means to send all the file
//! contents"). The shim also sets `SO_REUSEADDR` before a bind, so the
//! seed server can start while earlier connections on its fixed port linger
//! in `TIME_WAIT` (the seed's bind has no such option; any re-run within a
//! minute would be refused).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use wasm_sendfile_tests::{Guest, guests, wait_bindable, wait_listening};

/// Both programs use the seed's fixed port (so two test processes running
/// at once would collide; within one, a lock takes turns). The port is inside
/// the kernel's ephemeral range, so each test first waits until it can be
/// bound ([`wait_bindable`]).
const PORT: u16 = 34422;
static SEED_PORT: Mutex<()> = Mutex::new(());

const WHEELS: &str = "The wheels on the bus go round and round";
const BAA_BAA: &str = "Baa, baa, black sheep,\nHave you any wool?\nYes, sir, yes, sir,\nThree bags full;\nOne for my master,\nAnd one for my dame,\nand one for the little boy\nWho lives down the lane.";

const MACOS_SENDFILE_SHIM: &str = r#"
import os, socket, sys
_sendfile = os.sendfile
def _macos_sendfile(out_fd, in_fd, offset, count):
    if count == 0:
        count = os.fstat(in_fd).st_size - offset
    return _sendfile(out_fd, in_fd, offset, count)
os.sendfile = _macos_sendfile
class _ReuseAddrSocket(socket.socket):
    def bind(self, address):
        self.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        return super().bind(address)
socket.socket = _ReuseAddrSocket
exec(compile(open(sys.argv[1]).read(), sys.argv[1], "exec"))
"#;

/// Where the seed lives: in the workspace's `shared/seeds/`, beside the
/// clone (it is not part of the repository), or under
/// `$WASM_SENDFILE_SHARED` (CI points it at a missing directory to check
/// that a plain clone skips these tests).
fn seed_path() -> PathBuf {
    let shared = std::env::var_os("WASM_SENDFILE_SHARED").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"),
        PathBuf::from,
    );
    shared.join("seeds/000_df12fecc2b5768b7.txt")
}

/// The seed's text, or `None` (with one line saying what is missing) when
/// the clone has no `../shared` beside it. CI sets
/// `WASM_SENDFILE_REQUIRE_SEEDS=1`, where a missing seed is a failure.
fn seed_text() -> Option<String> {
    let path = seed_path();
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if std::env::var_os("WASM_SENDFILE_REQUIRE_SEEDS").is_some() => {
            panic!("the seed {} is needed: {e}", path.display())
        }
        Err(e) => {
            eprintln!(
                "skipped: this test runs the seed's Python programs, read from {} ({e}); \
                 put the workspace's `shared/` directory beside the clone to run it",
                path.display()
            );
            None
        }
    }
}

/// The program after `heading` in the seed, up to its "Output:" section.
/// The seed was saved from a web page that renders some spaces as
/// non-breaking ones (U+00A0), which Python rejects: they become spaces
/// again, restoring the program as written.
fn program(text: &str, heading: &str) -> String {
    let start = text.find(heading).expect("program heading") + heading.len();
    let len = text[start..].find("\nOutput:").expect("program end");
    text[start..start + len].replace('\u{a0}', " ")
}

/// Writes `source` to `dir` and runs it under the shim.
fn python(dir: &Path, name: &str, source: &str) -> Command {
    let script = dir.join(name);
    std::fs::write(&script, source).unwrap();
    let mut cmd = Command::new("python3");
    cmd.arg("-u").arg("-c").arg(MACOS_SENDFILE_SHIM).arg(script);
    cmd
}

/// A child process killed when dropped.
struct KillOnDrop(Option<std::process::Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn songs() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = super::workdir();
    std::fs::write(dir.path().join("Wheels.txt"), WHEELS).unwrap();
    std::fs::write(dir.path().join("BaaBaa.txt"), BAA_BAA).unwrap();
    let wheels = dir.path().join("Wheels.txt");
    let baa = dir.path().join("BaaBaa.txt");
    (dir, wheels, baa)
}

fn py_repr(s: &str) -> String {
    format!("b'{}'", s.replace('\n', "\\n"))
}

#[test]
fn seed_client_against_our_song_server() {
    let _port = SEED_PORT.lock().unwrap_or_else(|e| e.into_inner());
    let Some(seed) = seed_text() else { return };
    seed_client_against(&seed, |songs| {
        let songs = songs.to_path_buf();
        let server = std::thread::spawn(move || {
            Guest::new(guests::SONG_SERVER)
                .dir_ro(&songs, "/songs")
                .allow_bind(&format!("127.0.0.1:{PORT}"))
                .env("SONG_MAX_CONNECTIONS", "1")
                .args(["/songs/Wheels.txt"])
                .run()
        });
        let mut server = Some(server);
        wait_listening(PORT, || {
            if !server.as_ref()?.is_finished() {
                return None;
            }
            Some(format!("{:#?}", server.take()?.join().unwrap()))
        });
        server.unwrap()
    });
}

#[test]
fn seed_client_against_the_python_song_server() {
    let _port = SEED_PORT.lock().unwrap_or_else(|e| e.into_inner());
    let Some(seed) = seed_text() else { return };
    let Some(component) = super::python_guest::component() else {
        return;
    };
    seed_client_against(&seed, |songs| {
        let addr = format!("127.0.0.1:{PORT}").parse().unwrap();
        super::python_guest::start(component, songs, "Wheels.txt", addr, 1)
    });
}

/// Runs the seed's client against the song server `start` starts (serving
/// `Wheels.txt` from the directory it is given, on [`PORT`], for one
/// connection); checks what both printed.
fn seed_client_against(
    seed: &str,
    start: impl FnOnce(&Path) -> std::thread::JoinHandle<wasm_sendfile_tests::Output>,
) {
    let (dir, _, baa) = songs();
    let client = program(seed, "Example Client Program:\n")
        .replace("/PythonProgs/BaaBaa.txt", baa.to_str().unwrap());
    wait_bindable(PORT);
    let server = start(dir.path());
    let out = python(dir.path(), "client.py", &client)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let server = server.join().unwrap();
    server.assert_success();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}\n", py_repr(WHEELS))
    );
    assert_eq!(
        server.stdout,
        format!(
            "Server socket created\nServer bound with ip 127.0.0.1 port {PORT}\n\
             Accepted 1 connections till now\n{}\nClient connection closed\n",
            py_repr(BAA_BAA)
        )
    );
}

#[test]
fn our_song_client_against_the_seed_server() {
    let _port = SEED_PORT.lock().unwrap_or_else(|e| e.into_inner());
    let (dir, wheels, _) = songs();
    let Some(seed) = seed_text() else { return };
    let server_src = program(&seed, "Example - Server Program:\n")
        .replace("/PythonProgs/Wheels.txt", wheels.to_str().unwrap())
        .replacen("while(True):", "for _ in range(1):", 1);
    wait_bindable(PORT);
    let server = python(dir.path(), "server.py", &server_src)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Killed on every way out, so a failure leaves no server on the port.
    let mut server = KillOnDrop(Some(server));
    wait_listening(PORT, || {
        let child = server.0.as_mut()?;
        child.try_wait().unwrap()?;
        let out = server.0.take()?.wait_with_output().unwrap();
        Some(format!(
            "{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    });
    let out = Guest::new(guests::SONG_CLIENT)
        .dir_ro(dir.path(), "/songs")
        .allow_connect(format!("127.0.0.1:{PORT}").parse().unwrap())
        .args(["/songs/BaaBaa.txt"])
        .run();
    let deadline = std::time::Instant::now() + wasm_sendfile_tests::PEER_TIMEOUT;
    let child = server.0.as_mut().unwrap();
    while child.try_wait().unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the seed server did not finish"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let server = server.0.take().unwrap().wait_with_output().unwrap();
    out.assert_success();
    assert_eq!(out.stdout, format!("{}\n", py_repr(WHEELS)));
    assert!(
        server.status.success(),
        "{}",
        String::from_utf8_lossy(&server.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&server.stdout),
        format!(
            "Server socket created\nServer bound with ip 127.0.0.1 port {PORT}\n\
             Accepted 1 connections till now\n{}\nClient connection closed\n",
            py_repr(BAA_BAA)
        )
    );
}

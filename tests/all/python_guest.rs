//! The Python guest (`guests/python-song-server/app.py`), built with
//! componentize-py against `wit/`'s `plugin` world, serving like the Rust
//! song server (issue 12). Its interop with the seed's own client is in
//! `seeds.rs`.
//!
//! componentize-py comes from PyPI, pinned: `bash tests/run` installs it
//! under `target/` and names it in `WASM_SENDFILE_COMPONENTIZE_PY` (where
//! it must then work). Without it, these tests skip with one line.

use super::{put, workdir};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use wasm_sendfile_tests::{Guest, Output, pattern, wait_listening};

/// The version `tests/run` installs.
pub const COMPONENTIZE_PY: &str = "componentize-py 0.25.1";

/// The built component's path, built once per test process; `None`, with
/// one line saying why, where componentize-py is not installed.
pub fn component() -> Option<&'static str> {
    static BUILT: OnceLock<Option<&'static str>> = OnceLock::new();
    *BUILT.get_or_init(|| {
        let Some(tool) = std::env::var_os("WASM_SENDFILE_COMPONENTIZE_PY") else {
            eprintln!(
                "skipped: the Python guest is built with {COMPONENTIZE_PY} (PyPI), which \
                 `bash tests/run` installs; run the tests that way to run it"
            );
            return None;
        };
        Some(build(Path::new(&tool)))
    })
}

/// Runs componentize-py from `tool` (a `pip install --target` directory)
/// on the guest; the component's path.
fn build(tool: &Path) -> &'static str {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out: PathBuf = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-song-server.wasm");
    let result = Command::new("python3")
        .args(["-c", "import componentize_py; componentize_py.script()"])
        .env("PYTHONPATH", tool)
        .arg("-d")
        .arg(root.join("wit"))
        .args(["-w", "plugin", "componentize", "-p"])
        .arg(root.join("guests/python-song-server"))
        .arg("app")
        .arg("-o")
        .arg(&out)
        .output()
        .expect("python3");
    assert!(
        result.status.success(),
        "componentize-py failed: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    Box::leak(out.to_string_lossy().into_owned().into_boxed_str())
}

/// A loopback port free now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs the Python song server on `addr` in the background for
/// `connections`, serving `song` (a file in `dir`); returns once it
/// listens.
pub fn start(
    component: &'static str,
    dir: &Path,
    song: &str,
    addr: SocketAddr,
    connections: u32,
) -> std::thread::JoinHandle<Output> {
    let dir = dir.to_path_buf();
    let song = format!("/songs/{song}");
    let server = std::thread::spawn(move || {
        Guest::new(component)
            .dir_ro(&dir, "/songs")
            .allow_bind(&addr.to_string())
            .env("SONG_ADDR", &addr.to_string())
            .env("SONG_MAX_CONNECTIONS", &connections.to_string())
            .args([song])
            .run()
    });
    let mut server = Some(server);
    wait_listening(addr.port(), || {
        if !server.as_ref()?.is_finished() {
            return None;
        }
        Some(format!("{:#?}", server.take()?.join().unwrap()))
    });
    server.unwrap()
}

/// Sends `request`, then reads the reply to the end.
fn ask(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(wasm_sendfile_tests::PEER_TIMEOUT))
        .unwrap();
    conn.write_all(request).unwrap();
    let mut reply = Vec::new();
    conn.read_to_end(&mut reply).unwrap();
    reply
}

#[test]
fn the_python_guest_sends_whole_files_by_the_capability() {
    let Some(component) = component() else { return };
    let dir = workdir();
    let song = pattern(50 << 20);
    put(dir.path(), "big.bin", &song);
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let server = start(component, dir.path(), "big.bin", addr, 2);
    assert!(ask(addr, b"first") == song, "byte-exact, first client");
    assert!(ask(addr, b"second") == song, "byte-exact, second client");
    let out = server.join().unwrap();
    out.assert_success();
    assert_eq!(
        out.stdout,
        format!(
            "Server socket created\nServer bound with ip 127.0.0.1 port {}\n\
             Accepted 1 connections till now\nb'first'\nClient connection closed\n\
             Accepted 2 connections till now\nb'second'\nClient connection closed\n",
            addr.port()
        )
    );
    // Kernel zero-copy, not a copy through Python.
    assert_eq!(
        (out.metrics.calls, out.metrics.zero_copy_bytes),
        (2, 2 * song.len() as u64)
    );
}

//! A running `wasm-sendfile serve` or `wasm-sendfile http`, shared by the
//! test binaries that use it.

// Each test binary that includes this module uses only part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

/// How long a test waits for the server or a client.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// `wasm-sendfile serve` (or `http`) on a free loopback port, killed when
/// dropped.
pub struct Server {
    child: Child,
    /// Where it listens.
    pub addr: SocketAddr,
    log: Receiver<String>,
}

impl Server {
    /// Serves `dir` with the given extra `serve` flags; returns once the
    /// server says it is listening.
    pub fn start(dir: &Path, flags: &[&str]) -> Server {
        let dir_arg = dir.to_str().unwrap();
        Server::spawn(&["serve", dir_arg], flags, &dir.display().to_string())
    }

    /// `wasm-sendfile http COMPONENT --dir-ro DIR::/` with the given extra
    /// flags; returns once the server says it is listening.
    pub fn http(component: &str, dir: &Path, flags: &[&str]) -> Server {
        let grant = format!("{}::/", dir.display());
        Server::spawn(&["http", component, "--dir-ro", &grant], flags, component)
    }

    /// Runs `wasm-sendfile ARGS --listen ADDR FLAGS` on a free port and
    /// waits for its `serving WHAT on http://ADDR/` line.
    fn spawn(args: &[&str], flags: &[&str], what: &str) -> Server {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_wasm-sendfile"))
            .args(args)
            .args(["--listen", &addr.to_string()])
            .args(flags)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let (tx, log) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let first = log.recv_timeout(TIMEOUT).expect("server started");
        assert_eq!(first, format!("serving {what} on http://{addr}/"));
        Server { child, addr, log }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status, if the server has ended.
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Sends the server SIGINT.
    pub fn interrupt(&self) {
        rustix::process::kill_process(
            rustix::process::Pid::from_raw(self.pid() as i32).unwrap(),
            rustix::process::Signal::INT,
        )
        .unwrap();
    }

    /// Waits for the server to end, at most `bound` (else panics).
    pub fn wait_end(&mut self, bound: Duration) -> std::process::ExitStatus {
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = self.try_wait() {
                return status;
            }
            assert!(start.elapsed() < bound, "still running after {bound:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The next line the server prints on standard output (bounded by
    /// [`TIMEOUT`]).
    pub fn next_line(&self) -> String {
        self.log
            .recv_timeout(TIMEOUT)
            .expect("a line from the server")
    }

    /// The access-log lines printed so far.
    pub fn log_lines(&self) -> Vec<String> {
        std::thread::sleep(Duration::from_millis(200));
        self.log.try_iter().collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `request` raw on a new connection and reads until the server
/// closes it (bounded by [`TIMEOUT`]).
pub fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(TIMEOUT)).unwrap();
    conn.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = conn.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// The metrics address a server announced on its second line.
pub fn metrics_addr(server: &Server) -> SocketAddr {
    let line = server.next_line();
    let addr = line
        .strip_prefix("metrics on http://")
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("unexpected line: {line}"));
    addr.parse().unwrap()
}

/// `curl -s URL`: status code and body.
pub fn curl_bytes(url: &str, extra: &[&str]) -> (u16, Vec<u8>) {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "10", "-w", "\n%{http_code}"])
        .args(extra)
        .arg(url)
        .output()
        .expect("curl");
    let mut body = out.stdout;
    let at = body.iter().rposition(|b| *b == b'\n').expect("a status");
    let code = std::str::from_utf8(&body[at + 1..])
        .unwrap()
        .parse()
        .unwrap();
    body.truncate(at);
    (code, body)
}

/// `curl -s URL` for text: status code and body.
pub fn curl(url: &str, extra: &[&str]) -> (u16, String) {
    let (code, body) = curl_bytes(url, extra);
    (code, String::from_utf8(body).unwrap())
}

/// The value of the sample line starting with `name` (with its labels).
pub fn sample(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .map(|v| v.parse().unwrap())
}

/// Scrapes until `done` holds (the guest reports a response just after
/// its last byte went out), at most 10 s; the last scrape.
pub fn scrape_until(addr: SocketAddr, done: impl Fn(&str) -> bool) -> String {
    let start = Instant::now();
    loop {
        let (code, text) = curl(&format!("http://{addr}/metrics"), &[]);
        assert_eq!(code, 200);
        if done(&text) {
            return text;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "never: {text}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A served directory: an index, `docs/` with an index and `a.txt`
/// (`0123456789abcdefghij`), a dotfile `.env`, and `big.bin` ([`big`]).
pub fn site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), "<h1>home</h1>\n").unwrap();
    std::fs::create_dir(dir.path().join("docs")).unwrap();
    std::fs::write(dir.path().join("docs/index.html"), "<p>docs</p>").unwrap();
    std::fs::write(dir.path().join("docs/a.txt"), "0123456789abcdefghij").unwrap();
    std::fs::write(dir.path().join(".env"), "SECRET=1").unwrap();
    std::fs::write(dir.path().join("big.bin"), big()).unwrap();
    dir
}

/// `big.bin`'s 5,000,000 bytes.
pub fn big() -> Vec<u8> {
    (0..5_000_000u32).map(|i| (i % 253) as u8).collect()
}

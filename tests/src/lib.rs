//! Test fixtures: run a guest component in the real host with temporary
//! preopens and captured output, and real loopback peers to talk to it.

use std::collections::HashMap;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;
use wasm_sendfile::command::{CommandState, Runner};
use wasm_sendfile::{AddrRule, MetricsSnapshot, SendfileCtx, SendfileCtxBuilder};
use wasmtime::component::Component;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx};

pub use wasm_sendfile_artifacts as guests;

/// How long a guest may run before the test fails.
pub const GUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a peer waits for data before giving up.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a finished guest's socket writes may take to drain to peers
/// that read them, before the test's runtime stops (resetting the rest).
pub const SETTLE_LIMIT: Duration = Duration::from_secs(5);

/// How often the engine of guests with an epoch deadline ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The runner: with `epochs`, on an engine that checks epoch deadlines and
/// ticks every [`EPOCH_TICK`] (the usual setup of an embedder that stops
/// runaway guests); otherwise on a default engine.
fn runner(epochs: bool) -> &'static Runner {
    static PLAIN: OnceLock<Runner> = OnceLock::new();
    static EPOCHS: OnceLock<Runner> = OnceLock::new();
    if !epochs {
        return PLAIN.get_or_init(|| Runner::new(&wasmtime::Engine::default()).expect("runner"));
    }
    EPOCHS.get_or_init(|| {
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        let engine = wasmtime::Engine::new(&config).expect("engine");
        let ticking = engine.weak();
        std::thread::spawn(move || {
            while let Some(engine) = ticking.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        });
        Runner::new(&engine).expect("runner")
    })
}

/// Compiles each guest once per test process and engine.
fn component(path: &str, epochs: bool) -> Component {
    static CACHE: OnceLock<Mutex<HashMap<(String, bool), Component>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let key = (path.to_string(), epochs);
    if let Some(c) = cache.lock().unwrap().get(&key) {
        return c.clone();
    }
    let c = Component::from_file(runner(epochs).engine(), path).expect("compile guest");
    cache.lock().unwrap().insert(key, c.clone());
    c
}

/// Which `wasi:sockets/tcp` a guest runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tcp {
    /// The host's own (with the capability): what the project ships.
    Host,
    /// wasmtime-wasi 48's own, in a linker without this crate: the
    /// reference a differential test compares the host's against. Every
    /// loopback and unspecified address is allowed; the capability is not
    /// linked, so only guests that import plain WASI run this way.
    WasmtimeWasi,
}

/// The linker for [`Tcp::WasmtimeWasi`]: wasmtime-wasi alone.
fn wasmtime_wasi_linker() -> &'static wasmtime::component::Linker<CommandState> {
    static LINKER: OnceLock<wasmtime::component::Linker<CommandState>> = OnceLock::new();
    LINKER.get_or_init(|| {
        let mut linker = wasmtime::component::Linker::new(runner(false).engine());
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).expect("wasmtime-wasi linker");
        linker
    })
}

/// Adjusts a guest's `WasiCtx` as an embedder would.
type WasiSetup = Box<dyn FnOnce(&mut wasmtime_wasi::WasiCtxBuilder)>;

/// A guest run being set up.
pub struct Guest {
    tcp: Tcp,
    wasi_setup: Option<WasiSetup>,
    path: &'static str,
    args: Vec<String>,
    dirs: Vec<(PathBuf, String, FsPerms)>,
    env: Vec<(String, String)>,
    sendfile: Option<SendfileCtxBuilder>,
    timeout: Duration,
    epoch_deadline: Option<Duration>,
}

/// What a finished guest left behind.
#[derive(Debug)]
pub struct Output {
    /// Everything the guest printed to stdout.
    pub stdout: String,
    /// Everything the guest printed to stderr.
    pub stderr: String,
    /// Whether `wasi:cli/run` returned success.
    pub success: bool,
    /// The trap or exit error, if any.
    pub error: Option<String>,
    /// The trap code, when the guest trapped.
    pub trap: Option<wasmtime::Trap>,
    /// Entries left in the store's resource table once the guest ended
    /// (returned, trapped or was stopped), just before the store is dropped.
    pub table_entries: usize,
    /// The capability's counters after the run.
    pub metrics: MetricsSnapshot,
}

impl Output {
    /// The first stdout line starting with `prefix`; panics, showing all the
    /// guest's output, if there is none.
    pub fn line(&self, prefix: &str) -> &str {
        self.stdout
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting with {prefix:?} in {self:#?}"))
    }

    /// Value of `key=` in the first line starting with `prefix`.
    pub fn field(&self, prefix: &str, key: &str) -> &str {
        let line = self.line(prefix);
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
            .unwrap_or_else(|| panic!("no {key}= in {line:?}: {self:#?}"))
    }

    /// Numeric value of `key=` in the first line starting with `prefix`.
    pub fn num(&self, prefix: &str, key: &str) -> u64 {
        self.field(prefix, key).parse().expect("a number")
    }

    /// Panics, showing the output, unless the guest succeeded.
    pub fn assert_success(&self) -> &Self {
        assert!(self.success, "guest failed: {self:#?}");
        self
    }
}

impl Guest {
    /// A run of the guest at `path` (one of [`guests`]' constants).
    pub fn new(path: &'static str) -> Self {
        Guest {
            tcp: Tcp::Host,
            wasi_setup: None,
            path,
            args: Vec::new(),
            dirs: Vec::new(),
            env: Vec::new(),
            sendfile: Some(SendfileCtx::builder()),
            timeout: GUEST_TIMEOUT,
            epoch_deadline: None,
        }
    }

    /// Adds guest arguments.
    pub fn args<S: ToString>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args.extend(args.into_iter().map(|a| a.to_string()));
        self
    }

    /// Kills the guest (drops its store, mid-call if need be) after `d`
    /// instead of [`GUEST_TIMEOUT`]; its output then says "guest timed out".
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// Runs the guest on an engine with epoch interruption and traps it
    /// ([`wasmtime::Trap::Interrupt`]) once it runs guest code after `d`.
    /// A guest blocked inside a host call is stopped when it returns to
    /// its own code.
    pub fn epoch_deadline(mut self, d: Duration) -> Self {
        self.epoch_deadline = Some(d);
        self
    }

    /// Adjusts the guest's `WasiCtx` (after the fixture's own settings).
    pub fn wasi(mut self, f: impl FnOnce(&mut wasmtime_wasi::WasiCtxBuilder) + 'static) -> Self {
        self.wasi_setup = Some(Box::new(f));
        self
    }

    /// Runs against `tcp` (the host's own by default).
    pub fn tcp(mut self, tcp: Tcp) -> Self {
        self.tcp = tcp;
        self
    }

    /// Sets an environment variable for the guest.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Preopens `host` as `guest`, read-write.
    pub fn dir(mut self, host: &Path, guest: &str) -> Self {
        self.dirs
            .push((host.to_path_buf(), guest.to_string(), FsPerms::ReadWrite));
        self
    }

    /// Preopens `host` as `guest`, read-only.
    pub fn dir_ro(mut self, host: &Path, guest: &str) -> Self {
        self.dirs
            .push((host.to_path_buf(), guest.to_string(), FsPerms::ReadOnly));
        self
    }

    /// Adjusts the capability's policy.
    pub fn policy(mut self, f: impl FnOnce(SendfileCtxBuilder) -> SendfileCtxBuilder) -> Self {
        self.sendfile = self.sendfile.take().map(f);
        self
    }

    /// Allows connecting to `addr`.
    pub fn allow_connect(self, addr: SocketAddr) -> Self {
        self.policy(|b| b.allow_connect(AddrRule::exact(addr)))
    }

    /// Allows binding to `rule`.
    pub fn allow_bind(self, rule: &str) -> Self {
        let rule: AddrRule = rule.parse().unwrap();
        self.policy(|b| b.allow_bind(rule))
    }

    /// Runs the guest to completion (bounded by [`GUEST_TIMEOUT`]).
    pub fn run(mut self) -> Output {
        let stdout = MemoryOutputPipe::new(1 << 20);
        let stderr = MemoryOutputPipe::new(1 << 20);
        let mut wasi = WasiCtx::builder();
        wasi.stdout(stdout.clone()).stderr(stderr.clone());
        wasi.arg(self.path).args(&self.args).envs(&self.env);
        for (host, guest, perms) in &self.dirs {
            wasi.preopened_dir(host, guest, *perms).expect("preopen");
        }
        // TCP is off in a default WasiCtx, for both hosts alike.
        wasi.allow_tcp(true);
        if self.tcp == Tcp::WasmtimeWasi {
            wasi.socket_addr_check(|addr, _| {
                Box::pin(async move { addr.ip().is_loopback() || addr.ip().is_unspecified() })
            });
        }
        if let Some(setup) = self.wasi_setup.take() {
            setup(&mut wasi);
        }
        let sendfile = self.sendfile.take().unwrap().build();
        let metrics = sendfile.metrics().clone();
        let pending_writes = sendfile.pending_writes().clone();
        let state = CommandState::new(wasi.build(), sendfile);
        let epochs = self.epoch_deadline.is_some();
        let (runner, component) = (runner(epochs), component(self.path, epochs));
        let mut store = runner.store(state);
        if let Some(d) = self.epoch_deadline {
            store.set_epoch_deadline(d.div_duration_f64(EPOCH_TICK).ceil() as u64);
            store.epoch_deadline_trap();
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let tcp = self.tcp;
        let run = async {
            match tcp {
                Tcp::Host => runner.run_in(&component, &mut store).await,
                Tcp::WasmtimeWasi => {
                    let linker = wasmtime_wasi_linker();
                    let command = wasmtime_wasi::p2::bindings::Command::instantiate_async(
                        &mut store, &component, linker,
                    )
                    .await?;
                    command.wasi_cli_run().call_run(&mut store).await
                }
            }
        };
        let result = rt.block_on(async { tokio::time::timeout(self.timeout, run).await });
        let (success, error, trap) = match result {
            Err(_) => (false, Some("guest timed out".to_string()), None),
            Ok(Ok(Ok(()))) => (true, None, None),
            Ok(Ok(Err(()))) => (false, None, None),
            Ok(Err(e)) => (false, Some(format!("{e:?}")), e.downcast_ref().copied()),
        };
        let table_entries = store.data_mut().table.iter_mut().count();
        drop(store);
        // Bytes the guest let go of still drain to their peers, as they do
        // when `wasm-sendfile run` ends; the runtime must not stop first.
        // Bounded: a peer that does not read gets its connection reset.
        rt.block_on(pending_writes.settle(SETTLE_LIMIT));
        Output {
            stdout: String::from_utf8_lossy(&stdout.contents()).into_owned(),
            stderr: String::from_utf8_lossy(&stderr.contents()).into_owned(),
            success,
            error,
            trap,
            table_entries,
            metrics: metrics.snapshot(),
        }
    }
}

/// Runs the `probe` guest with `/data` preopened (read-write) from `dir`,
/// talking to the peer at `addr`: `args` is the probe command and its
/// arguments, to which `connect=ADDR` and the policy to reach it are added;
/// `setup` adjusts the guest further.
pub fn probe_against(
    addr: SocketAddr,
    dir: &Path,
    args: &[&str],
    setup: impl FnOnce(Guest) -> Guest,
) -> Output {
    let (command, rest) = args.split_first().expect("a probe command");
    let guest = Guest::new(guests::PROBE)
        .dir(dir, "/data")
        .allow_connect(addr)
        .args([command.to_string(), format!("connect={addr}")])
        .args(rest);
    setup(guest).run()
}

/// [`probe_against`] a fresh [`Peer`] that reads everything it is sent;
/// returns the guest's output and the bytes the peer received.
pub fn probe_to_collector(
    dir: &Path,
    args: &[&str],
    setup: impl FnOnce(Guest) -> Guest,
) -> (Output, Vec<u8>) {
    let peer = Peer::new();
    let addr = peer.addr();
    let received = peer.collect();
    let out = probe_against(addr, dir, args, setup);
    (out, received.join().unwrap())
}

/// The descriptors of this process open on `path` (from `/proc/self/fd`).
pub fn fds_open_on(path: &Path) -> usize {
    let path = path.canonicalize().unwrap();
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| *target == path)
        .count()
}

/// Waits (bounded by [`PEER_TIMEOUT`]) until something listens on TCP
/// `127.0.0.1:port`, without connecting to it (a probe connection would
/// count as a client): by reading `/proc/net/tcp`. `ended` is asked on
/// every turn whether the server already ended, and why: a server that could
/// not start fails the test with its own reason, not with a timeout.
pub fn wait_listening(port: u16, mut ended: impl FnMut() -> Option<String>) {
    let needle = format!("0100007F:{port:04X} 00000000:0000 0A");
    let deadline = std::time::Instant::now() + PEER_TIMEOUT;
    while !std::fs::read_to_string("/proc/net/tcp")
        .unwrap()
        .contains(&needle)
    {
        if let Some(why) = ended() {
            panic!("the server for port {port} ended before listening: {why}");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "nothing listens on {port}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The longest a socket stays in `TIME_WAIT` on Linux (60 s), with margin.
pub const TIME_WAIT_BOUND: Duration = Duration::from_secs(75);

/// Waits (bounded by [`TIME_WAIT_BOUND`]) until TCP `127.0.0.1:port` can be
/// bound with `SO_REUSEADDR`, as std's listener and the servers under test
/// bind it.
///
/// A fixed port inside the kernel's ephemeral range (34422 is) can be taken
/// by an unrelated outgoing connection that the kernel gave that local port;
/// once that connection closes, its `TIME_WAIT` refuses even an
/// `SO_REUSEADDR` bind for up to a minute. Tests of programs whose port is
/// fixed wait here first instead of failing at random.
pub fn wait_bindable(port: u16) {
    let deadline = std::time::Instant::now() + TIME_WAIT_BOUND;
    let mut warned = false;
    loop {
        match TcpListener::bind(("127.0.0.1", port)) {
            Ok(_) => return,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "127.0.0.1:{port} stayed in use for {TIME_WAIT_BOUND:?}"
                );
                if !warned {
                    eprintln!("127.0.0.1:{port} is in use (TIME_WAIT?); waiting for it");
                    warned = true;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("cannot bind 127.0.0.1:{port}: {e}"),
        }
    }
}

/// Deterministic test bytes: `len` bytes that differ at every offset
/// modulo 251, so misplaced ranges show.
pub fn pattern(len: usize) -> Vec<u8> {
    pattern_from(0, len)
}

/// Bytes `start..start + len` of the endless [`pattern`] (which the
/// `tcp-script` guest sends too).
pub fn pattern_from(start: usize, len: usize) -> Vec<u8> {
    (start..start + len)
        .map(|i| (i % 251) as u8 ^ 0x5a)
        .collect()
}

/// A loopback listener standing in for the guest's peer.
pub struct Peer {
    listener: TcpListener,
}

impl Peer {
    /// Listens on 127.0.0.1 at a free port.
    pub fn new() -> Self {
        Peer {
            listener: TcpListener::bind("127.0.0.1:0").unwrap(),
        }
    }

    /// Listens with a small receive buffer, so a peer that does not read
    /// stalls the sender quickly. Best for peers that never resume reading:
    /// with windows this small, a transfer that resumes crawls.
    pub fn with_small_receive_buffer() -> Self {
        let peer = Peer::new();
        rustix::net::sockopt::set_socket_recv_buffer_size(&peer.listener, 4096).unwrap();
        peer
    }

    /// The address guests connect to.
    pub fn addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap()
    }

    /// Accepts one connection (bounded by [`PEER_TIMEOUT`]).
    pub fn accept(&self) -> TcpStream {
        self.listener.set_nonblocking(true).unwrap();
        let deadline = std::time::Instant::now() + PEER_TIMEOUT;
        loop {
            match self.listener.accept() {
                Ok((s, _)) => {
                    s.set_nonblocking(false).unwrap();
                    s.set_read_timeout(Some(PEER_TIMEOUT)).unwrap();
                    return s;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(std::time::Instant::now() < deadline, "no connection came");
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
    }

    /// In the background: accepts one connection and reads it to the end.
    pub fn collect(self) -> JoinHandle<Vec<u8>> {
        std::thread::spawn(move || read_all(self.accept(), None))
    }

    /// In the background: accepts `n` connections one after another and
    /// reads each to the end.
    pub fn collect_each(self, n: usize) -> JoinHandle<Vec<Vec<u8>>> {
        std::thread::spawn(move || (0..n).map(|_| read_all(self.accept(), None)).collect())
    }

    /// Like [`Peer::collect`], reading `chunk` bytes at a time with a pause
    /// between reads: a slow reader.
    pub fn collect_slowly(self, chunk: usize, pause: Duration) -> JoinHandle<Vec<u8>> {
        std::thread::spawn(move || read_all(self.accept(), Some((chunk, pause))))
    }
}

impl Default for Peer {
    fn default() -> Self {
        Self::new()
    }
}

/// Reads `s` to the end, optionally in slow small steps.
pub fn read_all(mut s: TcpStream, slow: Option<(usize, Duration)>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; slow.map_or(256 * 1024, |(c, _)| c)];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => panic!("peer read failed after {} bytes: {e}", out.len()),
        }
        if let Some((_, pause)) = slow {
            std::thread::sleep(pause);
        }
    }
}

/// Drops `path`'s pages from the page cache (`POSIX_FADV_DONTNEED`), so the
/// next read must go to the disk.
pub fn evict(path: &Path) {
    let f = std::fs::File::open(path).unwrap();
    f.sync_all().unwrap();
    rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed).unwrap();
}

/// Reads `path` fully, pulling it into the page cache.
pub fn warm(path: &Path) {
    std::fs::read(path).unwrap();
}

//! `wasm-sendfile serve DIR`: the bundled static-server guest, one instance
//! per worker, all listening on one port (`SO_REUSEPORT`: the kernel spreads
//! connections between them).

use crate::metrics_endpoint::{self, ServerFigures};
use crate::network::WasiOption;
use crate::run::{RunArgs, exit_code, load};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use wasm_sendfile::command::{CommandState, Runner};
use wasm_sendfile::{AddrRule, MemoryUsage, Metrics};
use wasmtime::error::Context;
use wasmtime::{Result, bail};

/// How the guest sends response bodies.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Body {
    /// The sendfile capability: zero-copy from the page cache.
    Sendfile,
    /// Plain WASI: read into guest memory, write to the output-stream.
    Copy,
    /// Plain WASI: splice the file's input-stream into the output-stream.
    Splice,
}

impl Body {
    fn name(self) -> &'static str {
        match self {
            Body::Sendfile => "sendfile",
            Body::Copy => "copy",
            Body::Splice => "splice",
        }
    }
}

#[derive(clap::Args)]
pub struct ServeArgs {
    /// The directory to serve (read-only to the guest).
    dir: PathBuf,
    /// Where to listen: PORT (on 127.0.0.1), HOST:PORT (a name such as
    /// `localhost` is looked up; its first address is taken) or
    /// [IPv6]:PORT.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR",
          value_parser = listen_addr)]
    listen: std::net::SocketAddr,
    /// Guest instances serving in parallel [default: the number of cores].
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// Most concurrent connections per worker. At the limit the
    /// longest-idle keep-alive connection is closed to make room; with none
    /// idle, the new connection gets 503.
    #[arg(long, default_value_t = 512)]
    max_connections: u32,
    /// Seconds an idle keep-alive connection stays open (nginx's
    /// `keepalive_timeout`); 0 turns keep-alive off.
    #[arg(
        long,
        default_value_t = 30,
        value_name = "SECS",
        alias = "idle-timeout"
    )]
    keepalive_timeout: u32,
    /// Seconds a request may take to arrive in full, from its first byte
    /// (nginx's `client_header_timeout`): a client trickling bytes cannot
    /// hold a connection slot longer. A connection's first request counts
    /// from accept.
    #[arg(long, default_value_t = 10, value_name = "SECS",
          value_parser = clap::value_parser!(u32).range(1..))]
    header_timeout: u32,
    /// Seconds a response may make no progress (the client reads nothing)
    /// before its connection is closed (nginx's `send_timeout`).
    #[arg(long, default_value_t = 60, value_name = "SECS",
          value_parser = clap::value_parser!(u32).range(1..))]
    send_timeout: u32,
    /// Seconds responses in progress get to finish at SIGINT or SIGTERM
    /// (idle connections are closed at once); a second signal stops at once.
    #[arg(long, default_value_t = 2, value_name = "SECS")]
    shutdown_timeout: u32,
    /// Where the access log goes (nginx's `combined` format plus the
    /// seconds taken): a file, appended to; `-`, standard output; `off`.
    #[arg(long, default_value = "-", value_name = "FILE|-|off")]
    access_log: AccessLog,
    /// The same as `--access-log off`.
    #[arg(long)]
    quiet: bool,
    /// List the entries of a directory without an index (else 403).
    #[arg(long)]
    listing: bool,
    /// A `Cache-Control` header for files' responses (200, 206, 304),
    /// e.g. `max-age=3600`.
    #[arg(long, value_name = "VALUE", value_parser = header_value)]
    cache_control: Option<String>,
    /// Serve the server's counters in Prometheus' text format at
    /// `http://ADDR/metrics` (ADDR as for `--listen`): responses by status,
    /// body bytes, zero-copy, small-copy and fallback bytes, open
    /// connections, worker restarts, calls from the guests into the host.
    #[arg(long, value_name = "ADDR", value_parser = listen_addr)]
    metrics: Option<std::net::SocketAddr>,
    /// How bodies are sent; `copy` and `splice` exist to compare against.
    #[arg(long, value_enum, default_value_t = Body::Sendfile)]
    body: Body,
    /// Whether names starting with `.` (`.env`, `.git/`) are served;
    /// refused with 404 by default.
    #[arg(long, value_enum, default_value_t = Dotfiles::Deny)]
    dotfiles: Dotfiles,
}

/// Whether dotfiles are served.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dotfiles {
    /// 404, as for a file that is not there.
    Deny,
    /// Served like any file.
    Allow,
}

/// `--listen`: PORT, HOST:PORT (names looked up) or [IPv6]:PORT.
pub(crate) fn listen_addr(s: &str) -> Result<std::net::SocketAddr, String> {
    use std::net::ToSocketAddrs;
    if let Ok(port) = s.parse::<u16>() {
        return Ok(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    }
    if let Ok(addr) = s.parse() {
        return Ok(addr);
    }
    s.to_socket_addrs()
        .map_err(|e| format!("`{s}`: {e} (expected PORT, HOST:PORT or [IPv6]:PORT)"))?
        .next()
        .ok_or_else(|| format!("`{s}` names no address"))
}

/// A header value (RFC 9110 §5.5): visible characters, spaces and tabs,
/// trimmed; no control characters (a line break would end the header).
fn header_value(s: &str) -> Result<String, String> {
    let s = s.trim_matches([' ', '\t']);
    if s.is_empty() || s.chars().any(|c| c.is_control() && c != '\t') {
        return Err("a header value must be visible characters and spaces, not empty".into());
    }
    Ok(s.to_string())
}

/// Where the access log goes.
#[derive(Clone, Debug)]
pub enum AccessLog {
    Off,
    Stdout,
    File(PathBuf),
}

impl std::str::FromStr for AccessLog {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "off" => AccessLog::Off,
            "-" => AccessLog::Stdout,
            path => AccessLog::File(path.into()),
        })
    }
}

/// The guest path `serve` mounts the directory at.
const SERVE_ROOT: &str = "/srv";

impl ServeArgs {
    /// Worker `index` is `run static-server` with a read-only preopen and
    /// leave to bind the one address, which is `listener`'s, writing its
    /// access log to `log` (`None`: no log; `Some(None)`: standard output).
    fn worker(
        &self,
        index: usize,
        listener: &Arc<std::net::TcpListener>,
        log: Option<Option<&std::fs::File>>,
    ) -> Result<RunArgs> {
        Ok(RunArgs {
            component: PathBuf::from("static-server"),
            dirs: Vec::new(),
            dirs_ro: vec![format!("{}::{SERVE_ROOT}", self.dir.display())],
            envs: vec![
                format!("STATIC_MAX_CONNECTIONS={}", self.max_connections),
                format!("STATIC_KEEPALIVE_SECS={}", self.keepalive_timeout),
                format!("STATIC_HEADER_SECS={}", self.header_timeout),
                format!("STATIC_SEND_SECS={}", self.send_timeout),
                format!("STATIC_ACCESS_LOG={}", u8::from(log.is_some())),
                format!("STATIC_BODY={}", self.body.name()),
                format!("STATIC_WORKER={index}"),
                format!(
                    "STATIC_DOTFILES={}",
                    u8::from(self.dotfiles == Dotfiles::Allow)
                ),
                format!("STATIC_LISTING={}", u8::from(self.listing)),
                format!("STATIC_METRICS={}", u8::from(self.metrics.is_some())),
                format!(
                    "STATIC_CACHE_CONTROL={}",
                    self.cache_control.as_deref().unwrap_or("")
                ),
            ],
            allow_bind: vec![AddrRule::exact(self.listen)],
            allow_connect: Vec::new(),
            // The server needs TCP only.
            wasi: vec![WasiOption::Udp(false)],
            allow_file_targets: false,
            max_chunk: None,
            args: vec![SERVE_ROOT.to_string(), self.listen.to_string()],
            // Opening and stat-ing a cached file takes microseconds; a
            // round trip through the blocking pool costs more than that,
            // per request. Each worker has its own instance, so the thread
            // it blocks serves no other guest.
            fs_on_thread: true,
            listener: Some(listener.clone()),
            stdout: log.flatten().map(std::fs::File::try_clone).transpose()?,
            count_host_calls: self.metrics.is_some(),
        })
    }

    /// Where the access log goes: `None` for none, `Some(None)` for
    /// standard output, else the file (created if need be, appended to:
    /// each line is one write, so workers' lines do not mix).
    fn access_log_file(&self) -> Result<Option<Option<std::fs::File>>> {
        Ok(match &self.access_log {
            _ if self.quiet => None,
            AccessLog::Off => None,
            AccessLog::Stdout => Some(None),
            AccessLog::File(path) => Some(Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .with_context(|| format!("--access-log `{}`", path.display()))?,
            )),
        })
    }
}

/// How long a worker that ended lets its guest's pending writes go out
/// before it is restarted (the rest are reset).
const WORKER_SETTLE: std::time::Duration = std::time::Duration::from_secs(2);

/// How many worker deaths within [`DEATH_WINDOW`] end the server: a guest
/// that keeps trapping is a bug to report, not to restart forever.
const MAX_DEATHS: usize = 5;
/// See [`MAX_DEATHS`].
const DEATH_WINDOW: std::time::Duration = std::time::Duration::from_secs(10);

/// `wasm-sendfile serve`: runs until SIGINT/SIGTERM, then prints one
/// `stats:` line on standard error. A worker whose guest ends (a trap, say)
/// is logged and restarted, as nginx's master restarts its workers; if
/// workers keep dying the server ends with an error.
pub async fn serve(args: ServeArgs) -> Result<ExitCode> {
    if !args.dir.is_dir() {
        bail!("`{}` is not a directory", args.dir.display());
    }
    let workers = args
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if workers == 0 {
        bail!("--workers must be at least 1");
    }
    let figures = Arc::new(ServerFigures {
        metrics: Arc::new(Metrics::new()),
        restarts: Default::default(),
        workers,
    });
    let metrics = &figures.metrics;
    // Before the served port, so the endpoint answers once that port does
    // (and a taken metrics address fails before anything else starts).
    let endpoint = match args.metrics {
        Some(addr) => Some(metrics_endpoint::start(addr, figures.clone()).await?),
        None => None,
    };
    // The port is opened once, here, and handed to every worker's bind (as
    // nginx's master does): a taken address is a clear error, also when
    // another `serve` holds it, and port 0 becomes one port for all.
    let listener = Arc::new(open_listener(args.listen)?);
    let args = ServeArgs {
        listen: listener.local_addr()?,
        ..args
    };
    raise_descriptor_limit();
    let log = args.access_log_file()?;
    let log = log.as_ref().map(Option::as_ref);
    let engine = wasmtime::Engine::default();
    let runner = Arc::new(Runner::new(&engine)?);
    let component = load(&engine, &args.worker(0, &listener, log)?.component)?;
    let mut memory = Vec::new();
    let (ended_tx, mut ended) = tokio::sync::mpsc::unbounded_channel();
    // Each worker runs on a thread of its own with its own single-threaded
    // runtime (as nginx's workers are processes of their own): whatever
    // one guest's filesystem calls block on, no other worker, and not the
    // signal handling here, waits for it.
    let start = |i: usize| -> Result<Arc<MemoryUsage>> {
        let run = args.worker(i, &listener, log)?;
        let state = CommandState::new(run.wasi_ctx()?, run.sendfile_ctx(metrics.clone())?);
        let usage = state.memory_usage();
        let (runner, component, ended) = (runner.clone(), component.clone(), ended_tx.clone());
        std::thread::Builder::new()
            .name(format!("worker-{i}"))
            .spawn(move || {
                let run = || {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(wasmtime::Error::from)
                        .and_then(|rt| {
                            rt.block_on(exit_code(&runner, &component, state, WORKER_SETTLE))
                        })
                };
                // A panic is reported like any other end, never lost.
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run))
                    .unwrap_or_else(|_| Err(wasmtime::format_err!("the worker panicked")));
                let _ = ended.send((i, result));
            })?;
        Ok(usage)
    };
    for i in 0..workers {
        memory.push(start(i)?);
    }
    println!("serving {} on http://{}/", args.dir.display(), args.listen);
    if let Some((addr, _)) = &endpoint {
        println!("metrics on http://{addr}/metrics");
    }
    let mut deaths = Deaths::default();
    let mut signals = Signals::new()?;
    let result = loop {
        let next = tokio::select! {
            next = ended.recv() => next,
            () = signals.next() => break Ok(ExitCode::SUCCESS),
        };
        let (i, why) = match next {
            Some((i, Ok(code))) => (i, format!("exited ({code:?})")),
            Some((i, Err(e))) => (i, crate::one_line(&e)),
            None => break Err(wasmtime::format_err!("no worker left")),
        };
        tracing::warn!("worker {i} ended: {why}; restarting it");
        if deaths.too_many(std::time::Instant::now()) {
            break Err(wasmtime::format_err!(
                "workers ended {MAX_DEATHS} times within {DEATH_WINDOW:?} (last: worker {i} {why}); stopping"
            ));
        }
        figures
            .restarts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        memory[i] = start(i)?;
    };
    if result.is_ok() {
        let bound = std::time::Duration::from_secs(args.shutdown_timeout.into());
        drain(&listener, &mut ended, workers, bound, &mut signals).await;
    }
    if let Some((_, task)) = endpoint {
        task.abort();
    }
    eprintln!("{}", stats(workers, &memory, metrics));
    result
}

/// Raises the soft limit on open descriptors to the hard one (nginx's
/// `worker_rlimit_nofile`): every connection and every file being sent
/// holds one, and the common soft limit of 1024 is what
/// `--max-connections 512` with two workers already needs. Best effort.
pub(crate) fn raise_descriptor_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        let _ = setrlimit(Resource::Nofile, limit);
    }
}

/// Stops taking connections and lets the workers finish the responses in
/// progress, for at most `bound` (or until another signal). Shutting the
/// listening socket down makes the guests' `accept` fail, which tells the
/// static server to drain and exit; connections not yet accepted are
/// reset.
async fn drain(
    listener: &std::net::TcpListener,
    ended: &mut tokio::sync::mpsc::UnboundedReceiver<(usize, Result<ExitCode>)>,
    mut workers: usize,
    bound: std::time::Duration,
    signals: &mut Signals,
) {
    if let Err(e) = rustix::net::shutdown(listener, rustix::net::Shutdown::Both) {
        eprintln!("cannot stop listening ({e}); stopping at once");
        return;
    }
    let deadline = tokio::time::sleep(bound);
    tokio::pin!(deadline);
    while workers > 0 {
        tokio::select! {
            next = ended.recv() => match next {
                Some(_) => workers -= 1,
                None => return,
            },
            () = &mut deadline => {
                eprintln!("{workers} worker(s) still busy after {bound:?}; stopping");
                return;
            }
            () = signals.next() => return,
        }
    }
}

/// Worker deaths within the last [`DEATH_WINDOW`].
#[derive(Default)]
struct Deaths(std::collections::VecDeque<std::time::Instant>);

impl Deaths {
    /// Records a death at `now`; whether that makes [`MAX_DEATHS`] within
    /// the window.
    fn too_many(&mut self, now: std::time::Instant) -> bool {
        self.0.push_back(now);
        while self
            .0
            .front()
            .is_some_and(|t| now.duration_since(*t) > DEATH_WINDOW)
        {
            self.0.pop_front();
        }
        self.0.len() >= MAX_DEATHS
    }
}

/// The listening socket for `addr`, opened once for every worker: no
/// `SO_REUSEPORT`, so no other process can share the port; `SO_REUSEADDR`,
/// so a restart does not wait for old connections in `TIME_WAIT`; IPv6-only
/// for an IPv6 address, as the guests' own sockets are.
pub(crate) fn open_listener(addr: std::net::SocketAddr) -> Result<std::net::TcpListener> {
    let socket = match addr {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => {
            let socket = tokio::net::TcpSocket::new_v6()?;
            rustix::net::sockopt::set_ipv6_v6only(&socket, true)?;
            socket
        }
    };
    socket.set_reuseaddr(true)?;
    socket
        .bind(addr)
        .with_context(|| format!("cannot listen on {addr}"))?;
    let listener = socket
        .listen(1024)
        .with_context(|| format!("cannot listen on {addr}"))?;
    Ok(listener.into_std()?)
}

/// SIGINT and SIGTERM, as they come.
pub(crate) struct Signals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl Signals {
    pub(crate) fn new() -> Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
        })
    }

    /// Resolves at the next SIGINT or SIGTERM.
    pub(crate) async fn next(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
        }
    }
}

/// One line of figures for the whole server: `stats: key=value ...`.
fn stats(workers: usize, memory: &[Arc<MemoryUsage>], metrics: &Metrics) -> String {
    let peak = memory.iter().map(|m| m.peak()).max().unwrap_or(0);
    let m = metrics.snapshot();
    format!(
        "stats: workers={workers} guest_memory_peak={peak} sendfile_calls={} \
         sendfile_bytes={} zero_copy_bytes={} small_copy_bytes={} fallback_bytes={}",
        m.calls, m.total_bytes, m.zero_copy_bytes, m.small_copy_bytes, m.fallback_bytes
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn workers_are_restarted_until_they_die_too_often() {
        let mut deaths = Deaths::default();
        let t0 = Instant::now();
        // Spread out, deaths never add up.
        for k in 0..20u32 {
            assert!(!deaths.too_many(t0 + DEATH_WINDOW * k + Duration::from_millis(k as u64)));
        }
        let mut deaths = Deaths::default();
        let burst: Vec<bool> = (0..MAX_DEATHS as u32)
            .map(|k| deaths.too_many(t0 + Duration::from_millis(k as u64)))
            .collect();
        assert_eq!(burst.iter().filter(|b| **b).count(), 1);
        assert!(burst[MAX_DEATHS - 1]);
    }
}

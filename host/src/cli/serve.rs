//! `wasm-sendfile serve DIR`: the bundled static-server guest, one instance
//! per worker, all listening on one port (`SO_REUSEPORT`: the kernel spreads
//! connections between them).

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
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    listen: std::net::SocketAddr,
    /// Guest instances serving in parallel [default: the number of cores].
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// Most concurrent connections per worker; more get 503.
    #[arg(long, default_value_t = 512)]
    max_connections: u32,
    /// Seconds a connection may make no progress before it is closed.
    #[arg(long, default_value_t = 30)]
    idle_timeout: u32,
    /// Do not log each request on standard output.
    #[arg(long)]
    quiet: bool,
    /// How bodies are sent; `copy` and `splice` exist to compare against.
    #[arg(long, value_enum, default_value_t = Body::Sendfile)]
    body: Body,
}

/// The guest path `serve` mounts the directory at.
const SERVE_ROOT: &str = "/srv";

impl ServeArgs {
    /// Worker `index` is `run static-server` with a read-only preopen and
    /// leave to bind the one address.
    fn worker(&self, index: usize) -> RunArgs {
        RunArgs {
            component: PathBuf::from("static-server"),
            dirs: Vec::new(),
            dirs_ro: vec![format!("{}::{SERVE_ROOT}", self.dir.display())],
            envs: vec![
                format!("STATIC_MAX_CONNECTIONS={}", self.max_connections),
                format!("STATIC_IDLE_SECS={}", self.idle_timeout),
                format!("STATIC_ACCESS_LOG={}", u8::from(!self.quiet)),
                format!("STATIC_BODY={}", self.body.name()),
                format!("STATIC_WORKER={index}"),
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
        }
    }
}

/// `wasm-sendfile serve`: runs until a worker ends or SIGINT/SIGTERM, then
/// prints one `stats:` line on standard error.
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
    // Bind first (not listening, so it takes no connections): a clear
    // error when the address is taken, and port 0 becomes one port that
    // every worker then shares.
    let reserved = reserve(args.listen)?;
    let args = ServeArgs {
        listen: reserved.local_addr()?,
        ..args
    };
    let engine = wasmtime::Engine::default();
    let runner = Arc::new(Runner::new(&engine)?);
    let first = args.worker(0);
    let component = load(&engine, &first.component)?;
    let metrics = Arc::new(Metrics::new());
    let mut memory = Vec::new();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..workers {
        let run = args.worker(i);
        let state = CommandState::new(run.wasi_ctx()?, run.sendfile_ctx(metrics.clone(), true)?);
        memory.push(state.memory_usage());
        let (runner, component) = (runner.clone(), component.clone());
        tasks.spawn(async move { exit_code(&runner, &component, state).await });
    }
    let ended = tokio::select! {
        ended = tasks.join_next() => ended,
        () = stop_signal() => None,
    };
    drop(reserved);
    eprintln!("{}", stats(workers, &memory, &metrics));
    match ended {
        None => Ok(ExitCode::SUCCESS),
        Some(Ok(code)) => code,
        Some(Err(e)) => bail!("a worker panicked: {e}"),
    }
}

/// A socket bound to `addr` with `SO_REUSEPORT`, not listening.
fn reserve(addr: std::net::SocketAddr) -> Result<tokio::net::TcpSocket> {
    let socket = match addr {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket
        .bind(addr)
        .with_context(|| format!("cannot listen on {addr}"))?;
    Ok(socket)
}

/// Resolves at the first SIGINT or SIGTERM.
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
}

/// One line of figures for the whole server: `stats: key=value ...`.
fn stats(workers: usize, memory: &[Arc<MemoryUsage>], metrics: &Metrics) -> String {
    let peak = memory.iter().map(|m| m.peak()).max().unwrap_or(0);
    let m = metrics.snapshot();
    format!(
        "stats: workers={workers} guest_memory_peak={peak} sendfile_calls={} \
         sendfile_bytes={} zero_copy_bytes={} fallback_bytes={}",
        m.calls, m.total_bytes, m.zero_copy_bytes, m.fallback_bytes
    )
}

//! `wasm-sendfile http COMPONENT`: serves a `wasi:http/proxy` component
//! over HTTP/1.1 with the library's [`wasm_sendfile::http::HttpServer`],
//! an instance per request; bodies the component answers with through
//! `http-file` go out by `sendfile(2)`.

use crate::metrics_endpoint::{self, ServerFigures};
use crate::network::WasiOption;
use crate::run::{RunArgs, load};
use crate::serve::{Signals, listen_addr, open_listener, raise_descriptor_limit};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use wasm_sendfile::Metrics;
use wasm_sendfile::http::{HttpConfig, HttpServer, HttpState};
use wasmtime::Result;

#[derive(clap::Args)]
pub struct HttpArgs {
    /// The `wasi:http/proxy` component (.wasm), or a bundled one:
    /// `http-files` (a file server whose bodies go by sendfile) or
    /// `http-hello` (a plain wasi:http component).
    component: PathBuf,
    /// Where to listen: PORT (on 127.0.0.1), HOST:PORT or [IPv6]:PORT.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR",
          value_parser = listen_addr)]
    listen: std::net::SocketAddr,
    /// Grant a host directory read-only, as HOST or HOST::GUEST
    /// (`http-files` serves what is mounted at `/`).
    #[arg(long = "dir-ro", value_name = "HOST[::GUEST]")]
    dirs_ro: Vec<String>,
    /// Grant a host directory read-write, as HOST or HOST::GUEST.
    #[arg(long = "dir", value_name = "HOST[::GUEST]")]
    dirs: Vec<String>,
    /// Set an environment variable for the component.
    #[arg(long = "env", value_name = "K=V")]
    envs: Vec<String>,
    /// Threads serving connections [default: the number of cores].
    #[arg(long, value_name = "N")]
    pub workers: Option<usize>,
    /// Most connections open at once. At the limit the keep-alive
    /// connection idle longest is closed to make room; with none idle, a
    /// new connection gets 503.
    #[arg(long, default_value_t = 1024)]
    max_connections: usize,
    /// Seconds an idle keep-alive connection stays open; 0 turns
    /// keep-alive off.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    keepalive_timeout: u64,
    /// Seconds a request head may take from its first byte (then 408);
    /// also the longest a request body may pause.
    #[arg(long, default_value_t = 10, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..))]
    header_timeout: u64,
    /// Seconds a response may make no progress before its connection is
    /// closed.
    #[arg(long, default_value_t = 60, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..))]
    send_timeout: u64,
    /// Seconds a component may take to answer, and may run in all (then
    /// 504, and the instance is stopped).
    #[arg(long, default_value_t = 30, value_name = "SECS",
          value_parser = clap::value_parser!(u64).range(1..))]
    request_timeout: u64,
    /// Seconds responses in progress get to finish at SIGINT or SIGTERM
    /// (idle connections are closed at once).
    #[arg(long, default_value_t = 2, value_name = "SECS")]
    shutdown_timeout: u64,
    /// Serve the server's counters in Prometheus' text format at
    /// `http://ADDR/metrics`: responses by status and body bytes, file
    /// bodies (counted as sendfile calls) and their bytes by path
    /// (zero_copy, small_copy, fallback).
    #[arg(long, value_name = "ADDR", value_parser = listen_addr)]
    metrics: Option<std::net::SocketAddr>,
}

impl HttpArgs {
    fn config(&self) -> HttpConfig {
        HttpConfig {
            max_connections: self.max_connections,
            keepalive_timeout: Duration::from_secs(self.keepalive_timeout),
            header_timeout: Duration::from_secs(self.header_timeout),
            send_timeout: Duration::from_secs(self.send_timeout),
            request_timeout: Duration::from_secs(self.request_timeout),
            shutdown_timeout: Duration::from_secs(self.shutdown_timeout),
            ..HttpConfig::default()
        }
    }

    /// The grants of each request's instance, as `run` would make them:
    /// the directories and environment, no sockets (a `wasi:http`
    /// component answers requests; it opens no connections).
    fn grants(&self) -> RunArgs {
        RunArgs {
            component: self.component.clone(),
            dirs: self.dirs.clone(),
            dirs_ro: self.dirs_ro.clone(),
            envs: self.envs.clone(),
            allow_bind: Vec::new(),
            allow_connect: Vec::new(),
            wasi: vec![WasiOption::Tcp(false), WasiOption::Udp(false)],
            allow_file_targets: false,
            max_chunk: None,
            args: Vec::new(),
            // Unlike `serve` (whose bundled guest has a thread of its own),
            // any component's filesystem calls go to the blocking pool: one
            // that opens a FIFO or waits on a slow disk must not hold a
            // thread other requests need.
            fs_on_thread: false,
            listener: None,
            stdout: None,
            // Scraped with the rest when there is a metrics endpoint.
            count_host_calls: self.metrics.is_some(),
        }
    }
}

/// `wasm-sendfile http`: runs until SIGINT or SIGTERM, then lets
/// responses in progress finish.
pub async fn http(args: HttpArgs) -> Result<ExitCode> {
    let engine = wasmtime::Engine::new(&HttpServer::engine_config())?;
    let component = load(&engine, &args.component)?;
    let grants = Arc::new(args.grants());
    // A bad grant (a missing directory, say) fails now, not per request.
    grants.wasi_ctx()?;
    let metrics = Arc::new(Metrics::new());
    let workers = args
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let figures = Arc::new(ServerFigures {
        metrics: metrics.clone(),
        restarts: Default::default(),
        workers,
    });
    // Before the served port, as `serve` does.
    let endpoint = match args.metrics {
        Some(addr) => Some(metrics_endpoint::start(addr, figures).await?),
        None => None,
    };
    let state_metrics = metrics.clone();
    let server = HttpServer::new(&engine, &component, args.config(), move || {
        Ok(HttpState::new(
            grants.wasi_ctx()?,
            grants.sendfile_ctx(state_metrics.clone())?,
        ))
    })?
    .with_metrics(metrics);
    raise_descriptor_limit();
    let listener = tokio::net::TcpListener::from_std(open_listener(args.listen)?)?;
    println!(
        "serving {} on http://{}/",
        args.component.display(),
        listener.local_addr()?
    );
    if let Some((addr, _)) = &endpoint {
        println!("metrics on http://{addr}/metrics");
    }
    let mut signals = Signals::new()?;
    Arc::new(server).serve(listener, signals.next()).await?;
    Ok(ExitCode::SUCCESS)
}

//! An HTTP/1.1 server for `wasi:http/proxy` components, whose responses
//! may have a file as their body (`wit/http-file.wit`), sent with
//! `sendfile(2)`.
//!
//! wasmtime-wasi-http provides the `wasi:http` types, the request and
//! response resources and the guest's side of bodies; only the connection
//! loop is ours. hyper, which wasmtime-wasi-http's own examples serve with,
//! owns its socket and writes every body through its buffers, so it cannot
//! hand a body to `sendfile(2)`.
//!
//! Each request gets a new instance of the component, made from one
//! pre-instantiated [`ProxyPre`] (as `wasmtime serve` does), in a store of
//! its own: a guest that traps or runs too long (an epoch deadline) costs
//! its own request, never another's.
//!
//! ```no_run
//! # async fn demo() -> wasmtime::Result<()> {
//! use std::sync::Arc;
//! use wasm_sendfile::http::{HttpConfig, HttpServer, HttpState};
//! use wasm_sendfile::SendfileCtx;
//!
//! let engine = wasmtime::Engine::new(&HttpServer::engine_config())?;
//! let component = wasmtime::component::Component::from_file(&engine, "files.wasm")?;
//! let server = Arc::new(HttpServer::new(&engine, &component, HttpConfig::default(), || {
//!     let mut wasi = wasmtime_wasi::WasiCtx::builder();
//!     wasi.preopened_dir("site", "/", wasmtime_wasi::FsPerms::ReadOnly)?;
//!     Ok(HttpState::new(wasi.build(), SendfileCtx::builder().build()))
//! })?);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! server.serve(listener, std::future::pending()).await
//! # }
//! ```

mod conn;
mod file_body;
mod idle;
mod incoming;
mod io;
mod request;
mod response;
mod state;

pub use self::state::HttpState;
pub use crate::p2::http_file::FileBody;

use crate::metrics::Metrics;
use crate::policy::Policy;
use crate::view::{Sendfile, SendfileView};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine};
use wasmtime_wasi::WasiView;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

/// Adds what a `wasi:http/proxy` component that answers with files
/// imports: every WASI 0.2 interface (wasmtime-wasi), `wasi:http`
/// (wasmtime-wasi-http) and `wasm-sendfile:sendfile/http-file`.
pub fn add_to_linker<T: WasiView + WasiHttpView + SendfileView + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    add_only_http_file_to_linker(linker)
}

/// Adds only `wasm-sendfile:sendfile/http-file`, for a linker that already
/// has wasmtime-wasi's and wasmtime-wasi-http's interfaces (its types are
/// theirs). Responses it makes carry their file in their extensions: only a
/// server that looks for it ([`HttpServer`]) sends the file.
pub fn add_only_http_file_to_linker<T: SendfileView + 'static>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    crate::bindings::http_file::add_to_linker::<T, Sendfile>(linker, T::sendfile)
}

/// The server's limits and timeouts. The defaults follow `wasm-sendfile
/// serve`'s (and nginx's) where they have one.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Most bytes of a request head (line and headers); more is 431.
    pub max_head: usize,
    /// Most bytes of a request body; a larger declared length, or a chunked
    /// body that grows past it, reaches the guest as a stream error and
    /// closes the connection after the response.
    pub max_body: u64,
    /// The time a request head may take to arrive from its first byte (and
    /// a connection's first request from accept); then 408. Also the most
    /// a request body may pause.
    pub header_timeout: Duration,
    /// How long an idle keep-alive connection stays open; zero turns
    /// keep-alive off.
    pub keepalive_timeout: Duration,
    /// How long a response may make no progress (the client takes nothing)
    /// before its connection is closed.
    pub send_timeout: Duration,
    /// How long a component may take to answer (to set its response);
    /// then the client gets 504. A component may run one second longer in
    /// all, by the wall clock, its stream body included: then it is
    /// stopped (computing, through an epoch deadline if the engine has
    /// epoch interruption on, see [`HttpServer::engine_config`]; waiting,
    /// by dropping its store) and an unfinished body is cut short. File
    /// bodies are not bound by it: the guest is done once it answered.
    pub request_timeout: Duration,
    /// Most connections open at once. At the limit the keep-alive
    /// connection idle longest is closed to make room; with none idle, a
    /// new connection gets 503.
    pub max_connections: usize,
    /// How long [`HttpServer::serve`] waits, once told to stop, for
    /// responses in progress; then it returns anyway (their tasks end with
    /// the runtime, or go on if it keeps running).
    pub shutdown_timeout: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_head: 16 * 1024,
            max_body: 64 << 20,
            header_timeout: Duration::from_secs(10),
            keepalive_timeout: Duration::from_secs(30),
            send_timeout: Duration::from_secs(60),
            request_timeout: Duration::from_secs(30),
            max_connections: 1024,
            shutdown_timeout: Duration::from_secs(2),
        }
    }
}

impl HttpConfig {
    /// How long a guest may run in all: the request timeout and one
    /// second more, so a guest that has not answered in time gets the
    /// server's 504 (and is stopped then) rather than a trap's 500.
    fn guest_limit(&self) -> Duration {
        self.request_timeout + Duration::from_secs(1)
    }
}

/// Bytes of each pooled memory and table kept resident between instances.
const KEEP_RESIDENT: usize = 2 << 20;

/// Serves a `wasi:http/proxy` component over HTTP/1.1: keep-alive,
/// pipelining, `HEAD`, `Content-Length` or chunked bodies both ways, and
/// file bodies sent with `sendfile(2)`.
pub struct HttpServer {
    pre: ProxyPre<HttpState>,
    config: HttpConfig,
    new_state: Box<dyn Fn() -> wasmtime::Result<HttpState> + Send + Sync>,
    policy: Policy,
    metrics: Arc<Metrics>,
    open: AtomicUsize,
    idle: idle::IdleSet,
    _ticker: EpochTicker,
    stopping: tokio::sync::watch::Sender<bool>,
}

impl HttpServer {
    /// An engine configuration for the server: epoch
    /// interruption (for [`HttpConfig::request_timeout`]) and the pooling
    /// allocator (instances made per request come from preallocated slots).
    pub fn engine_config() -> Config {
        let mut config = Config::new();
        config.epoch_interruption(true);
        let mut pool = wasmtime::PoolingAllocationConfig::default();
        pool.total_component_instances(1000);
        pool.total_memories(1000);
        pool.total_tables(1000);
        pool.max_memory_size(256 << 20);
        // A slot's first pages stay mapped between instances and are
        // zeroed with memset, instead of returned to the kernel and
        // faulted in again by the next request's instance.
        pool.linear_memory_keep_resident(KEEP_RESIDENT);
        pool.table_keep_resident(KEEP_RESIDENT);
        config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
        config
    }

    /// Pre-instantiates `component` (it must export
    /// `wasi:http/incoming-handler`; it may import `http-file`), to run
    /// each request in a store whose data `new_state` makes.
    ///
    /// # Errors
    /// If the component imports something the server does not provide, or
    /// does not export the handler.
    pub fn new(
        engine: &Engine,
        component: &Component,
        config: HttpConfig,
        new_state: impl Fn() -> wasmtime::Result<HttpState> + Send + Sync + 'static,
    ) -> wasmtime::Result<Self> {
        let mut linker = Linker::new(engine);
        add_to_linker(&mut linker)?;
        let pre = ProxyPre::new(linker.instantiate_pre(component)?)?;
        let _ticker = EpochTicker::start(engine);
        Ok(Self {
            _ticker,
            pre,
            config,
            new_state: Box::new(new_state),
            policy: Policy::default(),
            metrics: Arc::default(),
            open: AtomicUsize::new(0),
            idle: idle::IdleSet::default(),
            stopping: tokio::sync::watch::Sender::new(false),
        })
    }

    /// Counts into `metrics` (file bodies as sendfile calls, responses by
    /// status) instead of the server's own.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// The server's counters.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Accepts connections on `listener` until `shutdown` completes, then
    /// stops accepting, closes idle keep-alive connections and waits for
    /// the others to finish their current response, at most
    /// [`HttpConfig::shutdown_timeout`].
    ///
    /// # Errors
    /// Only if accepting fails for good; a failed connection is logged.
    pub async fn serve(
        self: Arc<Self>,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> wasmtime::Result<()> {
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                () = &mut shutdown => break,
            };
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(e) if transient(&e) => {
                    tracing::warn!(error = %e, "accept failed; retrying");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let server = self.clone();
            tokio::spawn(async move { server.serve_connection(stream).await });
        }
        self.stopping.send_replace(true);
        drop(listener);
        let deadline = tokio::time::Instant::now() + self.config.shutdown_timeout;
        while self.open.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(())
    }

    /// Serves one accepted connection (for embedders with their own accept
    /// loop).
    pub async fn serve_connection(&self, stream: tokio::net::TcpStream) {
        let open = self.open.fetch_add(1, Ordering::SeqCst) + 1;
        let _open = OpenGuard(&self.open);
        // At the limit, the connection idle longest makes room.
        if open > self.config.max_connections && !self.idle.evict_oldest() {
            let conn = io::Conn::new(stream);
            let busy = response::error(503, "too many connections");
            let _ = conn.output.write_all(&busy, self.config.send_timeout).await;
            self.metrics.record_response(503, 0);
            return;
        }
        conn::serve(self, stream).await;
    }

    fn shutting_down(&self) -> bool {
        *self.stopping.borrow()
    }

    /// Resolves once the server stops accepting (at once if it has).
    async fn stopped(&self) {
        let mut rx = self.stopping.subscribe();
        let _ = rx.wait_for(|stopping| *stopping).await;
    }
}

/// Advances an engine's epoch every [`conn::EPOCH_TICK`] from a thread of
/// its own (a runtime task could wait behind a guest that computes) for as
/// long as the server exists: guests still running after `serve` returned
/// keep yielding, so a runtime being shut down can cancel them.
struct EpochTicker(Arc<AtomicBool>);

impl EpochTicker {
    fn start(engine: &Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (engine, stopped) = (engine.clone(), stop.clone());
        let spawned = std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    std::thread::sleep(conn::EPOCH_TICK);
                    engine.increment_epoch();
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "no epoch ticker: request timeouts only stop waiting guests");
        }
        EpochTicker(stop)
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Decrements the open-connection count when a connection ends.
struct OpenGuard<'a>(&'a AtomicUsize);

impl Drop for OpenGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Accept errors worth retrying: out of descriptors or memory, or a
/// connection that failed before it was accepted.
fn transient(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM | libc::ECONNABORTED)
    )
}

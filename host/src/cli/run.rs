//! `wasm-sendfile run`: one component, with the grants given on the
//! command line.

use crate::network::{Network, WasiOption};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use wasm_sendfile::command::{CommandState, Runner};
use wasm_sendfile::{AddrRule, Metrics, SendfileCtx};
use wasmtime::component::Component;
use wasmtime::error::Context;
use wasmtime::{Result, bail};
use wasmtime_wasi::{FsPerms, WasiCtx};

/// Sample guests built into this binary, runnable by name.
const BUNDLED: &[(&str, &[u8])] = &[
    ("song-server", wasm_sendfile_artifacts::SONG_SERVER_WASM),
    ("song-client", wasm_sendfile_artifacts::SONG_CLIENT_WASM),
    ("static-server", wasm_sendfile_artifacts::STATIC_SERVER_WASM),
    ("http-files", wasm_sendfile_artifacts::HTTP_FILES_WASM),
    ("http-hello", wasm_sendfile_artifacts::HTTP_HELLO_WASM),
];

#[derive(clap::Args)]
pub struct RunArgs {
    /// The component (.wasm) to run, or the name of a bundled sample guest
    /// (song-server, song-client, static-server; for `wasm-sendfile http`:
    /// http-files, http-hello).
    pub component: PathBuf,
    /// Grant a host directory, as HOST or HOST::GUEST (like `wasmtime run`).
    #[arg(long = "dir", value_name = "HOST[::GUEST]")]
    pub dirs: Vec<String>,
    /// Grant a directory read-only, as HOST or HOST::GUEST.
    #[arg(long = "dir-ro", value_name = "HOST[::GUEST]")]
    pub dirs_ro: Vec<String>,
    /// Set an environment variable for the guest.
    #[arg(long = "env", value_name = "K=V")]
    pub envs: Vec<String>,
    /// Let the guest bind/listen on ADDR (IP, IP:PORT, [IPv6]:PORT, *, *:PORT).
    #[arg(long = "allow-bind", value_name = "ADDR")]
    pub allow_bind: Vec<AddrRule>,
    /// Let the guest connect to ADDR (same forms as --allow-bind).
    #[arg(long = "allow-connect", value_name = "ADDR")]
    pub allow_connect: Vec<AddrRule>,
    /// WASI network switches, as `wasmtime run -S`: tcp[=y|n] (default y),
    /// udp[=y|n] (default y), allow-ip-name-lookup[=y|n] (default n),
    /// inherit-network[=y|n] (every address; default n). The address rules
    /// above apply to UDP as to TCP.
    #[arg(short = 'S', value_name = "KEY[=y|n]")]
    pub wasi: Vec<WasiOption>,
    /// Let the guest use writable files as sendfile targets.
    #[arg(long)]
    pub allow_file_targets: bool,
    /// Most file bytes per system call.
    #[arg(long, value_name = "BYTES")]
    pub max_chunk: Option<std::num::NonZeroU64>,
    /// Arguments passed to the guest (after `--`).
    #[arg(last = true)]
    pub args: Vec<String>,
    /// Run WASI's blocking filesystem calls (open, stat, read) on the
    /// calling thread instead of tokio's blocking pool (set by `serve`).
    #[arg(skip)]
    pub fs_on_thread: bool,
    /// A listening socket opened by the host, handed to the guest's bind
    /// of its address (set by `serve`; see `SendfileCtxBuilder::listener`).
    #[arg(skip)]
    pub listener: Option<Arc<std::net::TcpListener>>,
    /// Where the guest's standard output goes instead of the host's (set
    /// by `serve` for `--access-log FILE`).
    #[arg(skip)]
    pub stdout: Option<std::fs::File>,
    /// Count the guest's calls into the host (set by `serve --metrics`).
    #[arg(skip)]
    pub count_host_calls: bool,
}

/// `HOST::GUEST`, split at the last `::` (so a host path may contain
/// `::`), or `HOST` for both.
pub(crate) fn split_dir(spec: &str) -> (&str, &str) {
    spec.rsplit_once("::").unwrap_or((spec, spec))
}

impl RunArgs {
    /// The guest's WASI context: args, env, stdio and preopens.
    pub fn wasi_ctx(&self) -> Result<WasiCtx> {
        let mut b = WasiCtx::builder();
        b.inherit_stdio();
        if let Some(file) = &self.stdout {
            b.stdout(wasmtime_wasi::cli::OutputFile::new(file.try_clone()?));
        }
        b.allow_blocking_current_thread(self.fs_on_thread);
        b.arg(self.component.display().to_string());
        for a in &self.args {
            b.arg(a);
        }
        for e in &self.envs {
            let Some((k, v)) = e.split_once('=') else {
                bail!("--env `{e}`: expected K=V");
            };
            b.env(k, v);
        }
        let grants = self
            .dirs
            .iter()
            .map(|d| (d, FsPerms::ReadWrite))
            .chain(self.dirs_ro.iter().map(|d| (d, FsPerms::ReadOnly)));
        for (spec, perms) in grants {
            let (host, guest) = split_dir(spec);
            b.preopened_dir(host, guest, perms)
                .with_context(|| format!("--dir `{host}`"))?;
        }
        self.network().apply_to_wasi(&mut b);
        Ok(b.build())
    }

    /// The capability's context, counting into `metrics`.
    pub fn sendfile_ctx(&self, metrics: Arc<Metrics>) -> Result<SendfileCtx> {
        let mut b = SendfileCtx::builder()
            .allow_file_targets(self.allow_file_targets)
            .count_host_calls(self.count_host_calls)
            .metrics(metrics);
        if let Some(listener) = &self.listener {
            b = b.listener(listener.try_clone()?);
        }
        if let Some(n) = self.max_chunk {
            b = b.max_chunk(n);
        }
        Ok(self.network().apply_to_sendfile(b).build())
    }

    /// The network grants of the flags.
    fn network(&self) -> Network {
        Network::new(&self.wasi, &self.allow_bind, &self.allow_connect)
    }
}

/// A component from a file, or a bundled sample when no such file exists.
pub fn load(engine: &wasmtime::Engine, path: &Path) -> Result<Component> {
    let bundled = BUNDLED
        .iter()
        .find(|(name, _)| path.as_os_str() == *name && !path.exists());
    match bundled {
        Some((name, bytes)) => {
            Component::new(engine, bytes).with_context(|| format!("loading bundled `{name}`"))
        }
        None if !path.exists() => {
            let names: Vec<&str> = BUNDLED.iter().map(|(name, _)| *name).collect();
            bail!(
                "`{}`: no such file, and no bundled guest of that name (bundled: {})",
                path.display(),
                names.join(", ")
            )
        }
        None => Component::from_file(engine, path)
            .with_context(|| format!("loading `{}`", path.display())),
    }
}

/// The longest `run` waits at exit for writes still on their way out (each
/// connection itself gives up after at most a minute without progress).
pub const SETTLE_LIMIT: std::time::Duration = std::time::Duration::from_secs(65);

/// Runs `component` with `state` and turns its ending into an exit code,
/// after letting the guest's pending socket writes go out for at most
/// `settle`.
pub async fn exit_code(
    runner: &Runner,
    component: &Component,
    state: CommandState,
    settle: std::time::Duration,
) -> Result<ExitCode> {
    let pending = state.sendfile.pending_writes().clone();
    let result = runner.run(component, state).await;
    // What the guest wrote but the peers have not taken yet goes out before
    // the process (and its runtime) ends; each connection gives up by
    // itself on a peer that takes nothing for a while.
    if !pending.settle(settle).await {
        eprintln!("warning: some socket writes were still pending at exit");
    }
    match result {
        Ok(Ok(())) => Ok(ExitCode::SUCCESS),
        Ok(Err(())) => Ok(ExitCode::FAILURE),
        Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
            Some(exit) => Ok(ExitCode::from(exit.0.clamp(0, 255) as u8)),
            None => Err(e.context("guest trapped")),
        },
    }
}

/// `wasm-sendfile run`.
pub async fn run(args: RunArgs) -> Result<ExitCode> {
    let engine = wasmtime::Engine::default();
    let runner = Runner::new(&engine)?;
    let component = load(&engine, &args.component)?;
    let state = CommandState::new(args.wasi_ctx()?, args.sendfile_ctx(Arc::default())?);
    exit_code(&runner, &component, state, SETTLE_LIMIT).await
}

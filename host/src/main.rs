//! `wasm-sendfile`: runs WASI 0.2 components with the sendfile capability.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use wasm_sendfile::command::{CommandState, Runner};
use wasm_sendfile::{AddrRule, SendfileCtx};
use wasmtime::component::Component;
use wasmtime::error::Context;
use wasmtime::{Result, bail};
use wasmtime_wasi::{FsPerms, WasiCtx};

#[derive(Parser)]
#[command(name = "wasm-sendfile", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a component's `wasi:cli/run` with the sendfile capability.
    Run(RunArgs),
    /// Serve a directory over HTTP/1.1 with the bundled static-server guest.
    Serve(ServeArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// The directory to serve (read-only to the guest).
    dir: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    listen: std::net::SocketAddr,
    /// Most concurrent connections; more get 503.
    #[arg(long, default_value_t = 512)]
    max_connections: u32,
    /// Seconds a connection may make no progress before it is closed.
    #[arg(long, default_value_t = 30)]
    idle_timeout: u32,
}

/// The guest path `serve` mounts the directory at.
const SERVE_ROOT: &str = "/srv";

impl ServeArgs {
    /// `serve` is `run static-server` with a read-only preopen and leave to
    /// bind the one address.
    fn into_run(self) -> RunArgs {
        RunArgs {
            component: PathBuf::from("static-server"),
            dirs: Vec::new(),
            dirs_ro: vec![format!("{}::{SERVE_ROOT}", self.dir.display())],
            envs: vec![
                format!("STATIC_MAX_CONNECTIONS={}", self.max_connections),
                format!("STATIC_IDLE_SECS={}", self.idle_timeout),
            ],
            allow_bind: vec![AddrRule::exact(self.listen)],
            allow_connect: Vec::new(),
            allow_file_targets: false,
            max_chunk: None,
            args: vec![SERVE_ROOT.to_string(), self.listen.to_string()],
        }
    }
}

/// Sample guests built into this binary, runnable by name.
const BUNDLED: &[(&str, &[u8])] = &[
    ("song-server", wasm_sendfile_artifacts::SONG_SERVER_WASM),
    ("song-client", wasm_sendfile_artifacts::SONG_CLIENT_WASM),
    ("static-server", wasm_sendfile_artifacts::STATIC_SERVER_WASM),
];

#[derive(clap::Args)]
struct RunArgs {
    /// The component (.wasm) to run, or the name of a bundled sample guest
    /// (song-server, song-client, static-server).
    component: PathBuf,
    /// Grant a host directory, as HOST or HOST::GUEST (like `wasmtime run`).
    #[arg(long = "dir", value_name = "HOST[::GUEST]")]
    dirs: Vec<String>,
    /// Grant a directory read-only, as HOST or HOST::GUEST.
    #[arg(long = "dir-ro", value_name = "HOST[::GUEST]")]
    dirs_ro: Vec<String>,
    /// Set an environment variable for the guest.
    #[arg(long = "env", value_name = "K=V")]
    envs: Vec<String>,
    /// Let the guest bind/listen on ADDR (IP, IP:PORT, [IPv6]:PORT, *, *:PORT).
    #[arg(long = "allow-bind", value_name = "ADDR")]
    allow_bind: Vec<AddrRule>,
    /// Let the guest connect to ADDR (same forms as --allow-bind).
    #[arg(long = "allow-connect", value_name = "ADDR")]
    allow_connect: Vec<AddrRule>,
    /// Let the guest use writable files as sendfile targets.
    #[arg(long)]
    allow_file_targets: bool,
    /// Most file bytes per system call.
    #[arg(long, value_name = "BYTES")]
    max_chunk: Option<u64>,
    /// Arguments passed to the guest (after `--`).
    #[arg(last = true)]
    args: Vec<String>,
}

fn split_dir(spec: &str) -> (&str, &str) {
    spec.split_once("::").unwrap_or((spec, spec))
}

fn wasi_ctx(args: &RunArgs) -> Result<WasiCtx> {
    let mut b = WasiCtx::builder();
    b.inherit_stdio();
    let name = args.component.display().to_string();
    b.arg(&name);
    for a in &args.args {
        b.arg(a);
    }
    for e in &args.envs {
        let Some((k, v)) = e.split_once('=') else {
            bail!("--env `{e}`: expected K=V");
        };
        b.env(k, v);
    }
    let grants = args
        .dirs
        .iter()
        .map(|d| (d, FsPerms::ReadWrite))
        .chain(args.dirs_ro.iter().map(|d| (d, FsPerms::ReadOnly)));
    for (spec, perms) in grants {
        let (host, guest) = split_dir(spec);
        b.preopened_dir(host, guest, perms)
            .with_context(|| format!("--dir `{host}`"))?;
    }
    Ok(b.build())
}

fn sendfile_ctx(args: &RunArgs) -> Result<SendfileCtx> {
    let mut b = SendfileCtx::builder().allow_file_targets(args.allow_file_targets);
    if let Some(n) = args.max_chunk {
        if n == 0 {
            bail!("--max-chunk must be positive");
        }
        b = b.max_chunk(n);
    }
    for r in &args.allow_bind {
        b = b.allow_bind(*r);
    }
    for r in &args.allow_connect {
        b = b.allow_connect(*r);
    }
    Ok(b.build())
}

/// A component from a file, or a bundled sample when no such file exists.
fn load(engine: &wasmtime::Engine, path: &std::path::Path) -> Result<Component> {
    let bundled = BUNDLED
        .iter()
        .find(|(name, _)| path.as_os_str() == *name && !path.exists());
    match bundled {
        Some((name, bytes)) => {
            Component::new(engine, bytes).with_context(|| format!("loading bundled `{name}`"))
        }
        None => Component::from_file(engine, path)
            .with_context(|| format!("loading `{}`", path.display())),
    }
}

async fn run(args: RunArgs) -> Result<ExitCode> {
    let engine = wasmtime::Engine::default();
    let runner = Runner::new(&engine)?;
    let component = load(&engine, &args.component)?;
    let state = CommandState::new(wasi_ctx(&args)?, sendfile_ctx(&args)?);
    match runner.run(&component, state).await {
        Ok(Ok(())) => Ok(ExitCode::SUCCESS),
        Ok(Err(())) => Ok(ExitCode::FAILURE),
        Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
            Some(exit) => Ok(ExitCode::from(exit.0.clamp(0, 255) as u8)),
            None => Err(e.context("guest trapped")),
        },
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        match cli.command {
            Cmd::Run(args) => run(args).await,
            Cmd::Serve(args) => {
                if !args.dir.is_dir() {
                    bail!("`{}` is not a directory", args.dir.display());
                }
                run(args.into_run()).await
            }
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, without the wasm backtrace
/// (which wasmtime puts in the chain as a multi-line message).
fn one_line(e: &wasmtime::Error) -> String {
    e.chain()
        .map(|c| c.to_string())
        .filter(|m| !m.starts_with("error while executing at wasm backtrace"))
        .map(|m| m.lines().next().unwrap_or_default().to_string())
        .collect::<Vec<_>>()
        .join(": ")
}

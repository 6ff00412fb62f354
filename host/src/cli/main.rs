//! `wasm-sendfile`: runs WASI 0.2 components with the sendfile capability.

mod http;
mod metrics_endpoint;
mod network;
mod run;
mod serve;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "wasm-sendfile", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run a component's `wasi:cli/run` with the sendfile capability.
    Run(run::RunArgs),
    /// Serve a directory over HTTP/1.1 with the bundled static-server guest.
    Serve(serve::ServeArgs),
    /// Serve a `wasi:http/proxy` component over HTTP/1.1, an instance per
    /// request; file bodies it answers with go by sendfile.
    Http(http::HttpArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The host's log on stderr: warnings (a refused socket address, a
    // worker restarted) by default; `RUST_LOG` tunes it (`RUST_LOG=debug`
    // shows each call that fell back to copying, say).
    let filter = tracing_subscriber::EnvFilter::builder()
        .with_default_directive(tracing::level_filters::LevelFilter::WARN.into())
        .from_env_lossy();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let backend = wasm_sendfile::Backend::CURRENT;
    tracing::info!(
        backend = backend.name(),
        zero_copy = backend.zero_copy(),
        "sendfile system-call backend"
    );
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Cmd::Http(http::HttpArgs {
        workers: Some(n), ..
    }) = &cli.command
    {
        rt.worker_threads((*n).max(1));
    }
    let rt = match rt.build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        match cli.command {
            Cmd::Run(args) => run::run(args).await,
            Cmd::Serve(args) => serve::serve(args).await,
            Cmd::Http(args) => http::http(args).await,
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
pub(crate) fn one_line(e: &wasmtime::Error) -> String {
    e.chain()
        .map(|c| c.to_string())
        .filter(|m| !m.starts_with("error while executing at wasm backtrace"))
        // Whole messages, on one line (wasmtime's can span several).
        .map(|m| m.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join(": ")
}

//! Embedding the `wasi:http` server in your own program, on your own tokio
//! runtime: a `wasi:http/proxy` component answers each request in a fresh
//! instance, and file bodies it answers with through `http-file` go out
//! by `sendfile(2)`.
//!
//! Serves a directory with the `http-files` guest this repository builds
//! until Ctrl-C:
//!
//! ```sh
//! cargo run -p wasm-sendfile --example http_embed -- \
//!     target/wasm-guests/wasm32-wasip2/release/http_files.wasm \
//!     guests/songs 127.0.0.1:8080
//! ```
//!
//! Its dependencies, in a project of your own:
//!
//! ```toml
//! [dependencies]
//! wasm-sendfile = { path = "path/to/wasm-sendfile/host", default-features = false }
//! wasmtime = "48"
//! wasmtime-wasi = "48"
//! tokio = { version = "1", features = ["macros", "rt-multi-thread", "net", "signal"] }
//! ```

use std::process::ExitCode;
use std::sync::Arc;
use wasm_sendfile::SendfileCtx;
use wasm_sendfile::http::{HttpConfig, HttpServer, HttpState};
use wasmtime::Engine;
use wasmtime::component::Component;
use wasmtime_wasi::{FsPerms, WasiCtx};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [component, dir, addr] = args.as_slice() else {
        eprintln!("usage: http_embed COMPONENT.wasm DIR ADDR");
        return ExitCode::FAILURE;
    };
    match serve(component, dir, addr).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(component: &str, dir: &str, addr: &str) -> wasmtime::Result<()> {
    // Epoch interruption (the request timeout) and the pooling allocator.
    let engine = Engine::new(&HttpServer::engine_config())?;
    let component = Component::from_file(&engine, component)?;
    let dir = dir.to_string();
    // Each request's instance gets its own store: the directory read-only
    // at `/`, and the capability's default policy.
    let new_state = move || {
        let mut wasi = WasiCtx::builder();
        wasi.preopened_dir(&dir, "/", FsPerms::ReadOnly)?;
        Ok(HttpState::new(wasi.build(), SendfileCtx::builder().build()))
    };
    let server = Arc::new(HttpServer::new(
        &engine,
        &component,
        HttpConfig::default(),
        new_state,
    )?);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("serving on http://{}/", listener.local_addr()?);
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let metrics = server.metrics().clone();
    server.serve(listener, ctrl_c).await?;
    let m = metrics.snapshot();
    println!(
        "file bodies: {} ({} bytes zero-copy, {} small-copy)",
        m.calls, m.zero_copy_bytes, m.small_copy_bytes
    );
    Ok(())
}

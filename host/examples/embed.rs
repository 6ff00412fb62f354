//! Embedding the capability in your own wasmtime host: all of WASI from
//! wasmtime-wasi, plus `sendfile` and the host's own `wasi:sockets/tcp`.
//!
//! Runs a `wasi:cli/command` component with a directory preopened
//! read-only at `/srv`, standard I/O inherited, and leave to bind one
//! address, e.g. the static-server guest this repository builds:
//!
//! ```sh
//! cargo run -p wasm-sendfile --example embed -- \
//!     target/wasm-guests/wasm32-wasip2/release/static-server.wasm \
//!     guests/songs 127.0.0.1:8080 -- /srv 127.0.0.1:8080
//! ```
//!
//! Its dependencies, in a project of your own:
//!
//! ```toml
//! [dependencies]
//! wasm-sendfile = { path = "path/to/wasm-sendfile/host", default-features = false }
//! wasmtime = "48"
//! wasmtime-wasi = "48"
//! tokio = { version = "1", features = ["macros", "rt-multi-thread"] }
//! ```

use std::process::ExitCode;
use std::time::Duration;
use wasm_sendfile::{AddrRule, SendfileCtx, SendfileCtxView, SendfileView};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::p2::bindings::Command;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};

/// The store's data: both contexts share one resource table.
struct MyState {
    wasi: WasiCtx,
    sendfile: SendfileCtx,
    table: ResourceTable,
}

impl WasiView for MyState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl SendfileView for MyState {
    fn sendfile(&mut self) -> SendfileCtxView<'_> {
        SendfileCtxView {
            ctx: &mut self.sendfile,
            table: &mut self.table,
        }
    }
}

#[tokio::main]
async fn main() -> wasmtime::Result<ExitCode> {
    // COMPONENT DIR ADDR [-- GUEST-ARGS...]
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [component, dir, addr, rest @ ..] = args.as_slice() else {
        eprintln!("usage: embed COMPONENT DIR ADDR [-- GUEST-ARGS...]");
        return Ok(ExitCode::from(2));
    };
    let guest_args = rest.strip_prefix(&["--".to_string()]).unwrap_or(rest);

    let engine = Engine::default();
    let mut linker = Linker::<MyState>::new(&engine);
    // All of WASI plus the capability, in one call. (On a linker that
    // already has wasmtime-wasi, call `add_only_sendfile_to_linker_async`
    // after it instead.)
    wasm_sendfile::add_to_linker_async(&mut linker)?;

    let mut wasi = WasiCtx::builder();
    wasi.inherit_stdio()
        .arg(component)
        .args(guest_args)
        // wasmtime-wasi's switch for TCP, off by default; the host's own
        // TCP honours it as wasmtime-wasi's does.
        .allow_tcp(true)
        .preopened_dir(dir, "/srv", FsPerms::ReadOnly)?;
    // Which addresses TCP sockets may use is the SendfileCtx's policy.
    let sendfile = SendfileCtx::builder()
        .allow_bind(addr.parse::<AddrRule>()?)
        .build();
    let pending = sendfile.pending_writes().clone();
    let state = MyState {
        wasi: wasi.build(),
        sendfile,
        table: ResourceTable::new(),
    };
    let mut store = Store::new(&engine, state);
    let component = Component::from_file(&engine, component)?;
    let command = Command::instantiate_async(&mut store, &component, &linker).await?;
    let result = command.wasi_cli_run().call_run(&mut store).await;
    drop(store);
    // Bytes the guest wrote that its peers have not taken yet still go
    // out, as after close(2): let them, for a while, before the runtime
    // stops.
    pending.settle(Duration::from_secs(10)).await;
    Ok(match result {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(())) => ExitCode::FAILURE,
        Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
            Some(exit) => ExitCode::from(exit.0.clamp(0, 255) as u8),
            None => return Err(e),
        },
    })
}

//! # wasm-sendfile
//!
//! A wasmtime host capability that lets WASI 0.2 components send a file to a
//! TCP socket (or another file) with the kernel's zero-copy `sendfile(2)`,
//! naming only handles they already hold: their `wasi:filesystem`
//! descriptor and their `wasi:sockets` tcp-socket.
//!
//! The contract is `wit/sendfile.wit` (package
//! `wasm-sendfile:sendfile@0.1.0`); its doc comments define every call,
//! count and error. Reading path: WIT → [`p2`](crate) host file for the
//! interface (`src/p2/sendfile.rs`) → transfer engine (`src/transfer/`) →
//! system calls (`src/sys/`).
//!
//! wasmtime-wasi keeps its TCP socket's file descriptor private, so this
//! crate also ships a complete `wasi:sockets/tcp` of its own, a drop-in
//! replacement (Rust `std::net` guests run unchanged). Every other WASI
//! interface comes from wasmtime-wasi.
//!
//! # Embedding
//!
//! ```no_run
//! use wasm_sendfile::{AddrRule, SendfileCtx, SendfileCtxView, SendfileView};
//! use wasmtime::component::{Component, Linker, ResourceTable};
//! use wasmtime::{Engine, Store};
//! use wasmtime_wasi::p2::bindings::Command;
//! use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
//!
//! struct MyState {
//!     wasi: WasiCtx,
//!     sendfile: SendfileCtx,
//!     table: ResourceTable,
//! }
//!
//! impl WasiView for MyState {
//!     fn ctx(&mut self) -> WasiCtxView<'_> {
//!         WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
//!     }
//! }
//!
//! impl SendfileView for MyState {
//!     fn sendfile(&mut self) -> SendfileCtxView<'_> {
//!         SendfileCtxView { ctx: &mut self.sendfile, table: &mut self.table }
//!     }
//! }
//!
//! #[tokio::main]
//! async fn main() -> wasmtime::Result<()> {
//!     let engine = Engine::default();
//!     let mut linker = Linker::<MyState>::new(&engine);
//!     // All of WASI plus the capability, in one call.
//!     wasm_sendfile::add_to_linker_async(&mut linker)?;
//!
//!     let state = MyState {
//!         wasi: WasiCtx::builder()
//!             // wasmtime-wasi's switch for TCP (off by default), which the
//!             // host's own TCP honours too.
//!             .allow_tcp(true)
//!             .preopened_dir("public", "/", wasmtime_wasi::FsPerms::ReadOnly)?
//!             .build(),
//!         sendfile: SendfileCtx::builder()
//!             .allow_bind("127.0.0.1:8080".parse::<AddrRule>().unwrap())
//!             .build(),
//!         table: ResourceTable::new(),
//!     };
//!     let mut store = Store::new(&engine, state);
//!     let component = Component::from_file(&engine, "server.wasm")?;
//!     let command = Command::instantiate_async(&mut store, &component, &linker).await?;
//!     let _ = command.wasi_cli_run().call_run(&mut store).await?;
//!     Ok(())
//! }
//! ```

#![deny(missing_docs)]

mod bindings;
pub mod command;
mod ctx;
pub mod http;
mod linker;
mod memory;
mod metrics;
mod p2;
mod policy;
mod sockets;
mod sys;
mod transfer;
mod view;

pub use ctx::{SendfileCtx, SendfileCtxBuilder};
pub use linker::{add_only_sendfile_to_linker_async, add_to_linker_async};
pub use memory::{MemoryTracker, MemoryUsage};
pub use metrics::{Metrics, MetricsSnapshot, PrometheusKind, PrometheusText};
pub use policy::{AddrCheck, AddrRule, AddrRuleParseError, Policy, SocketAddrUse};
pub use sockets::{PendingWrites, TcpSocket};
pub use sys::Backend;
pub use view::{SendfileCtxView, SendfileView};

//! A ready-made store state and runner for `wasi:cli/command` components,
//! used by the CLI and the tests; embedders with their own state type use
//! [`crate::add_to_linker_async`] directly.

use crate::ctx::SendfileCtx;
use crate::memory::{MemoryTracker, MemoryUsage};
use crate::view::{SendfileCtxView, SendfileView};
use std::sync::Arc;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::p2::bindings::Command;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

/// Store data holding WASI, the capability, and their shared table.
pub struct CommandState {
    /// wasmtime-wasi's context (args, env, preopens, stdio).
    pub wasi: WasiCtx,
    /// The capability's context (policy, metrics).
    pub sendfile: SendfileCtx,
    /// The resource table both share.
    pub table: ResourceTable,
    /// Records the guest's linear memory (see [`CommandState::memory_usage`]).
    pub memory: MemoryTracker,
}

impl CommandState {
    /// State with the given contexts and an empty table.
    pub fn new(wasi: WasiCtx, sendfile: SendfileCtx) -> Self {
        Self {
            wasi,
            sendfile,
            table: ResourceTable::new(),
            memory: MemoryTracker::new(),
        }
    }

    /// The guest's linear-memory figures, readable while it runs.
    pub fn memory_usage(&self) -> Arc<MemoryUsage> {
        self.memory.usage()
    }
}

impl WasiView for CommandState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl SendfileView for CommandState {
    fn sendfile(&mut self) -> SendfileCtxView<'_> {
        SendfileCtxView {
            ctx: &mut self.sendfile,
            table: &mut self.table,
        }
    }
}

/// Compiles components and runs them as commands with the capability.
pub struct Runner {
    engine: Engine,
    linker: Linker<CommandState>,
}

impl Runner {
    /// A runner on `engine`, with all of WASI and the capability linked.
    pub fn new(engine: &Engine) -> wasmtime::Result<Self> {
        let mut linker = Linker::new(engine);
        crate::add_to_linker_async(&mut linker)?;
        Ok(Self {
            engine: engine.clone(),
            linker,
        })
    }

    /// The engine components are compiled for.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Runs `component`'s `wasi:cli/run` with `state`. `Ok(Ok(()))` is a
    /// successful exit, `Ok(Err(()))` a failing one (`exit(1)` or an error
    /// from `main`); an `Err` is a trap or an `exit` with another code
    /// (see [`wasmtime_wasi::I32Exit`]).
    pub async fn run(
        &self,
        component: &Component,
        state: CommandState,
    ) -> wasmtime::Result<Result<(), ()>> {
        let mut store = self.store(state);
        self.run_in(component, &mut store).await
    }

    /// A store for `state` on this runner's engine, with the guest's linear
    /// memory tracked (see [`CommandState::memory_usage`]). Set epoch
    /// deadlines or fuel on it before [`Runner::run_in`].
    pub fn store(&self, state: CommandState) -> Store<CommandState> {
        let counting = state
            .sendfile
            .count_host_calls
            .then(|| state.sendfile.metrics().clone());
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.memory);
        if let Some(metrics) = counting {
            metrics.count_host_calls(&mut store);
        }
        store
    }

    /// Like [`Runner::run`], in a store the caller keeps: to configure it
    /// first, or to inspect its state (resource table, metrics) after the
    /// guest ended or trapped. Everything the guest held is released when
    /// the store is dropped.
    pub async fn run_in(
        &self,
        component: &Component,
        store: &mut Store<CommandState>,
    ) -> wasmtime::Result<Result<(), ()>> {
        let command = Command::instantiate_async(&mut *store, component, &self.linker).await?;
        command.wasi_cli_run().call_run(&mut *store).await
    }
}

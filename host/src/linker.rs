//! Adding the capability to a [`Linker`].

use crate::bindings;
use crate::p2::tcp_create_socket::{CreateSocket, StoreView};
use crate::view::{Sendfile, SendfileView};
use wasmtime::component::{Linker, ResourceType};
use wasmtime_wasi::WasiView;

/// Adds every WASI 0.2 interface (from wasmtime-wasi) plus this crate's:
/// the `sendfile` capability and the host's own `wasi:sockets/tcp` and
/// `tcp-create-socket`, which replace wasmtime-wasi's.
///
/// Use this when the linker has no WASI yet. Guests need a tokio runtime,
/// as with wasmtime-wasi, and must be run with the async APIs
/// (`instantiate_async`, `call_async`).
///
/// # Network policy
/// The host's tcp honours the `WasiCtx`'s TCP switch
/// (`WasiCtxBuilder::allow_tcp`, off by default, as in wasmtime-wasi) and
/// takes its address policy from the [`crate::SendfileCtx`]
/// ([`crate::SendfileCtxBuilder::allow_bind`], `allow_connect`,
/// `socket_addr_check`): wasmtime-wasi keeps the `WasiCtx`'s address check
/// private, so it cannot apply to the host's tcp. Refusals are logged with
/// `tracing`. UDP and name lookup are wasmtime-wasi's, under the `WasiCtx`.
pub fn add_to_linker_async<T: WasiView + SendfileView>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    add_only_sendfile_to_linker_async(linker)
}

/// Adds only this crate's interfaces: `wasm-sendfile:sendfile/sendfile`,
/// `wasm-sendfile:sendfile/http-stats`, `wasi:sockets/tcp` and
/// `wasi:sockets/tcp-create-socket`.
///
/// For linkers that already hold wasmtime-wasi's interfaces: call it
/// *after* adding them. The store's data must give access to both
/// contexts: `create-tcp-socket` reads the `WasiCtx`'s TCP switch. It turns
/// on [`Linker::allow_shadowing`] so its two socket interfaces replace
/// wasmtime-wasi's (both must be replaced together: their `tcp-socket`
/// resource types must agree), and leaves it on.
///
/// # Errors
/// If wasmtime-wasi's `wasi:filesystem/types` is not in the linker yet
/// (this function was called first), the error says which functions to
/// call in which order; the linker may then hold a placeholder for it, so
/// build a new one. Called first, wasmtime-wasi's interfaces would replace
/// this crate's `tcp-socket` and instantiation would fail with a bare
/// "resource type mismatch".
pub fn add_only_sendfile_to_linker_async<T: WasiView + SendfileView>(
    linker: &mut Linker<T>,
) -> wasmtime::Result<()> {
    require_wasmtime_wasi(linker)?;
    linker.allow_shadowing(true);
    bindings::sendfile::add_to_linker::<T, Sendfile>(linker, T::sendfile)?;
    bindings::http_stats::add_to_linker::<T, Sendfile>(linker, T::sendfile)?;
    bindings::tcp::add_to_linker::<T, Sendfile>(linker, T::sendfile)?;
    bindings::tcp_create_socket::add_to_linker::<T, CreateSocket<T>>(linker, |t| StoreView(t))?;
    Ok(())
}

/// The interface whose presence shows wasmtime-wasi's were added: the
/// capability takes its `descriptor`s.
const WASI_FILESYSTEM_TYPES: &str = "wasi:filesystem/types@0.2.12";

/// An error unless `linker` already defines wasmtime-wasi's
/// `descriptor`. The linker has no query, so this tries to define a
/// placeholder with shadowing off: refused means it is there.
fn require_wasmtime_wasi<T>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    struct Placeholder;
    linker.allow_shadowing(false);
    let placeholder = linker.instance(WASI_FILESYSTEM_TYPES)?.resource(
        "descriptor",
        ResourceType::host::<Placeholder>(),
        |_, _| Ok(()),
    );
    match placeholder {
        Err(_) => Ok(()),
        Ok(()) => Err(wasmtime::Error::msg(format!(
            "wasm-sendfile was added to a linker without wasmtime-wasi's interfaces \
             ({WASI_FILESYSTEM_TYPES} is missing): on a new `Linker`, call \
             `wasmtime_wasi::p2::add_to_linker_async(&mut linker)` first and \
             `wasm_sendfile::add_only_sendfile_to_linker_async(&mut linker)` after it, \
             or `wasm_sendfile::add_to_linker_async(&mut linker)`, which does both in that order"
        ))),
    }
}

//! `wasi:sockets/tcp-create-socket`: creates the host's own sockets.
//!
//! Whether guests may use TCP at all is wasmtime-wasi's switch,
//! `WasiCtxBuilder::allow_tcp`, honoured exactly as wasmtime-wasi honours
//! it: `create-tcp-socket` is `access-denied` while it is off (as it is in a
//! default `WasiCtx`). wasmtime-wasi keeps the switch private, so it is read
//! by asking wasmtime-wasi itself to create a socket once per store (the
//! probe is closed at once) and remembering the answer; a `WasiCtx` cannot
//! change after it is built.

use crate::bindings::tcp_create_socket::Host;
use crate::sockets::TcpSocket;
use crate::view::SendfileView;
use std::marker::PhantomData;
use wasmtime::component::{HasData, Resource};
use wasmtime_wasi::p2::bindings::sockets::network::{self, ErrorCode, IpAddressFamily};
use wasmtime_wasi::p2::{SocketError, SocketResult};
use wasmtime_wasi::sockets::WasiSocketsCtxView;
use wasmtime_wasi::{WasiCtxView, WasiView};

/// [`HasData`] for `tcp-create-socket`, whose host reaches the whole store
/// state: both wasmtime-wasi's context and the capability's.
pub(crate) struct CreateSocket<T>(PhantomData<fn() -> T>);

impl<T: 'static> HasData for CreateSocket<T> {
    type Data<'a> = StoreView<'a, T>;
}

/// The whole store state, borrowed for one call.
pub(crate) struct StoreView<'a, T>(pub(crate) &'a mut T);

impl<T: WasiView + SendfileView> Host for StoreView<'_, T> {
    fn create_tcp_socket(&mut self, family: IpAddressFamily) -> SocketResult<Resource<TcpSocket>> {
        if !wasi_allows_tcp(self.0)? {
            return Err(ErrorCode::AccessDenied.into());
        }
        let view = self.0.sendfile();
        let shared = crate::sockets::Shared {
            drains: view.ctx.pending_writes.clone(),
            metrics: view.ctx.metrics.clone(),
        };
        let socket =
            wasmtime_wasi::runtime::with_ambient_tokio_runtime(|| TcpSocket::new(family, shared))?;
        Ok(view.table.push(socket)?)
    }
}

/// Errors convert exactly as in `tcp`: by its host's `network` impl.
impl<T: WasiView + SendfileView> network::Host for StoreView<'_, T> {
    fn convert_error_code(&mut self, error: SocketError) -> wasmtime::Result<ErrorCode> {
        self.0.sendfile().convert_error_code(error)
    }

    fn network_error_code(
        &mut self,
        err: Resource<wasmtime::Error>,
    ) -> wasmtime::Result<Option<ErrorCode>> {
        self.0.sendfile().network_error_code(err)
    }
}

impl<T: WasiView + SendfileView> network::HostNetwork for StoreView<'_, T> {
    fn drop(&mut self, this: Resource<network::Network>) -> wasmtime::Result<()> {
        self.0.sendfile().drop(this)
    }
}

/// Whether wasmtime-wasi's context lets guests create TCP sockets.
fn wasi_allows_tcp<T: WasiView + SendfileView>(state: &mut T) -> SocketResult<bool> {
    if let Some(known) = state.sendfile().ctx.wasi_allows_tcp {
        return Ok(known);
    }
    let WasiCtxView { ctx, table } = state.ctx();
    let mut view = WasiSocketsCtxView {
        ctx: ctx.sockets(),
        table,
    };
    use wasmtime_wasi::p2::bindings::sockets::tcp_create_socket::Host as _;
    let allowed = match view.create_tcp_socket(IpAddressFamily::Ipv4) {
        Ok(probe) => {
            view.table.delete(probe)?;
            true
        }
        Err(e) => match e.downcast() {
            Ok(ErrorCode::AccessDenied) => false,
            // No socket could be made (descriptors exhausted, say): the
            // guest's own attempt would fail alike; ask again next time.
            Ok(code) => return Err(code.into()),
            Err(trap) => return Err(SocketError::trap(trap)),
        },
    };
    state.sendfile().ctx.wasi_allows_tcp = Some(allowed);
    Ok(allowed)
}

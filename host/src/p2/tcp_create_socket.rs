//! `wasi:sockets/tcp-create-socket`: creates the host's own sockets.

use crate::bindings::tcp_create_socket::Host;
use crate::sockets::TcpSocket;
use crate::view::SendfileCtxView;
use wasmtime::component::Resource;
use wasmtime_wasi::p2::SocketResult;
use wasmtime_wasi::p2::bindings::sockets::network::IpAddressFamily;

impl Host for SendfileCtxView<'_> {
    fn create_tcp_socket(&mut self, family: IpAddressFamily) -> SocketResult<Resource<TcpSocket>> {
        let drains = self.ctx.pending_writes.clone();
        let socket =
            wasmtime_wasi::runtime::with_ambient_tokio_runtime(|| TcpSocket::new(family, drains))?;
        Ok(self.table.push(socket)?)
    }
}

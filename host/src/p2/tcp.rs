//! `wasi:sockets/tcp` over [`TcpSocket`], with the host policy's bind and
//! connect checks.
//!
//! Order in each method, as in wasmtime-wasi: look the resource up (a stale
//! handle traps), check the policy, then make the system call.
//!
//! The address policy is the [`crate::Policy`]'s (its rules and its
//! `addr_check`), not wasmtime-wasi's `WasiCtx` one, which no other crate
//! can read; a refusal is logged (`tracing`, level warn) with the address,
//! so an embedder who set only the `WasiCtx` one sees why.

use crate::bindings::tcp::{Host, HostTcpSocket, ShutdownType};
use crate::policy::{Policy, SocketAddrUse};
use crate::sockets::{self, Bind, Pending, TcpSocket};
use crate::view::SendfileCtxView;
use std::net::SocketAddr;
use wasmtime::component::Resource;
use wasmtime_wasi::p2::bindings::sockets::network::{
    self, ErrorCode, IpAddressFamily, IpSocketAddress, Network,
};
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, DynPollable, SocketError, SocketResult};

type Duration = u64;

impl Host for SendfileCtxView<'_> {}

/// `tcp`'s bindings convert errors through `network`'s host trait; the
/// `network` interface itself stays linked to wasmtime-wasi.
impl network::Host for SendfileCtxView<'_> {
    fn convert_error_code(&mut self, error: SocketError) -> wasmtime::Result<ErrorCode> {
        error.downcast()
    }

    fn network_error_code(
        &mut self,
        err: Resource<wasmtime::Error>,
    ) -> wasmtime::Result<Option<ErrorCode>> {
        let err = self.table.get(&err)?;
        Ok(err.downcast_ref::<std::io::Error>().map(ErrorCode::from))
    }
}

impl network::HostNetwork for SendfileCtxView<'_> {
    fn drop(&mut self, this: Resource<Network>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

impl SendfileCtxView<'_> {
    fn socket(&mut self, this: &Resource<TcpSocket>) -> SocketResult<&mut TcpSocket> {
        Ok(self.table.get_mut(this)?)
    }
}

/// Logs a refusal by the policy (the guest only sees `access-denied`), once
/// the call got as far as asking it: `result` is the call's, `refused`
/// whether the policy said no.
fn logged<T>(
    result: Result<T, ErrorCode>,
    refused: bool,
    addr: SocketAddr,
    usage: SocketAddrUse,
    policy: &Policy,
) -> Result<T, ErrorCode> {
    // An invalid address or state fails before the policy matters.
    let asked = matches!(result, Ok(_) | Err(ErrorCode::AccessDenied));
    if refused && asked {
        tracing::warn!(
            "wasi:sockets/tcp: {usage:?} {addr} refused by the host's policy: {} \
             (the SendfileCtx's; WasiCtx network settings do not apply to the host's tcp)",
            policy.refusal(usage)
        );
    }
    result
}

impl HostTcpSocket for SendfileCtxView<'_> {
    async fn start_bind(
        &mut self,
        this: Resource<TcpSocket>,
        network: Resource<Network>,
        local_address: IpSocketAddress,
    ) -> SocketResult<()> {
        // The network handle is the capability to use sockets at all; it
        // carries no state of its own.
        self.table.get(&network)?;
        self.socket(&this)?;
        let addr = SocketAddr::from(local_address);
        let allowed = self.ctx.policy.allows(addr, SocketAddrUse::TcpBind).await;
        let policy = &self.ctx.policy;
        let bind = match policy.listener_for(addr).map(|l| l.try_clone()) {
            Some(Ok(listener)) => Bind::Listening(listener),
            Some(Err(e)) => return Err(ErrorCode::from(e).into()),
            None => Bind::Fresh {
                reuse_port: policy.reuse_port,
            },
        };
        let result = self.socket(&this)?.start_bind(addr, allowed, bind);
        Ok(logged(
            result,
            !allowed,
            addr,
            SocketAddrUse::TcpBind,
            &self.ctx.policy,
        )?)
    }

    fn finish_bind(&mut self, this: Resource<TcpSocket>) -> SocketResult<()> {
        Ok(self.socket(&this)?.finish(Pending::Bind)?)
    }

    async fn start_connect(
        &mut self,
        this: Resource<TcpSocket>,
        network: Resource<Network>,
        remote_address: IpSocketAddress,
    ) -> SocketResult<()> {
        self.table.get(&network)?;
        let socket = self.socket(&this)?;
        let (bound, wildcard) = (socket.is_bound(), socket.wildcard());
        let addr = SocketAddr::from(remote_address);
        let policy = &self.ctx.policy;
        let allowed = (bound || policy.allows_implicit_bind(wildcard).await)
            && policy.allows(addr, SocketAddrUse::TcpConnect).await;
        let socket = self.socket(&this)?;
        let result = wasmtime_wasi::runtime::with_ambient_tokio_runtime(|| {
            socket.start_connect(addr, allowed)
        });
        Ok(logged(
            result,
            !allowed,
            addr,
            SocketAddrUse::TcpConnect,
            &self.ctx.policy,
        )?)
    }

    fn finish_connect(
        &mut self,
        this: Resource<TcpSocket>,
    ) -> SocketResult<(Resource<DynInputStream>, Resource<DynOutputStream>)> {
        let socket = self.socket(&this)?;
        let (input, output) =
            wasmtime_wasi::runtime::with_ambient_tokio_runtime(|| socket.finish_connect())?;
        let input = self.table.push_child(input, &this)?;
        let output = self.table.push_child(output, &this)?;
        Ok((input, output))
    }

    async fn start_listen(&mut self, this: Resource<TcpSocket>) -> SocketResult<()> {
        let socket = self.socket(&this)?;
        // Bound (WASI 0.2 requires it; `start_listen` says so if not): the
        // policy is asked about the address the socket listens on.
        let local = socket.local_address().ok();
        let allowed = match local {
            Some(addr) => self.ctx.policy.allows(addr, SocketAddrUse::TcpListen).await,
            None => true,
        };
        let socket = self.socket(&this)?;
        let result =
            wasmtime_wasi::runtime::with_ambient_tokio_runtime(|| socket.start_listen(allowed));
        match local {
            Some(addr) => Ok(logged(
                result,
                !allowed,
                addr,
                SocketAddrUse::TcpListen,
                &self.ctx.policy,
            )?),
            None => Ok(result?),
        }
    }

    fn finish_listen(&mut self, this: Resource<TcpSocket>) -> SocketResult<()> {
        Ok(self.socket(&this)?.finish(Pending::Listen)?)
    }

    async fn accept(
        &mut self,
        this: Resource<TcpSocket>,
    ) -> SocketResult<(
        Resource<TcpSocket>,
        Resource<DynInputStream>,
        Resource<DynOutputStream>,
    )> {
        let listener = self.socket(&this)?;
        let (stream, peer) =
            wasmtime_wasi::runtime::with_ambient_tokio_runtime(|| listener.next_connection())?;
        // A peer the policy refuses is reset unseen, as in wasmtime-wasi;
        // the guest is told to wait for the next one.
        if !self.ctx.policy.allows(peer, SocketAddrUse::TcpAccept).await {
            sockets::refuse(stream);
            return Err(ErrorCode::WouldBlock.into());
        }
        let (socket, input, output) = self.socket(&this)?.adopt(stream, peer)?;
        let socket = self.table.push(socket)?;
        let input = self.table.push_child(input, &socket)?;
        let output = self.table.push_child(output, &socket)?;
        Ok((socket, input, output))
    }

    fn local_address(&mut self, this: Resource<TcpSocket>) -> SocketResult<IpSocketAddress> {
        Ok(self.socket(&this)?.local_address()?.into())
    }

    fn remote_address(&mut self, this: Resource<TcpSocket>) -> SocketResult<IpSocketAddress> {
        Ok(self.socket(&this)?.remote_address()?.into())
    }

    fn is_listening(&mut self, this: Resource<TcpSocket>) -> wasmtime::Result<bool> {
        Ok(self.table.get(&this)?.is_listening())
    }

    fn address_family(&mut self, this: Resource<TcpSocket>) -> wasmtime::Result<IpAddressFamily> {
        Ok(self.table.get(&this)?.family())
    }

    fn set_listen_backlog_size(
        &mut self,
        this: Resource<TcpSocket>,
        value: u64,
    ) -> SocketResult<()> {
        Ok(self.socket(&this)?.set_listen_backlog_size(value)?)
    }

    fn keep_alive_enabled(&mut self, this: Resource<TcpSocket>) -> SocketResult<bool> {
        Ok(self.socket(&this)?.keep_alive_enabled()?)
    }

    fn set_keep_alive_enabled(
        &mut self,
        this: Resource<TcpSocket>,
        value: bool,
    ) -> SocketResult<()> {
        Ok(self.socket(&this)?.set_keep_alive_enabled(value)?)
    }

    fn keep_alive_idle_time(&mut self, this: Resource<TcpSocket>) -> SocketResult<Duration> {
        Ok(self.socket(&this)?.keep_alive_idle_time()?)
    }

    fn set_keep_alive_idle_time(
        &mut self,
        this: Resource<TcpSocket>,
        value: Duration,
    ) -> SocketResult<()> {
        Ok(self.socket(&this)?.set_keep_alive_idle_time(value)?)
    }

    fn keep_alive_interval(&mut self, this: Resource<TcpSocket>) -> SocketResult<Duration> {
        Ok(self.socket(&this)?.keep_alive_interval()?)
    }

    fn set_keep_alive_interval(
        &mut self,
        this: Resource<TcpSocket>,
        value: Duration,
    ) -> SocketResult<()> {
        Ok(self.socket(&this)?.set_keep_alive_interval(value)?)
    }

    fn keep_alive_count(&mut self, this: Resource<TcpSocket>) -> SocketResult<u32> {
        Ok(self.socket(&this)?.keep_alive_count()?)
    }

    fn set_keep_alive_count(&mut self, this: Resource<TcpSocket>, value: u32) -> SocketResult<()> {
        Ok(self.socket(&this)?.set_keep_alive_count(value)?)
    }

    fn hop_limit(&mut self, this: Resource<TcpSocket>) -> SocketResult<u8> {
        Ok(self.socket(&this)?.hop_limit()?)
    }

    fn set_hop_limit(&mut self, this: Resource<TcpSocket>, value: u8) -> SocketResult<()> {
        Ok(self.socket(&this)?.set_hop_limit(value)?)
    }

    fn receive_buffer_size(&mut self, this: Resource<TcpSocket>) -> SocketResult<u64> {
        Ok(self.socket(&this)?.receive_buffer_size()?)
    }

    fn set_receive_buffer_size(
        &mut self,
        this: Resource<TcpSocket>,
        value: u64,
    ) -> SocketResult<()> {
        Ok(self.socket(&this)?.set_receive_buffer_size(value)?)
    }

    fn send_buffer_size(&mut self, this: Resource<TcpSocket>) -> SocketResult<u64> {
        Ok(self.socket(&this)?.send_buffer_size()?)
    }

    fn set_send_buffer_size(&mut self, this: Resource<TcpSocket>, value: u64) -> SocketResult<()> {
        Ok(self.socket(&this)?.set_send_buffer_size(value)?)
    }

    fn subscribe(&mut self, this: Resource<TcpSocket>) -> wasmtime::Result<Resource<DynPollable>> {
        wasmtime_wasi::p2::subscribe(self.table, this)
    }

    fn shutdown(&mut self, this: Resource<TcpSocket>, how: ShutdownType) -> SocketResult<()> {
        let how = match how {
            ShutdownType::Receive => std::net::Shutdown::Read,
            ShutdownType::Send => std::net::Shutdown::Write,
            ShutdownType::Both => std::net::Shutdown::Both,
        };
        Ok(self.socket(&this)?.shutdown(how)?)
    }

    fn drop(&mut self, this: Resource<TcpSocket>) -> wasmtime::Result<()> {
        // Closing a socket does not block; the streams, children of the
        // socket in the table, must already be gone (the table enforces it).
        self.table.delete(this)?;
        Ok(())
    }
}

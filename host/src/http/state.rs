//! The store data of one request's instance: WASI, `wasi:http`, the
//! capability, and the resource table they share.

use crate::ctx::SendfileCtx;
use crate::view::{SendfileCtxView, SendfileView};
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{
    Error, RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView,
};

/// Store data for a `wasi:http/proxy` instance run by [`super::HttpServer`].
pub struct HttpState {
    /// wasmtime-wasi's context (env, preopens, stdio).
    pub wasi: WasiCtx,
    /// wasmtime-wasi-http's context.
    pub http: WasiHttpCtx,
    /// The capability's context (policy, metrics).
    pub sendfile: SendfileCtx,
    /// The resource table all three share.
    pub table: ResourceTable,
    hooks: NoOutgoing,
}

impl HttpState {
    /// State with the given contexts, default `wasi:http` settings and an
    /// empty table.
    pub fn new(wasi: WasiCtx, sendfile: SendfileCtx) -> Self {
        Self {
            wasi,
            http: WasiHttpCtx::new(),
            sendfile,
            table: ResourceTable::new(),
            hooks: NoOutgoing,
        }
    }
}

impl WasiView for HttpState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HttpState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

impl SendfileView for HttpState {
    fn sendfile(&mut self) -> SendfileCtxView<'_> {
        SendfileCtxView {
            ctx: &mut self.sendfile,
            table: &mut self.table,
        }
    }
}

/// `wasi:http` hooks that refuse outgoing requests: a file server has no
/// business reaching the network, so `wasi:http/outgoing-handler.handle`
/// answers `http-request-denied` (as a `wasi:http` host may).
struct NoOutgoing;

impl WasiHttpHooks for NoOutgoing {
    fn send_request(
        &mut self,
        _request: http::Request<WasiBody>,
        _options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), Error>> + Send>,
    ) -> Box<dyn Future<Output = Result<(http::Response<WasiBody>, Box<IoFuture>), Error>> + Send>
    {
        Box::new(async { Err(Error::HttpRequestDenied) })
    }
}

/// What `send_request` returns besides the response: the connection's own
/// future.
type IoFuture = dyn Future<Output = Result<(), Error>> + Send;

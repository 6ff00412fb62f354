//! `wasm-sendfile:sendfile/http-stats`: a server guest's response counts,
//! added to the store's [`crate::Metrics`]. Semantics are documented in
//! `wit/sendfile.wit`.

use crate::bindings::http_stats::Host;
use crate::view::SendfileCtxView;

impl Host for SendfileCtxView<'_> {
    fn response_sent(&mut self, status: u16, body_bytes: u64) -> wasmtime::Result<()> {
        self.ctx.metrics.record_response(status, body_bytes);
        Ok(())
    }
}

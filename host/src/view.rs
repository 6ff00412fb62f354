//! How the capability reaches its state inside a store's data.

use crate::ctx::SendfileCtx;
use wasmtime::component::{HasData, ResourceTable};

/// Borrowed access to the capability's state and the store's resource table
/// (the same table wasmtime-wasi uses, so guest handles resolve in it).
pub struct SendfileCtxView<'a> {
    /// The capability's policy and metrics.
    pub ctx: &'a mut SendfileCtx,
    /// The store's resource table.
    pub table: &'a mut ResourceTable,
}

/// Implemented by a store's data type to expose the capability's state.
///
/// ```
/// use wasm_sendfile::{SendfileCtx, SendfileCtxView, SendfileView};
/// use wasmtime::component::ResourceTable;
///
/// struct MyState {
///     sendfile: SendfileCtx,
///     table: ResourceTable,
/// }
///
/// impl SendfileView for MyState {
///     fn sendfile(&mut self) -> SendfileCtxView<'_> {
///         SendfileCtxView { ctx: &mut self.sendfile, table: &mut self.table }
///     }
/// }
/// ```
pub trait SendfileView: Send {
    /// The capability's state and the resource table.
    fn sendfile(&mut self) -> SendfileCtxView<'_>;
}

/// [`HasData`] marker for the capability's bindings.
pub(crate) struct Sendfile;

impl HasData for Sendfile {
    type Data<'a> = SendfileCtxView<'a>;
}

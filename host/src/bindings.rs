//! Host bindings generated from `wit/sendfile.wit`.
//!
//! Every WASI type is mapped onto wasmtime-wasi's own bindings, so a guest's
//! `descriptor`, `input-stream`, `output-stream`, `pollable` and `network`
//! handles are the very resources wasmtime-wasi created. Only the
//! `tcp-socket` resource is ours ([`crate::sockets::TcpSocket`]): it is how the
//! capability reaches the socket's file descriptor. The `wasi:http` types
//! are wasmtime-wasi-http's, so `http-file` takes the very responses and
//! response-outparams its `wasi:http/types` created.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "wasm-sendfile:sendfile/host",
    imports: {
        "wasm-sendfile:sendfile/sendfile.send-file": async | trappable,
        "wasm-sendfile:sendfile/sendfile.blocking-send-file": async | trappable,
        // These ask the policy's address check, which is async.
        "wasi:sockets/tcp.[method]tcp-socket.start-bind": async | trappable,
        "wasi:sockets/tcp.[method]tcp-socket.start-connect": async | trappable,
        "wasi:sockets/tcp.[method]tcp-socket.start-listen": async | trappable,
        "wasi:sockets/tcp.[method]tcp-socket.accept": async | trappable,
        default: trappable,
    },
    trappable_error_type: {
        "wasi:sockets/network.error-code" => wasmtime_wasi::p2::SocketError,
    },
    with: {
        "wasi:io": wasmtime_wasi::p2::bindings::io,
        "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        "wasi:filesystem": wasmtime_wasi::p2::bindings::filesystem,
        "wasi:sockets/network": wasmtime_wasi::p2::bindings::sockets::network,
        "wasi:http": wasmtime_wasi_http::p2::bindings::http,
        "wasm-sendfile:sendfile/http-file.file-body": crate::p2::http_file::FileBody,
        "wasi:sockets/tcp.tcp-socket": crate::sockets::TcpSocket,
    },
});

pub use self::wasi::sockets::{tcp, tcp_create_socket};
pub use self::wasm_sendfile::sendfile::{http_file, http_stats, sendfile};

//! Bindings of `wit/sendfile.wit`, with every WASI type mapped to the `wasi`
//! crate's, so guests pass the very handles the `wasi` crate gives them.

// Generated code: wit-bindgen carries the WIT doc comments over, but the
// aliases it makes for `use`d WASI types have none (their docs are the WASI
// packages').
#![allow(missing_docs)]

wit_bindgen::generate!({
    path: "../wit",
    world: "wasm-sendfile:sendfile/guest",
    with: {
        "wasi:io/poll@0.2.12": wasi::io::poll,
        "wasi:io/error@0.2.12": wasi::io::error,
        "wasi:io/streams@0.2.12": wasi::io::streams,
        "wasi:clocks/wall-clock@0.2.12": wasi::clocks::wall_clock,
        "wasi:clocks/monotonic-clock@0.2.12": wasi::clocks::monotonic_clock,
        "wasi:filesystem/types@0.2.12": wasi::filesystem::types,
        "wasi:sockets/network@0.2.12": wasi::sockets::network,
        "wasi:sockets/tcp@0.2.12": wasi::sockets::tcp,
    },
});

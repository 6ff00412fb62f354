//! The embedding API as a platform team uses it: a linker that already has
//! wasmtime-wasi, plus only this crate's interfaces.

use super::{put, workdir};
use wasm_sendfile::command::CommandState;
use wasm_sendfile::{AddrRule, SendfileCtx};
use wasm_sendfile_tests::{Peer, guests, pattern};
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store};
use wasmtime_wasi::p2::bindings::Command;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{FsPerms, WasiCtx};

#[test]
fn only_our_interfaces_on_top_of_an_existing_wasi_linker() {
    let dir = workdir();
    let data = pattern(50_000);
    put(dir.path(), "f", &data);
    let peer = Peer::new();
    let addr = peer.addr();
    let received = peer.collect();

    let engine = Engine::default();
    let mut linker = Linker::<CommandState>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
    wasm_sendfile::add_only_sendfile_to_linker_async(&mut linker).unwrap();

    let stdout = MemoryOutputPipe::new(4096);
    let mut wasi = WasiCtx::builder();
    wasi.stdout(stdout.clone())
        .allow_tcp(true)
        .args(&["probe", "send", &format!("connect={addr}"), "file=/data/f"])
        .preopened_dir(dir.path(), "/data", FsPerms::ReadOnly)
        .unwrap();
    let sendfile = SendfileCtx::builder()
        .allow_connect(AddrRule::exact(addr))
        .build();
    let metrics = sendfile.metrics().clone();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let exit = rt.block_on(async {
        let mut store = Store::new(&engine, CommandState::new(wasi.build(), sendfile));
        let component = Component::from_file(&engine, guests::PROBE).unwrap();
        let command = Command::instantiate_async(&mut store, &component, &linker)
            .await
            .unwrap();
        command.wasi_cli_run().call_run(&mut store).await.unwrap()
    });
    assert!(exit.is_ok());
    assert_eq!(
        String::from_utf8_lossy(&stdout.contents()),
        "ok total=50000 file=50000 complete=true\n"
    );
    assert!(received.join().unwrap() == data);
    let m = metrics.snapshot();
    assert_eq!(
        (m.calls, m.zero_copy_bytes, m.fallback_calls),
        (1, 50_000, 0)
    );
}

/// Runs `probe churn rounds=N` against a peer taking `rounds` connections;
/// checks every connection got the whole file and returns the entries left
/// in the store's table after the guest returned.
fn table_after_churn(dir: &std::path::Path, data: &[u8], rounds: usize) -> usize {
    let peer = Peer::new();
    let addr = peer.addr();
    let received = peer.collect_each(rounds);
    let out = wasm_sendfile_tests::probe_against(
        addr,
        dir,
        &["churn", &format!("rounds={rounds}"), "file=/data/f"],
        |g| g,
    );
    out.assert_success();
    assert_eq!(out.line("churned"), format!("churned rounds={rounds}"));
    let received = received.join().unwrap();
    assert_eq!(received.len(), rounds);
    assert!(received.iter().all(|got| got == data), "bytes differ");
    out.table_entries
}

#[test]
fn handles_a_guest_drops_leave_nothing_in_the_table() {
    let dir = workdir();
    let data = pattern(300_000);
    put(dir.path(), "f", &data);
    // Each round opens a file, connects, sends through would-block and
    // writability pollables, then drops them all: 200 rounds must leave
    // exactly what one round leaves (stdio and preopens).
    let one = table_after_churn(dir.path(), &data, 1);
    let many = table_after_churn(dir.path(), &data, 200);
    assert!(one > 0);
    assert_eq!(one, many, "the table grew with the rounds");
}

#[test]
fn adding_ours_before_wasmtime_wasi_says_which_order_to_use() {
    let engine = Engine::default();
    let mut linker = Linker::<CommandState>::new(&engine);
    let err = wasm_sendfile::add_only_sendfile_to_linker_async(&mut linker)
        .expect_err("added before wasmtime-wasi")
        .to_string();
    assert!(
        err.contains("call `wasmtime_wasi::p2::add_to_linker_async(&mut linker)` first")
            && err.contains("add_only_sendfile_to_linker_async(&mut linker)` after it"),
        "{err}"
    );
    // In the right order, the same calls are accepted.
    let mut linker = Linker::<CommandState>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
    wasm_sendfile::add_only_sendfile_to_linker_async(&mut linker).unwrap();
}

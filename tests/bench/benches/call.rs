//! `cargo bench -p bench`: one non-blocking 1-byte `send-file` through the
//! component boundary against the bare `sendfile(2)` it ends in.

// criterion's macros define undocumented functions.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use std::io::Write;

fn calls(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("byte");
    std::fs::File::create(&file)
        .and_then(|mut f| f.write_all(b"x"))
        .expect("file");
    let mut group = c.benchmark_group("one-byte send");
    group.bench_function("guest send-file", |b| {
        b.iter_custom(|n| bench::call::through_guest(&file, n))
    });
    group.bench_function("bare sendfile(2)", |b| {
        b.iter_custom(|n| bench::call::bare_syscall(&file, n))
    });
    group.finish();
}

criterion_group!(benches, calls);
criterion_main!(benches);

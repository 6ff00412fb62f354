//! The guest SDK's `std`-like conveniences, run in a real guest against
//! real files (issue 12).

use super::workdir;
use wasm_sendfile_tests::{Guest, guests};

#[test]
fn file_conveniences_behave_like_std() {
    let dir = workdir();
    let out = Guest::new(guests::PROBE)
        .dir(dir.path(), "/data")
        .args(["fs-ops", "path=/data/f"])
        .run();
    out.assert_success();
    assert_eq!(
        out.stdout,
        "create_new: ok\ncreate_new again: err AlreadyExists\nafter append: len=5\n\
         after set_len: size=2\nsync_all: ok\n"
    );
    assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), b"Xb");
}

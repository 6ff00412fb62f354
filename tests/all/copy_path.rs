//! The host's copying path (zero-copy off, the policy's `zero_copy(false)`;
//! also what it falls back to when the kernel refuses zero-copy for a pair):
//! the same bytes and counts as `sendfile(2)`, accounted as fallback bytes.
//! (The model check runs random sequences both ways, and
//! `semantics::the_last_bytes_go_out_at_once_while_the_connection_stays_open`
//! covers it too.)

use super::{put, workdir};
use wasm_sendfile_tests::{pattern, probe_to_collector};

#[test]
fn copied_bytes_match_sendfile_and_count_as_fallback() {
    let dir = workdir();
    let data = pattern(300_000);
    put(dir.path(), "f", &data);
    let args = [
        "send",
        "file=/data/f",
        "offset=7",
        "count=200000",
        "header=HEAD",
        "trailer=TAIL",
    ];
    let (out, got) = probe_to_collector(dir.path(), &args, |g| g.policy(|b| b.zero_copy(false)));
    assert_eq!(out.line("ok"), "ok total=200008 file=200000 complete=true");
    let mut want = b"HEAD".to_vec();
    want.extend_from_slice(&data[7..200_007]);
    want.extend_from_slice(b"TAIL");
    assert!(got == want, "bytes differ");
    assert_eq!(out.metrics.fallback_bytes, 200_000);
    assert_eq!(out.metrics.zero_copy_bytes, 0);
    assert_eq!(out.metrics.fallback_calls, 1);
}

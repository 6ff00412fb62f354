//! A guest written to attack, through raw WIT calls: absurd counts and
//! offsets, header lists past the policy, forged handles. Each gets an
//! error or a trap; the host keeps serving the next guest.

use super::{put, send_to_peer, workdir};
use wasm_sendfile_tests::{Output, pattern, probe_to_collector};

fn hostile(case: &str) -> (Output, Vec<u8>) {
    let dir = workdir();
    put(dir.path(), "f", &pattern(10_000));
    let case = format!("case={case}");
    probe_to_collector(dir.path(), &["hostile", "file=/data/f", &case], |g| g)
}

/// The host still works after whatever came before.
fn host_still_serves() {
    let dir = workdir();
    put(dir.path(), "f", &pattern(1000));
    let (out, got) = send_to_peer(dir.path(), "f", &[]);
    assert_eq!(out.num("ok", "file"), 1000);
    assert!(got == pattern(1000));
}

#[test]
fn absurd_counts_and_offsets_are_answered_not_overflowed() {
    let (out, got) = hostile("huge-count");
    assert_eq!(
        out.line("raw"),
        "raw ok total=10000 file=10000 complete=true"
    );
    assert!(got == pattern(10_000));
    let (out, got) = hostile("max-offset");
    assert_eq!(out.line("raw"), "raw err code=invalid total=0 file=0");
    assert!(got.is_empty());
    let (out, got) = hostile("max-off-t");
    assert_eq!(out.line("raw"), "raw ok total=0 file=0 complete=true");
    assert!(got.is_empty());
    host_still_serves();
}

#[test]
fn header_lists_past_the_limits_are_refused_whole() {
    let (out, got) = hostile("many-headers");
    assert_eq!(out.line("raw"), "raw err code=invalid total=0 file=0");
    assert!(got.is_empty());
    let (out, got) = hostile("many-trailers");
    assert_eq!(out.line("raw"), "raw err code=invalid total=0 file=0");
    assert!(got.is_empty());
    let (out, got) = hostile("huge-headers");
    assert_eq!(out.line("raw"), "raw err code=access-denied total=0 file=0");
    assert!(got.is_empty());
    host_still_serves();
}

/// Issue 9, finding 8: headers and trailers are limited each on its own (as
/// FreeBSD's `sf_hdtr` lists): 1000 headers and 1024 trailers go out, where
/// the two used to be counted together and refused as `invalid`.
#[test]
fn headers_and_trailers_are_limited_each_on_its_own() {
    let (out, got) = hostile("full-lists");
    assert_eq!(out.line("raw"), "raw ok total=2034 file=10 complete=true");
    let mut want = vec![b'h'; 1000];
    want.extend_from_slice(&pattern(10));
    want.extend_from_slice(&[b't'; 1024]);
    assert!(got == want, "bytes differ");
}

#[test]
fn forged_handles_trap_the_guest_not_the_host() {
    for case in ["stale-socket", "wrong-type"] {
        let (out, _) = hostile(case);
        assert!(!out.success, "{case}: {out:#?}");
        let error = out.error.as_deref().unwrap_or_default();
        assert!(error.contains("handle"), "{case}: {error}");
        assert!(
            !out.stdout.contains("raw returned"),
            "{case}: call returned"
        );
    }
    host_still_serves();
}

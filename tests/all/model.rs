//! A model check: random sequences of transfers (offset, count or to-EOF,
//! headers, trailers, max-chunk, no-cache) from a file of random size, to a
//! socket or to a file target, each checked against a simple model, the
//! expected range read straight from the source: the bytes the target
//! received and every call's counts must match it exactly. Each case runs
//! with the host's zero-copy system calls on or off (its copying path).
//!
//! CI runs 64 cases; set `PROPTEST_CASES` for a longer run, e.g.
//! `PROPTEST_CASES=2000 cargo test -p wasm-sendfile-tests --test all model`.

use super::{put, workdir};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use wasm_sendfile_tests::{Guest, guests, pattern, probe_to_collector};

/// One transfer of the sequence.
#[derive(Clone, Debug)]
struct Op {
    offset: u64,
    /// `None`: to EOF.
    count: Option<u64>,
    headers: Vec<String>,
    trailers: Vec<String>,
    max_chunk: Option<u64>,
    no_cache: bool,
}

impl Op {
    /// The probe's `key=value` line.
    fn line(&self) -> String {
        let mut words = vec![format!("offset={}", self.offset)];
        words.extend(self.count.map(|c| format!("count={c}")));
        words.extend(self.headers.iter().map(|h| format!("header={h}")));
        words.extend(self.trailers.iter().map(|t| format!("trailer={t}")));
        words.extend(self.max_chunk.map(|c| format!("max-chunk={c}")));
        if self.no_cache {
            words.push("no-cache".into());
        }
        words.join(" ")
    }

    /// What the model says this transfer sends: the bytes and the outcome
    /// line the probe prints for it.
    fn expect(&self, data: &[u8]) -> (Vec<u8>, String) {
        let size = data.len() as u64;
        let start = self.offset.min(size);
        let end = self
            .count
            .map_or(size, |c| self.offset.saturating_add(c).min(size))
            .max(start);
        let mut bytes: Vec<u8> = self.headers.concat().into_bytes();
        bytes.extend_from_slice(&data[start as usize..end as usize]);
        bytes.extend_from_slice(self.trailers.concat().as_bytes());
        let line = format!(
            "ok total={} file={} complete=true",
            bytes.len(),
            end - start
        );
        (bytes, line)
    }
}

fn op(size: u64) -> impl Strategy<Value = Op> {
    let past = size + 4096;
    (
        prop_oneof![0..=size, size..=past],
        prop::option::of(prop_oneof![0..=size, 0..=past]),
        prop::collection::vec("[a-z]{0,6}", 0..3),
        prop::collection::vec("[A-Z]{0,6}", 0..3),
        prop::option::of(1..=size.max(1) + 1),
        any::<bool>(),
    )
        .prop_map(
            |(offset, count, headers, trailers, max_chunk, no_cache)| Op {
                offset,
                count,
                headers,
                trailers,
                max_chunk,
                no_cache,
            },
        )
}

/// A case: the source size, the transfers, whether the target is a file,
/// and whether the host may use zero-copy system calls.
fn case() -> impl Strategy<Value = (u64, Vec<Op>, bool, bool)> {
    prop_oneof![Just(0u64), 1..4096u64, 4096..300_000u64].prop_flat_map(|size| {
        (
            Just(size),
            prop::collection::vec(op(size), 1..6),
            any::<bool>(),
            any::<bool>(),
        )
    })
}

/// Runs the ops through the probe; returns (what the target received, the
/// outcome lines).
fn run(data: &[u8], ops: &[Op], to_file: bool, zero_copy: bool) -> (Vec<u8>, Vec<String>) {
    let dir = workdir();
    put(dir.path(), "src", data);
    let script: Vec<String> = ops.iter().map(Op::line).collect();
    put(dir.path(), "ops", script.join("\n").as_bytes());
    let args = ["script", "file=/data/src", "ops=/data/ops"];
    let (out, got) = if to_file {
        let out = Guest::new(guests::PROBE)
            .dir(dir.path(), "/data")
            .policy(|b| b.allow_file_targets(true).zero_copy(zero_copy))
            .args(args)
            .args(["to-file=/data/out"])
            .run();
        let got = std::fs::read(dir.path().join("out")).unwrap_or_default();
        (out, got)
    } else {
        probe_to_collector(dir.path(), &args, |g| g.policy(|b| b.zero_copy(zero_copy)))
    };
    out.assert_success();
    // Every file byte went the way the policy says.
    let m = &out.metrics;
    if zero_copy {
        assert_eq!(m.fallback_bytes, 0, "{out:#?}");
    } else {
        assert_eq!(m.zero_copy_bytes, 0, "{out:#?}");
    }
    let lines = out
        .stdout
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(_, rest)| rest.to_string()))
        .collect();
    (got, lines)
}

#[test]
fn random_transfer_sequences_match_the_model() {
    let mut config = Config::with_cases(64);
    if let Some(n) = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        config.cases = n;
    }
    config.failure_persistence = None;
    TestRunner::new(config)
        .run(&case(), |(size, ops, to_file, zero_copy)| {
            let data = pattern(size as usize);
            let (got, lines) = run(&data, &ops, to_file, zero_copy);
            let mut want = Vec::new();
            let mut want_lines = Vec::new();
            for op in &ops {
                let (bytes, line) = op.expect(&data);
                want.extend_from_slice(&bytes);
                want_lines.push(line);
            }
            prop_assert_eq!(lines, want_lines);
            prop_assert!(got == want, "target bytes differ from the model");
            Ok(())
        })
        .unwrap();
}

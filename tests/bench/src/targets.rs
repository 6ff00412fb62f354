//! The targets of issues 4, 11 and 13, checked against one run's figures.

use crate::report::{Report, Target};
use crate::servers::Kind;

/// Guest linear memory allowed while serving the huge file.
const GUEST_MEMORY_LIMIT: u64 = 4 << 20;
/// Host RSS growth allowed while serving the huge file.
const RSS_GROWTH_LIMIT: u64 = 16 << 20;

fn at_least(what: &str, value: Option<f64>, min: f64) -> Target {
    Target {
        what: what.into(),
        measured: value.map_or("–".into(), |v| format!("{v:.2}×")),
        holds: value.map(|v| v >= min),
    }
}

fn at_most(what: &str, value: Option<f64>, max: f64) -> Target {
    Target {
        holds: value.map(|v| v <= max),
        ..at_least(what, value, 0.0)
    }
}

/// A memory figure (bytes) that must stay under `limit` while the huge
/// file is served.
fn below(what: &str, bytes: Option<u64>, limit: u64) -> Target {
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    Target {
        what: format!("{what} < {} MiB while serving the huge file", limit >> 20),
        measured: bytes.map_or("–".into(), |b| format!("{:.1} MiB", mib(b))),
        holds: bytes.map(|b| b < limit),
    }
}

/// Each target with what was measured and whether it holds.
pub fn check(r: &Report) -> Vec<Target> {
    let table = |prefix: &str| r.tables.iter().find(|t| t.title.starts_with(prefix));
    let throughput = table("Throughput");
    let small = r
        .tables
        .iter()
        .find(|t| t.title.starts_with("Requests: 1 KiB"));
    let medium = r
        .tables
        .iter()
        .find(|t| t.title.starts_with("Requests: 64 KiB"));
    let mut targets = vec![
        at_least(
            "guest sendfile ≥ 0.95× native throughput (big file)",
            throughput.and_then(|t| t.rate_ratio(Kind::Sendfile, Kind::Native)),
            0.95,
        ),
        at_least(
            "wasi:http guest, http-file body ≥ 0.95× native throughput (big file)",
            throughput.and_then(|t| t.rate_ratio(Kind::Http, Kind::Native)),
            0.95,
        ),
        at_most(
            "guest sendfile CPU/GB ≤ 1.1× native (big file)",
            throughput.and_then(|t| t.cpu_ratio(Kind::Sendfile, Kind::Native)),
            1.1,
        ),
        at_least(
            "guest sendfile ≥ 1.0× nginx req/s (1 KiB files)",
            small.and_then(|t| t.rate_ratio(Kind::Sendfile, Kind::Nginx)),
            1.0,
        ),
        at_least(
            "guest sendfile ≥ 1.0× nginx req/s (64 KiB files)",
            medium.and_then(|t| t.rate_ratio(Kind::Sendfile, Kind::Nginx)),
            1.0,
        ),
        at_most(
            "one call ≤ 1.2× the bare syscall",
            r.call_ns.map(|c| c.ratio()),
            1.2,
        ),
    ];
    let (guest, growth) = r.flat.map_or((None, None), |(_, g, h)| (Some(g), Some(h)));
    targets.push(below("guest linear memory", guest, GUEST_MEMORY_LIMIT));
    targets.push(below("host RSS growth", growth, RSS_GROWTH_LIMIT));
    targets
}

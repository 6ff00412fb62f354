//! What the figures were measured on: the date, the machine, the versions.

use crate::tools::version;

/// The first `key: value` line of `/proc/cpuinfo` with this key.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}

/// Total memory, from `/proc/meminfo`, in GiB.
fn memory_gib() -> f64 {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / (1 << 20) as f64)
}

/// The wasmtime version this workspace locked.
fn wasmtime_version() -> String {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock"))
        .unwrap_or_default();
    let mut lines = lock.lines();
    while let Some(l) = lines.next() {
        if l == "name = \"wasmtime\""
            && let Some(v) = lines.next().and_then(|v| v.strip_prefix("version = "))
        {
            return v.trim_matches('"').to_string();
        }
    }
    "unknown".into()
}

/// The lines that head the report.
pub fn preamble(runs: usize) -> Vec<String> {
    let uname = rustix::system::uname();
    // Not `available_parallelism`: the benchmark has pinned itself by now.
    let cores = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    vec![format!(
        "Measured {} by `cargo run --release -p bench` on {cores} × {}, {:.0} GiB RAM, Linux {}; \
             wasmtime {}, {}, {}. Loopback only. Each figure is the median of {runs} runs \
             unless its table says otherwise, the servers' runs interleaved; CPU is the server process's user + system time.",
        httpdate::fmt_http_date(std::time::SystemTime::now()),
        cpu_model(),
        memory_gib(),
        uname.release().to_string_lossy(),
        wasmtime_version(),
        version("nginx", "-v"),
        version("wrk", "-v").split(" [").next().unwrap_or_default(),
    )]
}

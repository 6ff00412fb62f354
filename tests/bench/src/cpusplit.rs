//! Where a server's CPU time goes under the 1 KiB request load: `perf
//! record` on the server process while wrk runs, then the samples' shares
//! by where the code lives. For the guest server: the kernel, the guest's
//! own compiled wasm (code perf finds in anonymous executable memory,
//! which it labels `[JIT]`), and the host (wasmtime, wasmtime-wasi, this
//! project, libc). For nginx: the kernel and nginx itself (with libc).

use crate::load;
use crate::servers::Server;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Shares of the samples, in percent.
#[derive(Clone, Copy, Debug, Default)]
pub struct Split {
    /// The kernel.
    pub kernel: f64,
    /// The guest's compiled wasm (zero for native servers).
    pub guest: f64,
    /// Everything else in user space.
    pub user: f64,
}

/// Profiles `server` while wrk asks for `path` over `connections`
/// connections for `seconds` on `cpus`.
pub fn measure(
    server: &Server,
    path: &str,
    connections: usize,
    seconds: u64,
    cpus: &str,
) -> Result<Split, String> {
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    let data = scratch.path().join("perf.data");
    let record = Command::new("perf")
        .args(["record", "-q", "-o"])
        .arg(&data)
        .args(["-p", &server.proc().0.to_string(), "--", "sleep"])
        .arg(seconds.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("perf: {e}"))?;
    std::thread::sleep(Duration::from_millis(200));
    let load = load::wrk(server.addr, path, connections, seconds, cpus);
    let recorded = record.wait_with_output().map_err(|e| e.to_string())?;
    load?;
    if !recorded.status.success() {
        return Err(format!(
            "perf record failed: {}",
            String::from_utf8_lossy(&recorded.stderr).trim()
        ));
    }
    let report = Command::new("perf")
        .args(["report", "--stdio", "-q", "--sort", "dso", "-i"])
        .arg(&data)
        .output()
        .map_err(|e| format!("perf report: {e}"))?;
    let split = split(&String::from_utf8_lossy(&report.stdout));
    if split.kernel + split.guest + split.user < 50.0 {
        return Err(format!(
            "perf report had no samples: {}",
            String::from_utf8_lossy(&report.stderr).trim()
        ));
    }
    Ok(split)
}

/// Sums `perf report --sort dso` lines (`  60.64%  [kernel.kallsyms]`).
fn split(report: &str) -> Split {
    let mut s = Split::default();
    for line in report.lines() {
        let mut fields = line.split_whitespace();
        let (Some(pct), Some(dso)) = (fields.next(), fields.next()) else {
            continue;
        };
        let Some(pct) = pct.strip_suffix('%').and_then(|p| p.parse::<f64>().ok()) else {
            continue;
        };
        if dso.starts_with("[kernel") {
            s.kernel += pct;
        } else if dso.starts_with("[JIT]") {
            s.guest += pct;
        } else {
            s.user += pct;
        }
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn sums_by_place() {
        let s = super::split(
            "    60.64%  [kernel.kallsyms]\n    17.04%  wasm-sendfile\n    16.88%  [JIT] tid 913\n     4.87%  libc.so.6\n     0.56%  [vdso]\n",
        );
        assert!((s.kernel - 60.64).abs() < 1e-9);
        assert!((s.guest - 16.88).abs() < 1e-9);
        assert!((s.user - 22.47).abs() < 1e-9);
    }
}

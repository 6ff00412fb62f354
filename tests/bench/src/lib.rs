//! The benchmark suite behind `cargo run --release -p bench`: servers to
//! compare, load clients, `/proc` readings and the report. `cargo run
//! --release -p bench -- call` runs only [`call`].

pub mod call;
pub mod cpusplit;
pub mod files;
pub mod hostcalls;
pub mod load;
pub mod machine;
pub mod native;
pub mod procstat;
pub mod report;
pub mod scaling;
pub mod servers;
pub mod syscalls;
pub mod targets;
pub mod tools;

/// Pins the calling thread (and the threads and processes it starts
/// later) to `cpus`; ignored where the machine lacks them.
pub fn pin_to(cpus: &[usize]) {
    let mut set = rustix::thread::CpuSet::new();
    for &c in cpus {
        set.set(c);
    }
    let _ = rustix::thread::sched_setaffinity(None, &set);
}

/// The median of `xs` (the mean of the middle two for an even count);
/// `NaN` for none.
pub fn median(xs: &[f64]) -> f64 {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// Keep-alive connections for the request-rate workloads.
pub const CONNECTIONS: usize = 64;

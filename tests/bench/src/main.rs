//! `cargo run --release -p bench`: starts each server in turn on loopback,
//! measures them with the same clients in one run, prints the table, and
//! writes it to `tests/bench/RESULTS.md` and the README.

use bench::files::{self, Files};
use bench::load;
use bench::procstat::Proc;
use bench::report::{Report, Row, Table};
use bench::servers::{Kind, Programs, Server};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

#[derive(Parser)]
#[command(
    about = "Benchmark wasm-sendfile against native sendfile, the plain WASI paths and nginx"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Sub>,
    /// Measurements per figure (the median is reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Seconds per wrk measurement.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Size of the throughput file, MiB.
    #[arg(long, default_value_t = 1024)]
    big_mib: u64,
    /// Size of the memory-flatness file, MiB.
    #[arg(long, default_value_t = 4096)]
    huge_mib: u64,
    /// A smoke run: one short measurement each, small files, nothing written.
    #[arg(long)]
    quick: bool,
    /// Print only; do not write RESULTS.md or the README.
    #[arg(long)]
    no_write: bool,
}

#[derive(Subcommand)]
enum Sub {
    /// Run the native reference server (used by the benchmark itself).
    #[command(hide = true)]
    NativeServer {
        dir: PathBuf,
        addr: std::net::SocketAddr,
    },
    /// Only the cost of one call: a one-byte non-blocking `send-file`
    /// through the guest against the bare `sendfile(2)`, side by side, and
    /// the loops that split the difference (for measuring a change to the
    /// call path; writes nothing).
    Call {
        /// Calls per batch.
        #[arg(long, default_value_t = 200_000)]
        calls: u64,
        /// Batches of each kind, alternating.
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// The native side of the call measurement (used by the benchmark
    /// itself): N one-byte sends of FILE to ADDR, each by `sendfile(2)` or
    /// by `preadv2` + `sendmsg`; prints the nanoseconds they took.
    #[command(hide = true)]
    Bare {
        how: bench::call::Bare,
        addr: std::net::SocketAddr,
        file: PathBuf,
        n: u64,
    },
}

use bench::CONNECTIONS;

/// Fewest runs of the throughput table (outside `--quick`): each of its
/// runs lasts about a second, so on a shared machine one slow moment sways
/// a median of three (the guest's rate, on the same big-file path, read
/// 0.58× native in one full run and 1.14× in another); more runs cost
/// seconds.
const MIN_THROUGHPUT_RUNS: usize = 9;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Builds the `wasm-sendfile` binary (release) and says where it is.
fn build_host() -> Result<PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "-p",
            "wasm-sendfile",
            "--bin",
            "wasm-sendfile",
        ])
        .current_dir(workspace_root())
        .status()
        .map_err(|e| format!("running cargo: {e}"))?;
    if !status.success() {
        return Err("building wasm-sendfile failed".into());
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from);
    Ok(target.join("release/wasm-sendfile"))
}

/// Which CPUs the servers and the clients get: one core each when there
/// are two or more, so they do not fight over one.
struct Cpus {
    server: &'static str,
    client: &'static str,
}

fn cpus() -> Cpus {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    if n >= 2 {
        bench::pin_to(&[0]);
        Cpus {
            server: "1",
            client: "0",
        }
    } else {
        Cpus {
            server: "0",
            client: "0",
        }
    }
}

fn main() -> ExitCode {
    let mut cli = Cli::parse();
    if let Some(Sub::NativeServer { dir, addr }) = &cli.command {
        return match bench::native::serve(dir, *addr) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("native server: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(Sub::Bare { how, addr, file, n }) = &cli.command {
        let took = bench::call::bare_loop(*how, *addr, file, *n);
        println!("{}", took.as_nanos());
        return ExitCode::SUCCESS;
    }
    if let Some(Sub::Call { calls, runs }) = cli.command {
        return match call_only(calls, runs) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bench: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if cli.quick {
        cli.runs = 1;
        cli.seconds = 1;
        cli.big_mib = cli.big_mib.min(64);
        cli.huge_mib = cli.huge_mib.min(256);
        cli.no_write = true;
    }
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `bench call`: the call measurement alone, printed.
fn call_only(calls: u64, runs: usize) -> Result<(), String> {
    let programs = Programs {
        wasm_sendfile: build_host()?,
        bench: std::env::current_exe().map_err(|e| e.to_string())?,
    };
    let cpus = cpus();
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let file = dir.path().join("small.bin");
    std::fs::write(&file, [7u8; 1024]).map_err(|e| e.to_string())?;
    let c = bench::call::per_call_ns(&programs, cpus.server, &file, calls, runs);
    println!(
        "one call: guest {:.0} ns, bare sendfile(2) {:.0} ns, ratio {:.2}x; \
         bare preadv2 + sendmsg {:.0} ns; guest send-file of 0 bytes {:.0} ns, limits {:.0} ns",
        c.guest,
        c.bare,
        c.ratio(),
        c.read_send,
        c.guest_empty,
        c.guest_limits,
    );
    Ok(())
}

fn run(cli: &Cli) -> Result<(), String> {
    let programs = Programs {
        wasm_sendfile: build_host()?,
        bench: std::env::current_exe().map_err(|e| e.to_string())?,
    };
    let cpus = cpus();
    let mut report = Report::default();
    let mut kinds = Kind::ALL.to_vec();
    let wrk = bench::tools::ensure("wrk", "-v", "wrk");
    if let Err(why) = bench::tools::ensure("nginx", "-v", "nginx-light") {
        report.notes.push(format!("nginx skipped: {why}."));
        kinds.retain(|k| !k.is_nginx());
    }
    eprintln!("bench: writing the files");
    let files = Files::create(cli.big_mib << 20, cli.huge_mib << 20).map_err(|e| e.to_string())?;
    report.preamble = bench::machine::preamble(cli.runs);

    eprintln!("bench: throughput, one connection, {} MiB", cli.big_mib);
    let runs = if cli.quick {
        cli.runs
    } else {
        cli.runs.max(MIN_THROUGHPUT_RUNS)
    };
    let title = format!(
        "Throughput: one {} MiB file over one connection, the median of {runs} runs (server pinned to one core, client to the other)",
        cli.big_mib
    );
    report.tables.push(measure(
        runs,
        cli,
        &files,
        &programs,
        &cpus,
        &kinds,
        title,
        Workload::Throughput,
    )?);
    match &wrk {
        Ok(()) => {
            for (name, size, label) in [
                (files::SMALL, 1024, "1 KiB"),
                (files::MEDIUM, 65536, "64 KiB"),
            ] {
                eprintln!("bench: {label} files, {CONNECTIONS} connections");
                let title = format!(
                    "Requests: {label} files, {CONNECTIONS} keep-alive connections, wrk for {} s (server pinned to one core, wrk to the other)",
                    cli.seconds
                );
                let w = Workload::Requests { name, size };
                report.tables.push(measure(
                    cli.runs, cli, &files, &programs, &cpus, &kinds, title, w,
                )?);
            }
            eprintln!("bench: scaling over workers");
            report.scaling =
                bench::scaling::measure(cli.runs, cli.seconds, files.dir(), &programs)?;
        }
        Err(why) => report
            .notes
            .push(format!("Request-rate workloads skipped: {why}.")),
    }
    let perf = bench::tools::ensure("perf", "--version", "linux-perf");
    match (&wrk, &perf) {
        (Ok(()), Ok(())) => {
            eprintln!("bench: where the CPU time goes");
            for kind in [Kind::Sendfile, Kind::Nginx] {
                if !kinds.contains(&kind) {
                    continue;
                }
                let split =
                    Server::start(kind, files.dir(), &programs, cpus.server, 1).and_then(|s| {
                        bench::cpusplit::measure(
                            &s,
                            files::SMALL,
                            CONNECTIONS,
                            cli.seconds,
                            cpus.client,
                        )
                    });
                report.cpu_split.push((kind, split));
            }
        }
        (Err(why), _) | (_, Err(why)) => {
            report.notes.push(format!("CPU split not measured: {why}."))
        }
    }
    match bench::tools::ensure("strace", "-V", "strace") {
        Ok(()) => {
            eprintln!("bench: system calls per request");
            let n = if cli.quick { 200 } else { 2000 };
            for &kind in &kinds {
                let calls = Server::start(kind, files.dir(), &programs, cpus.server, 1)
                    .and_then(|s| bench::syscalls::per_request(&s, files::SMALL, n));
                report.syscalls.push((kind, calls));
            }
        }
        Err(why) => report
            .notes
            .push(format!("System calls per request not counted: {why}.")),
    }
    eprintln!("bench: component calls per request");
    let n = if cli.quick { 200 } else { 2000 };
    for kind in kinds.iter().copied().filter(|k| k.is_component()) {
        let calls = Server::start_with_metrics(kind, files.dir(), &programs, cpus.server)
            .and_then(|s| bench::hostcalls::per_request(&s, files::SMALL, n));
        report.host_calls.push((kind, calls));
    }
    eprintln!("bench: memory while serving {} MiB", cli.huge_mib);
    report.flat = Some(flat_memory(&files, &programs, &cpus)?);
    eprintln!("bench: call overhead");
    let calls = if cli.quick { 20_000 } else { 200_000 };
    report.call_runs = cli.runs.max(5);
    report.call_ns = Some(bench::call::per_call_ns(
        &programs,
        cpus.server,
        &files.path(files::SMALL),
        calls,
        report.call_runs,
    ));
    report.targets = bench::targets::check(&report);

    let md = report.markdown();
    println!("{md}");
    if !cli.no_write {
        let out = workspace_root().join("tests/bench/RESULTS.md");
        std::fs::write(
            &out,
            format!("# Benchmark results\n\nWritten by `cargo run --release -p bench`.\n\n{md}"),
        )
        .map_err(|e| format!("{}: {e}", out.display()))?;
        bench::report::splice_into_readme(&workspace_root().join("README.md"), &md)
            .map_err(|e| e.to_string())?;
        eprintln!("bench: wrote {} and the README", out.display());
    }
    Ok(())
}

/// What a table measures.
#[derive(Clone, Copy)]
enum Workload {
    /// Download the big file over one connection.
    Throughput,
    /// wrk against a small file.
    Requests { name: &'static str, size: u64 },
}

/// One figure of one run: (rate, CPU seconds, GB sent).
fn once(
    w: Workload,
    cli: &Cli,
    files: &Files,
    server: &Server,
    cpus: &Cpus,
) -> Result<(f64, f64, f64), String> {
    let p = server.proc();
    p.reset_peak();
    let cpu0 = p.cpu_seconds();
    let (rate, gb) = match w {
        Workload::Throughput => {
            // At least 2 GiB per run, so CPU time (counted in 10 ms ticks)
            // is read to about 1%.
            let reps = if cli.quick {
                1
            } else {
                (2048 / cli.big_mib).max(1)
            };
            let (mut bytes, mut seconds) = (0, 0.0);
            for _ in 0..reps {
                let d = load::download(server.addr, files::BIG, files.big_len)
                    .map_err(|e| format!("{}: {e}", server.kind.label()))?;
                bytes += d.bytes;
                seconds += d.seconds;
            }
            let gb = bytes as f64 / 1e9;
            (gb / seconds, gb)
        }
        Workload::Requests { name, size } => {
            let r = load::wrk(server.addr, name, CONNECTIONS, cli.seconds, cpus.client)
                .map_err(|e| format!("{}: {e}", server.kind.label()))?;
            (r.per_second, r.count as f64 * size as f64 / 1e9)
        }
    };
    Ok((rate, p.cpu_seconds() - cpu0, gb))
}

/// Runs `w` `runs` times against every kind, interleaving the runs so
/// drift on a noisy machine spreads over all of them.
#[allow(clippy::too_many_arguments)]
fn measure(
    runs: usize,
    cli: &Cli,
    files: &Files,
    programs: &Programs,
    cpus: &Cpus,
    kinds: &[Kind],
    title: String,
    w: Workload,
) -> Result<Table, String> {
    let mut table = Table {
        title,
        unit: if matches!(w, Workload::Throughput) {
            "GB/s"
        } else {
            "req/s"
        },
        ..Table::default()
    };
    let mut servers = Vec::new();
    for &kind in kinds {
        match Server::start(kind, files.dir(), programs, cpus.server, 1) {
            Ok(s) => {
                load::download(s.addr, files::SMALL, 1024)
                    .map_err(|e| format!("{}: {e}", kind.label()))?;
                servers.push(s);
            }
            Err(why) => table.skipped.push((kind, why)),
        }
    }
    let mut samples = vec![(Vec::new(), Vec::new(), 0u64); servers.len()];
    for _ in 0..runs {
        for (server, (rates, cpu, peak)) in servers.iter().zip(&mut samples) {
            let (r, c, gb) = once(w, cli, files, server, cpus)?;
            rates.push(r);
            cpu.push(c / gb);
            *peak = (*peak).max(server.proc().peak_rss());
        }
    }
    for (server, (rates, cpu, peak)) in servers.into_iter().zip(samples) {
        let kind = server.kind;
        let guest_memory = server.stop().filter(|_| kind.is_guest());
        table.rows.push(Row {
            kind,
            rate: bench::median(&rates),
            cpu_per_gb: bench::median(&cpu),
            peak_rss: peak,
            guest_memory,
        });
    }
    Ok(table)
}

/// Serves the huge file once: (its size, guest linear memory peak, host
/// RSS growth over the RSS after a warm-up request).
fn flat_memory(files: &Files, programs: &Programs, cpus: &Cpus) -> Result<(u64, u64, u64), String> {
    let server = Server::start(Kind::Sendfile, files.dir(), programs, cpus.server, 1)?;
    load::download(server.addr, files::SMALL, 1024).map_err(|e| e.to_string())?;
    let p: Proc = server.proc();
    let base = p.rss();
    p.reset_peak();
    load::download(server.addr, files::HUGE, files.huge_len).map_err(|e| e.to_string())?;
    let growth = p.peak_rss().saturating_sub(base);
    let guest = server.stop().ok_or("no stats line from the server")?;
    Ok((files.huge_len, guest, growth))
}

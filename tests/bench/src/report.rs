//! The results as Markdown: one table per workload with ratios against the
//! native server and nginx, the scaling, call-overhead and memory checks,
//! and the targets with whether each holds. Written to a file and between
//! the README's `bench:begin`/`bench:end` markers.

use crate::servers::Kind;
use std::fmt::Write as _;
use std::path::Path;

/// One server's figures for one workload (medians over the runs).
#[derive(Clone, Debug)]
pub struct Row {
    /// Which server.
    pub kind: Kind,
    /// GB/s (throughput) or requests/s.
    pub rate: f64,
    /// Server CPU seconds (user + system) per GB of body sent.
    pub cpu_per_gb: f64,
    /// Largest server RSS during the measurements.
    pub peak_rss: u64,
    /// Largest guest linear memory (guest servers).
    pub guest_memory: Option<u64>,
}

/// A workload's table.
#[derive(Clone, Debug, Default)]
pub struct Table {
    /// The heading.
    pub title: String,
    /// The rate's unit (`GB/s`, `req/s`).
    pub unit: &'static str,
    /// One row per server that ran.
    pub rows: Vec<Row>,
    /// Servers that could not run, with the reason.
    pub skipped: Vec<(Kind, String)>,
}

impl Table {
    /// The row of `kind`, if it ran.
    pub fn row(&self, kind: Kind) -> Option<&Row> {
        self.rows.iter().find(|r| r.kind == kind)
    }

    /// `kind`'s rate over `base`'s.
    pub fn rate_ratio(&self, kind: Kind, base: Kind) -> Option<f64> {
        Some(self.row(kind)?.rate / self.row(base)?.rate)
    }

    /// `kind`'s CPU per GB over `base`'s.
    pub fn cpu_ratio(&self, kind: Kind, base: Kind) -> Option<f64> {
        Some(self.row(kind)?.cpu_per_gb / self.row(base)?.cpu_per_gb)
    }
}

/// A checked target.
#[derive(Clone, Debug)]
pub struct Target {
    /// What is promised.
    pub what: String,
    /// What was measured.
    pub measured: String,
    /// Whether it holds (`None`: not measured).
    pub holds: Option<bool>,
}

/// Everything one run measured.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// When and where.
    pub preamble: Vec<String>,
    /// The per-workload tables.
    pub tables: Vec<Table>,
    /// Multi-core scaling rows: (workers, 1 KiB req/s, 64 KiB req/s).
    pub scaling: Vec<(usize, f64, f64)>,
    /// CPU shares under the 1 KiB load, per server (or why not measured).
    pub cpu_split: Vec<(Kind, Result<crate::cpusplit::Split, String>)>,
    /// System calls per 1 KiB request, per server (or why not measured).
    pub syscalls: Vec<(Kind, Result<f64, String>)>,
    /// Component calls (guest into host) per 1 KiB request, guest servers.
    pub host_calls: Vec<(Kind, Result<f64, String>)>,
    /// Nanoseconds per call of each loop of the call measurement.
    pub call_ns: Option<crate::call::CallCosts>,
    /// Batches of calls each `call_ns` figure is the median of.
    pub call_runs: usize,
    /// The 4 GiB check: (file bytes, guest linear memory peak, host RSS growth).
    pub flat: Option<(u64, u64, u64)>,
    /// The targets.
    pub targets: Vec<Target>,
    /// Notes on anything that could not be measured.
    pub notes: Vec<String>,
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

fn ratio(r: Option<f64>) -> String {
    r.map_or("–".into(), |r| format!("{r:.2}×"))
}

fn rate(value: f64, unit: &str) -> String {
    if unit == "GB/s" {
        format!("{value:.2} GB/s")
    } else {
        format!("{value:.0} req/s")
    }
}

impl Report {
    /// The report as Markdown.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        for line in &self.preamble {
            let _ = writeln!(s, "{line}");
        }
        for t in &self.tables {
            let _ = writeln!(s, "\n**{}**\n", t.title);
            let _ = writeln!(
                s,
                "| server | {} | × native | × nginx | × nginx cached | CPU s/GB | CPU × native | peak RSS | guest memory |",
                t.unit
            );
            let _ = writeln!(s, "|---|--:|--:|--:|--:|--:|--:|--:|--:|");
            for r in &t.rows {
                let _ = writeln!(
                    s,
                    "| {} | {} | {} | {} | {} | {:.3} | {} | {} | {} |",
                    r.kind.label(),
                    rate(r.rate, t.unit),
                    ratio(t.rate_ratio(r.kind, Kind::Native)),
                    ratio(t.rate_ratio(r.kind, Kind::Nginx)),
                    ratio(t.rate_ratio(r.kind, Kind::NginxCached)),
                    r.cpu_per_gb,
                    ratio(t.cpu_ratio(r.kind, Kind::Native)),
                    mib(r.peak_rss),
                    r.guest_memory.map_or("–".into(), mib),
                );
            }
            for (kind, why) in &t.skipped {
                let _ = writeln!(s, "| {} | skipped: {why} | | | | | | | |", kind.label());
            }
        }
        if !self.scaling.is_empty() {
            let _ = writeln!(
                s,
                "\n**`serve --workers N`, 64 keep-alive connections, server and wrk sharing both cores**\n"
            );
            let _ = writeln!(s, "| workers | 1 KiB req/s | 64 KiB req/s |");
            let _ = writeln!(s, "|--:|--:|--:|");
            let base = self.scaling.first().copied();
            for &(w, small, medium) in &self.scaling {
                let scale = |v: f64, b: f64| format!("{v:.0} ({:.2}×)", v / b);
                let (bs, bm) = base.map_or((small, medium), |b| (b.1, b.2));
                let _ = writeln!(s, "| {w} | {} | {} |", scale(small, bs), scale(medium, bm));
            }
        }
        if let Some(c) = self.call_ns {
            let _ = writeln!(
                s,
                "\n**One non-blocking 1-byte call** (each loop a process of its own on the same core, the median of {} batches; the last three split the difference)\n",
                self.call_runs
            );
            let _ = writeln!(s, "| path | ns per call | × bare `sendfile(2)` |");
            let _ = writeln!(s, "|---|--:|--:|");
            let row = |s: &mut String, path: &str, ns: f64| {
                let _ = writeln!(s, "| {path} | {ns:.0} | {:.2}× |", ns / c.bare);
            };
            row(
                &mut s,
                "guest `send-file` through the component boundary",
                c.guest,
            );
            row(&mut s, "bare `sendfile(2)` from native code", c.bare);
            row(
                &mut s,
                "bare `preadv2` + `sendmsg` (the host's system calls for a small cached range)",
                c.read_send,
            );
            row(
                &mut s,
                "guest `send-file` of 0 bytes (the boundary and the host's checks, no I/O)",
                c.guest_empty,
            );
            row(
                &mut s,
                "guest `limits` (a call that does nothing: the boundary alone)",
                c.guest_limits,
            );
        }
        if !self.cpu_split.is_empty() {
            let _ = writeln!(
                s,
                "\n**Where the CPU time goes** (1 KiB files, {} keep-alive connections, `perf record` on the server; user space split into the guest's compiled wasm and the rest)\n",
                crate::CONNECTIONS
            );
            let _ = writeln!(s, "| server | kernel | guest wasm | other user space |");
            let _ = writeln!(s, "|---|--:|--:|--:|");
            for (kind, split) in &self.cpu_split {
                match split {
                    Ok(p) => {
                        let _ = writeln!(
                            s,
                            "| {} | {:.0} % | {:.0} % | {:.0} % |",
                            kind.label(),
                            p.kernel,
                            p.guest,
                            p.user
                        );
                    }
                    Err(why) => {
                        let _ = writeln!(s, "| {} | not measured: {why} | | |", kind.label());
                    }
                }
            }
        }
        if !self.syscalls.is_empty() {
            let _ = writeln!(
                s,
                "\n**Calls per request** (1 KiB file, one keep-alive connection; system calls by `strace -c -f` on the server, component calls (guest into host) by `serve --metrics` and `http --metrics`)\n"
            );
            let _ = writeln!(
                s,
                "| server | system calls per request | component calls per request |"
            );
            let _ = writeln!(s, "|---|--:|--:|");
            let figure = |calls: &Result<f64, String>| match calls {
                Ok(c) => format!("{c:.1}"),
                Err(why) => format!("not measured: {why}"),
            };
            for (kind, calls) in &self.syscalls {
                let component = match self.host_calls.iter().find(|(k, _)| k == kind) {
                    Some((_, calls)) => figure(calls),
                    None => "– (not a component)".to_string(),
                };
                let _ = writeln!(s, "| {} | {} | {component} |", kind.label(), figure(calls));
            }
        }
        if let Some((size, guest, growth)) = self.flat {
            let _ = writeln!(s, "\n**Memory while serving a {} file**\n", mib(size));
            let _ = writeln!(s, "| measure | value |");
            let _ = writeln!(s, "|---|--:|");
            let _ = writeln!(s, "| guest linear memory, peak | {} |", mib(guest));
            let _ = writeln!(
                s,
                "| host RSS growth during the transfer | {} |",
                mib(growth)
            );
        }
        if !self.targets.is_empty() {
            let _ = writeln!(s, "\n**Targets**\n");
            let _ = writeln!(s, "| target | measured | holds |");
            let _ = writeln!(s, "|---|---|:-:|");
            for t in &self.targets {
                let holds = match t.holds {
                    Some(true) => "yes",
                    Some(false) => "**no**",
                    None => "not measured",
                };
                let _ = writeln!(s, "| {} | {} | {holds} |", t.what, t.measured);
            }
        }
        for n in &self.notes {
            let _ = writeln!(s, "\n{n}");
        }
        s
    }
}

/// Replaces what lies between `<!-- bench:begin -->` and
/// `<!-- bench:end -->` in `readme` with `body`.
pub fn splice_into_readme(readme: &Path, body: &str) -> std::io::Result<()> {
    const BEGIN: &str = "<!-- bench:begin -->";
    const END: &str = "<!-- bench:end -->";
    let text = std::fs::read_to_string(readme)?;
    let (Some(a), Some(b)) = (text.find(BEGIN), text.find(END)) else {
        return Err(std::io::Error::other(format!(
            "{} has no {BEGIN} … {END} markers",
            readme.display()
        )));
    };
    let new = format!("{}{BEGIN}\n{body}{}", &text[..a], &text[b..]);
    std::fs::write(readme, new)
}

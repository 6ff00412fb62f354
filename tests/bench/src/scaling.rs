//! `serve --workers N`: request rates with one and two guest instances on
//! one port, the server free to use both cores (and sharing them with wrk).

use crate::files;
use crate::load;
use crate::servers::{Kind, Programs, Server};
use std::path::Path;

/// Workers compared.
const WORKERS: [usize; 2] = [1, 2];

/// (workers, 1 KiB req/s, 64 KiB req/s) per worker count: medians of
/// `runs` interleaved wrk runs of `seconds` each.
pub fn measure(
    runs: usize,
    seconds: u64,
    dir: &Path,
    programs: &Programs,
) -> Result<Vec<(usize, f64, f64)>, String> {
    let servers = WORKERS
        .iter()
        .map(|&w| Server::start(Kind::Sendfile, dir, programs, "0,1", w))
        .collect::<Result<Vec<_>, _>>()?;
    let mut samples = vec![(Vec::new(), Vec::new()); servers.len()];
    for _ in 0..runs {
        for (server, (small, medium)) in servers.iter().zip(&mut samples) {
            small.push(load::wrk(server.addr, files::SMALL, 64, seconds, "0,1")?.per_second);
            medium.push(load::wrk(server.addr, files::MEDIUM, 64, seconds, "0,1")?.per_second);
        }
    }
    Ok(WORKERS
        .iter()
        .zip(samples)
        .map(|(&w, (s, m))| (w, crate::median(&s), crate::median(&m)))
        .collect())
}

//! Readings of another process from `/proc`: CPU time used, resident
//! memory now and at its peak (which can be reset, so a peak belongs to one
//! measurement rather than to start-up).

use std::fs;

/// A running process, by id.
#[derive(Clone, Copy, Debug)]
pub struct Proc(pub u32);

impl Proc {
    /// User plus system CPU seconds used so far, over all its threads.
    pub fn cpu_seconds(self) -> f64 {
        let Ok(stat) = fs::read_to_string(format!("/proc/{}/stat", self.0)) else {
            return f64::NAN;
        };
        // Fields after the command name (which may hold spaces) in `()`;
        // utime and stime are fields 14 and 15 of the whole line.
        let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
        match (ticks(11), ticks(12)) {
            (Some(u), Some(s)) => (u + s) / clock_ticks_per_second(),
            _ => f64::NAN,
        }
    }

    /// Resident set size now, in bytes.
    pub fn rss(self) -> u64 {
        self.status_kib("VmRSS:") * 1024
    }

    /// The largest resident set size since start or the last
    /// [`Proc::reset_peak`], in bytes.
    pub fn peak_rss(self) -> u64 {
        self.status_kib("VmHWM:") * 1024
    }

    /// Starts the peak-RSS reading afresh from the current RSS
    /// (`/proc/PID/clear_refs` value 5, Linux 4.0+).
    pub fn reset_peak(self) {
        let _ = fs::write(format!("/proc/{}/clear_refs", self.0), "5");
    }

    /// Open file descriptors.
    pub fn open_fds(self) -> usize {
        fs::read_dir(format!("/proc/{}/fd", self.0)).map_or(0, |d| d.count())
    }

    fn status_kib(self, key: &str) -> u64 {
        let status = fs::read_to_string(format!("/proc/{}/status", self.0)).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }
}

/// `sysconf(_SC_CLK_TCK)`: the unit of `/proc/PID/stat` times.
fn clock_ticks_per_second() -> f64 {
    rustix::param::clock_ticks_per_second() as f64
}

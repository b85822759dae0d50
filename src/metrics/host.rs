//! What the machine gave slabench during a run: the CPU time slabench used,
//! how busy the whole machine was, and its load average. When the generator
//! cannot hold the schedule, these say whether slabench was starved by
//! something else on the machine or asked for more than it can do.
//! Linux reads `/proc`; elsewhere only the process's own CPU time is known.

use serde::{Deserialize, Serialize};

/// One reading, taken at the start and at the end of the load.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    at: std::time::Instant,
    /// CPU seconds this process used so far (user + system).
    process_cpu_s: f64,
    /// Busy and total jiffies of the whole machine (`/proc/stat`).
    machine: Option<(u64, u64)>,
}

/// The machine during the load.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct HostUsage {
    /// Cores' worth of CPU slabench used on average (1.5 = one and a half).
    pub slabench_cores: f64,
    /// Share of the machine's CPU time that was busy (all processes), 0–1.
    pub machine_busy: Option<f64>,
    pub cores: usize,
    /// The one-minute load average at the end.
    pub load_avg_1m: Option<f64>,
}

impl Sample {
    pub fn now() -> Sample {
        Sample {
            at: std::time::Instant::now(),
            process_cpu_s: process_cpu_s(),
            machine: machine_jiffies(),
        }
    }
}

impl HostUsage {
    /// Usage between two samples.
    pub fn between(a: &Sample, b: &Sample) -> HostUsage {
        let wall = b.at.saturating_duration_since(a.at).as_secs_f64();
        let machine_busy = match (a.machine, b.machine) {
            (Some((busy0, total0)), Some((busy1, total1))) if total1 > total0 => {
                Some(busy1.saturating_sub(busy0) as f64 / (total1 - total0) as f64)
            }
            _ => None,
        };
        HostUsage {
            slabench_cores: if wall > 0.0 {
                (b.process_cpu_s - a.process_cpu_s).max(0.0) / wall
            } else {
                0.0
            },
            machine_busy,
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            load_avg_1m: load_avg(),
        }
    }

    /// The figures alone: cores used, how busy the machine was, its load.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "slabench used {:.2} of {} cores",
            self.slabench_cores, self.cores
        );
        if let Some(busy) = self.machine_busy {
            s.push_str(&format!(
                ", the whole machine was {:.0}% busy",
                busy * 100.0
            ));
        }
        if let Some(l) = self.load_avg_1m {
            s.push_str(&format!(" (load average {l:.2})"));
        }
        s
    }

    /// One sentence for a CI user whose run was INVALID for its lag: was
    /// slabench starved, or did it ask for more than this machine can do?
    pub fn explain(&self) -> String {
        let mut s = self.describe();
        let others = self
            .machine_busy
            .map(|b| b * self.cores as f64 - self.slabench_cores);
        match others {
            Some(o) if o > 0.5 => s.push_str(&format!(
                ": other processes used about {o:.1} cores; run it on a quieter machine, \
                 or raise load.max_lag_p99 if budgets of seconds allow it"
            )),
            _ if self.slabench_cores > self.cores as f64 * 0.8 => s.push_str(
                ": slabench itself needed every core; lower the rate, or split the load \
                 over more machines",
            ),
            _ => s.push_str(
                ": the machine was not saturated; a stall (swap, a paused VM, a slow disk) is likely",
            ),
        }
        s
    }
}

fn process_cpu_s() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we own.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// `(busy, total)` jiffies over all CPUs from the first line of /proc/stat.
fn machine_jiffies() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    parse_stat(stat.lines().next()?)
}

fn parse_stat(line: &str) -> Option<(u64, u64)> {
    let mut fields = line.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    let v: Vec<u64> = fields.filter_map(|f| f.parse().ok()).collect();
    if v.len() < 4 {
        return None;
    }
    // user nice system idle iowait irq softirq steal (guest is in user).
    let total: u64 = v.iter().take(8).sum();
    let idle = v[3] + v.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

fn load_avg() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_proc_stat() {
        assert_eq!(
            parse_stat("cpu  100 0 50 800 50 0 0 0 0 0"),
            Some((150, 1000))
        );
        assert_eq!(parse_stat("cpu0 1 2 3 4"), None);
    }

    #[test]
    fn explains_a_starved_and_a_saturated_generator() {
        let starved = HostUsage {
            slabench_cores: 0.3,
            machine_busy: Some(1.0),
            cores: 2,
            load_avg_1m: Some(3.9),
        };
        assert!(starved
            .explain()
            .contains("other processes used about 1.7 cores"));
        let saturated = HostUsage {
            slabench_cores: 1.9,
            machine_busy: Some(0.97),
            cores: 2,
            load_avg_1m: None,
        };
        assert!(saturated
            .explain()
            .contains("slabench itself needed every core"));
    }

    #[test]
    fn measures_this_process() {
        let a = Sample::now();
        // Spin for 50 ms of wall time: this thread's CPU time must show.
        let mut x = 0u64;
        while a.at.elapsed() < std::time::Duration::from_millis(50) {
            for i in 0..10_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
        }
        std::hint::black_box(x);
        let b = Sample::now();
        assert!(b.process_cpu_s > a.process_cpu_s);
        let u = HostUsage::between(&a, &b);
        assert!(u.slabench_cores > 0.0 && u.cores >= 1);
    }
}

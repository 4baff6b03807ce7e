//! CPU time and peak memory of a process, and what the whole host's CPUs did, from /proc (Linux).

/// Clock ticks per second for /proc/<pid>/stat times (`getconf CLK_TCK`, 100 on Linux).
fn ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// CPU seconds a process has used so far, in its own code and in the kernel on its behalf.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuTimes {
    pub user: f64,
    pub kernel: f64,
}

impl CpuTimes {
    pub fn total(&self) -> f64 {
        self.user + self.kernel
    }
}

/// User and system CPU seconds of the process so far.
pub fn cpu_times(pid: u32) -> Option<CpuTimes> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after "(comm)": state is field 3, utime field 14, stime field 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let tick = ticks_per_second();
    Some(CpuTimes {
        user: utime / tick,
        kernel: stime / tick,
    })
}

/// User + system CPU seconds the process has used so far.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    cpu_times(pid).map(|t| t.total())
}

/// Peak resident set size (VmHWM) in bytes.
pub fn peak_rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The host's CPU time counters so far, all CPUs together (the `cpu` line of /proc/stat), in
/// clock ticks. Two readings give what the host did between them: see [`HostCpu::since`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HostCpu {
    total: u64,
    idle: u64,
    iowait: u64,
    steal: u64,
}

/// Shares of the host's CPU time between two readings, in per cent of all CPUs' time, and what
/// the stack's two servers used meanwhile.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct HostShare {
    /// Running anything: this benchmark's processes, the stack's, anyone else's.
    pub busy: f64,
    /// Idle with a disk request outstanding: the host writing or reading for someone.
    pub iowait: f64,
    /// Taken by the hypervisor for other guests.
    pub steal: f64,
    /// CPU the ClickHouse server and the broker used, in cores (CPU seconds per wall second;
    /// `None` where their PID files or /proc could not be read).
    pub clickhouse: Option<f64>,
    pub broker: Option<f64>,
    /// The part of `clickhouse` spent in the kernel: creating, writing and renaming part files.
    /// On this host it rises when many files were deleted in the minutes before (BENCHMARKS.md).
    pub clickhouse_kernel: Option<f64>,
}

/// A reading of the host and of the stack's servers (`infra/stack`'s PID files), taken before
/// and after a phase: [`Reading::since`] says what the host did during it.
#[derive(Debug, Clone, Copy)]
pub struct Reading {
    host: Option<HostCpu>,
    at: std::time::Instant,
    clickhouse: Option<CpuTimes>,
    broker: Option<CpuTimes>,
}

/// The PID a stack server's PID file holds (`clickhouse/clickhouse.pid`, relative to the stack's
/// data folder), if it can be read.
pub fn stack_pid(pid_file: &str) -> Option<u32> {
    pid_in(&crate::stack_data().join(pid_file))
}

fn pid_in(pid_file: &std::path::Path) -> Option<u32> {
    std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|p| p.trim().parse().ok())
}

impl Reading {
    pub fn now() -> Self {
        let server = |pid_file: &str| stack_pid(pid_file).and_then(cpu_times);
        Self {
            host: HostCpu::now(),
            at: std::time::Instant::now(),
            clickhouse: server("clickhouse/clickhouse.pid"),
            broker: pid_in(&crate::broker_dir().join("tansu.pid")).and_then(cpu_times),
        }
    }

    /// What the host and the servers did since `earlier` (`None` where /proc/stat is unreadable).
    pub fn since(&self, earlier: &Self) -> Option<HostShare> {
        let wall = self.at.duration_since(earlier.at).as_secs_f64();
        let cores = |now: Option<f64>, then: Option<f64>| {
            now.zip(then)
                .filter(|_| wall > 0.0)
                .map(|(n, t)| (n - t).max(0.0) / wall)
        };
        let total = |t: Option<CpuTimes>| t.map(|t| t.total());
        let mut share = self.host?.since(&earlier.host?)?;
        share.clickhouse = cores(total(self.clickhouse), total(earlier.clickhouse));
        share.clickhouse_kernel = cores(
            self.clickhouse.map(|t| t.kernel),
            earlier.clickhouse.map(|t| t.kernel),
        );
        share.broker = cores(total(self.broker), total(earlier.broker));
        Some(share)
    }
}

impl HostCpu {
    /// Now (`None` where /proc/stat is unreadable).
    pub fn now() -> Option<Self> {
        Self::parse(&std::fs::read_to_string("/proc/stat").ok()?)
    }

    /// The aggregate `cpu` line: user nice system idle iowait irq softirq steal (guest time is
    /// already inside user and nice, so it is not added again).
    fn parse(stat: &str) -> Option<Self> {
        let line = stat.lines().find(|l| l.starts_with("cpu "))?;
        let f: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .take(8)
            .map(|v| v.parse().ok())
            .collect::<Option<_>>()?;
        (f.len() >= 5).then(|| Self {
            total: f.iter().sum(),
            idle: f[3],
            iowait: f[4],
            steal: f.get(7).copied().unwrap_or(0),
        })
    }

    /// What the host did since `earlier` (`None` if no time passed).
    pub fn since(&self, earlier: &Self) -> Option<HostShare> {
        let total = self.total.checked_sub(earlier.total).filter(|t| *t > 0)? as f64;
        let d = |now: u64, then: u64| now.saturating_sub(then) as f64 * 100.0 / total;
        let (idle, iowait, steal) = (
            d(self.idle, earlier.idle),
            d(self.iowait, earlier.iowait),
            d(self.steal, earlier.steal),
        );
        Some(HostShare {
            busy: (100.0 - idle - iowait - steal).max(0.0),
            iowait,
            steal,
            ..HostShare::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_shares_between_two_readings() {
        let a = HostCpu::parse("cpu  100 0 50 800 40 0 10 0 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n");
        let b = HostCpu::parse("cpu  300 0 150 1200 240 0 10 100 0 0\n");
        let (a, b) = (a.expect("parses"), b.expect("parses"));
        assert_eq!(a.total, 1000);
        let share = b.since(&a).expect("time passed");
        // 1,000 ticks passed: 400 idle, 200 waiting for I/O, 100 stolen, 300 running.
        assert!((share.iowait - 20.0).abs() < 1e-9, "{share:?}");
        assert!((share.steal - 10.0).abs() < 1e-9, "{share:?}");
        assert!((share.busy - 30.0).abs() < 1e-9, "{share:?}");
        assert_eq!(a.since(&a), None);
        assert_eq!(HostCpu::parse("intr 1 2 3\n"), None);
        // This host's own counters parse and move forward.
        let now = HostCpu::now().expect("/proc/stat");
        assert!(now.total >= now.idle + now.iowait);
        let first = Reading::now();
        std::thread::sleep(std::time::Duration::from_millis(30));
        let share = Reading::now().since(&first).expect("a share of this host");
        assert!((0.0..=100.0).contains(&share.busy), "{share:?}");
    }

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        // Burn a little CPU so the counter is non-zero (black_box per step: a release build
        // would otherwise fold the loop into a formula and burn nothing).
        let mut x = 0u64;
        for i in 0..30_000_000u64 {
            x = std::hint::black_box(x.wrapping_add(i * i));
        }
        std::hint::black_box(x);
        assert!(cpu_seconds(pid).is_some_and(|s| s > 0.0));
        let times = cpu_times(pid).expect("this process");
        assert!(times.user > 0.0 && times.kernel >= 0.0, "{times:?}");
        assert!(peak_rss_bytes(pid).is_some_and(|b| b > 1024 * 1024));
        assert!(cpu_seconds(u32::MAX).is_none());
    }
}

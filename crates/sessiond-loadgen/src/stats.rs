//! Reading process CPU time and resident memory from `/proc`.

use std::fs;

/// CPU time a process has used, in clock ticks (user + system, all threads).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuTicks(pub u64);

impl CpuTicks {
    /// Ticks used between `self` (earlier) and `later`, in microseconds.
    pub fn micros_until(self, later: CpuTicks, ticks_per_sec: u64) -> f64 {
        later.0.saturating_sub(self.0) as f64 * 1e6 / ticks_per_sec as f64
    }
}

/// Reads utime + stime of process `pid` (or of this process for `None`) from
/// `/proc/<pid>/stat`. The figures cover every thread of the process, including
/// ones that have exited.
pub fn cpu_ticks(pid: Option<u32>) -> Result<CpuTicks, String> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_string(),
    };
    let text = fs::read_to_string(&path).map_err(|e| format!("reading {path}: {e}"))?;
    parse_stat_cpu(&text).ok_or_else(|| format!("unexpected format of {path}"))
}

/// Extracts utime + stime from the contents of a `/proc/<pid>/stat` file.
pub fn parse_stat_cpu(stat: &str) -> Option<CpuTicks> {
    // The command name (field 2) is in parentheses and may itself contain spaces
    // and parentheses, so split after the *last* ')'. What follows starts with
    // field 3 (state); utime and stime are fields 14 and 15 (proc(5)).
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace().skip(14 - 3);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(CpuTicks(utime + stime))
}

/// Reads the resident set size of process `pid` in bytes from `/proc/<pid>/status`.
pub fn vm_rss_bytes(pid: u32) -> Result<u64, String> {
    let path = format!("/proc/{pid}/status");
    let text = fs::read_to_string(&path).map_err(|e| format!("reading {path}: {e}"))?;
    parse_vm_rss(&text).ok_or_else(|| format!("no VmRSS line in {path}"))
}

/// Extracts `VmRSS` (reported in kB) from a `/proc/<pid>/status` file, in bytes.
pub fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut fields = line["VmRSS:".len()..].split_ascii_whitespace();
    let kib: u64 = fields.next()?.parse().ok()?;
    match fields.next() {
        Some("kB") | None => Some(kib * 1024),
        Some(_) => None,
    }
}

/// Clock ticks per second, the unit of the CPU times in `/proc/<pid>/stat`.
///
/// `/proc` reports in `USER_HZ`, which is part of Linux's user-space ABI and 100 on the
/// architectures this project runs on (the kernel's own `HZ` may differ, `USER_HZ` does not).
/// Asking `sysconf` instead would need unsafe code for no gain; the server reads its own CPU
/// time the same way.
pub fn clock_ticks_per_sec() -> u64 {
    100
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_awkward_comm() {
        let stat = "1234 (mem cache) d) S 1 1234 1234 0 -1 4194560 100 0 0 0 \
                    250 75 0 0 20 0 4 0 12345 1000000 500 18446744073709551615";
        assert_eq!(parse_stat_cpu(stat), Some(CpuTicks(325)));
        assert_eq!(parse_stat_cpu("1 (x) S 1 2"), None);
    }

    #[test]
    fn reads_own_stat() {
        assert!(cpu_ticks(None).is_ok());
        assert!(vm_rss_bytes(std::process::id()).unwrap() > 0);
        assert!(clock_ticks_per_sec() >= 100);
    }

    #[test]
    fn parses_vm_rss() {
        let status = "Name:\tmemcached\nVmPeak:\t  9999 kB\nVmRSS:\t    4321 kB\nThreads:\t5\n";
        assert_eq!(parse_vm_rss(status), Some(4321 * 1024));
        assert_eq!(parse_vm_rss("Name:\tx\n"), None);
    }

    #[test]
    fn micros() {
        assert_eq!(CpuTicks(100).micros_until(CpuTicks(150), 100), 500_000.0);
        assert_eq!(CpuTicks(150).micros_until(CpuTicks(100), 100), 0.0);
    }
}

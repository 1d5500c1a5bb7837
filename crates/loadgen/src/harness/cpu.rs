//! whiskd's own CPU time, from `/proc/<pid>/stat` (utime + stime of the process, all its
//! threads; children such as the process factory's proxies are not counted), so a run can
//! report CPU per activation. The kernel counts in clock ticks (`USER_HZ`, 100 on Linux):
//! a run should burn at least some hundreds of milliseconds for the figure to mean much.

use std::process::Command;
use std::time::Duration;

/// utime + stime, in clock ticks, from the text of `/proc/<pid>/stat`. The command name
/// (field 2) is in parentheses and may hold spaces and parentheses itself, so fields are
/// counted from the last `)`: after it come state (field 3) ... utime (14), stime (15).
pub fn parse_stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Clock ticks per second (`getconf CLK_TCK`; 100, the kernel's fixed `USER_HZ`, when it
/// cannot be asked).
fn ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or(100)
}

/// The CPU time `pid` has used so far; `None` when the process is gone or unreadable.
pub fn cpu_time(pid: u32, ticks_per_second: u64) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let ticks = parse_stat_ticks(&stat)?;
    Some(ticks_to_duration(ticks, ticks_per_second))
}

fn ticks_to_duration(ticks: u64, ticks_per_second: u64) -> Duration {
    Duration::from_secs_f64(ticks as f64 / ticks_per_second.max(1) as f64)
}

/// The CPU time of one process over a span: started before the measured requests, read
/// after them.
#[derive(Debug, Clone, Copy)]
pub struct CpuMeter {
    pid: u32,
    ticks_per_second: u64,
    start: Duration,
}

impl CpuMeter {
    /// Starts counting for `pid`; `None` when there is no such process to read.
    pub fn start(pid: u32) -> Option<Self> {
        let ticks_per_second = ticks_per_second();
        let start = cpu_time(pid, ticks_per_second)?;
        Some(Self {
            pid,
            ticks_per_second,
            start,
        })
    }

    /// CPU time used since [`CpuMeter::start`].
    pub fn used(&self) -> Option<Duration> {
        Some(cpu_time(self.pid, self.ticks_per_second)?.saturating_sub(self.start))
    }

    /// CPU time used since the start divided by `activations`; `None` for none.
    pub fn per_activation(&self, activations: usize) -> Option<Duration> {
        per_activation(self.used()?, activations)
    }
}

/// `used / activations`; `None` for zero activations.
pub fn per_activation(used: Duration, activations: usize) -> Option<Duration> {
    (activations > 0).then(|| used / u32::try_from(activations).unwrap_or(u32::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    // A real line of /proc/<pid>/stat (52 fields), with utime 1234 and stime 567.
    const STAT: &str = "4242 (whiskd) S 1 4242 4242 0 -1 4194560 9120 0 0 0 1234 567 0 0 20 0 \
        23 0 511437 1548468224 6480 18446744073709551615 1 1 0 0 0 0 0 4096 17475 0 0 0 17 1 \
        0 0 0 0 0 0 0 0 0 0 0 0 0";

    #[test]
    fn parses_utime_plus_stime() {
        assert_eq!(parse_stat_ticks(STAT), Some(1801));
    }

    #[test]
    fn a_command_name_with_spaces_and_parentheses_does_not_shift_fields() {
        let odd = STAT.replace("(whiskd)", "(tokio) (x y) z)");
        assert_eq!(parse_stat_ticks(&odd), Some(1801));
    }

    #[test]
    fn truncated_or_garbled_stat_gives_none() {
        assert_eq!(parse_stat_ticks("4242 (whiskd) S 1 2 3"), None);
        assert_eq!(parse_stat_ticks("no parenthesis at all"), None);
        assert_eq!(
            parse_stat_ticks(&STAT.replace(" 1234 ", " x ")),
            None,
            "a non-number utime"
        );
    }

    #[test]
    fn ticks_become_time_and_time_per_activation() {
        assert_eq!(ticks_to_duration(250, 100), Duration::from_millis(2500));
        assert_eq!(
            per_activation(Duration::from_millis(300), 3000),
            Some(Duration::from_micros(100))
        );
        assert_eq!(per_activation(Duration::from_secs(1), 0), None);
    }

    #[test]
    fn reads_this_process() {
        // This test process has run at least its own start-up; the reading must succeed
        // and only grow.
        let meter = CpuMeter::start(std::process::id()).expect("own /proc stat");
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_add(i * i);
        }
        assert!(x > 0);
        assert!(meter.used().is_some());
        assert!(cpu_time(u32::MAX, 100).is_none());
    }
}

//! Printing: Markdown tables (so a run pastes into BENCHMARKS.md as it is), the issue's
//! targets with met/missed, and skipped parts with their reason.

use std::fmt::Write as _;
use std::time::Duration;

use super::stats::ms;

/// Which side of the limit meets a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// The value must be at most the limit.
    AtMost,
    /// The value must be at least the limit.
    AtLeast,
}

/// One of issue 11's targets.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// What is measured, as printed.
    pub what: &'static str,
    pub cmp: Cmp,
    pub limit: f64,
    /// Unit of the limit and the value, as printed after them (`ms`, `µs`, `/s`, `x`).
    pub unit: &'static str,
}

/// Warm blocking invoke at c=1: p50 of whiskd minus p50 of the container's own `/run`.
pub const ADDED_P50_C1: Target = Target {
    what: "added p50 at c=1",
    cmp: Cmp::AtMost,
    limit: 0.3,
    unit: "ms",
};
/// The same at p99.
pub const ADDED_P99_C1: Target = Target {
    what: "added p99 at c=1",
    cmp: Cmp::AtMost,
    limit: 1.0,
    unit: "ms",
};
/// whiskd's utime + stime per warm activation.
pub const CPU_PER_ACTIVATION: Target = Target {
    what: "whiskd CPU per warm activation",
    cmp: Cmp::AtMost,
    limit: 100.0,
    unit: "µs",
};
/// Warm blocking invokes of the Node.js no-op per second (best concurrency).
pub const NODE_WARM_RATE: Target = Target {
    what: "Node.js no-op warm activations/s",
    cmp: Cmp::AtLeast,
    limit: 5000.0,
    unit: "/s",
};
/// Cold start to result with the runc factory, p50.
pub const RUNC_COLD_P50: Target = Target {
    what: "runc cold start p50",
    cmp: Cmp::AtMost,
    limit: 40.0,
    unit: "ms",
};
/// Cold start with the docker factory over the raw `docker run` floor, p50.
pub const DOCKER_COLD_RATIO: Target = Target {
    what: "docker cold start p50 / raw docker run p50",
    cmp: Cmp::AtMost,
    limit: 1.1,
    unit: "x",
};
/// A paused container's next invoke over an idle, unpaused one's, p50.
pub const RESUME_ADDED: Target = Target {
    what: "resume: added p50 over an unpaused idle container",
    cmp: Cmp::AtMost,
    limit: 1.0,
    unit: "ms",
};
/// 100 distinct actions' throughput over one action's.
pub const MANY_RATIO: Target = Target {
    what: "distinct actions' throughput / one action's",
    cmp: Cmp::AtLeast,
    limit: 0.5,
    unit: "x",
};

impl Target {
    /// Whether `value` meets the target.
    pub fn met(&self, value: f64) -> bool {
        match self.cmp {
            Cmp::AtMost => value <= self.limit,
            Cmp::AtLeast => value >= self.limit,
        }
    }

    /// `- target: WHAT ≤ LIMIT: VALUE (met|missed)`, or "not measured".
    pub fn line(&self, value: Option<f64>) -> String {
        let sign = match self.cmp {
            Cmp::AtMost => "≤",
            Cmp::AtLeast => "≥",
        };
        let head = format!(
            "- target: {} {sign} {}{}",
            self.what,
            num(self.limit),
            self.unit
        );
        match value {
            Some(v) if v.is_finite() => {
                let verdict = if self.met(v) { "met" } else { "MISSED" };
                format!("{head}: {}{} **{verdict}**", num(v), self.unit)
            }
            _ => format!("{head}: not measured"),
        }
    }

    /// Prints [`Target::line`].
    pub fn print(&self, value: Option<f64>) {
        println!("{}", self.line(value));
    }
}

/// A number with as many decimals as its size deserves.
pub fn num(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// Milliseconds with three decimals.
pub fn fmt_ms(d: Duration) -> String {
    format!("{:.3}", ms(d))
}

/// `1.23x`, or `-` when there is no ratio.
pub fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or_else(|| "-".into(), |r| format!("{r:.2}x"))
}

/// Microseconds, or `-`.
pub fn fmt_us(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".into(), |d| format!("{:.0}", d.as_secs_f64() * 1e6))
}

/// Microseconds of an optional duration as a number (for targets).
pub fn us(d: Option<Duration>) -> Option<f64> {
    d.map(|d| d.as_secs_f64() * 1e6)
}

/// Prints a scenario's heading.
pub fn heading(title: &str) {
    println!("\n### {title}\n");
}

/// Prints that a part of a scenario was skipped, and why.
pub fn skipped(what: &str, reason: &str) {
    println!("- skipped: {what}: {reason}");
}

/// A Markdown table.
#[derive(Debug, Default)]
pub struct Table {
    head: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column names.
    pub fn new(head: &[&str]) -> Self {
        Self {
            head: head.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (missing cells print empty).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as Markdown.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let line = |cells: &[String]| {
            let mut l = String::from("|");
            for i in 0..self.head.len() {
                let _ = write!(l, " {} |", cells.get(i).map_or("", String::as_str));
            }
            l
        };
        let _ = writeln!(out, "{}", line(&self.head));
        let _ = writeln!(out, "|{}", "---|".repeat(self.head.len()));
        for r in &self.rows {
            let _ = writeln!(out, "{}", line(r));
        }
        out
    }

    /// Prints the table and an empty line.
    pub fn print(&self) {
        println!("{}", self.render());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_judge_both_directions() {
        assert!(ADDED_P50_C1.met(0.3));
        assert!(!ADDED_P50_C1.met(0.31));
        assert!(NODE_WARM_RATE.met(5000.0));
        assert!(!NODE_WARM_RATE.met(4999.0));
        assert_eq!(
            ADDED_P50_C1.line(Some(0.62)),
            "- target: added p50 at c=1 ≤ 0.300ms: 0.620ms **MISSED**"
        );
        assert_eq!(
            MANY_RATIO.line(Some(0.8)),
            "- target: distinct actions' throughput / one action's ≥ 0.500x: 0.800x **met**"
        );
        assert!(RESUME_ADDED.line(None).ends_with("not measured"));
        assert!(RESUME_ADDED.line(Some(f64::NAN)).ends_with("not measured"));
    }

    #[test]
    fn tables_render_as_markdown() {
        let mut t = Table::new(&["a", "b"]);
        t.row(vec!["1".into(), "2".into()]);
        t.row(vec!["3".into()]);
        assert_eq!(t.render(), "| a | b |\n|---|---|\n| 1 | 2 |\n| 3 |  |\n");
    }

    #[test]
    fn formatting_of_missing_values() {
        assert_eq!(fmt_ratio(None), "-");
        assert_eq!(fmt_ratio(Some(1.234)), "1.23x");
        assert_eq!(fmt_us(Some(Duration::from_micros(1540))), "1540");
        assert_eq!(fmt_us(None), "-");
        assert_eq!(num(5234.4), "5234");
        assert_eq!(num(12.34), "12.3");
    }
}

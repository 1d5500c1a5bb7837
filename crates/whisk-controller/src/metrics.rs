//! Request and invocation counters on plain atomics, rendered in the Prometheus text format
//! at `GET /metrics`.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the blocking-wait histogram buckets.
const WAIT_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0,
];

/// How an invocation ended, from the controller's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvokeOutcome {
    /// Non-blocking: accepted and queued.
    Accepted,
    Success,
    ApplicationError,
    DeveloperError,
    WhiskError,
    /// Blocking, but the activation did not finish within the wait.
    Timeout,
}

impl InvokeOutcome {
    const ALL: [InvokeOutcome; 6] = [
        InvokeOutcome::Accepted,
        InvokeOutcome::Success,
        InvokeOutcome::ApplicationError,
        InvokeOutcome::DeveloperError,
        InvokeOutcome::WhiskError,
        InvokeOutcome::Timeout,
    ];

    fn label(self) -> &'static str {
        match self {
            InvokeOutcome::Accepted => "accepted",
            InvokeOutcome::Success => "success",
            InvokeOutcome::ApplicationError => "application_error",
            InvokeOutcome::DeveloperError => "developer_error",
            InvokeOutcome::WhiskError => "whisk_error",
            InvokeOutcome::Timeout => "timeout",
        }
    }
}

/// The controller's counters. Cheap to update from any task.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Responses by status class, index 0 = 1xx .. 4 = 5xx.
    responses: [AtomicU64; 5],
    invocations: [AtomicU64; 6],
    /// Non-cumulative counts per bucket; the last slot is above the largest bound.
    wait_buckets: [AtomicU64; WAIT_BUCKETS.len() + 1],
    wait_sum_micros: AtomicU64,
}

impl Metrics {
    pub fn record_response(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.responses[class].fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_invocation(&self, outcome: InvokeOutcome) {
        let i = InvokeOutcome::ALL
            .iter()
            .position(|o| *o == outcome)
            .unwrap_or(0);
        self.invocations[i].fetch_add(1, Ordering::Relaxed);
    }

    pub fn record_blocking_wait(&self, waited: Duration) {
        let secs = waited.as_secs_f64();
        let i = WAIT_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(WAIT_BUCKETS.len());
        self.wait_buckets[i].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(waited.as_micros()).unwrap_or(u64::MAX);
        self.wait_sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Requests answered with this status class (1..=5).
    pub fn responses(&self, class: usize) -> u64 {
        self.responses[class.clamp(1, 5) - 1].load(Ordering::Relaxed)
    }

    pub fn invocations(&self, outcome: InvokeOutcome) -> u64 {
        let i = InvokeOutcome::ALL
            .iter()
            .position(|o| *o == outcome)
            .unwrap_or(0);
        self.invocations[i].load(Ordering::Relaxed)
    }

    /// The Prometheus text exposition (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP whisk_controller_http_responses_total HTTP responses by status class.\n\
             # TYPE whisk_controller_http_responses_total counter"
        );
        for (i, c) in self.responses.iter().enumerate() {
            let _ = writeln!(
                out,
                "whisk_controller_http_responses_total{{class=\"{}xx\"}} {}",
                i + 1,
                c.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP whisk_controller_invocations_total Action invocations by outcome.\n\
             # TYPE whisk_controller_invocations_total counter"
        );
        for (o, c) in InvokeOutcome::ALL.iter().zip(&self.invocations) {
            let _ = writeln!(
                out,
                "whisk_controller_invocations_total{{outcome=\"{}\"}} {}",
                o.label(),
                c.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP whisk_controller_blocking_wait_seconds Time blocking invokes waited for their activation.\n\
             # TYPE whisk_controller_blocking_wait_seconds histogram"
        );
        let mut cumulative = 0;
        for (bound, c) in WAIT_BUCKETS.iter().zip(&self.wait_buckets) {
            cumulative += c.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "whisk_controller_blocking_wait_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        cumulative += self.wait_buckets[WAIT_BUCKETS.len()].load(Ordering::Relaxed);
        let sum = self.wait_sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(
            out,
            "whisk_controller_blocking_wait_seconds_bucket{{le=\"+Inf\"}} {cumulative}\n\
             whisk_controller_blocking_wait_seconds_sum {sum}\n\
             whisk_controller_blocking_wait_seconds_count {cumulative}"
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histogram() {
        let m = Metrics::default();
        m.record_response(200);
        m.record_response(404);
        m.record_response(404);
        m.record_invocation(InvokeOutcome::Success);
        m.record_blocking_wait(Duration::from_millis(3));
        m.record_blocking_wait(Duration::from_secs(100));
        let text = m.render();
        assert!(text.contains("whisk_controller_http_responses_total{class=\"4xx\"} 2"));
        assert!(text.contains("whisk_controller_invocations_total{outcome=\"success\"} 1"));
        assert!(text.contains("whisk_controller_blocking_wait_seconds_bucket{le=\"0.005\"} 1"));
        assert!(text.contains("whisk_controller_blocking_wait_seconds_bucket{le=\"60\"} 1"));
        assert!(text.contains("whisk_controller_blocking_wait_seconds_bucket{le=\"+Inf\"} 2"));
        assert!(text.contains("whisk_controller_blocking_wait_seconds_count 2"));
    }
}

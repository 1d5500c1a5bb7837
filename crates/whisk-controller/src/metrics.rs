//! The controller's Prometheus metrics (through `prometheus-client`): HTTP responses by
//! status class, invocations by outcome, the blocking wait, and the store and bus errors
//! the controller saw. All are aggregates: no label names a namespace, since `/metrics`
//! is unauthenticated. [`Metrics::register`] adds them to a registry; `whiskd` serves
//! that registry (with the invoker's metrics in `standalone`) at `GET /metrics`.

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Upper bounds (seconds) of the blocking-wait histogram buckets.
const WAIT_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0,
];

/// One label, from a fixed set of values.
type Label = [(&'static str, &'static str); 1];

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

const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The controller's metrics. Cheap to update from any task; clones share the values.
#[derive(Debug, Clone)]
pub struct Metrics {
    responses: Family<Label, Counter>,
    invocations: Family<Label, Counter>,
    blocking_wait: Histogram,
    /// Store calls that failed (shared with the invoker's in `standalone`).
    pub store_errors: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        let m = Self {
            responses: Family::default(),
            invocations: Family::default(),
            blocking_wait: Histogram::new(WAIT_BUCKETS),
            store_errors: Counter::default(),
        };
        // Every series exists from the start (at 0), so dashboards see them all.
        for class in CLASSES {
            let _ = m.responses.get_or_create(&[("class", class)]);
        }
        for outcome in InvokeOutcome::ALL {
            let _ = m.invocations.get_or_create(&[("outcome", outcome.label())]);
        }
        m
    }
}

impl Metrics {
    /// Adds the controller's metrics to `registry` (the store-error counter is registered
    /// by whoever owns the process's registry, once, see `whiskd`).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "whisk_controller_http_responses",
            "HTTP responses by status class",
            self.responses.clone(),
        );
        registry.register(
            "whisk_controller_invocations",
            "Action invocations by outcome",
            self.invocations.clone(),
        );
        registry.register(
            "whisk_controller_blocking_wait_seconds",
            "Time blocking invokes waited for their activation",
            self.blocking_wait.clone(),
        );
    }

    pub fn record_response(&self, status: u16) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.responses
            .get_or_create(&[("class", CLASSES[class])])
            .inc();
    }

    pub fn record_invocation(&self, outcome: InvokeOutcome) {
        self.invocations
            .get_or_create(&[("outcome", outcome.label())])
            .inc();
    }

    pub fn record_blocking_wait(&self, waited: Duration) {
        self.blocking_wait.observe(waited.as_secs_f64());
    }

    /// Counts a failed store call.
    pub fn record_store_error(&self) {
        self.store_errors.inc();
    }

    /// Requests answered with this status class (1..=5).
    pub fn responses(&self, class: usize) -> u64 {
        self.responses
            .get(&[("class", CLASSES[class.clamp(1, 5) - 1])])
            .map_or(0, |c| c.get())
    }

    pub fn invocations(&self, outcome: InvokeOutcome) -> u64 {
        self.invocations
            .get(&[("outcome", outcome.label())])
            .map_or(0, |c| c.get())
    }

    /// The controller's metrics alone, in the OpenMetrics text format.
    pub fn render(&self) -> String {
        let mut registry = Registry::default();
        self.register(&mut registry);
        encode(&registry)
    }
}

/// `registry` in the OpenMetrics text format (what Prometheus scrapes).
pub fn encode(registry: &Registry) -> String {
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, registry) {
        tracing::warn!(error = %e, "Encoding the metrics failed.");
    }
    out
}

/// The content type of [`encode`]'s output.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

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
        assert_eq!(m.responses(4), 2);
        assert_eq!(m.invocations(InvokeOutcome::Success), 1);
        assert_eq!(m.invocations(InvokeOutcome::Timeout), 0);
        let text = m.render();
        assert!(text.contains("whisk_controller_http_responses_total{class=\"4xx\"} 2"));
        assert!(text.contains("whisk_controller_invocations_total{outcome=\"success\"} 1"));
        assert!(text.contains("whisk_controller_blocking_wait_seconds_bucket{le=\"0.005\"} 1"));
        assert!(text.contains("whisk_controller_blocking_wait_seconds_bucket{le=\"60.0\"} 1"));
        assert!(text.contains("whisk_controller_blocking_wait_seconds_bucket{le=\"+Inf\"} 2"));
        assert!(text.contains("whisk_controller_blocking_wait_seconds_count 2"));
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert!(text.contains("whisk_controller_invocations_total{outcome=\"timeout\"} 0"));
    }
}

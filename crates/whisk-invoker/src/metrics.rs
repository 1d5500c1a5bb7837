//! The invoker's Prometheus metrics (through `prometheus-client`): activations by status,
//! container starts by kind of start, the activation duration, containers by state and
//! failed store calls. Aggregates only: no label names a namespace or an action.
//! [`InvokerMetrics::register`] adds them to the registry `whiskd` serves.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use whisk_types::activation::ResponseStatus;

/// Upper bounds (seconds) of the activation-duration buckets.
const DURATION_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0,
];

type Label = [(&'static str, &'static str); 1];

/// How an activation got its container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// A new container.
    Cold,
    /// An idle container of the same action revision.
    Warm,
    /// A stem cell (prewarmed container of the kind).
    Prewarm,
}

/// Containers of the pool by state, as sampled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContainerCounts {
    pub busy: u64,
    pub warm: u64,
    /// Idle containers paused (frozen) until taken.
    pub paused: u64,
    pub prewarm: u64,
}

/// The invoker's metrics; clones share the values.
#[derive(Debug, Clone)]
pub struct InvokerMetrics {
    activations: Family<Label, Counter>,
    starts: Family<Label, Counter>,
    duration: Histogram,
    containers: Family<Label, Gauge>,
    /// Store calls that failed (shared with the controller's in `standalone`).
    pub store_errors: Counter,
}

impl Default for InvokerMetrics {
    fn default() -> Self {
        let m = Self {
            activations: Family::default(),
            starts: Family::default(),
            duration: Histogram::new(DURATION_BUCKETS),
            containers: Family::default(),
            store_errors: Counter::default(),
        };
        // Every series exists from the start (at 0), so dashboards see them all.
        for status in STATUSES {
            let _ = m.activations.get_or_create(&[("status", status)]);
        }
        for start in ["cold", "warm", "prewarm"] {
            let _ = m.starts.get_or_create(&[("start", start)]);
        }
        m.set_containers(ContainerCounts::default());
        m
    }
}

const STATUSES: [&str; 4] = [
    "success",
    "application_error",
    "developer_error",
    "whisk_error",
];

impl InvokerMetrics {
    /// Adds the invoker's metrics to `registry` (the store-error counter is registered by
    /// whoever owns the process's registry, once).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "whisk_invoker_activations",
            "Activations run, by status",
            self.activations.clone(),
        );
        registry.register(
            "whisk_invoker_starts",
            "Containers given to activations, by kind of start",
            self.starts.clone(),
        );
        registry.register(
            "whisk_invoker_activation_duration_seconds",
            "Run time of activations",
            self.duration.clone(),
        );
        registry.register(
            "whisk_invoker_containers",
            "Containers of the pool, by state",
            self.containers.clone(),
        );
    }

    pub(crate) fn record_activation(&self, status_code: u8, duration_ms: Option<i64>) {
        let status = STATUSES[ResponseStatus::from_code(status_code) as usize];
        self.activations.get_or_create(&[("status", status)]).inc();
        if let Some(ms) = duration_ms {
            self.duration.observe(ms.max(0) as f64 / 1000.0);
        }
    }

    pub(crate) fn record_start(&self, start: Start) {
        let label = match start {
            Start::Cold => "cold",
            Start::Warm => "warm",
            Start::Prewarm => "prewarm",
        };
        self.starts.get_or_create(&[("start", label)]).inc();
    }

    pub(crate) fn set_containers(&self, c: ContainerCounts) {
        for (state, n) in [
            ("busy", c.busy),
            ("warm", c.warm),
            ("prewarm", c.prewarm),
            ("paused", c.paused),
        ] {
            self.containers
                .get_or_create(&[("state", state)])
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// Activations run with this status label (`success`, ...), for tests.
    pub fn activations(&self, status: &'static str) -> u64 {
        self.activations
            .get(&[("status", status)])
            .map_or(0, |c| c.get())
    }

    /// Starts of this kind (`cold`, `warm`, `prewarm`), for tests.
    pub fn starts(&self, start: &'static str) -> u64 {
        self.starts.get(&[("start", start)]).map_or(0, |c| c.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_series_is_there_from_the_start_and_counts() {
        let m = InvokerMetrics::default();
        m.record_activation(0, Some(20));
        m.record_activation(3, None);
        m.record_start(Start::Prewarm);
        m.set_containers(ContainerCounts {
            busy: 1,
            warm: 2,
            paused: 4,
            prewarm: 3,
        });
        let mut registry = Registry::default();
        m.register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for line in [
            "whisk_invoker_activations_total{status=\"success\"} 1",
            "whisk_invoker_activations_total{status=\"whisk_error\"} 1",
            "whisk_invoker_activations_total{status=\"developer_error\"} 0",
            "whisk_invoker_starts_total{start=\"prewarm\"} 1",
            "whisk_invoker_starts_total{start=\"cold\"} 0",
            "whisk_invoker_containers{state=\"busy\"} 1",
            "whisk_invoker_containers{state=\"warm\"} 2",
            "whisk_invoker_containers{state=\"prewarm\"} 3",
            "whisk_invoker_containers{state=\"paused\"} 4",
            "whisk_invoker_activation_duration_seconds_count 1",
        ] {
            assert!(text.contains(line), "{line}\n{text}");
        }
        assert_eq!(m.activations("success"), 1);
        assert_eq!(m.starts("prewarm"), 1);
    }
}

//! Closed-loop load: `concurrency` workers each send their share of a fixed number of
//! requests, one after another, after some unmeasured warm-up requests. Every run is
//! bounded twice: by its request count and by a deadline (workers stop early when it
//! passes, and the run says so).

use std::future::Future;
use std::time::{Duration, Instant};

use super::cpu::CpuMeter;
use super::stats::Summary;

/// The shape of one measured run.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Parallel workers.
    pub concurrency: usize,
    /// Measured requests over all workers.
    pub count: usize,
    /// Unmeasured requests per worker first.
    pub warmup: usize,
    /// Longest the run may take (warm-up included).
    pub max_time: Duration,
}

/// The result of one run.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The measured requests.
    pub summary: Summary,
    /// The deadline stopped the run before its count.
    pub cut_short: bool,
    /// CPU time of the watched process over the measured span, when one was given.
    pub cpu: Option<Duration>,
}

impl Outcome {
    /// The watched process's CPU time per successful request.
    pub fn cpu_per_request(&self) -> Option<Duration> {
        super::cpu::per_activation(self.cpu?, self.summary.n())
    }
}

/// Runs `shape` with `send(worker, i)` as the request (true: success; `i` counts the
/// worker's requests, warm-up included). Every worker finishes its warm-up before the
/// measured span starts; the summary's elapsed time covers the measured requests only,
/// and so does the CPU time of `watch` (a process id, whiskd's).
pub async fn run<F, Fut>(shape: Shape, watch: Option<u32>, send: F) -> Outcome
where
    F: Fn(usize, usize) -> Fut,
    Fut: Future<Output = bool>,
{
    let concurrency = shape.concurrency.max(1);
    let per_worker = shape.count.div_ceil(concurrency);
    let deadline = Instant::now() + shape.max_time;
    // Warm-up first, all workers, so the measured span starts with every worker warm.
    let warm = (0..concurrency).map(|w| {
        let send = &send;
        async move {
            for i in 0..shape.warmup {
                if Instant::now() > deadline {
                    break;
                }
                send(w, i).await;
            }
        }
    });
    futures_util::future::join_all(warm).await;
    let worker = |w: usize| {
        let send = &send;
        async move {
            let mut samples = Vec::with_capacity(per_worker);
            let mut errors = 0;
            let mut cut = false;
            for i in 0..per_worker {
                if Instant::now() > deadline {
                    cut = true;
                    break;
                }
                let t = Instant::now();
                if send(w, shape.warmup + i).await {
                    samples.push(t.elapsed());
                } else {
                    errors += 1;
                }
            }
            (samples, errors, cut)
        }
    };
    let meter = watch.and_then(CpuMeter::start);
    let start = Instant::now();
    let results = futures_util::future::join_all((0..concurrency).map(worker)).await;
    let elapsed = start.elapsed();
    let mut out = Outcome {
        cpu: meter.and_then(|m| m.used()),
        ..Outcome::default()
    };
    out.summary.elapsed = elapsed;
    for (samples, errors, cut) in results {
        out.summary.samples.extend(samples);
        out.summary.errors += errors;
        out.cut_short |= cut;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn sends_warmup_then_count_split_over_workers() {
        let sent = AtomicUsize::new(0);
        let shape = Shape {
            concurrency: 4,
            count: 10,
            warmup: 2,
            max_time: Duration::from_secs(30),
        };
        let out = run(shape, Some(std::process::id()), |w, i| {
            sent.fetch_add(1, Ordering::Relaxed);
            // Worker 0 fails its measured requests; warm-up failures are not counted.
            async move { !(w == 0 && i >= 2) }
        })
        .await;
        // 4 workers x (2 warm-up + ceil(10 / 4) = 3 measured).
        assert_eq!(sent.load(Ordering::Relaxed), 20);
        assert_eq!(out.summary.n(), 9);
        assert_eq!(out.summary.errors, 3);
        assert!(!out.cut_short);
        assert!(out.cpu.is_some(), "this process's CPU time was read");
        assert!(out.cpu_per_request().is_some());
    }

    #[tokio::test]
    async fn a_passed_deadline_stops_the_run() {
        let sent = AtomicUsize::new(0);
        let shape = Shape {
            concurrency: 2,
            count: 1_000_000,
            warmup: 0,
            max_time: Duration::from_millis(50),
        };
        let out = run(shape, None, |_, _| {
            sent.fetch_add(1, Ordering::Relaxed);
            async {
                tokio::time::sleep(Duration::from_millis(5)).await;
                true
            }
        })
        .await;
        assert!(out.cut_short);
        assert!(sent.load(Ordering::Relaxed) < 1_000, "bounded by time");
    }
}

//! Summaries of measured samples: nearest-rank percentiles, rates and ratios.

use std::time::Duration;

/// The `p` quantile (0..=1, nearest rank on the sorted samples) of `samples`; zero when
/// there are none.
pub fn percentile(samples: &[Duration], p: f64) -> Duration {
    let mut v = samples.to_vec();
    v.sort_unstable();
    if v.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((v.len() as f64 - 1.0) * p.clamp(0.0, 1.0)).round() as usize;
    v[idx]
}

/// The same quantile of plain numbers; `None` when there are none.
pub fn percentile_f64(samples: &[f64], p: f64) -> Option<f64> {
    let mut v = samples.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return None;
    }
    let idx = ((v.len() as f64 - 1.0) * p.clamp(0.0, 1.0)).round() as usize;
    Some(v[idx])
}

/// Milliseconds of `d`.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `a / b`, or `None` when `b` is not a positive finite number (a floor that was not
/// measured gives no ratio rather than infinity).
pub fn ratio(a: f64, b: f64) -> Option<f64> {
    (b.is_finite() && b > 0.0 && a.is_finite()).then(|| a / b)
}

/// One measured run: its successful samples, its failures and its wall time.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Latencies of the successful requests.
    pub samples: Vec<Duration>,
    /// Requests that failed (error status, transport error, wrong answer).
    pub errors: usize,
    /// Wall time of the whole run (all workers).
    pub elapsed: Duration,
}

impl Summary {
    /// Successful requests.
    pub fn n(&self) -> usize {
        self.samples.len()
    }

    /// Median latency.
    pub fn p50(&self) -> Duration {
        percentile(&self.samples, 0.5)
    }

    /// 99th percentile latency.
    pub fn p99(&self) -> Duration {
        percentile(&self.samples, 0.99)
    }

    /// Successful requests per second of wall time; zero for an empty run.
    pub fn rate(&self) -> f64 {
        ratio(self.samples.len() as f64, self.elapsed.as_secs_f64()).unwrap_or(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms_vec(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    #[test]
    fn percentile_is_nearest_rank_of_sorted_samples() {
        let v = ms_vec(&[9, 1, 5, 3, 7]);
        assert_eq!(percentile(&v, 0.0), Duration::from_millis(1));
        assert_eq!(percentile(&v, 0.5), Duration::from_millis(5));
        assert_eq!(percentile(&v, 1.0), Duration::from_millis(9));
        // 100 samples 1..=100: p99 is rank round(99 * 0.99) = 98 -> the 99th value.
        let hundred: Vec<u64> = (1..=100).rev().collect();
        assert_eq!(
            percentile(&ms_vec(&hundred), 0.99),
            Duration::from_millis(99)
        );
        assert_eq!(
            percentile(&ms_vec(&hundred), 0.5),
            Duration::from_millis(51)
        );
    }

    #[test]
    fn percentile_of_nothing_is_zero_and_out_of_range_p_is_clamped() {
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
        assert_eq!(percentile_f64(&[], 0.5), None);
        let v = ms_vec(&[2, 4]);
        assert_eq!(percentile(&v, 7.0), Duration::from_millis(4));
        assert_eq!(percentile(&v, -1.0), Duration::from_millis(2));
        assert_eq!(percentile_f64(&[3.0, 1.0, 2.0], 0.5), Some(2.0));
    }

    #[test]
    fn ratio_refuses_missing_floors() {
        assert_eq!(ratio(3.0, 2.0), Some(1.5));
        assert_eq!(ratio(3.0, 0.0), None);
        assert_eq!(ratio(3.0, -1.0), None);
        assert_eq!(ratio(f64::NAN, 1.0), None);
        assert_eq!(ratio(1.0, f64::INFINITY), None);
    }

    #[test]
    fn summary_rate_counts_successes_over_wall_time() {
        let s = Summary {
            samples: ms_vec(&[1, 2, 3, 4]),
            errors: 3,
            elapsed: Duration::from_millis(500),
        };
        assert_eq!(s.n(), 4);
        assert!((s.rate() - 8.0).abs() < 1e-9);
        assert_eq!(s.p50(), Duration::from_millis(3));
        assert_eq!(Summary::default().rate(), 0.0);
    }
}

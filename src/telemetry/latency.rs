//! Latency histograms: a lock-free log-linear one fine enough for percentiles, and the
//! OpenTelemetry semantic-convention buckets that Prometheus exposes.
//!
//! The fine histogram counts microseconds in 64 linear sub-buckets per power of two (exact below
//! 128 µs), so a bucket is at most 1/64 wide and its midpoint is within 0.8 % of any value in it.
//! Values from about 19 hours up share the last bucket.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::exemplar::{BucketExemplars, Exemplar, ExemplarSlots};

const SUB_BITS: u32 = 6;
const SUB: usize = 1 << SUB_BITS;
/// Values at or above 2^MAX_EXP µs land in the last bucket.
const MAX_EXP: u32 = 36;
/// Number of fine buckets.
pub const FINE_BUCKETS: usize = SUB + (MAX_EXP - SUB_BITS) as usize * SUB;

/// Upper bounds (seconds, inclusive) of the semconv `http.server.request.duration` buckets.
pub const SEMCONV_BOUNDS_S: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];
const SEMCONV_BOUNDS_US: [u64; 14] = [
    5_000, 10_000, 25_000, 50_000, 75_000, 100_000, 250_000, 500_000, 750_000, 1_000_000,
    2_500_000, 5_000_000, 7_500_000, 10_000_000,
];
/// Semconv buckets including `+Inf`.
pub const SEMCONV_BUCKETS: usize = SEMCONV_BOUNDS_US.len() + 1;

/// The fine bucket holding `us` microseconds.
pub fn fine_index(us: u64) -> usize {
    let v = us.min((1u64 << MAX_EXP) - 1);
    if v < 2 * SUB as u64 {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros();
    let shift = exp - SUB_BITS;
    let mantissa = (v >> shift) as usize - SUB;
    SUB + (exp - SUB_BITS) as usize * SUB + mantissa
}

/// The value (µs) that stands for every sample in fine bucket `i`: its midpoint.
pub fn fine_value(i: usize) -> f64 {
    if i < 2 * SUB {
        return i as f64;
    }
    let octave = (i - SUB) / SUB;
    let shift = octave as u32;
    let lower = ((SUB + (i - SUB) % SUB) as u64) << shift;
    let width = 1u64 << shift;
    lower as f64 + (width - 1) as f64 / 2.0
}

/// The semconv bucket holding `us` microseconds (the last one is `+Inf`).
pub fn semconv_index(us: u64) -> usize {
    SEMCONV_BOUNDS_US.partition_point(|&b| b < us)
}

/// The `q` quantile (0..=1) in ms of dense fine-bucket counts, or 0 with no samples.
pub fn quantile_ms(counts: &[u64], q: f64) -> f64 {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return 0.0;
    }
    let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
    let mut seen = 0;
    for (i, &c) in counts.iter().enumerate() {
        seen += c;
        if seen >= rank {
            return fine_value(i) / 1000.0;
        }
    }
    fine_value(counts.len() - 1) / 1000.0
}

/// Non-zero fine buckets as (index, count): a compact per-second delta.
pub type SparseHist = Vec<(u16, u32)>;

/// Adds a sparse histogram into dense counts.
pub fn add_sparse(dense: &mut [u64], sparse: &SparseHist) {
    for &(i, c) in sparse {
        dense[i as usize] += c as u64;
    }
}

/// The difference `now - before` of two dense readings, as a sparse histogram.
pub fn sparse_delta(now: &[u64], before: &[u64]) -> SparseHist {
    now.iter()
        .zip(before)
        .enumerate()
        .filter(|(_, (n, b))| n > b)
        .map(|(i, (n, b))| (i as u16, (n - b).min(u32::MAX as u64) as u32))
        .collect()
}

/// Lock-free latency recording: fine buckets, semconv buckets, sum and count, and each semconv
/// bucket's newest sampled request (its exemplar).
#[derive(Debug)]
pub struct LatencyHistogram {
    fine: Box<[AtomicU64]>,
    semconv: [AtomicU64; SEMCONV_BUCKETS],
    sum_us: AtomicU64,
    count: AtomicU64,
    exemplars: ExemplarSlots,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            fine: (0..FINE_BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            semconv: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_us: AtomicU64::new(0),
            count: AtomicU64::new(0),
            exemplars: ExemplarSlots::default(),
        }
    }
}

/// A plain copy of a [`LatencyHistogram`]'s cumulative counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LatencyReading {
    /// Dense fine-bucket counts.
    pub fine: Vec<u64>,
    /// Per-bucket (not cumulative) semconv counts, `+Inf` last.
    pub semconv: [u64; SEMCONV_BUCKETS],
    /// Sum of all samples, µs.
    pub sum_us: u64,
    /// Number of samples.
    pub count: u64,
    /// Each semconv bucket's newest sampled request, `+Inf` last.
    pub exemplars: BucketExemplars,
}

impl LatencyHistogram {
    /// Records one latency.
    pub fn record(&self, us: u64) {
        self.add(us);
    }

    /// Records the latency of a sampled request, which becomes its semconv bucket's exemplar.
    pub fn record_sampled(&self, us: u64, trace_id: [u8; 16], span_id: [u8; 8], unix_nanos: u64) {
        let bucket = self.add(us);
        let value_s = us as f64 / 1e6;
        let exemplar = Exemplar {
            value_s,
            trace_id,
            span_id,
            unix_nanos,
        };
        self.exemplars.offer(bucket, exemplar);
    }

    /// Counts `us` and returns its semconv bucket.
    fn add(&self, us: u64) -> usize {
        let bucket = semconv_index(us);
        self.fine[fine_index(us)].fetch_add(1, Relaxed);
        self.semconv[bucket].fetch_add(1, Relaxed);
        self.sum_us.fetch_add(us, Relaxed);
        self.count.fetch_add(1, Relaxed);
        bucket
    }

    /// Copies the counters (each read atomically; the set is not one instant).
    pub fn read(&self) -> LatencyReading {
        LatencyReading {
            fine: self.fine.iter().map(|c| c.load(Relaxed)).collect(),
            semconv: std::array::from_fn(|i| self.semconv[i].load(Relaxed)),
            sum_us: self.sum_us.load(Relaxed),
            count: self.count.load(Relaxed),
            exemplars: self.exemplars.read(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fine_buckets_are_contiguous_and_ordered() {
        assert_eq!(fine_index(0), 0);
        assert_eq!(fine_index(127), 127);
        assert_eq!(fine_index(128), 128);
        assert_eq!(fine_index(u64::MAX), FINE_BUCKETS - 1);
        let mut last = 0;
        for us in 0..300_000u64 {
            let i = fine_index(us);
            assert!(i == last || i == last + 1, "gap at {us}");
            last = i;
        }
        // Every bucket's representative value maps back to it.
        for i in 0..FINE_BUCKETS {
            assert_eq!(fine_index(fine_value(i) as u64), i);
        }
    }

    #[test]
    fn bucket_midpoint_is_within_one_percent() {
        for us in [
            1u64,
            99,
            130,
            1_000,
            4_321,
            85_200,
            310_000,
            9_999_999,
            3_600_000_000,
        ] {
            let v = fine_value(fine_index(us));
            let err = (v - us as f64).abs() / us as f64;
            assert!(err < 0.01, "{us} µs → {v} ({err})");
        }
    }

    #[test]
    fn quantiles_of_a_uniform_spread() {
        let h = LatencyHistogram::default();
        for ms in 1..=1000u64 {
            h.record(ms * 1000);
        }
        let r = h.read();
        for (q, want) in [(0.5, 500.0), (0.95, 950.0), (0.99, 990.0)] {
            let got = quantile_ms(&r.fine, q);
            assert!((got - want).abs() / want < 0.02, "q{q}: {got} vs {want}");
        }
        assert_eq!(quantile_ms(&vec![0; FINE_BUCKETS], 0.5), 0.0);
    }

    #[test]
    fn semconv_bounds_are_inclusive() {
        assert_eq!(semconv_index(0), 0);
        assert_eq!(semconv_index(5_000), 0);
        assert_eq!(semconv_index(5_001), 1);
        assert_eq!(semconv_index(10_000_000), 13);
        assert_eq!(semconv_index(10_000_001), 14);
    }

    #[test]
    fn sparse_delta_round_trips() {
        let before = vec![1, 0, 5, 2];
        let now = vec![3, 0, 5, 7];
        let d = sparse_delta(&now, &before);
        assert_eq!(d, vec![(0, 2), (3, 5)]);
        let mut dense = before.clone();
        add_sparse(&mut dense, &d);
        assert_eq!(dense, now);
    }
}

//! Exemplars: for each semconv bucket of `http.server.request.duration`, the newest sampled
//! request that fell in it, so a latency bucket can point to a trace.
//!
//! Written on the request path, for sampled requests only: one `try_lock` on the bucket's slot,
//! skipped when another thread holds it. Losing an exemplar to contention costs nothing that
//! matters (the next sampled request in that bucket replaces it), whereas waiting would put a
//! lock on the hot path. Nothing allocates.

use std::sync::{Mutex, TryLockError};

use super::latency::SEMCONV_BUCKETS;

/// A sampled request that fell in a latency bucket: its duration, trace, SERVER span and end.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Exemplar {
    /// The request's duration, seconds.
    pub value_s: f64,
    /// Its trace id.
    pub trace_id: [u8; 16],
    /// Its SERVER span's id.
    pub span_id: [u8; 8],
    /// When it finished, ns since the Unix epoch.
    pub unix_nanos: u64,
}

/// One exemplar per semconv bucket, `+Inf` last.
pub type BucketExemplars = [Option<Exemplar>; SEMCONV_BUCKETS];

/// The newest exemplar of each bucket.
#[derive(Debug, Default)]
pub struct ExemplarSlots([Mutex<Option<Exemplar>>; SEMCONV_BUCKETS]);

impl ExemplarSlots {
    /// Makes `e` the exemplar of `bucket`, unless another thread is writing or reading it.
    pub fn offer(&self, bucket: usize, e: Exemplar) {
        let mut slot = match self.0[bucket].try_lock() {
            Ok(slot) => slot,
            Err(TryLockError::WouldBlock) => return,
            // A plain store cannot leave the slot half-written, so a poisoned one is usable.
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
        };
        *slot = Some(e);
    }

    /// A copy of every bucket's exemplar.
    pub fn read(&self) -> BucketExemplars {
        std::array::from_fn(|i| *self.0[i].lock().unwrap_or_else(|p| p.into_inner()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(n: u8) -> Exemplar {
        Exemplar {
            value_s: f64::from(n),
            trace_id: [n; 16],
            span_id: [n; 8],
            unix_nanos: u64::from(n),
        }
    }

    #[test]
    fn the_newest_offer_wins_per_bucket() {
        let slots = ExemplarSlots::default();
        slots.offer(0, ex(1));
        slots.offer(0, ex(2));
        slots.offer(SEMCONV_BUCKETS - 1, ex(3));
        let read = slots.read();
        assert_eq!(read[0], Some(ex(2)));
        assert_eq!(read[SEMCONV_BUCKETS - 1], Some(ex(3)));
        assert_eq!(read.iter().flatten().count(), 2);
    }

    #[test]
    fn an_offer_on_a_held_slot_is_skipped() {
        let slots = ExemplarSlots::default();
        slots.offer(1, ex(1));
        let held = slots.0[1].lock().unwrap();
        slots.offer(1, ex(2));
        drop(held);
        assert_eq!(slots.read()[1], Some(ex(1)));
    }
}

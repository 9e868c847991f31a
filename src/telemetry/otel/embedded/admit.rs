//! [`Admit`]: sightline's own byte bound on the built-in trace view.
//!
//! `otlp-embedded`'s memory limiter cannot be relied on (its running estimate drifts upward as
//! traces are replaced, until it evicts everything on every insert: 2,000 one-span traces under a
//! 256 KiB cap left it holding none), and
//! its store offers no way to remove one trace. So the store is created bounded by trace count
//! only, and this ledger keeps each trace's spans as encoded OTLP bytes, oldest trace first,
//! charging each trace an estimate of what it costs held in the store plus its copy here. When
//! the charge passes `max_bytes`, the oldest traces are dropped until a quarter of the budget is
//! free, and the store is rebuilt from what is left: a rebuild moves on by a quarter of the
//! budget, so each trace is re-applied only a few times over its life.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;

/// What the store holds per encoded byte of a trace's spans (decoded messages, their boxes,
/// maps and the trace tree), measured as RSS growth over encoded size (README, "Built-in trace
/// view"); plus the encoded copy kept here.
pub const HELD_PER_ENCODED_BYTE: u64 = 5 + 1;

/// One trace's ledger entry.
#[derive(Debug, Default)]
struct Entry {
    /// Encoded `ExportTraceServiceRequest`s, in arrival order.
    batches: Vec<Bytes>,
    charge: u64,
}

/// The byte ledger of the store, oldest trace first.
#[derive(Debug)]
pub struct Admit {
    max_bytes: u64,
    max_traces: usize,
    order: VecDeque<[u8; 16]>,
    traces: HashMap<[u8; 16], Entry>,
    charged: u64,
    evicted: u64,
}

/// What the store must do after [`Admit::add`].
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Apply the new spans as they are.
    Apply,
    /// Over budget: start a fresh store holding these batches (oldest first).
    Rebuild(Vec<Bytes>),
}

impl Admit {
    /// A ledger for a store of at most `max_traces` and `max_bytes`.
    pub fn new(max_traces: usize, max_bytes: u64) -> Self {
        Admit {
            max_bytes,
            max_traces: max_traces.max(1),
            order: VecDeque::new(),
            traces: HashMap::new(),
            charged: 0,
            evicted: 0,
        }
    }

    /// Records `encoded` spans of `trace` (an encoded `ExportTraceServiceRequest`).
    pub fn add(&mut self, trace: [u8; 16], encoded: Bytes) -> Verdict {
        let charge = encoded.len() as u64 * HELD_PER_ENCODED_BYTE;
        let entry = self.traces.entry(trace).or_insert_with(|| {
            self.order.push_back(trace);
            Entry::default()
        });
        entry.batches.push(encoded);
        entry.charge += charge;
        self.charged += charge;
        // The store drops its oldest trace by itself past max_traces; follow it.
        while self.order.len() > self.max_traces {
            self.pop_oldest();
        }
        if self.charged <= self.max_bytes {
            return Verdict::Apply;
        }
        let target = self.max_bytes - self.max_bytes / 4;
        // The newest trace always stays, even when it alone is over the target.
        while self.charged > target && self.order.len() > 1 {
            self.pop_oldest();
        }
        let kept = self
            .order
            .iter()
            .filter_map(|id| self.traces.get(id))
            .flat_map(|e| e.batches.iter().cloned())
            .collect();
        Verdict::Rebuild(kept)
    }

    fn pop_oldest(&mut self) {
        if let Some(id) = self.order.pop_front() {
            if let Some(e) = self.traces.remove(&id) {
                self.charged -= e.charge;
                self.evicted += 1;
            }
        }
    }

    /// Bytes charged now (the store's estimated footprint).
    pub fn charged(&self) -> u64 {
        self.charged
    }

    /// Traces dropped for either bound since start.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> [u8; 16] {
        [n; 16]
    }

    #[test]
    fn traces_fit_until_the_budget_then_the_oldest_go() {
        let mut a = Admit::new(100, 6_000);
        for n in 0..9 {
            assert_eq!(
                a.add(id(n), Bytes::from(vec![0; 100])),
                Verdict::Apply,
                "{n}"
            );
        }
        assert_eq!(a.charged(), 9 * 600);
        // The 11th pushes past 6,000: down to 4,500 at most, newest kept.
        assert_eq!(a.add(id(9), Bytes::from(vec![0; 100])), Verdict::Apply);
        let Verdict::Rebuild(kept) = a.add(id(10), Bytes::from(vec![1; 100])) else {
            panic!("over budget must rebuild");
        };
        assert_eq!(kept.len(), 7);
        assert_eq!(kept.last().unwrap()[0], 1, "newest last");
        assert!(a.charged() <= 4_500);
        assert_eq!(a.evicted(), 4);
    }

    #[test]
    fn spans_of_one_trace_share_its_entry_and_the_count_bound_holds() {
        let mut a = Admit::new(2, u64::MAX);
        a.add(id(1), Bytes::from(vec![0; 10]));
        a.add(id(1), Bytes::from(vec![0; 10]));
        a.add(id(2), Bytes::from(vec![0; 10]));
        a.add(id(3), Bytes::from(vec![0; 10]));
        assert_eq!(a.evicted(), 1);
        assert_eq!(a.charged(), 2 * 10 * HELD_PER_ENCODED_BYTE);
    }

    #[test]
    fn one_huge_trace_stays_alone() {
        let mut a = Admit::new(10, 1_000);
        a.add(id(1), Bytes::from(vec![0; 10]));
        let Verdict::Rebuild(kept) = a.add(id(2), Bytes::from(vec![0; 1_000])) else {
            panic!()
        };
        assert_eq!(kept.len(), 1);
    }
}

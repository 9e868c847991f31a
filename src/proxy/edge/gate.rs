//! The connection gate: admits client connections up to a budget of file descriptors, tracks
//! the ones still sending a request header (half-open), and at the limit sheds the oldest of
//! those to make room, or refuses the new connection when there is nothing to shed.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use pingora_core::listeners::ConnectionFilter;
use tokio::sync::Notify;

use super::memory;
use crate::telemetry::connections::connections;
use crate::telemetry::stats::LiveStats;

/// Admits connections (pingora calls [`ConnectionFilter::should_accept`] at accept) and hands
/// each an [`Admission`] that keeps the counts right until it is dropped.
#[derive(Debug)]
pub struct Gate {
    budget: u64,
    seq: AtomicU64,
    // Locked once when a connection starts waiting for a header and once when it stops; never
    // per request on a keep-alive connection whose header arrives in one read.
    half_open: Mutex<BTreeMap<u64, Arc<Victim>>>,
    // The snapshot's `connections` gauge, kept alongside the process-wide counters.
    live: Option<Arc<LiveStats>>,
    // Shed connections not yet closed: they still hold a descriptor, but their room is taken.
    pending: AtomicU64,
}

/// What the gate keeps of a half-open connection to shed it.
#[derive(Debug, Default)]
struct Victim {
    notify: Notify,
    shed: AtomicBool,
}

impl Gate {
    /// A gate admitting at most `budget` connections at once.
    pub fn new(budget: usize) -> Gate {
        Gate {
            budget: budget.max(1) as u64,
            seq: AtomicU64::new(0),
            half_open: Mutex::new(BTreeMap::new()),
            pending: AtomicU64::new(0),
            live: None,
        }
    }

    /// Also keeps `stats`' open-connection gauge (the snapshot's `connections`).
    pub fn reporting_to(mut self, stats: Arc<LiveStats>) -> Gate {
        self.live = Some(stats);
        self
    }

    /// The connection budget.
    pub fn budget(&self) -> u64 {
        self.budget
    }

    /// Counts a new connection, half-open until its first header is read.
    pub fn admit(self: &Arc<Self>) -> Admission {
        connections().opened();
        if let Some(live) = &self.live {
            live.connection_opened();
        }
        let mut adm = Admission {
            gate: self.clone(),
            victim: Arc::new(Victim::default()),
            slot: None,
        };
        adm.register();
        adm
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Victim>>> {
        // A panic while holding this lock cannot leave the map inconsistent.
        self.half_open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Signals the oldest half-open connection to close; false if there is none.
    fn shed_oldest(&self) -> bool {
        let victim = self.registry().pop_first();
        match victim {
            Some((_, victim)) => {
                victim.shed.store(true, Relaxed);
                self.pending.fetch_add(1, Relaxed);
                victim.notify.notify_one();
                connections().count_shed();
                true
            }
            None => false,
        }
    }
}

#[async_trait]
impl ConnectionFilter for Gate {
    async fn should_accept(&self, _addr: Option<&SocketAddr>) -> bool {
        let open = connections().open();
        // Room already being freed by shed connections still closing: admit without shedding
        // another, within a small overshoot the descriptor reserve absorbs.
        let freeing = open.saturating_sub(self.pending.load(Relaxed)) < self.budget;
        if open < self.budget || (freeing && open < self.budget + self.budget / 16) {
            return true;
        }
        if self.shed_oldest() {
            return true;
        }
        connections().count_refused();
        false
    }
}

/// One admitted connection: half-open while registered; dropping it closes the books.
#[derive(Debug)]
pub struct Admission {
    gate: Arc<Gate>,
    victim: Arc<Victim>,
    // The registry key while half-open.
    slot: Option<u64>,
}

impl Admission {
    /// Resolves when the gate sheds this connection (only while half-open).
    pub fn shed_signal(&self) -> &Notify {
        &self.victim.notify
    }

    /// The connection is waiting for (more of) a request header.
    pub fn register(&mut self) {
        if self.slot.is_some() {
            return;
        }
        let seq = self.gate.seq.fetch_add(1, Relaxed);
        self.gate.registry().insert(seq, self.victim.clone());
        self.slot = Some(seq);
    }

    /// The request header is complete (or the connection is done reading one).
    pub fn header_done(&mut self) {
        if let Some(seq) = self.slot.take() {
            self.gate.registry().remove(&seq);
            connections().header_ended();
        }
    }

    /// Re-registers after a keep-alive request began arriving in pieces.
    pub fn header_waiting(&mut self) {
        if self.slot.is_none() {
            connections().header_started();
            self.register();
        }
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.header_done();
        if self.victim.shed.load(Relaxed) {
            self.gate.pending.fetch_sub(1, Relaxed);
        }
        if let Some(live) = &self.gate.live {
            live.connection_closed();
        }
        let left = connections().closed();
        memory::connection_closed(left);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sheds_the_oldest_half_open_connection_first() {
        let gate = Arc::new(Gate::new(2));
        let oldest = gate.admit();
        let mut done = gate.admit();
        done.header_done();
        let younger = gate.admit();
        assert!(gate.shed_oldest());
        oldest.shed_signal().notified().await;
        assert!(gate.shed_oldest(), "the younger half-open one is next");
        younger.shed_signal().notified().await;
        assert!(
            !gate.shed_oldest(),
            "a connection past its header is never shed"
        );
    }
}

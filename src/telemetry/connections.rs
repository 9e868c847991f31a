//! Client-connection counters: open and half-open gauges, connections shed or refused at the
//! limit, header and idle timeouts, and client-caused pingora log lines demoted to debug.
//!
//! Process-wide atomics (one set per process, like the file-descriptor limit they guard), so
//! the edge gate, the log bridge and the admin read them without wiring or locks.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The live connection figures; read with [`ConnectionStats::figures`].
#[derive(Debug, Default)]
pub struct ConnectionStats {
    open: AtomicU64,
    half_open: AtomicU64,
    shed: AtomicU64,
    refused: AtomicU64,
    header_timeouts: AtomicU64,
    idle_closed: AtomicU64,
    client_errors: AtomicU64,
}

/// A copy of [`ConnectionStats`] at one instant (what `/api/summary` and `/metrics` show).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConnectionFigures {
    /// Client connections open now.
    pub open: u64,
    /// Of those, connections that have not finished a request header.
    pub half_open: u64,
    /// Half-open connections closed to make room at `max_connections`.
    pub shed: u64,
    /// Connections refused at accept because the limit was reached with nothing to shed.
    pub refused: u64,
    /// Connections closed because a request header took longer than `header_timeout`.
    pub header_timeouts: u64,
    /// Keep-alive connections closed after `idle_timeout`.
    pub idle_closed: u64,
    /// Client-caused conditions (hang-ups, resets, garbage) pingora reported, logged at debug.
    pub client_errors: u64,
}

static STATS: ConnectionStats = ConnectionStats {
    open: AtomicU64::new(0),
    half_open: AtomicU64::new(0),
    shed: AtomicU64::new(0),
    refused: AtomicU64::new(0),
    header_timeouts: AtomicU64::new(0),
    idle_closed: AtomicU64::new(0),
    client_errors: AtomicU64::new(0),
};

/// The process's connection counters.
pub fn connections() -> &'static ConnectionStats {
    &STATS
}

impl ConnectionStats {
    /// A connection was admitted; returns the open count including it.
    pub fn opened(&self) -> u64 {
        self.half_open.fetch_add(1, Relaxed);
        self.open.fetch_add(1, Relaxed) + 1
    }

    /// A connection closed; returns the open count left.
    pub fn closed(&self) -> u64 {
        self.open.fetch_sub(1, Relaxed) - 1
    }

    /// A connection started waiting for (more of) a request header.
    pub fn header_started(&self) {
        self.half_open.fetch_add(1, Relaxed);
    }

    /// A connection finished (or gave up on) its request header.
    pub fn header_ended(&self) {
        self.half_open.fetch_sub(1, Relaxed);
    }

    /// Open connections now.
    pub fn open(&self) -> u64 {
        self.open.load(Relaxed)
    }

    /// A half-open connection was shed.
    pub fn count_shed(&self) {
        self.shed.fetch_add(1, Relaxed);
    }

    /// A new connection was refused.
    pub fn count_refused(&self) {
        self.refused.fetch_add(1, Relaxed);
    }

    /// A request header timed out.
    pub fn count_header_timeout(&self) {
        self.header_timeouts.fetch_add(1, Relaxed);
    }

    /// An idle keep-alive connection was closed.
    pub fn count_idle_closed(&self) {
        self.idle_closed.fetch_add(1, Relaxed);
    }

    /// A client-caused pingora message was demoted to debug.
    pub fn count_client_error(&self) {
        self.client_errors.fetch_add(1, Relaxed);
    }

    /// The figures now.
    pub fn figures(&self) -> ConnectionFigures {
        ConnectionFigures {
            open: self.open.load(Relaxed),
            half_open: self.half_open.load(Relaxed),
            shed: self.shed.load(Relaxed),
            refused: self.refused.load(Relaxed),
            header_timeouts: self.header_timeouts.load(Relaxed),
            idle_closed: self.idle_closed.load(Relaxed),
            client_errors: self.client_errors.load(Relaxed),
        }
    }
}

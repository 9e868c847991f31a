//! The semconv duration histograms, per attribute set, recorded on the request path with a few
//! relaxed atomic adds and read whole when metrics are collected.
//!
//! The OpenTelemetry SDK's instruments hash a `KeyValue` slice and search a map on every
//! measurement (about 5,500 instructions per request for sightline's two histograms). Here an
//! attribute set is packed into a `u64` key — method, cache status, status code and error type
//! for `http.server.request.duration`; method, upstream, status code and error type for
//! `http.client.request.duration` — and found by open addressing in a fixed table of cells.
//! A set seen for the first time claims a cell with one compare-and-swap; when the table is
//! full, further new sets share one overflow cell (the SDK's cardinality-limit behaviour,
//! exported with `otel.metric.overflow = true`).

use std::sync::atomic::{AtomicU64, Ordering::Acquire, Ordering::Relaxed};

pub use super::error_type::ErrorType;
use super::error_type::{attempt_error, request_error};
use crate::telemetry::exemplar::{Exemplar, ExemplarSlots};
use crate::telemetry::latency::{semconv_index, SEMCONV_BUCKETS};
use crate::telemetry::record::{CacheOutcome, RequestRecord, UpstreamAttempt};

/// Cells per table: distinct attribute sets kept before the overflow cell takes the rest.
const CELLS: usize = 512;
/// Slots probed before giving up on a key (the table stays far from full in practice).
const MAX_PROBE: usize = 32;
/// Marks a claimed key (a packed key is never zero).
const PRESENT: u64 = 1 << 63;

/// Methods with their own attribute value (semconv); the rest are `_OTHER`.
pub const METHODS: [&str; 10] = [
    "_OTHER", "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT",
];

/// `error.type` values sightline's proxy errors take (`proxy::errors::classify`); anything else
/// is exported as `_OTHER`. Index 0 means "no error", 1 "the status code as text".
pub const ERROR_KINDS: [&str; 12] = [
    "",
    "",
    "_OTHER",
    "timeout",
    "connect_error",
    "upstream_error",
    "client_closed",
    "bad_request",
    "internal",
    "body_too_large",
    "header_too_large",
    "no_healthy_upstream",
];
const ERR_NONE: u64 = 0;
const ERR_STATUS: u64 = 1;
const ERR_OTHER: u64 = 2;

fn method_index(m: &http::Method) -> u64 {
    match *m {
        http::Method::GET => 1,
        http::Method::HEAD => 2,
        http::Method::POST => 3,
        http::Method::PUT => 4,
        http::Method::DELETE => 5,
        http::Method::PATCH => 6,
        http::Method::OPTIONS => 7,
        http::Method::TRACE => 8,
        http::Method::CONNECT => 9,
        _ => 0,
    }
}

fn error_index(kind: &str) -> u64 {
    ERROR_KINDS[3..]
        .iter()
        .position(|k| *k == kind)
        .map_or(ERR_OTHER, |i| i as u64 + 3)
}

fn cache_index(c: CacheOutcome) -> u64 {
    match c {
        CacheOutcome::Hit => 0,
        CacheOutcome::Miss => 1,
        CacheOutcome::Stale => 2,
        CacheOutcome::Bypass => 3,
    }
}

/// The cache outcomes in key order.
pub const CACHE_OUTCOMES: [CacheOutcome; 4] = [
    CacheOutcome::Hit,
    CacheOutcome::Miss,
    CacheOutcome::Stale,
    CacheOutcome::Bypass,
];

/// A `http.server.request.duration` attribute set, unpacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerKey {
    /// `http.request.method`.
    pub method: &'static str,
    /// `sightline.cache.status`.
    pub cache: CacheOutcome,
    /// `http.response.status_code` (None when no response was sent).
    pub status: Option<u16>,
    /// `error.type` (None when the request succeeded).
    pub error: Option<ErrorType>,
}

/// A `http.client.request.duration` attribute set, unpacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientKey {
    /// `http.request.method`.
    pub method: &'static str,
    /// The upstream, by id (its address gives `server.address` and `server.port`).
    pub upstream: usize,
    /// `http.response.status_code` (None when no response arrived).
    pub status: Option<u16>,
    /// `error.type` (None when the attempt succeeded).
    pub error: Option<ErrorType>,
}

fn pack_error(error: u64, status: u16) -> Option<ErrorType> {
    match error {
        ERR_NONE => None,
        ERR_STATUS => Some(ErrorType::Status(status)),
        i => Some(ErrorType::Named(
            ERROR_KINDS.get(i as usize).copied().unwrap_or("_OTHER"),
        )),
    }
}

// Key layout (bits): method 0..4, cache or upstream 4..12, status 12..22, error 22..27, and
// bit 27 for "has a status"; bit 63 set on every key.
fn error_code(e: Option<ErrorType>) -> u64 {
    match e {
        None => ERR_NONE,
        Some(ErrorType::Status(_)) => ERR_STATUS,
        Some(ErrorType::Named(kind)) => error_index(kind),
    }
}

fn server_key(rec: &RequestRecord<'_>) -> u64 {
    pack(
        method_index(rec.method),
        cache_index(rec.cache),
        (rec.status != 0).then_some(rec.status),
        error_code(request_error(rec)),
    )
}

fn client_key(rec: &RequestRecord<'_>, a: &UpstreamAttempt, is_last: bool) -> Option<u64> {
    if a.upstream >= 256 {
        return None;
    }
    Some(pack(
        method_index(rec.method),
        a.upstream as u64,
        a.status,
        error_code(attempt_error(rec, a, is_last)),
    ))
}

fn pack(method: u64, middle: u64, status: Option<u16>, error: u64) -> u64 {
    let (has, status) = match status {
        Some(s) => (1u64, u64::from(s.min(1023))),
        None => (0, 0),
    };
    PRESENT | method | middle << 4 | status << 12 | error << 22 | has << 27
}

struct Unpacked {
    method: &'static str,
    middle: usize,
    status: Option<u16>,
    error: Option<ErrorType>,
}

fn unpack(key: u64) -> Unpacked {
    let status = ((key >> 12) & 1023) as u16;
    let has = key >> 27 & 1 == 1;
    Unpacked {
        method: METHODS[(key & 15) as usize % METHODS.len()],
        middle: ((key >> 4) & 255) as usize,
        status: has.then_some(status),
        error: pack_error((key >> 22) & 31, status),
    }
}

/// One attribute set's histogram: count, sum and the semconv buckets, plus the newest sampled
/// request per bucket as an exemplar.
struct Cell {
    key: AtomicU64,
    count: AtomicU64,
    sum_ns: AtomicU64,
    buckets: [AtomicU64; SEMCONV_BUCKETS],
    /// Allocated when the set's first sampled request arrives.
    exemplars: std::sync::OnceLock<Box<ExemplarSlots>>,
}

impl Cell {
    fn new() -> Self {
        Cell {
            key: AtomicU64::new(0),
            count: AtomicU64::new(0),
            sum_ns: AtomicU64::new(0),
            buckets: Default::default(),
            exemplars: std::sync::OnceLock::new(),
        }
    }

    fn add(&self, ns: u64, exemplar: Option<Exemplar>) {
        let bucket = semconv_index(ns / 1000);
        self.count.fetch_add(1, Relaxed);
        self.sum_ns.fetch_add(ns, Relaxed);
        self.buckets[bucket].fetch_add(1, Relaxed);
        if let Some(e) = exemplar {
            self.exemplars.get_or_init(Box::default).offer(bucket, e);
        }
    }

    fn read(&self, key: u64) -> CellReading {
        CellReading {
            key,
            count: self.count.load(Relaxed),
            sum_s: self.sum_ns.load(Relaxed) as f64 / 1e9,
            buckets: std::array::from_fn(|i| self.buckets[i].load(Relaxed)),
            exemplars: self.exemplars.get().map_or_else(Vec::new, |slots| {
                slots.read().into_iter().flatten().collect()
            }),
        }
    }
}

/// A copy of one cell.
#[derive(Debug, Clone)]
pub struct CellReading {
    key: u64,
    /// Measurements.
    pub count: u64,
    /// Their sum, seconds.
    pub sum_s: f64,
    /// Per semconv bucket (the last is `+Inf`).
    pub buckets: [u64; SEMCONV_BUCKETS],
    /// The newest sampled measurement per bucket, where there is one.
    pub exemplars: Vec<Exemplar>,
}

impl CellReading {
    /// Whether this is the overflow cell (sets beyond the table's capacity).
    pub fn is_overflow(&self) -> bool {
        self.key == OVERFLOW
    }
}

const OVERFLOW: u64 = PRESENT | 1 << 62;

/// A fixed table of histogram cells keyed by packed attribute sets.
struct Table {
    cells: Box<[Cell]>,
    overflow: Cell,
}

impl Table {
    fn new() -> Self {
        let overflow = Cell::new();
        overflow.key.store(OVERFLOW, Relaxed);
        Table {
            cells: (0..CELLS).map(|_| Cell::new()).collect(),
            overflow,
        }
    }

    fn cell(&self, key: u64) -> &Cell {
        let mask = CELLS - 1;
        let mut i = (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54) as usize & mask;
        for _ in 0..MAX_PROBE {
            let c = &self.cells[i];
            let k = c.key.load(Acquire);
            if k == key {
                return c;
            }
            if k == 0 {
                match c.key.compare_exchange(0, key, Relaxed, Acquire) {
                    Ok(_) => return c,
                    Err(now) if now == key => return c,
                    Err(_) => {}
                }
            }
            i = (i + 1) & mask;
        }
        &self.overflow
    }

    /// Every used cell with its key unpacked by `key` (None for the overflow cell).
    fn read_keyed<K>(&self, key: impl Fn(Unpacked) -> K) -> Vec<(Option<K>, CellReading)> {
        self.read()
            .into_iter()
            .map(|r| ((!r.is_overflow()).then(|| key(unpack(r.key))), r))
            .collect()
    }

    fn read(&self) -> Vec<CellReading> {
        self.cells
            .iter()
            .chain(std::iter::once(&self.overflow))
            .filter_map(|c| {
                let key = c.key.load(Acquire);
                let r = (key != 0).then(|| c.read(key))?;
                (r.count > 0).then_some(r)
            })
            .collect()
    }
}

/// Both duration histograms, recorded once per finished request.
pub struct Durations {
    server: Table,
    client: Table,
}

impl std::fmt::Debug for Durations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Durations").finish_non_exhaustive()
    }
}

impl Default for Durations {
    fn default() -> Self {
        Durations {
            server: Table::new(),
            client: Table::new(),
        }
    }
}

fn nanos(d: std::time::Duration) -> u64 {
    d.as_nanos().min(u128::from(u64::MAX)) as u64
}

impl Durations {
    /// Records a finished request and each of its upstream attempts; sampled requests leave
    /// exemplars.
    pub fn record(&self, rec: &RequestRecord<'_>) {
        let at = rec.sampled.then(|| {
            let end = rec.start_time + rec.duration;
            end.duration_since(std::time::UNIX_EPOCH).map_or(0, nanos)
        });
        let exemplar = at.map(|unix_nanos| Exemplar {
            value_s: rec.duration.as_secs_f64(),
            trace_id: rec.trace_id,
            span_id: rec.span_id,
            unix_nanos,
        });
        self.server
            .cell(server_key(rec))
            .add(nanos(rec.duration), exemplar);
        let end = rec.start + rec.duration;
        let last = rec.attempts.len().saturating_sub(1);
        for (i, a) in rec.attempts.iter().enumerate() {
            let took = nanos(a.end.unwrap_or(end).saturating_duration_since(a.start));
            let cell = match client_key(rec, a, i == last) {
                Some(key) => self.client.cell(key),
                None => &self.client.overflow,
            };
            let exemplar = at.map(|unix_nanos| Exemplar {
                value_s: took as f64 / 1e9,
                trace_id: rec.trace_id,
                span_id: a.span_id,
                unix_nanos,
            });
            cell.add(took, exemplar);
        }
    }

    /// The server histogram's attribute sets with their figures (None: the overflow cell).
    pub fn server(&self) -> Vec<(Option<ServerKey>, CellReading)> {
        self.server.read_keyed(|u| ServerKey {
            method: u.method,
            cache: CACHE_OUTCOMES[u.middle & 3],
            status: u.status,
            error: u.error,
        })
    }

    /// The client histogram's attribute sets with their figures (None: the overflow cell).
    pub fn client(&self) -> Vec<(Option<ClientKey>, CellReading)> {
        self.client.read_keyed(|u| ClientKey {
            method: u.method,
            upstream: u.middle,
            status: u.status,
            error: u.error,
        })
    }
}

#[cfg(test)]
mod tests;

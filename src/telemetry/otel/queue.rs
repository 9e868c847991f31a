//! The span export queue: a bounded lock-free queue that the request path pushes each sampled
//! request's encoded spans into without ever waiting, and an export task on the telemetry
//! runtime that wraps them into OTLP export requests and sends them with a timeout and a cap on
//! concurrent exports.
//!
//! The request path wakes the export task only when a full batch is ready (or a flush is asked
//! for); a channel that woke it per span cost a cross-thread wake-up and a context switch per
//! request, which on the bench's single pinned core doubled the CPU cost of a cache hit.
//!
//! Why not the SDK's `BatchSpanProcessor`: it hides its drop count, exports one batch at a time
//! from its own thread (the default 2048 queue dropped 29 % at 40k req/s in the trial), and its
//! failures surface only as SDK log lines. Here a full queue or a failed export is counted in
//! [`ExportHealth`] and warned about at most once a minute.
//!
//! Memory is bounded in bytes as well as in spans (`telemetry.max_buffer`). The queue holds
//! encoded bytes, so the charge is exact: each request's allocation, plus its length once more
//! for the copy the transport makes while sending. It stays charged while the spans are queued,
//! waiting for an export slot, or inside an export call (a paused collector holds exports until
//! their timeout). Spans that would pass the bound are dropped and counted
//! (`spans_dropped_buffer_full`); a request's spans are kept or dropped together.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_queue::SegQueue;
use opentelemetry::Context;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, Notify, Semaphore};

use super::embedded::EmbeddedStore;
use super::health::ExportHealth;
use super::otlp::{encode_sdk_span, EncodedSpans, Envelope};
use super::transport::SendTraces;

mod worker;
use worker::Worker;

/// Where encoded spans go: the export queue ([`SpanQueue`]); benches discard them.
pub trait SpanSink: Send + Sync + std::fmt::Debug {
    /// Takes one request's spans; never blocks (a full queue drops and counts them).
    fn accept(&self, spans: EncodedSpans);
}

/// Sizes and timings of the span export pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportTuning {
    /// Spans held waiting for export; beyond this they are dropped (and counted).
    pub max_queue_size: usize,
    /// Spans per export request.
    pub max_export_batch_size: usize,
    /// A partial batch is exported after this long.
    pub scheduled_delay: Duration,
    /// One export call (connect included) may take this long.
    pub export_timeout: Duration,
    /// Export calls in flight at once.
    pub max_concurrent_exports: usize,
}

impl Default for ExportTuning {
    /// Sized by measurement (`tests/otel_it/load.rs`, debug build, in-process receiver, 2 shared
    /// cores; 3 spans per request, 2 s at a steady rate): the SDK-like 2048 queue with 512-span
    /// batches and one export at a time delivered 48–58 % of spans at 20k req/s and 33 % at
    /// 30k req/s; this setting delivered 100 % at both. Worst case (collector down) the
    /// queue holds ~65k spans of ~0.75 KiB: about 50 MiB, bounded.
    fn default() -> Self {
        ExportTuning {
            max_queue_size: 65_536,
            max_export_batch_size: 2048,
            scheduled_delay: Duration::from_secs(1),
            export_timeout: Duration::from_secs(10),
            max_concurrent_exports: 4,
        }
    }
}

impl ExportTuning {
    /// Defaults overridden by the standard `OTEL_BSP_*` variables, when set and valid.
    pub fn from_env() -> Self {
        Self::from_lookup(&|k| std::env::var(k).ok())
    }

    /// Same, reading variables through `env` (tests).
    pub fn from_lookup(env: &dyn Fn(&str) -> Option<String>) -> Self {
        let num = |k: &str| {
            env(k)
                .and_then(|v| v.trim().parse::<u64>().ok())
                .filter(|&n| n > 0)
        };
        let mut t = ExportTuning::default();
        if let Some(n) = num("OTEL_BSP_MAX_QUEUE_SIZE") {
            t.max_queue_size = n as usize;
        }
        if let Some(n) = num("OTEL_BSP_MAX_EXPORT_BATCH_SIZE") {
            t.max_export_batch_size = n as usize;
        }
        if let Some(n) = num("OTEL_BSP_SCHEDULE_DELAY") {
            t.scheduled_delay = Duration::from_millis(n);
        }
        if let Some(n) = num("OTEL_BSP_EXPORT_TIMEOUT") {
            t.export_timeout = Duration::from_millis(n);
        }
        if let Some(n) = num("OTEL_BSP_MAX_CONCURRENT_EXPORTS") {
            t.max_concurrent_exports = n as usize;
        }
        t.max_export_batch_size = t.max_export_batch_size.min(t.max_queue_size);
        t
    }
}

enum Control {
    Flush(std::sync::mpsc::SyncSender<()>),
    Shutdown(std::sync::mpsc::SyncSender<()>),
}

/// Bytes `spans` are charged from queueing until their export ends: the allocation holding
/// them, and their length again for the transport's copy of the request.
pub(crate) fn charge(spans: &EncodedSpans) -> usize {
    spans.held_bytes() + spans.as_bytes().len()
}

/// The spans waiting for export, shared by the producers and the export task.
struct Pending {
    /// Each request's encoded spans, in arrival order.
    items: SegQueue<EncodedSpans>,
    /// Spans in `items` (reserved before the push, so the bound is never exceeded).
    len: AtomicUsize,
    /// Bytes charged for spans queued, waiting for an export slot or being exported.
    bytes: AtomicUsize,
    /// Bound on `bytes` (`telemetry.max_buffer`).
    max_bytes: usize,
    /// Set at shutdown: later spans are refused and counted.
    closed: AtomicBool,
    /// Wakes the export task when a full batch is waiting.
    batch_ready: Notify,
    max_len: usize,
    batch_size: usize,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("len", &self.len.load(Ordering::Relaxed))
            .field("max_len", &self.max_len)
            .field("bytes", &self.bytes.load(Ordering::Relaxed))
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

impl Pending {
    /// An export ended (sent or failed): its spans no longer count against the bound.
    fn release(&self, bytes: usize) {
        self.bytes.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Bytes charged now (tests).
    #[cfg(test)]
    fn held_bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }
}

/// Spans taken off the queue for one export call.
#[derive(Debug, Default)]
struct Batch {
    items: Vec<EncodedSpans>,
    spans: usize,
    /// Their charge, released when the export ends.
    bytes: usize,
}

/// The consumer side: cuts the queue into batches of at most `batch_size` spans without
/// splitting a request's spans (one that does not fit waits for the next batch).
#[derive(Debug)]
struct Batcher {
    pending: Arc<Pending>,
    /// Taken off the queue but not yet in a batch; still counted in `pending.len`.
    carry: Option<EncodedSpans>,
}

impl Batcher {
    fn next(&mut self) -> Option<Batch> {
        let p = &*self.pending;
        let mut batch = Batch::default();
        while batch.spans < p.batch_size {
            let Some(item) = self.carry.take().or_else(|| p.items.pop()) else {
                break;
            };
            let n = item.span_count();
            // A request larger than a whole batch still goes, alone.
            if batch.spans > 0 && batch.spans + n > p.batch_size {
                self.carry = Some(item);
                break;
            }
            p.len.fetch_sub(n, Ordering::Relaxed);
            batch.spans += n;
            batch.bytes += charge(&item);
            batch.items.push(item);
        }
        (batch.spans > 0).then_some(batch)
    }

    /// Whether a full batch is waiting.
    fn full_batch_ready(&self) -> bool {
        self.pending.len.load(Ordering::Relaxed) >= self.pending.batch_size
    }
}

/// The producer side of the export queue; a span processor for the SDK provider too (the
/// `tracing` bridge's spans).
#[derive(Debug, Clone)]
pub struct SpanQueue {
    pending: Arc<Pending>,
    control: mpsc::UnboundedSender<Control>,
    health: Arc<ExportHealth>,
}

impl std::fmt::Debug for Control {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Control::Flush(_) => "Flush",
            Control::Shutdown(_) => "Shutdown",
        })
    }
}

/// Where a batch goes: the collector, and the built-in trace view when it is on.
pub(crate) struct Destination<E> {
    /// Sends export requests to the collector.
    pub exporter: E,
    /// The resource and scope every span is sent with.
    pub envelope: Envelope,
    /// The built-in trace view's store, fed before each export.
    pub view: Option<Arc<EmbeddedStore>>,
}

impl SpanQueue {
    /// Starts the export task for `to` on `runtime`, holding at most `max_bytes` of spans.
    pub(crate) fn start<E: SendTraces>(
        to: Destination<E>,
        tuning: &ExportTuning,
        max_bytes: u64,
        health: Arc<ExportHealth>,
        runtime: &Handle,
    ) -> SpanQueue {
        let pending = Arc::new(Pending {
            items: SegQueue::new(),
            len: AtomicUsize::new(0),
            bytes: AtomicUsize::new(0),
            max_bytes: usize::try_from(max_bytes).unwrap_or(usize::MAX).max(1),
            closed: AtomicBool::new(false),
            batch_ready: Notify::new(),
            max_len: tuning.max_queue_size.max(1),
            batch_size: tuning.max_export_batch_size.max(1),
        });
        let (control, ctl_rx) = mpsc::unbounded_channel();
        let worker = Worker {
            exporter: Arc::new(to.exporter),
            envelope: Arc::new(to.envelope),
            view: to.view,
            tuning: tuning.clone(),
            health: health.clone(),
            permits: Arc::new(Semaphore::new(tuning.max_concurrent_exports.max(1))),
        };
        let batcher = Batcher {
            pending: pending.clone(),
            carry: None,
        };
        runtime.spawn(worker.run(batcher, ctl_rx));
        SpanQueue {
            pending,
            control,
            health,
        }
    }

    fn request(
        &self,
        make: fn(std::sync::mpsc::SyncSender<()>) -> Control,
        wait: Duration,
    ) -> OTelSdkResult {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.control
            .send(make(tx))
            .map_err(|_| OTelSdkError::AlreadyShutdown)?;
        rx.recv_timeout(wait).map_err(|e| match e {
            std::sync::mpsc::RecvTimeoutError::Timeout => OTelSdkError::Timeout(wait),
            std::sync::mpsc::RecvTimeoutError::Disconnected => OTelSdkError::AlreadyShutdown,
        })
    }

    /// Counts `n` spans lost with `why`.
    fn drop_spans(&self, n: usize, why: fn(&ExportHealth)) {
        for _ in 0..n {
            why(&self.health);
        }
    }
}

impl SpanSink for SpanQueue {
    fn accept(&self, spans: EncodedSpans) {
        let p = &*self.pending;
        let n = spans.span_count();
        if p.closed.load(Ordering::Relaxed) {
            return self.drop_spans(n, ExportHealth::span_after_shutdown);
        }
        let size = charge(&spans);
        // Reserve bytes before the push, like the count, so concurrent producers never overshoot.
        if p.bytes.fetch_add(size, Ordering::Relaxed) + size > p.max_bytes {
            p.release(size);
            return self.drop_spans(n, ExportHealth::span_buffer_full);
        }
        let before = p.len.fetch_add(n, Ordering::Relaxed);
        // An empty queue takes a request even if it alone is over the count (a tiny
        // OTEL_BSP_MAX_QUEUE_SIZE must not drop every request).
        if before + n > p.max_len && before > 0 {
            p.len.fetch_sub(n, Ordering::Relaxed);
            p.release(size);
            return self.drop_spans(n, ExportHealth::span_queue_full);
        }
        p.items.push(spans);
        if before / p.batch_size != (before + n) / p.batch_size {
            p.batch_ready.notify_one();
        }
    }
}

impl SpanProcessor for SpanQueue {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if self.pending.closed.load(Ordering::Relaxed) {
            return self.health.span_after_shutdown();
        }
        self.accept(encode_sdk_span(span));
    }

    /// Exports everything queued so far; blocks the caller (never call it from the telemetry
    /// runtime's own worker).
    fn force_flush(&self) -> OTelSdkResult {
        self.request(Control::Flush, Duration::from_secs(30))
    }

    /// Flushes, then stops the export task; later spans are counted as dropped.
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.request(Control::Shutdown, timeout)
    }
}

#[cfg(test)]
mod tests;

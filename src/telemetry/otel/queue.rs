//! The span export queue: a bounded lock-free queue that the request path pushes finished
//! spans into without ever waiting, and an export task on the telemetry runtime that batches
//! them to the OTLP exporter with a timeout and a cap on concurrent exports.
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
//! Memory is bounded in bytes as well as in spans (`telemetry.max_buffer`): each span's size is
//! estimated once at enqueue from its name and attribute lengths, and the estimate stays
//! charged while the span is queued, waiting for an export slot, or inside an export call (a
//! paused collector holds exports until their timeout). A span that would pass the bound is
//! dropped and counted (`spans_dropped_buffer_full`).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_queue::SegQueue;

use opentelemetry::{Context, KeyValue, Value};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, Notify, Semaphore};

use super::health::{ExportHealth, Signal};

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

/// How the exporter's `export` future must be driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExportMode {
    /// A true async future (tonic): awaited on the runtime.
    Async,
    /// A future that blocks inside (the OTLP HTTP exporter's blocking client): run on the
    /// runtime's blocking pool so it never stalls a worker.
    Blocking,
}

enum Control {
    Flush(std::sync::mpsc::SyncSender<()>),
    Shutdown(std::sync::mpsc::SyncSender<()>),
}

/// Estimated bytes one attribute costs: the pair itself plus its string contents.
fn kv_bytes(kv: &KeyValue) -> usize {
    let value = match &kv.value {
        Value::String(s) => s.as_str().len(),
        Value::Array(_) => 64,
        _ => 0,
    };
    std::mem::size_of::<KeyValue>() + kv.key.as_str().len() + value
}

/// Estimated bytes a span holds while the exporter has it: the `SpanData` and its strings, and
/// the strings once more for the encoded copy an export call builds. Cheap: lengths only.
pub(crate) fn span_bytes(s: &SpanData) -> usize {
    let attrs: usize = s.attributes.iter().map(kv_bytes).sum();
    let events: usize = s
        .events
        .iter()
        .map(|e| {
            std::mem::size_of_val(e)
                + e.name.len()
                + e.attributes.iter().map(kv_bytes).sum::<usize>()
        })
        .sum();
    let links = s.links.len() * 128;
    // Encoded copy: ~one byte per string byte plus a few bytes of framing per field.
    let encoded = s.name.len() + attrs + events + links + 96;
    std::mem::size_of::<SpanData>() + s.name.len() + attrs + events + links + encoded
}

/// The spans waiting for export, shared by the producers and the export task.
struct Pending {
    /// Each span with its byte estimate (computed once, released when its export ends).
    spans: SegQueue<(SpanData, usize)>,
    /// Spans in `spans` (reserved before the push, so the bound is never exceeded).
    len: AtomicUsize,
    /// Estimated bytes of spans queued, waiting for an export slot or being exported.
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
    /// Moves up to `max` spans into `batch`; returns how many and their byte estimates (still
    /// charged to `bytes` until [`Pending::release`]).
    fn drain_into(&self, batch: &mut Vec<SpanData>, max: usize) -> (usize, usize) {
        let (mut n, mut bytes) = (0, 0);
        while n < max {
            let Some((span, b)) = self.spans.pop() else {
                break;
            };
            self.len.fetch_sub(1, Ordering::Relaxed);
            batch.push(span);
            bytes += b;
            n += 1;
        }
        (n, bytes)
    }

    /// An export ended (sent or failed): its spans no longer count against the bound.
    fn release(&self, bytes: usize) {
        self.bytes.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Estimated bytes held now (tests).
    #[cfg(test)]
    fn held_bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }
}

/// The producer side of the export queue; a span processor for the SDK provider too.
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

impl SpanQueue {
    /// Starts the export task for `exporter` on `runtime`, holding at most `max_bytes` of spans.
    pub(crate) fn start<E: SpanExporter + 'static>(
        exporter: E,
        mode: ExportMode,
        tuning: &ExportTuning,
        max_bytes: u64,
        health: Arc<ExportHealth>,
        runtime: &Handle,
    ) -> SpanQueue {
        let pending = Arc::new(Pending {
            spans: SegQueue::new(),
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
            exporter: Arc::new(exporter),
            mode,
            tuning: tuning.clone(),
            health: health.clone(),
            permits: Arc::new(Semaphore::new(tuning.max_concurrent_exports.max(1))),
        };
        runtime.spawn(worker.run(pending.clone(), ctl_rx));
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
}

impl SpanProcessor for SpanQueue {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        let p = &*self.pending;
        if p.closed.load(Ordering::Relaxed) {
            self.health.span_after_shutdown();
            return;
        }
        let size = span_bytes(&span);
        // Reserve bytes before the push, like the count, so concurrent producers never overshoot.
        if p.bytes.fetch_add(size, Ordering::Relaxed) + size > p.max_bytes {
            p.release(size);
            self.health.span_buffer_full();
            return;
        }
        let before = p.len.fetch_add(1, Ordering::Relaxed);
        if before >= p.max_len {
            p.len.fetch_sub(1, Ordering::Relaxed);
            p.release(size);
            self.health.span_queue_full();
            return;
        }
        p.spans.push((span, size));
        if (before + 1).is_multiple_of(p.batch_size) {
            p.batch_ready.notify_one();
        }
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

struct Worker<E> {
    exporter: Arc<E>,
    mode: ExportMode,
    tuning: ExportTuning,
    health: Arc<ExportHealth>,
    permits: Arc<Semaphore>,
}

impl<E: SpanExporter + 'static> Worker<E> {
    async fn run(self, pending: Arc<Pending>, mut control: mpsc::UnboundedReceiver<Control>) {
        let batch_size = pending.batch_size;
        let mut tick = tokio::time::interval(self.tuning.scheduled_delay);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                msg = control.recv() => {
                    let stop = !matches!(msg, Some(Control::Flush(_)));
                    let senders_gone = msg.is_none();
                    if stop {
                        // Later spans are refused (and counted); what is queued still goes out.
                        pending.closed.store(true, Ordering::Relaxed);
                    }
                    // Everything queued before the request goes out before the answer.
                    self.drain_all(&pending, batch_size).await;
                    self.wait_idle().await;
                    if stop {
                        let _ = self.exporter.shutdown();
                    }
                    if let Some(Control::Flush(reply) | Control::Shutdown(reply)) = msg {
                        let _ = reply.send(());
                    }
                    if stop || senders_gone {
                        return;
                    }
                }
                _ = pending.batch_ready.notified() => {
                    // Only full batches here; the tick sends the remainder.
                    while pending.len.load(Ordering::Relaxed) >= batch_size {
                        let mut batch = Vec::with_capacity(batch_size);
                        let (_, bytes) = pending.drain_into(&mut batch, batch_size);
                        self.dispatch(batch, bytes, &pending).await;
                    }
                }
                _ = tick.tick() => self.drain_all(&pending, batch_size).await,
            }
        }
    }

    /// Exports everything queued, in batches.
    async fn drain_all(&self, pending: &Arc<Pending>, batch_size: usize) {
        loop {
            let mut batch = Vec::with_capacity(batch_size.min(pending.len.load(Ordering::Relaxed)));
            let (n, bytes) = pending.drain_into(&mut batch, batch_size);
            if n == 0 {
                return;
            }
            self.dispatch(batch, bytes, pending).await;
        }
    }

    /// Waits until no export is in flight.
    async fn wait_idle(&self) {
        let all = self.tuning.max_concurrent_exports.max(1) as u32;
        drop(self.permits.acquire_many(all).await);
    }

    /// Starts one export once a slot is free; waiting here is what lets the queue fill (and
    /// drop) instead of memory growing when the collector is slow.
    async fn dispatch(&self, batch: Vec<SpanData>, bytes: usize, pending: &Arc<Pending>) {
        let pending = pending.clone();
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("the export semaphore is never closed");
        let exporter = self.exporter.clone();
        let health = self.health.clone();
        let timeout = self.tuning.export_timeout;
        let mode = self.mode;
        tokio::spawn(async move {
            let n = batch.len() as u64;
            let result = match mode {
                ExportMode::Async => tokio::time::timeout(timeout, exporter.export(batch))
                    .await
                    .unwrap_or(Err(OTelSdkError::Timeout(timeout))),
                ExportMode::Blocking => {
                    let job = tokio::task::spawn_blocking(move || {
                        super::exporters::block_on(exporter.export(batch))
                    });
                    match tokio::time::timeout(timeout, job).await {
                        Ok(Ok(r)) => r,
                        Ok(Err(e)) => Err(OTelSdkError::InternalFailure(e.to_string())),
                        Err(_) => Err(OTelSdkError::Timeout(timeout)),
                    }
                }
            };
            health.export_finished(Signal::Traces, n, &result);
            pending.release(bytes);
            drop(permit);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuning_reads_the_standard_variables() {
        let env = |k: &str| match k {
            "OTEL_BSP_MAX_QUEUE_SIZE" => Some("100".to_string()),
            "OTEL_BSP_MAX_EXPORT_BATCH_SIZE" => Some("500".to_string()),
            "OTEL_BSP_SCHEDULE_DELAY" => Some("250".to_string()),
            "OTEL_BSP_EXPORT_TIMEOUT" => Some("nonsense".to_string()),
            _ => None,
        };
        let t = ExportTuning::from_lookup(&env);
        assert_eq!(t.max_queue_size, 100);
        assert_eq!(
            t.max_export_batch_size, 100,
            "a batch never exceeds the queue"
        );
        assert_eq!(t.scheduled_delay, Duration::from_millis(250));
        assert_eq!(t.export_timeout, ExportTuning::default().export_timeout);
    }

    /// An exporter whose calls never finish until `release` is notified: a paused collector.
    #[derive(Debug, Default)]
    struct Stuck {
        release: Arc<Notify>,
        received: Arc<AtomicUsize>,
    }

    impl SpanExporter for Stuck {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            self.release.notified().await;
            self.received.fetch_add(batch.len(), Ordering::Relaxed);
            Ok(())
        }
    }

    fn span(attr_len: usize) -> SpanData {
        use opentelemetry::trace::{SpanContext, SpanId, SpanKind, Status};
        SpanData {
            span_context: SpanContext::empty_context(),
            parent_span_id: SpanId::INVALID,
            parent_span_is_remote: false,
            span_kind: SpanKind::Server,
            name: "GET".into(),
            start_time: std::time::SystemTime::now(),
            end_time: std::time::SystemTime::now(),
            attributes: vec![KeyValue::new("url.path", "x".repeat(attr_len))],
            dropped_attributes_count: 0,
            events: Default::default(),
            links: Default::default(),
            status: Status::Unset,
            instrumentation_scope: Default::default(),
        }
    }

    #[test]
    fn span_estimate_grows_with_attribute_lengths() {
        let small = span_bytes(&span(10));
        let big = span_bytes(&span(10_010));
        assert!(small > std::mem::size_of::<SpanData>());
        assert!(
            big - small >= 20_000,
            "string bytes counted for the encoded copy too"
        );
    }

    #[test]
    fn a_stuck_collector_holds_at_most_max_bytes_and_drops_are_counted() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let exporter = Stuck::default();
        let (release, received) = (exporter.release.clone(), exporter.received.clone());
        let tuning = ExportTuning {
            max_queue_size: 100_000,
            max_export_batch_size: 10,
            scheduled_delay: Duration::from_millis(10),
            export_timeout: Duration::from_secs(3600),
            max_concurrent_exports: 2,
        };
        let health = Arc::new(ExportHealth::new("test"));
        let max = 64 * 1024;
        let q = SpanQueue::start(
            exporter,
            ExportMode::Async,
            &tuning,
            max,
            health.clone(),
            rt.handle(),
        );
        let one = span_bytes(&span(500));
        for _ in 0..1000 {
            q.on_end(span(500));
            assert!(q.pending.held_bytes() <= max as usize);
        }
        let f = health.figures();
        let kept = 1000 - f.spans_dropped as usize;
        assert!(f.spans_dropped_buffer_full > 0, "{f:?}");
        assert_eq!(f.spans_dropped, f.spans_dropped_buffer_full);
        assert!(
            kept <= max as usize / one,
            "kept {kept} spans of {one} bytes"
        );
        assert!(kept >= max as usize / one - 1, "kept only {kept}");
        // The collector answers: in-flight exports end and release their bytes.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while received.load(Ordering::Relaxed) < kept && std::time::Instant::now() < deadline {
            release.notify_waiters();
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(received.load(Ordering::Relaxed), kept);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while q.pending.held_bytes() > 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(
            q.pending.held_bytes(),
            0,
            "every byte released after export"
        );
    }
}

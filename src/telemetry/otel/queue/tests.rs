use super::*;
use crate::telemetry::otel::otlp::{attr_key, Kind, SpanHead, Status, TraceWriter};
use crate::telemetry::otel::transport::TraceExportError;
use bytes::Bytes;

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
/// Counts the spans of the requests it got (decoded, so the envelope is checked too).
#[derive(Debug, Default)]
struct Stuck {
    release: Arc<Notify>,
    received: Arc<AtomicUsize>,
}

impl SendTraces for Stuck {
    async fn send(&self, request: Bytes) -> Result<(), TraceExportError> {
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        use prost::Message;
        self.release.notified().await;
        let req = ExportTraceServiceRequest::decode(request).expect("a valid request");
        let spans = req.resource_spans[0].scope_spans[0].spans.len();
        self.received.fetch_add(spans, Ordering::Relaxed);
        Ok(())
    }
}

/// One request's worth of `n` spans, each with an attribute of `attr_len` bytes.
fn spans(n: usize, attr_len: usize) -> EncodedSpans {
    let mut w = TraceWriter::new([7; 16], "", 64);
    for i in 0..n {
        let head = SpanHead {
            span_id: [i as u8 + 1; 8],
            parent: None,
            parent_remote: false,
            name: "GET",
            kind: Kind::Server,
            start: 1,
            end: 2,
        };
        let mut s = w.span(&head);
        s.str(attr_key!("url.path"), &"x".repeat(attr_len));
        s.end(Status::Unset);
    }
    w.finish()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn start(
    exporter: Stuck,
    tuning: &ExportTuning,
    max: u64,
    rt: &tokio::runtime::Runtime,
) -> (SpanQueue, Arc<ExportHealth>) {
    let health = Arc::new(ExportHealth::new("test"));
    let to = Destination {
        exporter,
        envelope: Envelope::default(),
        view: None,
    };
    let q = SpanQueue::start(to, tuning, max, health.clone(), rt.handle());
    (q, health)
}

#[test]
fn the_charge_is_the_encoding_held_plus_its_copy_in_flight() {
    let small = spans(3, 10);
    let big = spans(3, 10_010);
    assert_eq!(charge(&small), small.held_bytes() + small.as_bytes().len());
    assert!(charge(&big) - charge(&small) >= 2 * 3 * 10_000);
}

#[test]
fn a_stuck_collector_holds_at_most_max_bytes_and_drops_are_counted() {
    let rt = runtime();
    let exporter = Stuck::default();
    let (release, received) = (exporter.release.clone(), exporter.received.clone());
    let tuning = ExportTuning {
        max_queue_size: 100_000,
        max_export_batch_size: 10,
        scheduled_delay: Duration::from_millis(10),
        export_timeout: Duration::from_secs(3600),
        max_concurrent_exports: 2,
    };
    let max = 64 * 1024;
    let (q, health) = start(exporter, &tuning, max, &rt);
    let one = charge(&spans(3, 500));
    for _ in 0..1000 {
        q.accept(spans(3, 500));
        assert!(q.pending.held_bytes() <= max as usize);
    }
    let f = health.figures();
    assert_eq!(
        f.spans_dropped % 3,
        0,
        "a request's spans go together: {f:?}"
    );
    let kept = (3000 - f.spans_dropped as usize) / 3;
    assert!(f.spans_dropped_buffer_full > 0, "{f:?}");
    assert_eq!(f.spans_dropped, f.spans_dropped_buffer_full);
    assert!(
        kept <= max as usize / one,
        "kept {kept} requests of {one} bytes"
    );
    assert!(kept >= max as usize / one - 1, "kept only {kept}");
    // The collector answers: in-flight exports end and release their bytes.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while received.load(Ordering::Relaxed) < 3 * kept && std::time::Instant::now() < deadline {
        release.notify_waiters();
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(received.load(Ordering::Relaxed), 3 * kept);
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

/// A queue with no export task: what the producers and the batcher do, alone.
fn detached(max_len: usize, batch_size: usize) -> (SpanQueue, Batcher) {
    let pending = Arc::new(Pending {
        items: SegQueue::new(),
        len: AtomicUsize::new(0),
        bytes: AtomicUsize::new(0),
        max_bytes: usize::MAX,
        closed: AtomicBool::new(false),
        batch_ready: Notify::new(),
        max_len,
        batch_size,
    });
    let (control, _) = mpsc::unbounded_channel();
    let q = SpanQueue {
        pending: pending.clone(),
        control,
        health: Arc::new(ExportHealth::new("test")),
    };
    let b = Batcher {
        pending,
        carry: None,
    };
    (q, b)
}

#[test]
fn batches_never_split_a_request_nor_pass_the_batch_size() {
    let (q, mut b) = detached(1000, 10);
    for n in [3, 3, 3, 3, 12, 1] {
        q.accept(spans(n, 1));
    }
    let sizes: Vec<usize> = std::iter::from_fn(|| b.next().map(|b| b.spans)).collect();
    assert_eq!(sizes, [9, 3, 12, 1], "the oversized request goes alone");
    assert_eq!(q.pending.len.load(Ordering::Relaxed), 0);
}

#[test]
fn the_span_count_bound_refuses_whole_requests() {
    let (q, _b) = detached(10, 10);
    for _ in 0..4 {
        q.accept(spans(3, 1));
    }
    let f = q.health.figures();
    assert_eq!((f.spans_dropped, f.spans_dropped_buffer_full), (3, 0));
    assert_eq!(q.pending.len.load(Ordering::Relaxed), 9);
    // An empty queue takes a request larger than the whole bound.
    let (q, _b) = detached(2, 2);
    q.accept(spans(3, 1));
    assert_eq!(q.health.figures().spans_dropped, 0);
}

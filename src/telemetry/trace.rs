//! Request tracing: W3C trace context in and out, the sampling decision, and the span tree of
//! each sampled request.
//!
//! Spans are not kept open while a request runs: [`RequestTracer::start`] only decides ids and
//! sampling, and [`RequestTracer::finish`] encodes the whole tree at once from the
//! [`RequestRecord`], with explicit ids and timestamps, straight to OTLP bytes (see
//! [`super::otel::spans`]). That keeps the request path free of span bookkeeping and makes an
//! unsampled request cost two random numbers.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use http::HeaderValue;
use pingora_http::RequestHeader;
use rand::{rngs::SmallRng, Rng, SeedableRng};

use super::otel::spans::SpanRecorder;
use super::otel::SpanSink;
use super::record::RequestRecord;
use super::w3c::{self, FLAG_SAMPLED};

/// Per-request trace state kept in the proxy context.
#[derive(Debug, Clone, Default)]
pub struct TraceState {
    /// Trace id (continued from the client's `traceparent` when it sent one).
    pub trace_id: [u8; 16],
    /// The SERVER span's id.
    pub span_id: [u8; 8],
    /// The client's span id, when the trace was continued.
    pub parent_span_id: Option<[u8; 8]>,
    /// Whether this request's spans are exported.
    pub sampled: bool,
    /// The client's `tracestate`, forwarded upstream unchanged.
    pub tracestate: Option<HeaderValue>,
    /// The client's trace flags, forwarded as-is when tracing is disabled.
    remote_flags: u8,
}

/// What a recording [`RequestTracer`] needs besides its span sink.
#[derive(Debug, Clone)]
pub struct TracerOptions {
    /// Ratio of new traces sampled (`telemetry.sample_ratio`); continued traces follow the caller.
    pub sample_ratio: f64,
    /// Sampled responses carry `traceresponse` (`telemetry.trace_response_header`).
    pub trace_response_header: bool,
    /// Upstream addresses by [`super::UpstreamId`], so span attributes reuse their strings.
    pub upstreams: Vec<SocketAddr>,
}

/// Makes trace ids, decides sampling, and records finished requests as spans.
#[derive(Debug)]
pub struct RequestTracer {
    /// None: nothing is recorded and the client's context passes through untouched.
    recorder: Option<Arc<SpanRecorder>>,
    /// New traces whose id's low 63 bits fall below this are sampled (the SDK's
    /// `TraceIdRatioBased` rule, so bridged `tracing` spans agree with request spans).
    /// `u64::MAX` samples every new trace (ratio >= 1). Atomic so a reload can change it.
    sample_bound: AtomicU64,
    trace_response: bool,
}

impl Default for RequestTracer {
    fn default() -> Self {
        RequestTracer::disabled()
    }
}

thread_local! {
    // A per-thread fast generator: ids need uniqueness, not cryptographic strength, and a
    // shared generator would be a contended lock on the request path.
    static RNG: RefCell<SmallRng> = RefCell::new(SmallRng::from_os_rng());
}

/// A random, non-zero id.
pub(crate) fn random_id<const N: usize>() -> [u8; N] {
    RNG.with(|rng| {
        let mut rng = rng.borrow_mut();
        loop {
            let mut id = [0u8; N];
            rng.fill(&mut id[..]);
            if id != [0u8; N] {
                return id;
            }
        }
    })
}

/// The `TraceIdRatioBased` decision for a new trace.
fn ratio_bound(ratio: f64) -> u64 {
    if ratio >= 1.0 {
        return u64::MAX;
    }
    (ratio.clamp(0.0, 1.0) * (1u64 << 63) as f64) as u64
}

impl RequestTracer {
    /// A tracer that exports nothing (trace context still passes through to upstreams).
    pub fn disabled() -> Self {
        RequestTracer {
            recorder: None,
            sample_bound: AtomicU64::new(0),
            trace_response: false,
        }
    }

    /// A tracer that hands each sampled request's encoded spans to `sink` (normally the export
    /// queue of [`super::otel::OtelGuard`]; benches discard them).
    pub fn new(sink: Arc<dyn SpanSink>, opts: TracerOptions) -> Self {
        RequestTracer {
            recorder: Some(Arc::new(SpanRecorder::new(sink, &opts.upstreams))),
            sample_bound: AtomicU64::new(ratio_bound(opts.sample_ratio)),
            trace_response: opts.trace_response_header,
        }
    }

    /// Whether spans are recorded at all.
    pub fn is_enabled(&self) -> bool {
        self.recorder.is_some()
    }

    /// Changes the ratio of new traces sampled (config reload); requests already started keep
    /// their decision.
    pub fn set_sample_ratio(&self, ratio: f64) {
        self.sample_bound.store(ratio_bound(ratio), Relaxed);
    }

    fn sample_new_trace(&self, trace_id: &[u8; 16]) -> bool {
        let bound = self.sample_bound.load(Relaxed);
        if bound == u64::MAX {
            return true;
        }
        let low = u64::from_be_bytes(trace_id[8..].try_into().expect("8 bytes"));
        (low >> 1) < bound
    }

    /// Starts a request's trace, continuing the client's when it sent a valid `traceparent`.
    pub fn start(&self, req: &RequestHeader) -> TraceState {
        let mut values = req.headers.get_all("traceparent").iter();
        // Two `traceparent` headers are invalid: start a new trace, as the spec asks.
        let traceparent = match (values.next(), values.next()) {
            (Some(v), None) => Some(v.as_bytes()),
            _ => None,
        };
        self.start_with(traceparent, || req.headers.get("tracestate").cloned())
    }

    /// [`RequestTracer::start`] from the raw fields: the request's `traceparent` when it sent
    /// exactly one, and its `tracestate` (asked for only when the trace is continued).
    pub fn start_with(
        &self,
        traceparent: Option<&[u8]>,
        tracestate: impl FnOnce() -> Option<HeaderValue>,
    ) -> TraceState {
        let parent = traceparent.and_then(w3c::parse_traceparent);
        let span_id = random_id();
        match parent {
            Some(p) => TraceState {
                trace_id: p.trace_id,
                span_id,
                parent_span_id: Some(p.parent_id),
                // Parent-based: a continued trace keeps the caller's decision.
                sampled: self.recorder.is_some() && p.flags & FLAG_SAMPLED != 0,
                tracestate: tracestate(),
                remote_flags: p.flags,
            },
            None => {
                let trace_id = random_id();
                TraceState {
                    sampled: self.recorder.is_some() && self.sample_new_trace(&trace_id),
                    trace_id,
                    span_id,
                    parent_span_id: None,
                    tracestate: None,
                    remote_flags: 0,
                }
            }
        }
    }

    /// Starts an upstream attempt: returns the CLIENT span id and the `traceparent` to send.
    ///
    /// Unsampled requests still propagate (flags `00`) so the upstream can join the trace id;
    /// a disabled tracer forwards the client's own context unchanged. `None` only for a state
    /// that [`RequestTracer::start`] did not make.
    pub fn client_span(&self, state: &TraceState) -> Option<([u8; 8], HeaderValue)> {
        if state.trace_id == [0; 16] {
            return None;
        }
        if self.recorder.is_none() {
            if let Some(parent) = state.parent_span_id {
                let v = w3c::format_context(&state.trace_id, &parent, state.remote_flags);
                return Some((parent, v));
            }
        }
        let id = random_id();
        let flags = if state.sampled { FLAG_SAMPLED } else { 0 };
        Some((id, w3c::format_context(&state.trace_id, &id, flags)))
    }

    /// The W3C `traceresponse` header for a sampled request (when the config enables it).
    pub fn traceresponse(&self, state: &TraceState) -> Option<HeaderValue> {
        (self.trace_response && state.sampled)
            .then(|| w3c::format_context(&state.trace_id, &state.span_id, FLAG_SAMPLED))
    }

    /// Records a finished request's spans (nothing for an unsampled request).
    pub fn finish(&self, state: &TraceState, rec: &RequestRecord<'_>) {
        if !state.sampled {
            return;
        }
        if let Some(recorder) = &self.recorder {
            recorder.record(state, rec);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build("GET", b"/x", None).unwrap();
        for (k, v) in headers {
            r.append_header(k.to_string(), *v).unwrap();
        }
        r
    }

    #[derive(Debug)]
    struct Discard;
    impl SpanSink for Discard {
        fn accept(&self, _: crate::telemetry::otel::EncodedSpans) {}
    }

    fn tracer(ratio: f64) -> RequestTracer {
        let opts = TracerOptions {
            sample_ratio: ratio,
            trace_response_header: true,
            upstreams: vec![],
        };
        RequestTracer::new(Arc::new(Discard), opts)
    }

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn continues_a_sampled_client_trace() {
        let t = tracer(0.0);
        let s = t.start(&req(&[("traceparent", TP), ("tracestate", "a=b")]));
        assert!(
            s.sampled,
            "parent-based: the caller's sampled flag wins over ratio 0"
        );
        assert_eq!(w3c::to_hex(&s.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(
            s.parent_span_id,
            Some([0, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7])
        );
        assert_eq!(s.tracestate.as_ref().unwrap(), "a=b");
        let (id, v) = t.client_span(&s).unwrap();
        let sent = w3c::parse_traceparent(v.as_bytes()).unwrap();
        assert_eq!(
            (sent.trace_id, sent.parent_id, sent.flags),
            (s.trace_id, id, 1)
        );
        assert_ne!(id, s.span_id);
        let tr = t.traceresponse(&s).unwrap();
        let tr = w3c::parse_traceparent(tr.as_bytes()).unwrap();
        assert_eq!((tr.trace_id, tr.parent_id), (s.trace_id, s.span_id));
    }

    #[test]
    fn unsampled_requests_propagate_with_flags_00() {
        let t = tracer(1.0);
        let s = t.start(&req(&[(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
        )]));
        assert!(!s.sampled);
        let (_, v) = t.client_span(&s).unwrap();
        assert!(v.to_str().unwrap().ends_with("-00"));
        assert!(t.traceresponse(&s).is_none());
    }

    #[test]
    fn ratio_sampling_of_new_traces() {
        assert!(tracer(1.0).start(&req(&[])).sampled);
        assert!(!tracer(0.0).start(&req(&[])).sampled);
        let t = tracer(0.25);
        let n = (0..4000).filter(|_| t.start(&req(&[])).sampled).count();
        assert!((700..1300).contains(&n), "{n} of 4000 sampled at 0.25");
    }

    #[test]
    fn malformed_or_duplicate_traceparent_starts_a_new_trace() {
        let t = tracer(1.0);
        let s = t.start(&req(&[("traceparent", "garbage")]));
        assert_eq!(s.parent_span_id, None);
        let s = t.start(&req(&[("traceparent", TP), ("traceparent", TP)]));
        assert_eq!(s.parent_span_id, None);
        assert_ne!(s.trace_id, [0; 16]);
    }

    #[test]
    fn disabled_tracer_passes_the_client_context_through() {
        let t = RequestTracer::disabled();
        let s = t.start(&req(&[("traceparent", TP)]));
        assert!(!s.sampled);
        let (_, v) = t.client_span(&s).unwrap();
        assert_eq!(v.to_str().unwrap(), TP);
        assert!(t.traceresponse(&s).is_none());
        // Without a client context it still hands the upstream a (new, unsampled) trace.
        let s = t.start(&req(&[]));
        assert!(t
            .client_span(&s)
            .unwrap()
            .1
            .to_str()
            .unwrap()
            .ends_with("-00"));
        assert!(t.client_span(&TraceState::default()).is_none());
    }

    #[test]
    fn traceresponse_can_be_turned_off() {
        let opts = TracerOptions {
            sample_ratio: 1.0,
            trace_response_header: false,
            upstreams: vec![],
        };
        let t = RequestTracer::new(Arc::new(Discard), opts);
        assert!(t.traceresponse(&t.start(&req(&[]))).is_none());
    }
}

//! The `logging` phase: everything one request did, recorded once (passive health, live
//! figures, metrics, the trace).

use pingora_error::Error;
use pingora_proxy::Session;

use super::ctx::RequestCtx;
use super::errors::classify;
use super::tls;
use crate::telemetry::outlier;
use crate::telemetry::{RequestRecord, Telemetry};

/// Ends the request: the last attempt's outcome for outlier detection, then one record.
pub(super) fn finish(
    telemetry: &Telemetry,
    session: &Session,
    e: Option<&Error>,
    ctx: &mut RequestCtx,
) {
    if !ctx.counted {
        telemetry.start();
    }
    if let Some(id) = ctx.in_flight_upstream.take() {
        telemetry.upstreams.end_request(id);
    }
    if let (Some(e), None) = (e, ctx.error) {
        ctx.error = Some(classify(e).1);
    }
    ctx.end_attempt(None, e.is_some());
    if let (Some(a), false) = (ctx.attempts.last(), ctx.outlier_recorded) {
        let outcome = match (a.status, ctx.error) {
            (Some(s), _) if s >= 500 => Some(outlier::Outcome::ServerError),
            (Some(_), _) => Some(outlier::Outcome::Success),
            (None, Some("timeout" | "upstream_error")) => Some(outlier::Outcome::GatewayFailure),
            // The client left first: nothing learned about the upstream.
            (None, _) => None,
        };
        if let Some(o) = outcome {
            outlier_record(telemetry, a.upstream, o);
        }
    }
    let req = session.req_header();
    let status = session
        .response_written()
        .map(|r| r.status.as_u16())
        .unwrap_or(ctx.error_status);
    let str_header =
        |name: http::header::HeaderName| req.headers.get(name).and_then(|v| v.to_str().ok());
    let (scheme, protocol_version) = tls::arrival(session);
    let rec = RequestRecord {
        start: ctx.start,
        start_time: ctx.start_time,
        duration: ctx.start.elapsed(),
        method: &req.method,
        path: req.uri.path(),
        host: str_header(http::header::HOST),
        client: super::client_ip(session),
        user_agent: str_header(http::header::USER_AGENT),
        protocol_version,
        status,
        cache: ctx.cache,
        cache_lookup: ctx.cache_lookup,
        attempts: &ctx.attempts,
        // A 5xx relayed from the upstream is no proxy error: telemetry uses its status.
        error: ctx.error,
        bytes_sent: session.body_bytes_sent() as u64,
        bytes_received: ctx.header_bytes + ctx.body_bytes,
        trace_id: ctx.trace.trace_id,
        span_id: ctx.trace.span_id,
        sampled: ctx.trace.sampled,
        scheme,
    };
    telemetry.finish(&ctx.trace, &rec);
}

/// Records one attempt's outcome for passive health, logging the (rare) ejection once.
pub(super) fn outlier_record(
    telemetry: &Telemetry,
    id: crate::telemetry::UpstreamId,
    o: outlier::Outcome,
) {
    let board = &telemetry.upstreams;
    if board.record_outcome(id, o) {
        let st = board.outlier_state(id);
        tracing::warn!(
            upstream = %board.addr(id),
            until_unix_ms = st.ejected_until_unix_ms.unwrap_or(0),
            reason = st.ejection_reason.as_deref().unwrap_or(""),
            "upstream ejected by outlier detection"
        );
    }
}

//! The span tree of real requests: SERVER / `cache lookup` / CLIENT with their semconv
//! attributes, the context the origin saw, `traceresponse`, continued client traces, cache hits
//! without a CLIENT span, and one CLIENT span per retried attempt.

use std::collections::HashMap;

use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;

use super::{
    hex, in_trace, kind, of_kind, parse_context, trace_response, traced, wait_spans, RecvSpan,
    ARRIVAL,
};
use crate::telemetry::otlp_receiver::Receiver;
use crate::util::{
    client, fetch, free_addr, with_healthz, ConfigBuilder, ProxyProcess, TestOrigin, TestResponse,
};

const UA: &str = "it-telemetry/1.0";

/// The one span of `k` in `spans`; panics listing them otherwise.
fn only<'a>(spans: &[&'a RecvSpan], k: SpanKind) -> &'a RecvSpan {
    let found = of_kind(spans, k);
    assert_eq!(found.len(), 1, "expected one {k:?} span in {spans:#?}");
    found[0]
}

/// Asserts `attrs` holds every `(key, value)`.
fn assert_attrs(span: &RecvSpan, want: &[(&str, &str)]) {
    let got: HashMap<&str, &str> = want
        .iter()
        .map(|(k, _)| (*k, span.attrs.get(*k).map_or("<absent>", String::as_str)))
        .collect();
    let want: HashMap<&str, &str> = want.iter().copied().collect();
    assert_eq!(
        got,
        want,
        "attributes of {:?} span {:?}",
        kind(span),
        span.attrs
    );
}

/// Whether `child` lies inside `parent` in time.
fn within(child: &RecvSpan, parent: &RecvSpan) -> bool {
    parent.span.start_time_unix_nano <= child.span.start_time_unix_nano
        && child.span.end_time_unix_nano <= parent.span.end_time_unix_nano
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miss_a_hit_and_a_continued_trace_make_the_spec_span_trees() {
    let receiver = Receiver::grpc().await;
    let origin = TestOrigin::spawn(with_healthz(|_| {
        TestResponse::ok("body").header("cache-control", "max-age=60")
    }))
    .await;
    let cfg = ConfigBuilder::new(&[origin.addr()]).set("upstreams.health_check.kind", "none");
    let mut proxy = ProxyProcess::start(traced(cfg, &receiver.endpoint())).await;
    let http = client();

    // 1. A cache miss.
    let miss = fetch(
        http.get(proxy.url("/static/app.css?v=1"))
            .header("user-agent", UA),
    )
    .await;
    assert_eq!(miss.status, 200, "{miss:?}");
    assert!(miss.cache_status().contains("miss"), "{miss:?}");
    let miss_ctx = trace_response(&miss);
    assert_eq!(miss_ctx.flags, "01", "traceresponse of a sampled request");

    // 2. The same URL again: a hit.
    let hit = fetch(
        http.get(proxy.url("/static/app.css?v=1"))
            .header("user-agent", UA),
    )
    .await;
    assert_eq!(hit.cache_status(), "sightline; hit", "{hit:?}");
    let hit_ctx = trace_response(&hit);
    assert_ne!(
        hit_ctx.trace_id, miss_ctx.trace_id,
        "each request is a new trace"
    );

    // 3. A client that sends its own context (sampled) and a tracestate.
    let client_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let client_span = "00f067aa0ba902b7";
    let continued = fetch(
        http.get(proxy.url("/static/other.css"))
            .header("traceparent", format!("00-{client_trace}-{client_span}-01"))
            .header("tracestate", "vendor=abc"),
    )
    .await;
    assert_eq!(continued.status, 200, "{continued:?}");
    let cont_ctx = trace_response(&continued);
    assert_eq!(
        cont_ctx.trace_id, client_trace,
        "traceresponse continues the trace"
    );

    // 4. A client context that is not sampled: followed (parent-based), so nothing exported.
    let unsampled_trace = "0af7651916cd43dd8448eb211c80319c";
    let unsampled = fetch(http.get(proxy.url("/static/unsampled.css")).header(
        "traceparent",
        format!("00-{unsampled_trace}-b7ad6b7169203331-00"),
    ))
    .await;
    assert_eq!(unsampled.status, 200, "{unsampled:?}");
    assert_eq!(unsampled.header("traceresponse"), None, "{unsampled:?}");

    let traces = [&miss_ctx.trace_id, &hit_ctx.trace_id, client_trace];
    let arrived = wait_spans(&receiver, ARRIVAL, |s| {
        in_trace(s, traces[0]).len() >= 3
            && in_trace(s, traces[1]).len() >= 2
            && in_trace(s, traces[2]).len() >= 3
    })
    .await;
    assert!(
        in_trace(&arrived, traces[0]).len() >= 3
            && in_trace(&arrived, traces[1]).len() >= 2
            && in_trace(&arrived, traces[2]).len() >= 3,
        "spans did not arrive within {ARRIVAL:?}: {arrived:#?}\n{}",
        proxy.output()
    );
    // Shutting down flushes everything, so from here on an absent span is really absent.
    let status = proxy.terminate().await;
    assert_eq!(status.code(), Some(0), "{}", proxy.output());
    let spans = receiver.spans();
    let origin_port = origin.addr().port().to_string();
    let proxy_port = proxy.proxy_addr().port().to_string();

    // The miss: SERVER "GET" with every required attribute.
    let tree = in_trace(&spans, &miss_ctx.trace_id);
    assert_eq!(tree.len(), 3, "SERVER, cache lookup, CLIENT: {tree:#?}");
    let server = only(&tree, SpanKind::Server);
    assert_eq!(server.span.name, "GET", "span names never carry the path");
    assert!(server.span.parent_span_id.is_empty(), "a new trace's root");
    assert_eq!(
        hex(&server.span.span_id),
        miss_ctx.parent_id,
        "traceresponse names the SERVER span"
    );
    assert_attrs(
        server,
        &[
            ("http.request.method", "GET"),
            ("url.path", "/static/app.css"),
            ("url.scheme", "http"),
            ("server.address", "127.0.0.1"),
            ("server.port", &proxy_port),
            ("client.address", "127.0.0.1"),
            ("user_agent.original", UA),
            ("http.response.status_code", "200"),
            ("network.protocol.version", "1.1"),
            ("sightline.cache.status", "miss"),
            ("sightline.upstream", &origin.addr().to_string()),
        ],
    );
    assert!(
        !server.attrs.contains_key("error.type"),
        "{:?}",
        server.attrs
    );
    assert_ne!(
        server.span.status.as_ref().map(|s| s.code),
        Some(StatusCode::Error as i32),
        "a 200 is not an error"
    );
    let lookup = only(&tree, SpanKind::Internal);
    assert_eq!(lookup.span.name, "cache lookup");
    assert_eq!(lookup.span.parent_span_id, server.span.span_id);
    assert!(
        within(lookup, server),
        "lookup inside the request: {tree:#?}"
    );
    let upstream = only(&tree, SpanKind::Client);
    assert_eq!(upstream.span.name, "GET");
    assert_eq!(upstream.span.parent_span_id, server.span.span_id);
    assert!(
        within(upstream, server),
        "attempt inside the request: {tree:#?}"
    );
    assert_attrs(
        upstream,
        &[
            ("server.address", "127.0.0.1"),
            ("server.port", &origin_port),
            ("http.response.status_code", "200"),
        ],
    );
    assert!(!upstream.attrs.contains_key("http.request.resend_count"));
    // The origin saw the CLIENT span's context.
    let seen = origin.requests_to("/static/app.css");
    assert_eq!(seen.len(), 1, "one origin request for the miss and the hit");
    let sent = parse_context(seen[0].header("traceparent").expect("traceparent upstream"));
    assert_eq!(sent.trace_id, miss_ctx.trace_id);
    assert_eq!(sent.parent_id, hex(&upstream.span.span_id));
    assert_eq!(sent.flags, "01");

    // Resource, on every span.
    for s in &spans {
        assert_eq!(
            s.resource.get("service.name").map(String::as_str),
            Some("sightline")
        );
        assert_eq!(
            s.resource.get("service.version").map(String::as_str),
            Some(env!("CARGO_PKG_VERSION"))
        );
        assert!(
            s.resource
                .get("service.instance.id")
                .is_some_and(|v| v.len() == 36),
            "{:?}",
            s.resource
        );
        assert!(
            s.resource.get("host.name").is_some_and(|v| !v.is_empty()),
            "{:?}",
            s.resource
        );
    }
    let instances: std::collections::HashSet<_> = spans
        .iter()
        .map(|s| &s.resource["service.instance.id"])
        .collect();
    assert_eq!(instances.len(), 1, "one instance id per process");

    // The hit: SERVER and cache lookup, no CLIENT.
    let tree = in_trace(&spans, &hit_ctx.trace_id);
    let server = only(&tree, SpanKind::Server);
    assert_attrs(
        server,
        &[
            ("sightline.cache.status", "hit"),
            ("http.response.status_code", "200"),
        ],
    );
    assert!(
        !server.attrs.contains_key("sightline.upstream"),
        "a hit has no upstream: {:?}",
        server.attrs
    );
    assert_eq!(only(&tree, SpanKind::Internal).span.name, "cache lookup");
    assert_eq!(tree.len(), 2, "a cache hit has no CLIENT span: {tree:#?}");

    // The continued trace: the SERVER span's parent is the client's span.
    let tree = in_trace(&spans, client_trace);
    assert_eq!(tree.len(), 3, "{tree:#?}");
    let server = only(&tree, SpanKind::Server);
    assert_eq!(hex(&server.span.parent_span_id), client_span);
    assert_eq!(hex(&server.span.span_id), cont_ctx.parent_id);
    let upstream = only(&tree, SpanKind::Client);
    let seen = origin.requests_to("/static/other.css");
    let sent = parse_context(seen[0].header("traceparent").expect("traceparent upstream"));
    assert_eq!(
        (sent.trace_id.as_str(), sent.parent_id, sent.flags.as_str()),
        (client_trace, hex(&upstream.span.span_id), "01")
    );
    assert_eq!(seen[0].header("tracestate"), Some("vendor=abc"));
    assert_eq!(server.span.trace_state, "vendor=abc");

    // The unsampled one: nothing exported, but the trace id still reached the origin.
    assert!(in_trace(&spans, unsampled_trace).is_empty(), "{spans:#?}");
    let seen = origin.requests_to("/static/unsampled.css");
    let sent = parse_context(seen[0].header("traceparent").expect("traceparent upstream"));
    assert_eq!(
        (sent.trace_id.as_str(), sent.flags.as_str()),
        (unsampled_trace, "00")
    );

    // Nothing but these three trees (the proxy's own `tracing` spans are not request spans).
    let server_spans = spans.iter().filter(|s| kind(s) == SpanKind::Server).count();
    assert_eq!(server_spans, 3, "{spans:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_request_has_one_client_span_per_attempt() {
    let receiver = Receiver::grpc().await;
    let origin =
        TestOrigin::spawn(|_| TestResponse::ok("ok").header("cache-control", "no-store")).await;
    // Nobody listens on `refusing`: connects are refused at once. Without health checks it
    // stays in rotation, so round-robin sends some first attempts there.
    let refusing = free_addr();
    let cfg = ConfigBuilder::new(&[refusing, origin.addr()])
        .set("upstreams.health_check.kind", "none")
        .set("upstreams.retries", 1);
    let mut proxy = ProxyProcess::start(traced(cfg, &receiver.endpoint())).await;
    let http = client();
    let mut traces = Vec::new();
    for i in 0..4 {
        let r = fetch(http.get(proxy.url(&format!("/api/r{i}")))).await;
        assert_eq!(
            r.status, 200,
            "a refused connect is retried on the next upstream: {r:?}"
        );
        traces.push((i, trace_response(&r).trace_id));
    }
    let status = proxy.terminate().await;
    assert_eq!(status.code(), Some(0), "{}", proxy.output());
    let spans = receiver.spans();

    let mut retried = 0;
    for (i, trace_id) in &traces {
        let tree = in_trace(&spans, trace_id);
        let server = only(&tree, SpanKind::Server);
        assert_attrs(
            server,
            &[
                ("http.response.status_code", "200"),
                ("sightline.upstream", &origin.addr().to_string()),
            ],
        );
        let mut clients = of_kind(&tree, SpanKind::Client);
        clients.sort_by_key(|s| s.span.start_time_unix_nano);
        let last = clients.last().expect("at least one CLIENT span");
        let seen = origin.requests_to(&format!("/api/r{i}"));
        assert_eq!(seen.len(), 1);
        let sent = parse_context(seen[0].header("traceparent").expect("traceparent upstream"));
        assert_eq!(
            sent.parent_id,
            hex(&last.span.span_id),
            "the attempt that reached the origin"
        );
        if clients.len() == 1 {
            continue;
        }
        retried += 1;
        assert_eq!(clients.len(), 2, "one retry at most: {tree:#?}");
        let (first, second) = (clients[0], clients[1]);
        assert_attrs(
            first,
            &[
                ("server.address", "127.0.0.1"),
                ("server.port", &refusing.port().to_string()),
                ("http.response.status_code", "<absent>"),
                ("http.request.resend_count", "<absent>"),
            ],
        );
        assert!(first.attrs.contains_key("error.type"), "{:?}", first.attrs);
        assert_eq!(
            first.span.status.as_ref().map(|s| s.code),
            Some(StatusCode::Error as i32)
        );
        assert_attrs(
            second,
            &[
                ("server.port", &origin.addr().port().to_string()),
                ("http.response.status_code", "200"),
                ("http.request.resend_count", "1"),
            ],
        );
        for c in [first, second] {
            assert_eq!(c.span.parent_span_id, server.span.span_id);
            assert!(within(c, server), "{tree:#?}");
        }
        assert!(first.span.end_time_unix_nano <= second.span.start_time_unix_nano);
    }
    assert!(
        retried >= 1,
        "round-robin over [refusing, origin] never tried the refusing one first in 4 requests"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_4xx_marks_only_the_client_span_and_a_5xx_both_as_errors() {
    let receiver = Receiver::grpc().await;
    let origin = TestOrigin::spawn(|req| match req.path() {
        "/missing" => TestResponse::status(404),
        _ => TestResponse::status(503),
    })
    .await;
    let cfg = ConfigBuilder::new(&[origin.addr()]).set("upstreams.health_check.kind", "none");
    let mut proxy = ProxyProcess::start(traced(cfg, &receiver.endpoint())).await;
    let http = client();
    let missing = fetch(http.get(proxy.url("/missing"))).await;
    let broken = fetch(http.get(proxy.url("/broken"))).await;
    assert_eq!((missing.status, broken.status), (404, 503));
    let (missing, broken) = (trace_response(&missing), trace_response(&broken));
    let status = proxy.terminate().await;
    assert_eq!(status.code(), Some(0), "{}", proxy.output());
    let spans = receiver.spans();
    let error = Some(StatusCode::Error as i32);
    let code = |s: &RecvSpan| s.span.status.as_ref().map(|s| s.code);

    let tree = in_trace(&spans, &missing.trace_id);
    let (server, upstream) = (only(&tree, SpanKind::Server), only(&tree, SpanKind::Client));
    assert_ne!(
        code(server),
        error,
        "a 404 is not a server error: {server:#?}"
    );
    assert!(
        !server.attrs.contains_key("error.type"),
        "{:?}",
        server.attrs
    );
    assert_eq!(
        code(upstream),
        error,
        "a 4xx is a client error: {upstream:#?}"
    );
    assert_attrs(
        upstream,
        &[("error.type", "404"), ("http.response.status_code", "404")],
    );

    let tree = in_trace(&spans, &broken.trace_id);
    let (server, upstream) = (only(&tree, SpanKind::Server), only(&tree, SpanKind::Client));
    assert_eq!(
        code(server),
        error,
        "a 5xx marks the SERVER span: {server:#?}"
    );
    assert_attrs(
        server,
        &[("error.type", "503"), ("http.response.status_code", "503")],
    );
    assert_eq!(code(upstream), error, "{upstream:#?}");
    assert_attrs(upstream, &[("error.type", "503")]);
}

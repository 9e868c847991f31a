//! Fresh plain hits answered at the edge (`src/proxy/edge/hit.rs`) against the same hits served
//! by pingora's cache path: the same status, body, fields, `Age`, `Cache-Status`, `Via` and
//! span attributes; only the edge repeats the stored `Date` (pingora writes the send time), which
//! is how these tests tell the two paths apart. Conditional, stale and other non-plain requests
//! never take the edge.

use std::time::Duration;

use serde_json::Value;

use crate::cache_rfc_support::{age, http_date, is_hit};
use crate::jaeger::{jaeger_trace, span, tag, trace_id, with_view};
use crate::util::{client, fetch, ConfigBuilder, Fetched, ProxyProcess, TestOrigin, TestResponse};

/// The origin's Date: well in the past, so a stored Date is told from a send time.
const AGE_AT_ORIGIN: i64 = 100;

/// An origin whose response says `max-age` and is `age_at_origin` seconds old by its Date.
async fn origin(max_age: u32, age_at_origin: i64) -> (TestOrigin, String) {
    let date = http_date(-age_at_origin);
    let sent = date.clone();
    let origin = TestOrigin::spawn(move |_| {
        TestResponse::ok("stored body")
            .header("date", &sent)
            .header("cache-control", &format!("max-age={max_age}"))
            .header("etag", "\"v1\"")
            .header("X-Mixed-Case", "kept")
            .header("content-type", "text/plain")
    })
    .await;
    (origin, date)
}

/// Whether the edge answered: it alone sends the stored Date.
fn from_edge(r: &Fetched, stored_date: &str) -> bool {
    r.header("date") == Some(stored_date)
}

fn comparable(r: &Fetched) -> Vec<(String, String)> {
    let mut fields: Vec<(String, String)> = [
        "age",
        "cache-status",
        "via",
        "content-length",
        "content-type",
        "etag",
        "x-mixed-case",
        "cache-control",
    ]
    .iter()
    .map(|n| (n.to_string(), r.header(n).unwrap_or("").to_owned()))
    .collect();
    fields.push(("status".into(), r.status.to_string()));
    fields.push(("body".into(), r.body.clone()));
    fields
}

#[tokio::test]
async fn an_edge_hit_carries_what_a_pingora_hit_carries_and_the_stored_date() {
    let (origin, date) = origin(600, AGE_AT_ORIGIN).await;
    let proxy = ProxyProcess::start(
        ConfigBuilder::new(&[origin.addr()]).set("upstreams.health_check.kind", "none"),
    )
    .await;
    let http = client();
    let miss = fetch(http.get(proxy.url("/item"))).await;
    assert!(!is_hit(&miss), "{miss:?}");
    let edge = fetch(http.get(proxy.url("/item"))).await;
    // A non-matching validator: pingora's hit path answers the full response.
    let slow = fetch(
        http.get(proxy.url("/item"))
            .header("if-none-match", "\"other\""),
    )
    .await;
    assert!(is_hit(&edge) && is_hit(&slow), "{edge:?} {slow:?}");
    assert!(from_edge(&edge, &date), "plain GET from the edge: {edge:?}");
    assert!(
        !from_edge(&slow, &date),
        "conditional GET via pingora: {slow:?}"
    );
    let a = age(&edge).expect("Age");
    assert!(
        (AGE_AT_ORIGIN as u64..=AGE_AT_ORIGIN as u64 + 2).contains(&a),
        "Age counts from the origin's Date: {edge:?}"
    );
    assert_eq!(comparable(&edge), comparable(&slow));
    assert_eq!(edge.header("x-mixed-case"), Some("kept"));
    assert_eq!(origin.hits("/item"), 1);
}

#[tokio::test]
async fn conditional_head_stale_and_variant_requests_never_take_the_edge() {
    // Fresh for 2 s more when stored (1 s old by its Date, max-age 3).
    let (origin, date) = origin(3, 1).await;
    let proxy = ProxyProcess::start(
        ConfigBuilder::new(&[origin.addr()]).set("upstreams.health_check.kind", "none"),
    )
    .await;
    let http = client();
    fetch(http.get(proxy.url("/c"))).await;
    let matching = fetch(http.get(proxy.url("/c")).header("if-none-match", "\"v1\"")).await;
    assert_eq!(matching.status, 304, "{matching:?}");
    assert!(!from_edge(&matching, &date), "{matching:?}");
    let head = fetch(http.head(proxy.url("/c"))).await;
    assert!(is_hit(&head) && !from_edge(&head, &date), "{head:?}");
    let range = fetch(http.get(proxy.url("/c")).header("range", "bytes=0-5")).await;
    assert_eq!(range.status, 206, "{range:?}");
    assert!(!from_edge(&range, &date), "{range:?}");
    // Stale once max-age has passed: never served by the edge; pingora goes to the origin.
    tokio::time::sleep(Duration::from_millis(2_600)).await;
    let stale = fetch(http.get(proxy.url("/c"))).await;
    assert!(!from_edge(&stale, &date) || !is_hit(&stale), "{stale:?}");
    assert_eq!(origin.hits("/c"), 2, "the stale entry was fetched again");

    // A Vary variant is pingora's to match.
    let varied = TestOrigin::spawn(|req| {
        let lang = req.header("accept-language").unwrap_or("none").to_owned();
        TestResponse::ok(lang)
            .header("date", &http_date(-AGE_AT_ORIGIN))
            .header("cache-control", "max-age=600")
            .header("vary", "accept-language")
    })
    .await;
    let proxy = ProxyProcess::start(
        ConfigBuilder::new(&[varied.addr()]).set("upstreams.health_check.kind", "none"),
    )
    .await;
    for _ in 0..2 {
        let r = fetch(http.get(proxy.url("/v")).header("accept-language", "fr")).await;
        assert_eq!(r.body, "fr");
        assert!(r.header("connection").is_some(), "pingora wrote it: {r:?}");
    }
    assert_eq!(varied.hits("/v"), 1);
}

/// One span as compared: name, kind, and the values of the attributes that matter.
type SpanShape = (String, String, Vec<(String, Option<String>)>);

/// The attributes of a trace's SERVER span and its children, for comparison.
fn shape(t: &Value) -> Vec<SpanShape> {
    let keys = [
        "http.request.method",
        "url.path",
        "url.scheme",
        "server.address",
        "http.response.status_code",
        "network.protocol.version",
        "sightline.cache.status",
        "user_agent.original",
        "client.address",
        "error.type",
    ];
    let mut spans: Vec<_> = t["spans"]
        .as_array()
        .expect("spans")
        .iter()
        .map(|s| {
            let kind = tag(s, "span.kind").unwrap_or_default();
            let attrs = keys
                .iter()
                .map(|k| (k.to_string(), tag(s, k)))
                .collect::<Vec<_>>();
            (
                s["operationName"].as_str().unwrap_or("").to_owned(),
                kind,
                attrs,
            )
        })
        .collect();
    spans.sort();
    spans
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_hit_is_traced_as_a_pingora_hit_is() {
    let (origin, date) = origin(600, AGE_AT_ORIGIN).await;
    let cfg = ConfigBuilder::new(&[origin.addr()]).set("upstreams.health_check.kind", "none");
    let proxy = ProxyProcess::start_with_admin(with_view(cfg)).await;
    let admin = proxy.admin_url("");
    let admin = admin.trim_end_matches('/');
    let http = client();
    fetch(http.get(proxy.url("/t"))).await;
    let edge = fetch(http.get(proxy.url("/t"))).await;
    let slow = fetch(
        http.get(proxy.url("/t"))
            .header("if-none-match", "\"other\""),
    )
    .await;
    assert!(from_edge(&edge, &date) && !from_edge(&slow, &date));
    let a = jaeger_trace(admin, &trace_id(&edge), 2, None).await;
    let b = jaeger_trace(admin, &trace_id(&slow), 2, None).await;
    assert_eq!(span(&a, "GET", "server").len(), 1, "{a}");
    assert_eq!(span(&a, "cache lookup", "internal").len(), 1, "{a}");
    assert!(
        span(&a, "GET", "client").is_empty(),
        "a hit has no upstream span: {a}"
    );
    assert_eq!(shape(&a), shape(&b));
}

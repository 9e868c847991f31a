//! Forwarding headers through the real binary: a client's spoofed `X-Forwarded-*`,
//! `X-Real-IP` and `Forwarded` never reach the origin as sent; from a trusted proxy the chain
//! is appended to.

use crate::util::{client, fetch, ConfigBuilder, ProxyProcess, TestOrigin};

/// The headers a spoofing client sends, each with a value sightline must not pass on.
const SPOOFED: [(&str, &str); 6] = [
    ("x-forwarded-for", "6.6.6.6"),
    ("x-forwarded-host", "evil.example"),
    ("x-forwarded-port", "6666"),
    ("x-forwarded-proto", "https"),
    ("x-real-ip", "6.6.6.6"),
    ("forwarded", "for=6.6.6.6;host=evil.example;proto=https"),
];

async fn send_spoofed(proxy: &ProxyProcess, path: &str) -> crate::util::Fetched {
    let mut req = client().get(proxy.url(path)).header("host", "www.example");
    for (k, v) in SPOOFED {
        req = req.header(k, v);
    }
    fetch(req).await
}

#[tokio::test]
async fn spoofed_forwarding_headers_from_an_untrusted_client_are_replaced_or_dropped() {
    let origin = TestOrigin::named("o").await;
    let proxy = ProxyProcess::start(ConfigBuilder::new(&[origin.addr()])).await;
    let r = send_spoofed(&proxy, "/spoof").await;
    assert_eq!(r.status, 200, "{r:?}");
    let seen = &origin.requests_to("/spoof")[0];
    for (name, sent) in SPOOFED {
        for v in seen.headers.get_all(name) {
            let v = v.to_str().unwrap_or("");
            assert!(
                !v.contains(sent) && !v.contains("6.6.6.6") && !v.contains("evil"),
                "{name}: the client's {sent:?} reached the origin as {v:?}"
            );
        }
    }
    let h = |n: &str| seen.header(n);
    assert_eq!(h("x-forwarded-for"), Some("127.0.0.1"), "{seen:?}");
    assert_eq!(h("x-forwarded-host"), Some("www.example"), "{seen:?}");
    assert_eq!(h("x-forwarded-proto"), Some("http"), "{seen:?}");
    assert_eq!(h("x-forwarded-port"), None, "{seen:?}");
    assert_eq!(h("x-real-ip"), None, "{seen:?}");
    assert_eq!(
        h("forwarded"),
        Some("for=127.0.0.1;proto=http;host=www.example"),
        "{seen:?}"
    );
}

#[tokio::test]
async fn a_trusted_proxys_forwarding_headers_are_appended_to() {
    let origin = TestOrigin::named("o").await;
    let cfg =
        ConfigBuilder::new(&[origin.addr()]).set("proxy.trusted_proxies", vec!["127.0.0.1/32"]);
    let proxy = ProxyProcess::start(cfg).await;
    let r = send_spoofed(&proxy, "/trusted").await;
    assert_eq!(r.status, 200, "{r:?}");
    let seen = &origin.requests_to("/trusted")[0];
    let h = |n: &str| seen.header(n);
    assert_eq!(h("x-forwarded-for"), Some("6.6.6.6, 127.0.0.1"), "{seen:?}");
    assert_eq!(
        h("forwarded"),
        Some(
            "for=6.6.6.6;host=evil.example;proto=https, for=127.0.0.1;proto=http;host=www.example"
        ),
        "{seen:?}"
    );
    // What the first proxy said about the original request is kept.
    assert_eq!(h("x-forwarded-host"), Some("evil.example"), "{seen:?}");
    assert_eq!(h("x-forwarded-proto"), Some("https"), "{seen:?}");
    assert_eq!(h("x-forwarded-port"), Some("6666"), "{seen:?}");
    assert_eq!(h("x-real-ip"), Some("6.6.6.6"), "{seen:?}");
}

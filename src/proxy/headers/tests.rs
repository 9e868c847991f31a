use super::*;

fn req() -> RequestHeader {
    RequestHeader::build("GET", b"/x", None).unwrap()
}

#[test]
fn untrusted_client_replaces_forwarded_for() {
    let mut r = req();
    r.insert_header("x-forwarded-for", "6.6.6.6").unwrap();
    set_forwarding(&mut r, &hop("10.0.0.1", false));
    assert_eq!(r.headers.get("x-forwarded-for").unwrap(), "10.0.0.1");
}

#[test]
fn trusted_proxy_appends_to_forwarded_for() {
    let mut r = req();
    r.insert_header("x-forwarded-for", "1.2.3.4").unwrap();
    set_forwarding(&mut r, &hop("10.0.0.1", true));
    assert_eq!(
        r.headers.get("x-forwarded-for").unwrap(),
        "1.2.3.4, 10.0.0.1"
    );
}

#[test]
fn mapped_v6_is_reported_as_v4() {
    let mut r = req();
    set_forwarding(&mut r, &hop("::ffff:127.0.0.1", false));
    assert_eq!(r.headers.get("x-forwarded-for").unwrap(), "127.0.0.1");
}

fn hop(client: &str, trusted: bool) -> Hop<'static> {
    Hop {
        client: Some(client.parse().unwrap()),
        trusted,
        scheme: "http",
        host: "a.example:8080",
    }
}

fn spoofed() -> RequestHeader {
    let mut r = req();
    for (k, v) in [
        ("x-forwarded-for", "6.6.6.6"),
        ("x-forwarded-host", "evil.example"),
        ("x-forwarded-port", "1"),
        ("x-forwarded-proto", "https"),
        ("x-real-ip", "6.6.6.6"),
        ("forwarded", "for=6.6.6.6;host=evil.example"),
    ] {
        r.insert_header(k, v).unwrap();
    }
    r
}

#[test]
fn untrusted_peers_get_sightlines_own_headers() {
    let mut r = spoofed();
    set_forwarding(&mut r, &hop("10.0.0.1", false));
    let h = |n: &str| r.headers.get(n).map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(h("x-forwarded-for").as_deref(), Some("10.0.0.1"));
    assert_eq!(h("x-forwarded-host").as_deref(), Some("a.example:8080"));
    assert_eq!(h("x-forwarded-proto").as_deref(), Some("http"));
    assert_eq!(h("x-forwarded-port"), None);
    assert_eq!(h("x-real-ip"), None);
    assert_eq!(
        h("forwarded").as_deref(),
        Some("for=10.0.0.1;proto=http;host=\"a.example:8080\"")
    );
}

#[test]
fn trusted_peers_are_appended_to() {
    let mut r = spoofed();
    set_forwarding(&mut r, &hop("::1", true));
    let h = |n: &str| r.headers.get(n).map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(h("x-forwarded-for").as_deref(), Some("6.6.6.6, ::1"));
    assert_eq!(h("x-forwarded-host").as_deref(), Some("evil.example"));
    assert_eq!(h("x-real-ip").as_deref(), Some("6.6.6.6"));
    assert_eq!(
        h("forwarded").as_deref(),
        Some("for=6.6.6.6;host=evil.example, for=\"[::1]\";proto=http;host=\"a.example:8080\"")
    );
}

#[test]
fn ip_text_matches_display() {
    for ip in [
        "0.0.0.0",
        "10.0.100.255",
        "1.20.3.199",
        "255.255.255.255",
        "::1",
        "2001:db8::8a2e:370:7334",
    ] {
        let ip: IpAddr = ip.parse().unwrap();
        assert_eq!(IpText::default().of(ip), ip.to_string());
    }
    let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
    assert_eq!(IpText::default().of(mapped), "192.0.2.1");
}

#[test]
fn the_per_thread_values_follow_client_scheme_and_host() {
    for (client, host) in [
        ("10.0.0.1", "a.example"),
        ("10.0.0.2", "a.example"),
        ("10.0.0.2", "b.example"),
        ("10.0.0.2", "b.example"),
    ] {
        let mut r = req();
        let h = Hop {
            client: Some(client.parse().unwrap()),
            trusted: false,
            scheme: "https",
            host,
        };
        set_forwarding(&mut r, &h);
        let get = |n: &str| r.headers.get(n).unwrap().to_str().unwrap().to_owned();
        assert_eq!(get("x-forwarded-for"), client);
        assert_eq!(get("x-forwarded-host"), host);
        assert_eq!(get("x-forwarded-proto"), "https");
        assert_eq!(
            get("forwarded"),
            format!("for={client};proto=https;host={host}")
        );
    }
}

#[test]
fn cache_status_values_parse() {
    let v = cache_status::STALE_REVALIDATED;
    let (name, params) = parse_cache_status(v.to_str().unwrap()).unwrap();
    assert_eq!(name, "sightline");
    assert_eq!(
        params,
        [("fwd", Some("stale")), ("fwd-status", Some("304"))]
    );
    assert_eq!(parse_cache_status("x; a b"), None);
}

#[test]
fn header_size_counts_fields() {
    let mut r = req();
    let small = request_header_size(&r);
    r.insert_header("x-big", "a".repeat(1000)).unwrap();
    assert!(request_header_size(&r) >= small + 1000);
}

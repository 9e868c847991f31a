use super::*;

fn head(lines: &[&str]) -> Vec<u8> {
    let mut h = lines.join("\r\n");
    h.push_str("\r\n\r\n");
    h.into_bytes()
}

#[test]
fn plain_gets_qualify() {
    let h = head(&[
        "GET /a?b=1 HTTP/1.1",
        "Host: Example.com:80",
        "User-Agent: t",
        "Accept: */*",
        "Connection: keep-alive",
        "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    ]);
    let p = plain(&h).expect("plain");
    assert_eq!(
        (p.target, p.host, p.user_agent),
        ("/a?b=1", "Example.com:80", Some("t"))
    );
    assert_eq!(p.traceparents, 1);
}

#[test]
fn anything_else_goes_to_pingora() {
    let base = ["GET / HTTP/1.1", "Host: a.example"];
    let with = |extra: &str| {
        let mut l = base.to_vec();
        l.push(extra);
        head(&l)
    };
    for extra in [
        "Content-Length: 0",
        "Transfer-Encoding: chunked",
        "Authorization: Basic eA==",
        "Cache-Control: no-cache",
        "Pragma: no-cache",
        "Range: bytes=0-1",
        "If-None-Match: \"x\"",
        "If-Modified-Since: Mon, 01 Jan 2024 00:00:00 GMT",
        "If-Match: *",
        "If-Unmodified-Since: Mon, 01 Jan 2024 00:00:00 GMT",
        "If-Range: \"x\"",
        "Expect: 100-continue",
        "Upgrade: websocket",
        "Connection: close",
        "TE: trailers",
        "Host: b.example",
    ] {
        assert!(plain(&with(extra)).is_none(), "{extra}");
    }
    for first in [
        "HEAD / HTTP/1.1",
        "POST / HTTP/1.1",
        "GET / HTTP/1.0",
        "GET http://a.example/ HTTP/1.1",
        "GET * HTTP/1.1",
    ] {
        assert!(
            plain(&head(&[first, "Host: a.example"])).is_none(),
            "{first}"
        );
    }
    for host in ["Host: ", "Host: u@a.example", "Host: a b"] {
        assert!(plain(&head(&["GET / HTTP/1.1", host])).is_none(), "{host}");
    }
    assert!(plain(&head(&["GET / HTTP/1.1"])).is_none(), "no Host");
    let mut pipelined = head(&base);
    pipelined.extend_from_slice(b"GET /next HTTP/1.1\r\n");
    assert!(plain(&pipelined).is_none());
}

#[test]
fn a_glance_finds_the_target_and_host_of_a_get() {
    let h = head(&["GET /a?b HTTP/1.1", "Accept: */*", "HOST:  a.example:80 "]);
    assert_eq!(glance(&h), Some(("/a?b", "a.example:80")));
    assert_eq!(glance(&head(&["POST /a HTTP/1.1", "Host: a"])), None);
    assert_eq!(glance(&head(&["GET /a HTTP/1.1", "X-Host: a"])), None);
}

#[test]
fn decimals_are_written_without_fmt() {
    for n in [0u64, 7, 10, 99, 3600, u64::MAX] {
        let mut b = BytesMut::new();
        push_decimal(&mut b, n);
        assert_eq!(b.as_ref(), n.to_string().as_bytes());
    }
}

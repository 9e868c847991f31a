//! Strict HTTP/1.1 request framing (RFC 9112 §6.3, §3.2, §5): the checks a parsed request
//! header must pass before anything is forwarded or looked up, so no two parsers (sightline's
//! and an origin's) can disagree about where a request ends or which host it is for.
//!
//! A pure function over the header; the caller answers 400 and closes. Some malformed input
//! (whitespace before a colon, bare CR in a value, HTTP/0.9 lines) is refused by pingora's
//! parser before sightline sees it; the checks here still cover it, for parsers that let it by.

use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::Version;
use pingora_http::RequestHeader;

use super::policy;
use crate::telemetry::reject::Reason;

/// Checks `req` received over `scheme`; `Err` names why it must be refused. `raw` is the
/// header as received (HTTP/1): pingora drops `Content-Length` from the parsed header when
/// `Transfer-Encoding` is also present, so only the raw bytes still show both.
pub fn check(req: &RequestHeader, raw: Option<&[u8]>, scheme: &str) -> Result<(), Reason> {
    if req.version == Version::HTTP_09 {
        return Err(Reason::Http09);
    }
    // One pass over the fields: the values' bytes, and how many of the framing fields there are.
    let (mut te_count, mut cl_count, mut host_count) = (0, 0, 0);
    let mut first_cl = None;
    for (name, v) in req.headers.iter() {
        if memchr::memchr3(0, b'\r', b'\n', v.as_bytes()).is_some() {
            return Err(Reason::BadHeaderValue);
        }
        if name == TRANSFER_ENCODING {
            te_count += 1;
        } else if name == CONTENT_LENGTH {
            cl_count += 1;
            first_cl.get_or_insert(v);
        } else if name == HOST {
            host_count += 1;
        }
    }
    let has_te = te_count > 0;
    if let Some(first) = first_cl {
        if has_te {
            return Err(Reason::ClAndTe);
        }
        let digits = first.as_bytes();
        if cl_count > 1 || digits.is_empty() || digits.len() > 19 {
            return Err(Reason::BadContentLength);
        }
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(Reason::BadContentLength);
        }
    }
    if has_te && raw.is_some_and(declares_content_length) {
        return Err(Reason::ClAndTe);
    }
    if has_te {
        if req.version == Version::HTTP_10 {
            return Err(Reason::BadTransferEncoding);
        }
        let mut codings = req
            .headers
            .get_all(TRANSFER_ENCODING)
            .iter()
            .flat_map(|v| v.as_bytes().split(|&b| b == b','))
            .map(|c| c.trim_ascii())
            .filter(|c| !c.is_empty())
            .peekable();
        let mut last_chunked = false;
        while let Some(c) = codings.next() {
            let chunked = c.eq_ignore_ascii_case(b"chunked");
            // `chunked` only once, and only as the final coding (RFC 9112 §6.1).
            if chunked && codings.peek().is_some() {
                return Err(Reason::BadTransferEncoding);
            }
            last_chunked = chunked;
        }
        if !last_chunked {
            return Err(Reason::BadTransferEncoding);
        }
    }
    if host_count > 1 {
        return Err(Reason::BadHost);
    }
    let host = (host_count == 1).then(|| req.headers.get(HOST)).flatten();
    let host = match host {
        Some(h) => {
            let h = h.to_str().map_err(|_| Reason::BadHost)?;
            let ok = h.is_empty()
                || (h
                    .parse::<http::uri::Authority>()
                    .is_ok_and(|a| !a.as_str().contains('@')));
            if !ok {
                return Err(Reason::BadHost);
            }
            Some(h)
        }
        None if req.version == Version::HTTP_11 && req.uri.authority().is_none() => {
            return Err(Reason::BadHost);
        }
        None => None,
    };
    if let (Some(target), Some(host)) = (req.uri.authority(), host) {
        if target.as_str().contains('@')
            || policy::normalise_authority(scheme, target.as_str())
                != policy::normalise_authority(scheme, host)
        {
            return Err(Reason::AuthorityMismatch);
        }
    }
    Ok(())
}

/// Whether a raw request header has a `Content-Length` field line.
pub fn declares_content_length(raw: &[u8]) -> bool {
    const NAME: &[u8] = b"content-length";
    raw.split(|&b| b == b'\n').skip(1).any(|line| {
        line.len() > NAME.len()
            && line[..NAME.len()].eq_ignore_ascii_case(NAME)
            && matches!(line[NAME.len()], b':' | b' ' | b'\t')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(target: &str, headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build("POST", b"/", None).unwrap();
        r.set_uri(target.parse().unwrap());
        for (k, v) in headers {
            r.append_header(k.to_string(), *v).unwrap();
        }
        r
    }

    fn verdict(target: &str, headers: &[(&str, &str)]) -> Result<(), Reason> {
        check(&req(target, headers), None, "http")
    }

    const H: (&str, &str) = ("host", "a.example");

    #[test]
    fn plain_requests_pass() {
        assert_eq!(verdict("/", &[H]), Ok(()));
        assert_eq!(verdict("/", &[H, ("content-length", "12")]), Ok(()));
        assert_eq!(
            verdict("/", &[H, ("transfer-encoding", "gzip, Chunked")]),
            Ok(())
        );
        assert_eq!(verdict("http://A.example:80/x", &[H]), Ok(()));
        assert_eq!(verdict("http://a.example/x", &[]), Ok(()));
    }

    #[test]
    fn ambiguous_bodies_are_refused() {
        let te = ("transfer-encoding", "chunked");
        assert_eq!(
            verdict("/", &[H, ("content-length", "3"), te]),
            Err(Reason::ClAndTe)
        );
        for cl in ["3, 3", "-1", "+3", "0x3", "", " 3a", "99999999999999999999"] {
            assert_eq!(
                verdict("/", &[H, ("content-length", cl)]),
                Err(Reason::BadContentLength),
                "{cl:?}"
            );
        }
        let two = [H, ("content-length", "3"), ("content-length", "3")];
        assert_eq!(verdict("/", &two), Err(Reason::BadContentLength));
        for te in [
            "xchunked",
            "chunked, identity",
            "chunked, chunked",
            "identity",
            ",",
        ] {
            assert_eq!(
                verdict("/", &[H, ("transfer-encoding", te)]),
                Err(Reason::BadTransferEncoding),
                "{te:?}"
            );
        }
        let raw = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(
            check(&req("/", &[H, te]), Some(raw), "http"),
            Err(Reason::ClAndTe)
        );
        assert!(!declares_content_length(
            b"POST / HTTP/1.1\r\nX-Content-Length: 3\r\n"
        ));
        let mut r = req("/", &[H, te]);
        r.set_version(Version::HTTP_10);
        assert_eq!(check(&r, None, "http"), Err(Reason::BadTransferEncoding));
    }

    #[test]
    fn hosts_must_be_single_valid_and_agree() {
        assert_eq!(verdict("/", &[]), Err(Reason::BadHost));
        assert_eq!(verdict("/", &[H, H]), Err(Reason::BadHost));
        assert_eq!(verdict("/", &[("host", "a b")]), Err(Reason::BadHost));
        assert_eq!(
            verdict("/", &[("host", "u@a.example")]),
            Err(Reason::BadHost)
        );
        assert_eq!(
            verdict("http://b.example/", &[H]),
            Err(Reason::AuthorityMismatch)
        );
        assert_eq!(
            verdict("http://a.example:81/", &[H]),
            Err(Reason::AuthorityMismatch)
        );
        let mut r = req("/", &[]);
        r.set_version(Version::HTTP_10);
        assert_eq!(check(&r, None, "http"), Ok(()));
    }

    #[test]
    fn http09_is_refused() {
        let mut r = req("/", &[H]);
        r.set_version(Version::HTTP_09);
        assert_eq!(check(&r, None, "http"), Err(Reason::Http09));
    }
}

//! Admission: strict framing and `proxy.server_names`, checked before any cache lookup or
//! upstream connection.

use pingora_error::Result;
use pingora_proxy::Session;

use super::errors::http_error;
use super::{framing, headers, policy};

/// Strict framing and `proxy.server_names`: refusals are counted (not logged) and answered
/// before any cache lookup or upstream connection.
pub(super) fn admit(session: &Session, server_names: &[String]) -> Result<()> {
    let req = session.req_header();
    let scheme = headers::scheme_of(session);
    // The raw header is only needed (and only cloned, a refcount) when TE is present.
    let raw = req
        .headers
        .contains_key(http::header::TRANSFER_ENCODING)
        .then(|| {
            session
                .as_downstream()
                .as_http1()
                .map(|h1| h1.get_headers_raw_bytes())
        })
        .flatten();
    let verdict = framing::check(req, raw.as_deref(), scheme).and_then(|()| {
        let names = server_names;
        if names.is_empty() {
            return Ok(());
        }
        let authority = policy::normalise_authority(scheme, policy::request_authority(req));
        if server_name_matches(names, policy::host_of(&authority)) {
            Ok(())
        } else {
            Err(crate::telemetry::reject::Reason::MisdirectedHost)
        }
    });
    verdict.map_err(|reason| {
        crate::telemetry::reject::count(reason);
        log::debug!("refused request: {}", reason.as_str());
        http_error(reason.status(), reason.as_str())
    })
}

/// Whether `host` (lower-case, no port) is one of `names` (`*.example.com` matches any
/// subdomain of example.com, not example.com itself).
pub fn server_name_matches(names: &[String], host: &str) -> bool {
    names.iter().any(|n| match n.strip_prefix("*.") {
        Some(base) => host
            .strip_suffix(base)
            .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
        None => n == host,
    })
}

//! Requests refused before reaching an origin or the cache (bad framing, misdirected host),
//! counted per reason with process-wide relaxed atomics: a refusal is client-caused, so it is
//! counted here (and shown in `/metrics`, `/api/summary`, OTel) rather than logged at ERROR.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Both `Content-Length` and `Transfer-Encoding`.
    ClAndTe,
    /// More than one, or a non-numeric, `Content-Length`.
    BadContentLength,
    /// `Transfer-Encoding` whose final coding is not exactly `chunked`, or on HTTP/1.0.
    BadTransferEncoding,
    /// NUL, CR or LF in a header value.
    BadHeaderValue,
    /// An HTTP/0.9 request line.
    Http09,
    /// An absolute-form target whose authority disagrees with `Host`.
    AuthorityMismatch,
    /// A missing (HTTP/1.1), repeated or malformed `Host`.
    BadHost,
    /// A host not in `proxy.server_names` (421).
    MisdirectedHost,
}

impl Reason {
    /// Every reason, in the order counters are exported.
    pub const ALL: [Reason; 8] = [
        Reason::ClAndTe,
        Reason::BadContentLength,
        Reason::BadTransferEncoding,
        Reason::BadHeaderValue,
        Reason::Http09,
        Reason::AuthorityMismatch,
        Reason::BadHost,
        Reason::MisdirectedHost,
    ];

    /// The `reason` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::ClAndTe => "cl_and_te",
            Reason::BadContentLength => "bad_content_length",
            Reason::BadTransferEncoding => "bad_transfer_encoding",
            Reason::BadHeaderValue => "bad_header_value",
            Reason::Http09 => "http09",
            Reason::AuthorityMismatch => "authority_mismatch",
            Reason::BadHost => "bad_host",
            Reason::MisdirectedHost => "misdirected_host",
        }
    }

    /// The status the client is answered with.
    pub fn status(self) -> u16 {
        match self {
            Reason::MisdirectedHost => 421,
            _ => 400,
        }
    }
}

static COUNTS: [AtomicU64; Reason::ALL.len()] = [const { AtomicU64::new(0) }; Reason::ALL.len()];

/// Counts one refusal.
pub fn count(reason: Reason) {
    COUNTS[reason as usize].fetch_add(1, Relaxed);
}

/// Refusals since start for one reason.
pub fn get(reason: Reason) -> u64 {
    COUNTS[reason as usize].load(Relaxed)
}

/// Refusals since start, by reason label (every reason present, zeros included).
pub fn snapshot() -> BTreeMap<String, u64> {
    Reason::ALL
        .iter()
        .map(|&r| (r.as_str().to_owned(), get(r)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_reason() {
        let before = get(Reason::Http09);
        count(Reason::Http09);
        assert_eq!(get(Reason::Http09), before + 1);
        let s = snapshot();
        assert_eq!(s.len(), Reason::ALL.len());
        assert!(s["http09"] > before);
        assert_eq!(Reason::MisdirectedHost.status(), 421);
    }
}

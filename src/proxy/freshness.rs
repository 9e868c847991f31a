//! Age and freshness arithmetic for a shared cache (RFC 9111 §4.2), as pure functions of a
//! response header and the times it was requested and received.
//!
//! The result is stated in pingora-cache's terms: an *epoch* (the moment the response was
//! current at the origin, `received − corrected_initial_age`) set as the meta's epoch override,
//! and `fresh_until = epoch + freshness_lifetime`. pingora's `CacheMeta::age()` is
//! `now − epoch`, so every `Age` it writes on a hit is RFC 9111's `current_age`; its
//! freshness test `fresh_until ≥ now` is `freshness_lifetime > current_age`; and its serve-stale
//! windows, measured from `fresh_until`, are RFC 5861's "stale for up to N seconds".

use std::time::{Duration, SystemTime};

use http::header::{AGE, DATE, EXPIRES};
use http::{HeaderMap, HeaderValue};

use super::directives::{delta_seconds, Directives, Source};

/// When a response arrived, and how long after its request was sent.
#[derive(Debug, Clone, Copy)]
pub struct Arrival {
    /// `response_time` (RFC 9111 §4.2.3).
    pub at: SystemTime,
    /// `response_time − request_time`.
    pub delay: Duration,
}

impl Arrival {
    /// A response received now, with no measured delay.
    pub fn now() -> Self {
        Arrival {
            at: SystemTime::now(),
            delay: Duration::ZERO,
        }
    }
}

/// The freshness facts pingora-cache's `CacheMeta` is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    /// When the response was current at the origin: `age()` on later hits counts from here.
    pub epoch: SystemTime,
    /// Fresh while `now ≤ fresh_until`.
    pub fresh_until: SystemTime,
    /// Seconds a stale copy may be served while it is revalidated (0: never).
    pub stale_while_revalidate: u32,
    /// Seconds a stale copy may be served when the origin fails (0: never).
    pub stale_if_error: u32,
}

/// The `Age` value a cache uses (RFC 9111 §5.1): the first member of the (possibly repeated)
/// field; `None` when absent or when that member is not a non-negative integer, which the RFC
/// says to ignore. Values past 2^31 are 2^31 (§1.2.2).
pub fn age_value(headers: &HeaderMap) -> Option<u32> {
    let first = headers.get_all(AGE).iter().next()?;
    let member = first.as_bytes().split(|&b| b == b',').next()?.trim_ascii();
    delta_seconds(member)
}

/// An HTTP-date (RFC 9110 §5.6.7); `None` when it does not parse.
pub fn http_date(v: &HeaderValue) -> Option<SystemTime> {
    httpdate::parse_http_date(v.to_str().ok()?).ok()
}

/// The response's `Date`, when there is exactly one valid one.
pub fn date_value(headers: &HeaderMap) -> Option<SystemTime> {
    let mut all = headers.get_all(DATE).iter();
    let first = all.next()?;
    if all.next().is_some() {
        return None;
    }
    http_date(first)
}

/// `corrected_initial_age` (RFC 9111 §4.2.3): the larger of the apparent age (`response_time −
/// Date`, never negative) and the received `Age` plus the response delay.
///
/// The apparent age is taken in whole seconds: `Date` has one-second resolution, so the
/// fraction of the current second at arrival says nothing about the response's age (counting
/// it would age every response by up to a second, and make `max-age=1` stale on arrival).
pub fn corrected_initial_age(
    age: Option<u32>,
    date: Option<SystemTime>,
    arrival: Arrival,
) -> Duration {
    let apparent = date
        .and_then(|d| arrival.at.duration_since(d).ok())
        .map(|d| Duration::from_secs(d.as_secs()))
        .unwrap_or_default();
    let corrected_age_value = Duration::from_secs(u64::from(age.unwrap_or(0))) + arrival.delay;
    apparent.max(corrected_age_value)
}

/// The explicit freshness lifetime (RFC 9111 §4.2.1): `s-maxage`, else `max-age`, else (only
/// when the directives came from `Cache-Control`) `Expires − Date`. An invalid or repeated
/// `Expires`, or one earlier than `Date`, gives 0 (stale). `None`: nothing explicit.
pub fn explicit_lifetime(
    d: &Directives,
    source: Source,
    headers: &HeaderMap,
    date: Option<SystemTime>,
    arrival: Arrival,
) -> Option<Duration> {
    if let Some(s) = d.s_maxage.or(d.max_age) {
        return Some(Duration::from_secs(u64::from(s)));
    }
    if source == Source::Targeted {
        return None;
    }
    let mut all = headers.get_all(EXPIRES).iter();
    let first = all.next()?;
    if all.next().is_some() {
        return Some(Duration::ZERO);
    }
    let Some(expires) = http_date(first) else {
        return Some(Duration::ZERO);
    };
    // Without a valid Date, the time of receipt stands in for it (RFC 9110 §6.6.1).
    let date = date.unwrap_or(arrival.at);
    Some(expires.duration_since(date).unwrap_or_default())
}

/// Puts the pieces together. `lifetime` is the explicit or heuristic lifetime (`no-cache`
/// makes it 0); serving stale is allowed only when the directives permit it.
pub fn freshness(
    d: &Directives,
    lifetime: Duration,
    initial_age: Duration,
    arrival: Arrival,
) -> Freshness {
    let lifetime = if d.no_cache { Duration::ZERO } else { lifetime };
    let epoch = arrival
        .at
        .checked_sub(initial_age)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let mut fresh_until = epoch.checked_add(lifetime).unwrap_or(arrival.at);
    if lifetime <= initial_age {
        // Already stale on arrival: make sure no later instant counts as fresh
        // (pingora tests `fresh_until >= now`, RFC 9111 `lifetime > age`).
        fresh_until = fresh_until
            .min(arrival.at)
            .checked_sub(Duration::from_millis(1))
            .unwrap_or(SystemTime::UNIX_EPOCH);
    }
    let (swr, sie) = if d.may_serve_stale() {
        (
            d.stale_while_revalidate.unwrap_or(0),
            d.stale_if_error.unwrap_or(0),
        )
    } else {
        (0, 0)
    };
    Freshness {
        epoch,
        fresh_until,
        stale_while_revalidate: swr,
        stale_if_error: sie,
    }
}

#[cfg(test)]
#[path = "freshness_tests.rs"]
mod tests;

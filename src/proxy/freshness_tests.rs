//! Tests of the age and freshness arithmetic (RFC 9111 §4.2) on fixed clocks.

use super::*;
use crate::proxy::directives::{for_response, DELTA_MAX};
use http::header::HeaderName;
use std::time::UNIX_EPOCH;

/// A fixed "now" for every test: 2024-01-01T00:00:00Z.
fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_704_067_200)
}

fn at(offset: i64) -> SystemTime {
    if offset >= 0 {
        t0() + Duration::from_secs(offset as u64)
    } else {
        t0() - Duration::from_secs(offset.unsigned_abs())
    }
}

fn date(offset: i64) -> String {
    httpdate::fmt_http_date(at(offset))
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

fn arrival() -> Arrival {
    Arrival {
        at: t0(),
        delay: Duration::ZERO,
    }
}

/// (freshness, current age at arrival) for a response header received at t0.
fn evaluate(pairs: &[(&str, &str)]) -> (Freshness, Duration) {
    let h = headers(pairs);
    let (d, source) = for_response(&h);
    let date = date_value(&h);
    let lifetime = explicit_lifetime(&d, source, &h, date, arrival()).unwrap_or_default();
    let age = corrected_initial_age(age_value(&h), date, arrival());
    (freshness(&d, lifetime, age, arrival()), age)
}

fn fresh_at(f: &Freshness, offset: i64) -> bool {
    f.fresh_until >= at(offset)
}

#[test]
fn age_values_follow_section_5_1() {
    let age = |pairs: &[(&str, &str)]| age_value(&headers(pairs));
    assert_eq!(age(&[("age", "30")]), Some(30));
    assert_eq!(age(&[]), None);
    for invalid in ["1.5", "-1", "1a", "", "abc", " "] {
        assert_eq!(age(&[("age", invalid)]), None, "{invalid:?}");
    }
    // A list, on one line or two: the first member counts.
    assert_eq!(age(&[("age", "7200, 0")]), Some(7200));
    assert_eq!(age(&[("age", "0"), ("age", "7200")]), Some(0));
    assert_eq!(age(&[("age", "99999999999999999999")]), Some(DELTA_MAX));
}

#[test]
fn received_age_makes_a_response_older() {
    let (f, age) = evaluate(&[("cache-control", "max-age=3600"), ("age", "3600")]);
    assert_eq!(age, Duration::from_secs(3600));
    assert!(!fresh_at(&f, 0), "Age equal to max-age is already stale");
    let (f, _) = evaluate(&[("cache-control", "max-age=60"), ("age", "30")]);
    assert_eq!(f.epoch, at(-30));
    assert!(fresh_at(&f, 29) && !fresh_at(&f, 31));
    // An ignored Age leaves the full lifetime.
    let (f, _) = evaluate(&[("cache-control", "max-age=60"), ("age", "1a")]);
    assert!(fresh_at(&f, 59));
}

#[test]
fn apparent_age_from_a_slow_date_counts_and_a_fast_one_does_not() {
    let (_, age) = evaluate(&[("cache-control", "max-age=60"), ("date", &date(-100))]);
    assert_eq!(age, Duration::from_secs(100));
    let (_, age) = evaluate(&[("cache-control", "max-age=60"), ("date", &date(100))]);
    assert_eq!(age, Duration::ZERO);
    // The larger of apparent age and Age + response delay.
    let a = Arrival {
        at: t0(),
        delay: Duration::from_secs(2),
    };
    assert_eq!(
        corrected_initial_age(Some(5), Some(at(-3)), a),
        Duration::from_secs(7)
    );
    assert_eq!(
        corrected_initial_age(Some(1), Some(at(-9)), a),
        Duration::from_secs(9)
    );
    // Date has whole seconds: a response 0.9 s into the second it is dated is not 0.9 s old.
    let a = Arrival {
        at: t0() + Duration::from_millis(900),
        delay: Duration::from_millis(3),
    };
    assert_eq!(
        corrected_initial_age(None, Some(t0()), a),
        Duration::from_millis(3)
    );
}

#[test]
fn expires_counts_from_date_not_from_now() {
    // The origin's clock is an hour fast: Expires − Date is 10 s, not an hour and 10 s.
    let (f, _) = evaluate(&[("date", &date(3600)), ("expires", &date(3610))]);
    assert!(fresh_at(&f, 9) && !fresh_at(&f, 11));
    // Expires earlier than Date: stale on arrival, however far in the future.
    let (f, _) = evaluate(&[("date", &date(3600)), ("expires", &date(1800))]);
    assert!(!fresh_at(&f, 0));
    // Age beyond Expires − Date (cache-tests' freshness-expires-age-slow-date / -fast-date).
    let (f, _) = evaluate(&[("date", &date(-10)), ("expires", &date(10)), ("age", "25")]);
    assert!(!fresh_at(&f, 0));
    let (f, _) = evaluate(&[("date", &date(10)), ("expires", &date(20)), ("age", "15")]);
    assert!(!fresh_at(&f, 0));
}

#[test]
fn invalid_or_repeated_expires_is_stale_and_max_age_overrides_it() {
    for bad in [
        "0",
        "Thu, 18 Aug 2050 02:01:18 UTC",
        "Thu, 18 Aug 50 02:01:18 GMT",
    ] {
        let (f, _) = evaluate(&[("date", &date(0)), ("expires", bad)]);
        assert!(!fresh_at(&f, 0), "{bad:?}");
    }
    let (f, _) = evaluate(&[("expires", &date(100)), ("expires", &date(100))]);
    assert!(!fresh_at(&f, 0));
    let (f, _) = evaluate(&[("cache-control", "max-age=100"), ("expires", "0")]);
    assert!(fresh_at(&f, 99));
    // No valid Date: the time of receipt stands in.
    let (f, _) = evaluate(&[("date", "foo"), ("expires", &date(10))]);
    assert!(fresh_at(&f, 9) && !fresh_at(&f, 11));
}

#[test]
fn targeted_fields_ignore_expires_and_cache_control() {
    let (f, _) = evaluate(&[
        ("cdn-cache-control", "max-age=3600"),
        ("cache-control", "max-age=1"),
        ("expires", "0"),
    ]);
    assert!(fresh_at(&f, 3599));
    let h = headers(&[("cdn-cache-control", "foo"), ("expires", &date(100))]);
    let (d, s) = for_response(&h);
    assert_eq!(explicit_lifetime(&d, s, &h, None, arrival()), None);
    // Age counts against a targeted max-age too (cache-tests' cdn-max-age-age).
    let (f, _) = evaluate(&[("cdn-cache-control", "max-age=3600"), ("age", "7200")]);
    assert!(!fresh_at(&f, 0));
}

#[test]
fn s_maxage_wins_over_max_age() {
    let (f, _) = evaluate(&[("cache-control", "max-age=1000, s-maxage=10")]);
    assert!(fresh_at(&f, 9) && !fresh_at(&f, 11));
}

#[test]
fn stale_windows_run_from_the_end_of_freshness_unless_forbidden() {
    let (f, _) = evaluate(&[(
        "cache-control",
        "max-age=10, stale-while-revalidate=5, stale-if-error=20",
    )]);
    assert_eq!((f.stale_while_revalidate, f.stale_if_error), (5, 20));
    assert_eq!(f.fresh_until, at(10));
    for forbid in [
        "must-revalidate",
        "proxy-revalidate",
        "no-cache",
        "s-maxage=10",
    ] {
        let cc = format!("max-age=10, stale-while-revalidate=5, stale-if-error=20, {forbid}");
        let (f, _) = evaluate(&[("cache-control", &cc)]);
        assert_eq!(
            (f.stale_while_revalidate, f.stale_if_error),
            (0, 0),
            "{forbid}"
        );
    }
}

#[test]
fn no_cache_is_always_stale() {
    let (f, _) = evaluate(&[("cache-control", "max-age=3600, no-cache")]);
    assert!(!fresh_at(&f, 0));
}

//! Tests of the directive parsers: `Cache-Control` list syntax and the Structured Field
//! targeted fields, with the precedence between them.

use super::*;

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

fn cc(value: &str) -> Directives {
    parse_cache_control(headers(&[("cache-control", value)]).get_all("cache-control"))
}

fn targeted(value: &str) -> Option<Directives> {
    parse_targeted(headers(&[("cdn-cache-control", value)]).get_all("cdn-cache-control"))
}

#[test]
fn cache_control_basics() {
    let d = cc("public, max-age=60, s-maxage=30, stale-while-revalidate=5, stale-if-error=7");
    assert!(d.public);
    assert_eq!(d.max_age, Some(60));
    assert_eq!(d.s_maxage, Some(30));
    assert_eq!(d.stale_while_revalidate, Some(5));
    assert_eq!(d.stale_if_error, Some(7));
    let d = cc("No-Store, MUST-REVALIDATE,proxy-revalidate ,private,no-cache");
    assert!(d.no_store && d.must_revalidate && d.proxy_revalidate && d.private && d.no_cache);
}

#[test]
fn first_max_age_wins_and_invalid_values_are_stale() {
    assert_eq!(cc("max-age=1800, max-age=1").max_age, Some(1800));
    let two = headers(&[
        ("cache-control", "max-age=1"),
        ("cache-control", "max-age=9"),
    ]);
    assert_eq!(
        parse_cache_control(two.get_all("cache-control")).max_age,
        Some(1)
    );
    assert_eq!(cc("max-age=003600").max_age, Some(3600));
    assert_eq!(cc("max-age=\"3600\"").max_age, Some(3600));
    for invalid in [
        "max-age='3600'",
        "max-age=3600a",
        "max-age=a3600",
        "max-age=1.5",
    ] {
        assert_eq!(cc(invalid).max_age, Some(0), "{invalid}");
    }
    // Malformed members are skipped, not misread.
    assert_eq!(cc("max-age =3600").max_age, None);
    assert_eq!(cc("max-age= 3600").max_age, None);
    assert_eq!(cc("max-age=99999999999").max_age, Some(DELTA_MAX));
}

#[test]
fn quoted_strings_hide_their_content() {
    let d = cc("extension=\"max-age=3600, no-store\", max-age=1");
    assert_eq!(d.max_age, Some(1));
    assert!(!d.no_store);
    let d = cc("private=\"Set-Cookie, X-Secret\", no-cache=\"x-other\"");
    assert!(!d.private && !d.no_cache);
    let names: Vec<&str> = d.strip_fields.iter().map(|n| n.as_str()).collect();
    assert_eq!(names, ["set-cookie", "x-secret", "x-other"]);
}

#[test]
fn stale_is_forbidden_by_revalidation_directives() {
    assert!(cc("max-age=1, stale-while-revalidate=10").may_serve_stale());
    for d in [
        "must-revalidate",
        "proxy-revalidate",
        "no-cache",
        "s-maxage=5",
    ] {
        assert!(!cc(&format!("max-age=1, {d}")).may_serve_stale(), "{d}");
    }
}

#[test]
fn no_store_is_found_anywhere() {
    let h = headers(&[
        ("cache-control", "max-age=60"),
        ("cache-control", "NO-STORE"),
    ]);
    assert!(has_no_store(h.get_all("cache-control")));
    let h = headers(&[("cache-control", "x-no-store-ext, a=\"no-store\"")]);
    assert!(!has_no_store(h.get_all("cache-control")));
}

#[test]
fn targeted_fields_are_structured_dictionaries() {
    let d = targeted("max-age=3600, s-maxage=60, no-cache, private=\"x-a\"").unwrap();
    assert_eq!((d.max_age, d.s_maxage), (Some(3600), Some(60)));
    assert!(d.no_cache && !d.private);
    assert_eq!(d.strip_fields, [HeaderName::from_static("x-a")]);
    assert_eq!(
        targeted("max-age=99999999999").unwrap().max_age,
        Some(DELTA_MAX)
    );
    assert_eq!(targeted("foobar, max-age=5").unwrap().max_age, Some(5));
    assert!(!targeted("no-store=?0").unwrap().no_store);
    // Later duplicates replace earlier ones in a dictionary.
    assert_eq!(targeted("max-age=1, max-age=2").unwrap().max_age, Some(2));
}

#[test]
fn invalid_targeted_fields_are_ignored() {
    for bad in [
        "",
        "max-age=10000, &&&&&",
        "max-age=\"10000\"",
        "max-age =100",
        "max-age= 100",
        "MaX-aGe=3600",
        "max-age=-1",
        "max-age=1.5",
        "max-age=1,",
        "no-store=5",
    ] {
        assert_eq!(targeted(bad), None, "{bad:?}");
    }
}

#[test]
fn precedence_is_sightline_then_cdn_then_cache_control() {
    let h = headers(&[
        ("cache-control", "no-store"),
        ("cdn-cache-control", "max-age=20"),
        ("sightline-cache-control", "max-age=30"),
    ]);
    let (d, s) = for_response(&h);
    assert_eq!((d.max_age, s), (Some(30), Source::Targeted));
    let h = headers(&[
        ("cache-control", "no-store"),
        ("cdn-cache-control", "max-age=20"),
        ("sightline-cache-control", "max-age=\"bad\""),
    ]);
    assert_eq!(for_response(&h).0.max_age, Some(20));
    let h = headers(&[("cache-control", "max-age=5"), ("cdn-cache-control", "&")]);
    assert_eq!(for_response(&h), (cc("max-age=5"), Source::CacheControl));
}

#[test]
fn delta_seconds_overflow_is_two_to_the_31() {
    assert_eq!(delta_seconds(b"0"), Some(0));
    assert_eq!(delta_seconds(b"2147483647"), Some(2_147_483_647));
    assert_eq!(delta_seconds(b"2147483648"), Some(DELTA_MAX));
    assert_eq!(delta_seconds(b"184467440737095516150"), Some(DELTA_MAX));
    assert_eq!(delta_seconds(b""), None);
    assert_eq!(delta_seconds(b"-1"), None);
    assert_eq!(delta_seconds(b"1.5"), None);
}

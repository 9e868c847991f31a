use super::*;

fn resp(headers: &[(&str, &str)]) -> ResponseHeader {
    let mut r = ResponseHeader::build(200, None).unwrap();
    for (k, v) in headers {
        r.append_header(k.to_string(), *v).unwrap();
    }
    r
}

fn get() -> RequestHeader {
    RequestHeader::build("GET", b"/x?y=1", None).unwrap()
}

fn cacheable(r: RespCacheable) -> bool {
    matches!(r, RespCacheable::Cacheable(_))
}

#[test]
fn max_age_is_cacheable_and_no_store_is_not() {
    assert!(cacheable(response_cacheable(
        &get(),
        &resp(&[("cache-control", "max-age=30")])
    )));
    assert!(!cacheable(response_cacheable(
        &get(),
        &resp(&[("cache-control", "no-store")])
    )));
    assert!(!cacheable(response_cacheable(
        &get(),
        &resp(&[("cache-control", "private, max-age=30")])
    )));
}

#[test]
fn no_store_anywhere_in_the_directives_is_not_stored() {
    let h = [("cache-control", "public, max-age=60, NO-STORE")];
    assert!(!cacheable(response_cacheable(&get(), &resp(&h))));
    let h = [
        ("cache-control", "max-age=60"),
        ("cache-control", "no-store"),
    ];
    assert!(!cacheable(response_cacheable(&get(), &resp(&h))));
    let h = [("cache-control", "max-age=60, x-no-store-ext")];
    assert!(cacheable(response_cacheable(&get(), &resp(&h))));
}

#[test]
fn set_cookie_and_vary_star_are_not_stored() {
    let h = [("cache-control", "max-age=30"), ("set-cookie", "a=b")];
    assert!(!cacheable(response_cacheable(&get(), &resp(&h))));
    let h = [("cache-control", "max-age=30"), ("vary", "accept, *")];
    assert!(!cacheable(response_cacheable(&get(), &resp(&h))));
}

#[test]
fn authorization_needs_explicit_permission() {
    let mut req = get();
    req.insert_header("authorization", "Bearer x").unwrap();
    assert!(!cacheable(response_cacheable(
        &req,
        &resp(&[("cache-control", "max-age=30")])
    )));
    assert!(cacheable(response_cacheable(
        &req,
        &resp(&[("cache-control", "public, max-age=30")])
    )));
    assert!(cacheable(response_cacheable(
        &req,
        &resp(&[("cache-control", "s-maxage=30")])
    )));
}

#[test]
fn partial_content_and_requests_with_no_store_are_not_stored() {
    let mut r = resp(&[
        ("cache-control", "max-age=60"),
        ("content-range", "bytes 0-1/9"),
    ]);
    r.set_status(206).unwrap();
    assert!(!cacheable(response_cacheable(&get(), &r)));
    let mut req = get();
    req.insert_header("cache-control", "no-store").unwrap();
    let h = [("cache-control", "max-age=60")];
    assert!(!cacheable(response_cacheable(&req, &resp(&h))));
}

#[test]
fn the_meta_carries_the_received_age_and_drops_the_age_header() {
    let h = [("cache-control", "max-age=60"), ("age", "30")];
    let RespCacheable::Cacheable(meta) = response_cacheable(&get(), &resp(&h)) else {
        panic!("max-age=60 is cacheable");
    };
    assert_eq!(meta.age().as_secs(), 30);
    assert!(meta.headers().get("age").is_none());
    assert_eq!(meta.fresh_until(), meta.epoch() + Duration::from_secs(60));
}

#[test]
fn qualified_private_fields_are_not_stored() {
    let h = [
        ("cache-control", "max-age=60, private=\"x-user\""),
        ("x-user", "alice"),
        ("x-other", "kept"),
    ];
    let RespCacheable::Cacheable(meta) = response_cacheable(&get(), &resp(&h)) else {
        panic!("a qualified private is cacheable");
    };
    assert!(meta.headers().get("x-user").is_none());
    assert_eq!(meta.headers()["x-other"], "kept");
}

#[test]
fn the_streamed_key_hash_is_the_hash_of_the_built_key() {
    let cases = [
        ("http", "A.Example:80", "/x?y=%2f%zz%"),
        ("https", "user@b.example:443", ""),
        ("https", "b.example:8443", "no-slash"),
        ("http", "c.example:", "/%41%4a/%"),
        ("http", "[::1]:80", "/a%2"),
        ("http", "a/b%c", "/"),
    ];
    for (scheme, auth, target) in cases {
        let key = cache_key_for(scheme, auth, target);
        assert_eq!(
            key_hash(scheme, auth, target),
            key_hash_of(&key),
            "{}",
            String::from_utf8_lossy(&key)
        );
    }
    // Found by the cache_key fuzz target: the default-port check cut inside 'ƾ'.
    assert_eq!(cache_key_for("http", "ƾ8", "/"), "http://ƾ8/".as_bytes());
    let long = format!("{}.Example:8080", "Sub/Domain%".repeat(12));
    assert_eq!(
        key_hash("http", &long, "/x"),
        key_hash_of(&cache_key_for("http", &long, "/x"))
    );
    assert_ne!(
        key_hash("http", "a.example", "/x"),
        key_hash("http", "a.example", "/y")
    );
}

#[test]
fn key_covers_scheme_authority_and_target() {
    let mut r = get();
    r.insert_header("host", "A.Example:80").unwrap();
    assert_eq!(cache_key_bytes(&r, "http"), b"http://a.example/x?y=1");
    assert_eq!(cache_key_bytes(&r, "https"), b"https://a.example:80/x?y=1");
    let mut abs = get();
    abs.set_uri("http://B.example:8080/x?%2f".parse().unwrap());
    assert_eq!(
        cache_key_bytes(&abs, "http"),
        b"http://b.example:8080/x?%2F"
    );
    assert_eq!(target_of_key(b"http://b.example:8080/x?%2F"), b"/x?%2F");
    assert_eq!(target_of_key(b"/bare"), b"/bare");
}

#[test]
fn authorities_normalise() {
    assert_eq!(normalise_authority("http", "[::1]:80"), "[::1]");
    assert_eq!(normalise_authority("http", "x:"), "x");
    assert_eq!(normalise_authority("https", "x:443"), "x");
    assert_eq!(host_of("[::1]:8080"), "[::1]");
    assert_eq!(host_of("a.example:8080"), "a.example");
    assert_ne!(
        cache_key_for("http", "a/b", "/c"),
        cache_key_for("http", "a", "/b/c")
    );
}

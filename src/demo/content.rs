//! What the demo origins say: query-knob parsing, validators (ETag, Last-Modified) and the
//! deterministic bodies of `/`, `/api/items/{id}` and `/static/*`.
//!
//! Everything here is a pure function of its inputs, so every origin of a demo answers the same
//! path with the same bytes and validators: a cache in front sees one consistent resource no
//! matter which origin round-robin picked.

use std::fmt::Write as _;
use std::time::Duration;

use http::StatusCode;

/// Longest `?delay_ms=` honoured; larger values are capped to it.
pub const MAX_DELAY_MS: u64 = 60_000;

/// `Last-Modified` of every static asset: fixed, so all origins agree on it.
pub const STATIC_LAST_MODIFIED: &str = "Wed, 01 Jan 2025 00:00:00 GMT";

/// `Cache-Control` of `/static/*`.
pub const STATIC_CACHE_CONTROL: &str = "max-age=30";

/// `Cache-Control` of `/api/*`.
pub const API_CACHE_CONTROL: &str = "no-store";

/// The per-request knobs a client can set in the query string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DemoQuery {
    /// Extra wait before answering (`?delay_ms=`, capped at [`MAX_DELAY_MS`]).
    pub delay: Duration,
    /// Status to answer with instead of the route's own (`?status=`).
    pub status: Option<StatusCode>,
}

/// Why a query string was refused (answered 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// `delay_ms` was not a non-negative integer.
    #[error("delay_ms must be a whole number of milliseconds (got {0:?})")]
    BadDelay(String),
    /// `status` was not an integer in 100..=599.
    #[error("status must be an HTTP status code in 100..=599 (got {0:?})")]
    BadStatus(String),
}

/// Parses `delay_ms` and `status` out of a raw query string; other keys are ignored and the
/// last occurrence of a key wins.
pub fn parse_query(query: Option<&str>) -> Result<DemoQuery, QueryError> {
    let mut out = DemoQuery::default();
    for pair in query.unwrap_or("").split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "delay_ms" => {
                let ms: u64 = value
                    .parse()
                    .map_err(|_| QueryError::BadDelay(value.to_owned()))?;
                out.delay = Duration::from_millis(ms.min(MAX_DELAY_MS));
            }
            "status" => {
                let code = value
                    .parse::<u16>()
                    .ok()
                    .filter(|c| (100..=599).contains(c))
                    .and_then(|c| StatusCode::from_u16(c).ok())
                    .ok_or_else(|| QueryError::BadStatus(value.to_owned()))?;
                out.status = Some(code);
            }
            _ => {}
        }
    }
    Ok(out)
}

/// 64-bit FNV-1a: tiny, stable across builds and platforms (std's hasher is not).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The strong ETag of a static asset (quotes included), derived from its path only.
pub fn etag_for(path: &str) -> String {
    format!("\"sl-{:016x}\"", fnv1a(path.as_bytes()))
}

/// Whether an `If-None-Match` value matches `etag`: `*`, or any listed tag under the weak
/// comparison RFC 9110 §13.1.2 prescribes for this header (a `W/` prefix is ignored).
pub fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    let opaque = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    let want = opaque(etag);
    if_none_match.trim() == "*" || if_none_match.split(',').any(|t| opaque(t) == want)
}

/// `Content-Type` of a static asset, by extension. Never HTML: the body echoes the path.
pub fn content_type_for(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("css") => "text/css; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        _ => "text/plain; charset=utf-8",
    }
}

/// The body of a static asset: CSS, JavaScript or text by extension, 3–6 KiB, the same bytes
/// for the same path on every origin.
pub fn demo_body_for(path: &str) -> String {
    let seed = fnv1a(path.as_bytes());
    let target = 3072 + (seed % 3072) as usize;
    let kind = content_type_for(path);
    let mut body = String::with_capacity(target + 128);
    let mut i: u64 = 0;
    if kind.starts_with("text/css") {
        let _ = writeln!(body, "/* sightline demo stylesheet {path} */");
        while body.len() < target {
            let colour = (seed.rotate_left(i as u32 % 64) & 0xff_ffff) as u32;
            let _ = writeln!(
                body,
                ".card-{i} {{ margin: {}px {}px; color: #{colour:06x}; border-radius: {}px; }}",
                i % 8,
                (i * 3) % 16,
                i % 5
            );
            i += 1;
        }
    } else if kind.starts_with("text/javascript") {
        let _ = writeln!(body, "// sightline demo script {path}\n\"use strict\";");
        while body.len() < target {
            let k = (seed >> (i % 48)) % 97 + 1;
            let _ = writeln!(
                body,
                "export function step{i}(x) {{ return (x * {k} + {i}) % 1009; }}"
            );
            i += 1;
        }
    } else {
        let _ = writeln!(body, "sightline demo asset {path}");
        while body.len() < target {
            let _ = writeln!(
                body,
                "line {i:04}: the quick brown fox jumps over the lazy dog ({:08x})",
                seed.rotate_right(i as u32 % 64) as u32
            );
            i += 1;
        }
    }
    body
}

const ADJECTIVES: [&str; 8] = [
    "Walnut",
    "Brushed steel",
    "Linen",
    "Oak",
    "Ceramic",
    "Copper",
    "Recycled",
    "Matte",
];
const NOUNS: [&str; 8] = [
    "desk lamp",
    "notebook",
    "coffee mug",
    "backpack",
    "chair",
    "kettle",
    "planter",
    "clock",
];
const TAGS: [&str; 6] = ["home", "office", "gift", "new", "eco", "sale"];

/// The JSON body of `/api/items/{id}`: a plausible catalogue item, stable per id.
pub fn item_json(id: &str, served_by: &str) -> serde_json::Value {
    let h = fnv1a(id.as_bytes());
    let pick = |shift: u32, n: usize| ((h >> shift) as usize) % n;
    let id_value = id
        .parse::<u64>()
        .map(serde_json::Value::from)
        .unwrap_or_else(|_| serde_json::Value::from(id));
    let name = format!("{} {}", ADJECTIVES[pick(0, 8)], NOUNS[pick(8, 8)]);
    serde_json::json!({
        "id": id_value,
        "sku": format!("SL-{:08X}", h as u32),
        "name": name,
        "description": format!("{name}, made to last and shipped in plastic-free packaging."),
        "price": { "amount_cents": 499 + (h >> 16) % 20_000, "currency": "EUR" },
        "stock": (h >> 32) % 120,
        "rating": 3.0 + ((h >> 40) % 21) as f64 / 10.0,
        "tags": [TAGS[pick(48, 6)], TAGS[pick(52, 6)]],
        "updated_at": "2025-01-01T00:00:00Z",
        "served_by": served_by,
    })
}

/// Escapes text for HTML element content and attribute values.
fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The HTML of `/`.
pub fn index_html(name: &str) -> String {
    let name = html_escape(name);
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">\
         <title>sightline demo origin {name}</title>\
         <link rel=\"stylesheet\" href=\"/static/app.css\"></head>\n<body>\n\
         <h1>Demo origin <code>{name}</code></h1>\n\
         <p>This page is served by one of the demo origins behind sightline.</p>\n<ul>\n\
         <li><a href=\"/api/items/42\">/api/items/42</a> (JSON, not cacheable)</li>\n\
         <li><a href=\"/static/app.css\">/static/app.css</a> (cacheable for 30 s)</li>\n\
         <li><a href=\"/static/app.js\">/static/app.js</a></li>\n\
         <li><a href=\"/api/items/7?delay_ms=300\">?delay_ms=300</a> slows an answer, \
         <a href=\"/api/items/7?status=503\">?status=503</a> forces a status</li>\n\
         </ul>\n<script src=\"/static/app.js\" type=\"module\"></script>\n</body>\n</html>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_defaults_when_absent_or_unrelated() {
        assert_eq!(parse_query(None), Ok(DemoQuery::default()));
        assert_eq!(parse_query(Some("")), Ok(DemoQuery::default()));
        assert_eq!(parse_query(Some("a=1&b")), Ok(DemoQuery::default()));
    }

    #[test]
    fn query_reads_delay_and_status() {
        let q = parse_query(Some("x=1&delay_ms=250&status=503")).unwrap();
        assert_eq!(q.delay, Duration::from_millis(250));
        assert_eq!(q.status, Some(StatusCode::SERVICE_UNAVAILABLE));
        // The last occurrence wins.
        let q = parse_query(Some("status=200&status=404")).unwrap();
        assert_eq!(q.status, Some(StatusCode::NOT_FOUND));
    }

    #[test]
    fn query_caps_delay() {
        let q = parse_query(Some("delay_ms=999999999")).unwrap();
        assert_eq!(q.delay, Duration::from_millis(MAX_DELAY_MS));
    }

    #[test]
    fn query_rejects_bad_values() {
        for bad in ["delay_ms=", "delay_ms=-1", "delay_ms=1.5", "delay_ms"] {
            assert!(
                matches!(parse_query(Some(bad)), Err(QueryError::BadDelay(_))),
                "{bad}"
            );
        }
        for bad in [
            "status=99",
            "status=600",
            "status=abc",
            "status=",
            "status=70000",
        ] {
            assert!(
                matches!(parse_query(Some(bad)), Err(QueryError::BadStatus(_))),
                "{bad}"
            );
        }
        assert!(parse_query(Some("status=100")).is_ok());
        assert!(parse_query(Some("status=599")).is_ok());
    }

    #[test]
    fn etag_is_strong_stable_and_per_path() {
        let a = etag_for("/static/app.css");
        assert!(a.starts_with('"') && a.ends_with('"') && !a.starts_with("W/"));
        assert_eq!(a, etag_for("/static/app.css"));
        assert_ne!(a, etag_for("/static/app.js"));
    }

    #[test]
    fn if_none_match_comparison() {
        let tag = etag_for("/static/a.css");
        assert!(etag_matches(&tag, &tag));
        assert!(etag_matches("*", &tag));
        assert!(etag_matches(&format!("W/{tag}"), &tag));
        assert!(etag_matches(&format!("\"other\", {tag}"), &tag));
        assert!(!etag_matches("\"other\"", &tag));
        assert!(!etag_matches(&etag_for("/static/b.css"), &tag));
        assert!(!etag_matches("", &tag));
    }

    #[test]
    fn bodies_are_deterministic_sized_and_typed() {
        for path in [
            "/static/app.css",
            "/static/app.js",
            "/static/readme.txt",
            "/static/x",
        ] {
            let body = demo_body_for(path);
            assert_eq!(body, demo_body_for(path));
            assert!((3072..6300).contains(&body.len()), "{path}: {}", body.len());
        }
        assert!(demo_body_for("/static/app.css").contains(".card-0 {"));
        assert!(demo_body_for("/static/app.js").contains("export function step0"));
        assert_eq!(
            content_type_for("/static/a.html"),
            "text/plain; charset=utf-8"
        );
    }

    #[test]
    fn items_are_stable_per_id() {
        let a = item_json("42", "o1");
        assert_eq!(a["id"], 42);
        assert_eq!(a["name"], item_json("42", "o2")["name"]);
        assert_eq!(item_json("abc", "o1")["id"], "abc");
        assert_eq!(a["served_by"], "o1");
    }

    #[test]
    fn index_escapes_the_name() {
        assert!(index_html("<b>").contains("&lt;b&gt;"));
    }
}

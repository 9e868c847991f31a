//! Response cache directives: `Cache-Control` (RFC 9111 §5.2, list syntax) and the targeted
//! fields `Sightline-Cache-Control` and `CDN-Cache-Control` (RFC 9213, Structured Field
//! dictionaries), parsed into the few facts a shared cache acts on.
//!
//! sightline parses these itself rather than through pingora-cache's `CacheControl`: that
//! parser is regex-based (about 1 µs a response), treats invalid `max-age` values as absent
//! (RFC 9111 §4.2.1 encourages treating them as stale) and knows no Structured Fields, so it
//! cannot tell a valid targeted field from one RFC 9213 says to ignore.

use http::header::{GetAll, HeaderName};
use http::{HeaderMap, HeaderValue};

use super::sf::{self, is_tchar};

/// `delta-seconds` overflow value (RFC 9111 §1.2.2: "2147483648 (2^31)").
pub const DELTA_MAX: u32 = 1 << 31;

/// `Sightline-Cache-Control`: the targeted field aimed at sightline alone (RFC 9213 §2).
pub const SIGHTLINE_CACHE_CONTROL: HeaderName = HeaderName::from_static("sightline-cache-control");
/// `CDN-Cache-Control` (RFC 9213 §3).
pub const CDN_CACHE_CONTROL: HeaderName = HeaderName::from_static("cdn-cache-control");

/// What one directives field says to a shared cache.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Directives {
    /// `no-store`.
    pub no_store: bool,
    /// Unqualified `no-cache`: store, but revalidate before every reuse.
    pub no_cache: bool,
    /// Unqualified `private`: a shared cache must not store the response.
    pub private: bool,
    /// `public`.
    pub public: bool,
    /// `must-revalidate`.
    pub must_revalidate: bool,
    /// `proxy-revalidate`.
    pub proxy_revalidate: bool,
    /// `max-age` (first occurrence; an invalid value is `Some(0)`: stale).
    pub max_age: Option<u32>,
    /// `s-maxage` (as `max_age`).
    pub s_maxage: Option<u32>,
    /// `stale-while-revalidate` (RFC 5861 §3); invalid values are ignored.
    pub stale_while_revalidate: Option<u32>,
    /// `stale-if-error` (RFC 5861 §4); invalid values are ignored.
    pub stale_if_error: Option<u32>,
    /// Fields named by qualified `private="…"` / `no-cache="…"`: not stored.
    pub strip_fields: Vec<HeaderName>,
}

impl Directives {
    /// Whether a stale copy may ever be served (RFC 9111 §4.2.4: `no-cache`, `must-revalidate`,
    /// and for a shared cache `proxy-revalidate` and `s-maxage`, forbid it).
    pub fn may_serve_stale(&self) -> bool {
        !(self.no_cache || self.must_revalidate || self.proxy_revalidate || self.s_maxage.is_some())
    }

    /// Whether a response to a request with `Authorization` may be stored (RFC 9111 §3.5).
    pub fn allows_authorized(&self) -> bool {
        self.public || self.must_revalidate || self.s_maxage.is_some()
    }
}

/// Which field the directives came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A targeted field: `Cache-Control` and `Expires` are ignored (RFC 9213 §2.2).
    Targeted,
    /// `Cache-Control` (or nothing at all).
    CacheControl,
}

/// The directives this cache follows for a response: the first valid, non-empty targeted field
/// in the order `Sightline-Cache-Control`, `CDN-Cache-Control`, else `Cache-Control`.
pub fn for_response(headers: &HeaderMap) -> (Directives, Source) {
    for name in [&SIGHTLINE_CACHE_CONTROL, &CDN_CACHE_CONTROL] {
        if headers.contains_key(name) {
            if let Some(d) = parse_targeted(headers.get_all(name)) {
                return (d, Source::Targeted);
            }
        }
    }
    (
        parse_cache_control(headers.get_all(http::header::CACHE_CONTROL)),
        Source::CacheControl,
    )
}

/// Whether a `Cache-Control` field contains `no-store` (request or response).
pub fn has_no_store(values: GetAll<'_, HeaderValue>) -> bool {
    values.iter().any(|v| {
        let mut found = false;
        for_each_directive(v.as_bytes(), |name, _| {
            found |= name.eq_ignore_ascii_case(b"no-store");
        });
        found
    })
}

/// Parses `Cache-Control` field lines (RFC 9111 §5.2: comma-separated `token [ "=" ( token /
/// quoted-string ) ]`, names case-insensitive). The first occurrence of a directive wins.
pub fn parse_cache_control(values: GetAll<'_, HeaderValue>) -> Directives {
    let mut d = Directives::default();
    let mut seen = Seen::default();
    for line in values.iter() {
        for_each_directive(line.as_bytes(), |name, value| {
            apply_list(&mut d, &mut seen, name, value);
        });
    }
    d
}

/// Which valued directives were already seen (first occurrence wins).
#[derive(Default)]
struct Seen {
    max_age: bool,
    s_maxage: bool,
    swr: bool,
    sie: bool,
}

/// A directive value: absent, a token, or the unescaped content of a quoted-string.
enum Value<'a> {
    None,
    Token(&'a [u8]),
    Quoted(Vec<u8>),
}

impl Value<'_> {
    fn bytes(&self) -> Option<&[u8]> {
        match self {
            Value::None => None,
            Value::Token(t) => Some(t),
            Value::Quoted(q) => Some(q),
        }
    }
}

fn apply_list(d: &mut Directives, seen: &mut Seen, name: &[u8], value: Value<'_>) {
    let lower = |s: &str| name.eq_ignore_ascii_case(s.as_bytes());
    let seconds = |v: &Value<'_>| v.bytes().and_then(delta_seconds);
    if lower("no-store") {
        d.no_store = true;
    } else if lower("no-cache") {
        match value.bytes() {
            None => d.no_cache = true,
            Some(list) => push_field_names(&mut d.strip_fields, list),
        }
    } else if lower("private") {
        match value.bytes() {
            None => d.private = true,
            Some(list) => push_field_names(&mut d.strip_fields, list),
        }
    } else if lower("public") {
        d.public = true;
    } else if lower("must-revalidate") {
        d.must_revalidate = true;
    } else if lower("proxy-revalidate") {
        d.proxy_revalidate = true;
    } else if lower("max-age") {
        if !std::mem::replace(&mut seen.max_age, true) {
            d.max_age = Some(seconds(&value).unwrap_or(0));
        }
    } else if lower("s-maxage") {
        if !std::mem::replace(&mut seen.s_maxage, true) {
            d.s_maxage = Some(seconds(&value).unwrap_or(0));
        }
    } else if lower("stale-while-revalidate") {
        if !std::mem::replace(&mut seen.swr, true) {
            d.stale_while_revalidate = seconds(&value);
        }
    } else if lower("stale-if-error") && !std::mem::replace(&mut seen.sie, true) {
        d.stale_if_error = seconds(&value);
    }
}

fn push_field_names(out: &mut Vec<HeaderName>, list: &[u8]) {
    for name in list.split(|&b| b == b',') {
        if let Ok(h) = HeaderName::from_bytes(name.trim_ascii()) {
            out.push(h);
        }
    }
}

/// `delta-seconds = 1*DIGIT` (RFC 9111 §1.2.2); values past 2^31 are 2^31.
pub fn delta_seconds(v: &[u8]) -> Option<u32> {
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut n: u64 = 0;
    for &b in v {
        n = n * 10 + u64::from(b - b'0');
        if n >= u64::from(DELTA_MAX) {
            return Some(DELTA_MAX);
        }
    }
    Some(n as u32)
}

/// Calls `f` for each well-formed directive of one `Cache-Control` line; malformed members
/// (no token, garbage after the value) are skipped up to the next comma outside quotes.
fn for_each_directive<'a>(line: &'a [u8], mut f: impl FnMut(&'a [u8], Value<'a>)) {
    let mut i = 0;
    let n = line.len();
    while i < n {
        while i < n && matches!(line[i], b' ' | b'\t' | b',') {
            i += 1;
        }
        let start = i;
        while i < n && is_tchar(line[i]) {
            i += 1;
        }
        let name = &line[start..i];
        let mut value = Value::None;
        let mut ok = !name.is_empty();
        if ok && i < n && line[i] == b'=' {
            i += 1;
            if i < n && line[i] == b'"' {
                match quoted(line, i) {
                    Some((q, next)) => {
                        value = Value::Quoted(q);
                        i = next;
                    }
                    None => ok = false,
                }
            } else {
                let vs = i;
                while i < n && is_tchar(line[i]) {
                    i += 1;
                }
                value = Value::Token(&line[vs..i]);
            }
        }
        while i < n && matches!(line[i], b' ' | b'\t') {
            i += 1;
        }
        if i < n && line[i] != b',' {
            ok = false;
            i = skip_member(line, i);
        }
        if ok {
            f(name, value);
        }
    }
}

/// The unescaped content of the quoted-string starting at `line[at] == '"'`, and the index after it.
fn quoted(line: &[u8], at: usize) -> Option<(Vec<u8>, usize)> {
    let mut out = Vec::new();
    let mut i = at + 1;
    while i < line.len() {
        match line[i] {
            b'"' => return Some((out, i + 1)),
            b'\\' if i + 1 < line.len() => {
                out.push(line[i + 1]);
                i += 2;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    None
}

/// Index of the next comma outside a quoted-string (or the end).
fn skip_member(line: &[u8], mut i: usize) -> usize {
    let mut in_quotes = false;
    while i < line.len() {
        match line[i] {
            b'"' => in_quotes = !in_quotes,
            b'\\' if in_quotes => i += 1,
            b',' if !in_quotes => return i,
            _ => {}
        }
        i += 1;
    }
    i
}

/// Parses a targeted field (RFC 9213 §2.1: a Structured Field Dictionary). `None` when the
/// field is empty, is not a valid dictionary, or gives a known directive a value of the wrong
/// type: RFC 9213 says such a field is ignored, so `Cache-Control` applies instead.
pub fn parse_targeted(values: GetAll<'_, HeaderValue>) -> Option<Directives> {
    let dict = sf::parse_dictionary(values)?;
    if dict.is_empty() {
        return None;
    }
    let mut d = Directives::default();
    for (key, item) in &dict {
        let flag = || match item {
            sf::Item::Boolean(b) => Some(*b),
            _ => None,
        };
        let secs = || match item {
            sf::Item::Integer(n) if *n >= 0 => Some((*n).min(i64::from(DELTA_MAX)) as u32),
            _ => None,
        };
        match key.as_str() {
            "no-store" => d.no_store = flag()?,
            "public" => d.public = flag()?,
            "must-revalidate" => d.must_revalidate = flag()?,
            "proxy-revalidate" => d.proxy_revalidate = flag()?,
            "no-cache" | "private" => {
                let whole = match item {
                    sf::Item::Boolean(b) => *b,
                    sf::Item::String(list) => {
                        push_field_names(&mut d.strip_fields, list.as_bytes());
                        false
                    }
                    _ => return None,
                };
                if key == "no-cache" {
                    d.no_cache = whole;
                } else {
                    d.private = whole;
                }
            }
            "max-age" => d.max_age = Some(secs()?),
            "s-maxage" => d.s_maxage = Some(secs()?),
            "stale-while-revalidate" => d.stale_while_revalidate = Some(secs()?),
            "stale-if-error" => d.stale_if_error = Some(secs()?),
            _ => {}
        }
    }
    Some(d)
}

#[cfg(test)]
#[path = "directives_tests.rs"]
mod tests;

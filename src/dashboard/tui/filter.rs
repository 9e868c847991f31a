//! The request-tail filter typed after `/`.

use super::model::RequestView;

/// A request-tail filter: `/` then words such as `5xx`, `hit`, `slow`, or text in the path.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestFilter {
    /// Status class (2 for 2xx…).
    pub class: Option<u16>,
    /// Cache outcome.
    pub cache: Option<String>,
    /// Only requests at or above the slow threshold.
    pub slow: bool,
    /// Path (or method, upstream, trace id) substrings, all required.
    pub text: Vec<String>,
}

impl RequestFilter {
    /// Parses the filter line.
    pub fn parse(line: &str) -> Self {
        let mut f = RequestFilter::default();
        for word in line.split_whitespace() {
            let lower = word.to_ascii_lowercase();
            match lower.as_str() {
                "hit" | "miss" | "stale" | "bypass" => f.cache = Some(lower),
                "slow" => f.slow = true,
                w if w.len() == 3
                    && w.ends_with("xx")
                    && (b'1'..=b'5').contains(&w.as_bytes()[0]) =>
                {
                    f.class = Some(u16::from(w.as_bytes()[0] - b'0'));
                }
                _ => f.text.push(word.to_owned()),
            }
        }
        f
    }

    /// Whether a request passes.
    pub fn accepts(&self, r: &RequestView, slow_ms: f64) -> bool {
        self.class.is_none_or(|c| r.status / 100 == c)
            && self.cache.as_deref().is_none_or(|c| r.cache == c)
            && (!self.slow || r.latency_ms >= slow_ms)
            && self.text.iter().all(|t| {
                r.path.contains(t.as_str())
                    || r.method.eq_ignore_ascii_case(t)
                    || r.upstream
                        .as_deref()
                        .is_some_and(|u| u.contains(t.as_str()))
                    || r.trace_id
                        .as_deref()
                        .is_some_and(|id| id.starts_with(t.as_str()))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(status: u16, cache: &str, latency_ms: f64, path: &str) -> RequestView {
        RequestView {
            status,
            cache: cache.into(),
            latency_ms,
            path: path.into(),
            method: "GET".into(),
            ..Default::default()
        }
    }

    #[test]
    fn request_filter_words() {
        let f = RequestFilter::parse("5xx miss slow /api");
        assert_eq!(f.class, Some(5));
        assert_eq!(f.cache.as_deref(), Some("miss"));
        assert!(f.slow);
        assert_eq!(f.text, ["/api"]);
        assert!(f.accepts(&req(503, "miss", 300.0, "/api/x"), 200.0));
        assert!(!f.accepts(&req(200, "miss", 300.0, "/api/x"), 200.0));
        assert!(!f.accepts(&req(503, "hit", 300.0, "/api/x"), 200.0));
        assert!(!f.accepts(&req(503, "miss", 100.0, "/api/x"), 200.0));
        assert!(!f.accepts(&req(503, "miss", 300.0, "/static"), 200.0));
        assert!(RequestFilter::parse("").accepts(&req(200, "hit", 1.0, "/"), 200.0));
    }
}

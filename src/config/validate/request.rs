//! Request-side settings: `proxy.server_names` and `upstreams.host`, each a host name checked
//! so that a typo is reported by field rather than turning into 421s or a bad upstream `Host`.

use super::Checker;
use crate::config::model::UpstreamHost;

/// Whether `s` is a plausible DNS host name or IP literal (no port, scheme, path or spaces).
fn host_name_ok(s: &str) -> Result<String, String> {
    let h = s.trim().to_ascii_lowercase();
    if h.is_empty() {
        return Err("must not be empty".into());
    }
    let ok = h
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b':' | b'[' | b']'));
    if !ok || h.parse::<http::uri::Authority>().is_err() {
        return Err("expected a host name such as \"www.example.com\"".into());
    }
    Ok(h)
}

impl Checker<'_> {
    /// Validates `proxy.server_names`: host names, optionally `*.`-prefixed, lower-cased.
    pub(super) fn server_names(&mut self, raw: Option<Vec<String>>) -> Vec<String> {
        let mut out = Vec::new();
        for (i, s) in raw.unwrap_or_default().into_iter().enumerate() {
            let (wild, rest) = match s.trim().strip_prefix("*.") {
                Some(rest) => (true, rest),
                None => (false, s.trim()),
            };
            let r = host_name_ok(rest).and_then(|h| {
                if h.contains(':') && !h.starts_with('[') {
                    Err("a server name has no port".to_string())
                } else {
                    Ok(h)
                }
            });
            match r {
                Ok(h) => out.push(if wild { format!("*.{h}") } else { h }),
                Err(why) => self.err(format!("proxy.server_names[{i}]"), format!("{s:?}"), why),
            }
        }
        out
    }

    /// Validates `upstreams.host`: `"preserve"` or a host name (a port is allowed).
    pub(super) fn upstream_host(&mut self, raw: Option<String>, d: UpstreamHost) -> UpstreamHost {
        match raw {
            None => d,
            Some(s) if s.eq_ignore_ascii_case("preserve") => UpstreamHost::Preserve,
            Some(s) => match host_name_ok(&s) {
                Ok(h) => UpstreamHost::Fixed(h),
                Err(why) => {
                    self.err(
                        "upstreams.host",
                        format!("{s:?}"),
                        format!("{why} or \"preserve\""),
                    );
                    d
                }
            },
        }
    }
}

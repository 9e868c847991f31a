//! `GET /jaeger/...`: the built-in Jaeger UI ([`EmbeddedStore`]) on the admin listener, and how
//! the admin token reaches it.
//!
//! The UI is a single-page app whose own asset and API requests cannot carry a bearer header.
//! So, when `admin.token` is set, the token is accepted once as `?access_token=TOKEN` on any
//! `/jaeger` URL and answered with a cookie `sightline_jaeger` (HttpOnly, SameSite=Strict,
//! Path=/jaeger) that authorises the UI's later requests. The view is read-only, so a token in
//! a URL can never authorise a change; the cookie never reaches the rest of the admin API.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use axum::Router;

use crate::telemetry::otel::embedded::EmbeddedStore;

/// Trace links when the view is on (relative: the admin listener's own origin).
pub const LINK_BASE: &str = "/jaeger";

/// The cookie carrying the token for the UI's own requests.
pub const COOKIE: &str = "sightline_jaeger";

/// The view's router, to nest at `/jaeger`: the UI's client-side routes (`/trace/<id>`,
/// `/search`, ...) all answer the page itself with 200, so a trace link opens directly.
pub fn router(store: &EmbeddedStore) -> Router {
    store
        .router()
        .layer(axum::middleware::map_request(page_for_app_routes))
}

/// Rewrites every path that is neither the query API nor an asset to the page.
async fn page_for_app_routes(mut req: Request) -> Request {
    let path = req.uri().path();
    if !(path.starts_with("/api/") || path.starts_with("/static/")) {
        *req.uri_mut() = Uri::from_static("/index.html");
    }
    req
}

/// What the store holds ([`StoreFigures`](crate::telemetry::otel::embedded::StoreFigures)),
/// beside the UI's own API.
pub const FIGURES_PATH: &str = "/jaeger/api/sightline/store";

/// `GET /jaeger/api/sightline/store`: traces and bytes held, evictions.
pub async fn figures(State(state): State<super::AdminState>) -> Response {
    match &state.embedded {
        Some(store) => Json(store.figures().await).into_response(),
        None => super::error(
            axum::http::StatusCode::NOT_FOUND,
            "the built-in view is off",
        ),
    }
}

/// How a `/jaeger` request proved it knows the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Proof {
    /// It did not.
    None,
    /// The cookie (or a bearer header).
    Held,
    /// `?access_token=`: the answer sets the cookie.
    Query,
}

/// Whether a `/jaeger` request carries the token (`matches` compares in constant time).
pub(super) fn proof(req: &Request, matches: &dyn Fn(&str) -> bool) -> Proof {
    let cookie = req
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .filter(|(k, _)| *k == COOKIE)
        .filter_map(|(_, v)| decode(v))
        .any(|t| matches(&t));
    if cookie {
        return Proof::Held;
    }
    let query = req
        .uri()
        .query()
        .into_iter()
        .flat_map(|q| q.split('&'))
        .filter_map(|kv| kv.strip_prefix("access_token="))
        .filter_map(|raw| {
            percent_encoding::percent_decode_str(&raw.replace('+', " "))
                .decode_utf8()
                .ok()
                .map(|s| s.into_owned())
        })
        .any(|t| matches(&t));
    if query {
        Proof::Query
    } else {
        Proof::None
    }
}

/// The `Set-Cookie` value holding `token` (hex, so any token is a valid cookie value).
pub(super) fn set_cookie(token: &str) -> HeaderValue {
    let hex: String = token.bytes().map(|b| format!("{b:02x}")).collect();
    let v = format!("{COOKIE}={hex}; Path=/jaeger; HttpOnly; SameSite=Strict");
    HeaderValue::try_from(v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn decode(hex: &str) -> Option<String> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(uri: &str, cookie: Option<&str>) -> Request {
        let mut b = axum::http::Request::builder().uri(uri);
        if let Some(c) = cookie {
            b = b.header(header::COOKIE, c);
        }
        b.body(axum::body::Body::empty()).unwrap()
    }

    #[test]
    fn the_token_arrives_by_query_once_then_by_cookie() {
        let is = |t: &str| t == "s3cr;t";
        assert_eq!(proof(&req("/jaeger/", None), &is), Proof::None);
        assert_eq!(
            proof(&req("/jaeger/?access_token=s3cr%3Bt", None), &is),
            Proof::Query
        );
        assert_eq!(
            proof(&req("/jaeger/?access_token=wrong", None), &is),
            Proof::None
        );
        let set = set_cookie("s3cr;t");
        let set = set.to_str().unwrap();
        assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict"));
        assert!(set.contains("Path=/jaeger"));
        let pair = set.split(';').next().unwrap();
        let cookie = format!("other=1; {pair}");
        assert_eq!(
            proof(&req("/jaeger/api/services", Some(&cookie)), &is),
            Proof::Held
        );
        assert_eq!(
            proof(
                &req("/jaeger/api/services", Some("sightline_jaeger=00")),
                &is
            ),
            Proof::None
        );
    }
}

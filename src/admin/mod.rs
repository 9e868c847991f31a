//! The admin HTTP service, on its own listener (`admin.listen`). Every answer is computed from
//! the observatory's latest snapshot, the alert engine, or the cache purger; nothing here
//! touches the request path.
//!
//! # Routes
//! | route | answer |
//! |---|---|
//! | `GET /health` | [`HealthBody`](crate::observe::summary::HealthBody); 200 healthy/degraded, 503 unhealthy; never needs the token |
//! | `GET /dashboard` | the text dashboard (`text/plain`) |
//! | `GET /metrics` | Prometheus text exposition; OpenMetrics with exemplars for `Accept: application/openmetrics-text` |
//! | `GET /api/summary` | [`Summary`](crate::observe::summary::Summary): the snapshot, health status, 10 slowest requests with trace links |
//! | `GET /api/metrics/history?duration=60` | per-second samples, newest last |
//! | `GET /api/upstreams` | every upstream's state and traffic |
//! | `GET /api/upstreams/{addr}?duration=60` | one upstream, with its per-second history |
//! | `GET /api/alerts` | `{"active": [...], "history": [...]}` (history newest first) |
//! | `POST /api/alerts/{id}/ack` | acknowledges an alert |
//! | `GET /api/alerts/rules` | `{"rules": [...], "upstream_down": bool}`: configured thresholds |
//! | `GET /api/requests/recent` | the last 200 requests, newest first |
//! | `POST /api/cache/purge` | body `{"path": "/x"}` or `{"all": true}` → `{"purged": n}` |
//! | `GET /api/stream` | server-sent events: a hello, then one message per sample ([`stream`]) |
//! | `GET /`, `GET /web/{file}` | the web dashboard and its scripts ([`web`]) |
//! | `GET /jaeger/...` | the built-in Jaeger UI and its query API ([`jaeger`]; `telemetry.embedded_ui`) |
//!
//! Errors are JSON `{"error": "..."}`: 400 for bad parameters or bodies, 401 without the bearer
//! token (when `admin.token` is set; `/health` and the page files never need it), 404 for unknown paths or ids. `GET /api/stream` also takes
//! the token as `?access_token=TOKEN` (RFC 6750 §2.3), because a browser's `EventSource` cannot
//! send headers; only that read-only route does, so a token in a URL can never authorise a change.

pub mod api;
pub mod conn;
pub mod jaeger;
pub mod prometheus;
pub mod stream;
pub mod web;

use std::future::Future;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::alerts::AlertEngine;
use crate::config::Config;
use crate::observe::observatory::Observatory;
use crate::observe::snapshot::MetricsSnapshot;
use crate::observe::summary::TraceLinks;
use crate::telemetry::otel::embedded::EmbeddedStore;

/// Removes entries from the response cache (implemented by the proxy's cache).
pub trait CachePurger: Send + Sync {
    /// Removes the entries for this path (every variant and query); returns how many.
    fn purge_path(&self, path: &str) -> usize;
    /// Empties the cache; returns how many entries were removed.
    fn purge_all(&self) -> usize;
}

/// Everything the admin routes read.
#[derive(Clone)]
pub struct AdminState {
    /// Snapshots, history and recent requests.
    pub observatory: Arc<Observatory>,
    /// Active alerts, history and acks.
    pub alerts: Arc<AlertEngine>,
    /// The cache to purge (`None` when caching is off: purges answer 409).
    pub purger: Option<Arc<dyn CachePurger>>,
    /// `admin.token`: required as `Authorization: Bearer TOKEN` on all but `/health`.
    pub token: Option<Arc<str>>,
    /// Where trace ids link to (`telemetry.jaeger_ui_url`).
    pub links: Arc<TraceLinks>,
    /// Fans the per-sample message out to `GET /api/stream` clients.
    pub stream: Arc<stream::StreamHub>,
    /// Config reload (`POST /api/config/reload`, `reload` in the summary); set once by the app.
    pub reload: Arc<std::sync::OnceLock<Arc<crate::reload::Reloader>>>,
    /// The built-in trace view's store (`telemetry.embedded_ui`), served at `/jaeger/`.
    pub embedded: Option<Arc<EmbeddedStore>>,
}

impl AdminState {
    /// The state for a config.
    pub fn new(
        observatory: Arc<Observatory>,
        alerts: Arc<AlertEngine>,
        purger: Option<Arc<dyn CachePurger>>,
        cfg: &Config,
    ) -> Self {
        AdminState {
            observatory,
            alerts,
            purger,
            token: cfg.admin.token.as_deref().map(Arc::from),
            links: Arc::new(TraceLinks::new(&cfg.telemetry.jaeger_ui_url)),
            stream: Arc::default(),
            reload: Arc::default(),
            embedded: None,
        }
    }

    /// Serves the built-in trace view from `store`; trace links then open there unless
    /// `telemetry.jaeger_ui_url` names another UI.
    pub fn with_embedded(mut self, store: Option<Arc<EmbeddedStore>>) -> Self {
        if store.is_some() && self.links.base().is_none() {
            self.links = Arc::new(TraceLinks::new(jaeger::LINK_BASE));
        }
        self.embedded = store;
        self
    }

    /// The latest snapshot with the alerts firing now combined in.
    pub fn snapshot(&self) -> Arc<MetricsSnapshot> {
        MetricsSnapshot::with_alerts(self.observatory.snapshot(), &self.alerts.published().active)
    }
}

/// A JSON error response.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = serde_json::json!({ "error": message.into() });
    (status, Json(body)).into_response()
}

/// The admin router with every route, the token check and the JSON 404.
pub fn router(state: AdminState) -> Router {
    let mut routes = Router::new();
    if let Some(store) = &state.embedded {
        routes = routes
            .route(jaeger::FIGURES_PATH, get(jaeger::figures))
            .nest_service("/jaeger", jaeger::router(store));
    }
    routes
        .route("/", get(web::page))
        .route("/web/{file}", get(web::script))
        .route("/health", get(api::health))
        .route("/dashboard", get(api::dashboard))
        .route("/metrics", get(api::metrics))
        .route("/api/summary", get(api::summary))
        .route("/api/metrics/history", get(api::history))
        .route("/api/upstreams", get(api::upstreams))
        .route("/api/upstreams/{addr}", get(api::upstream))
        .route("/api/alerts", get(api::alerts))
        .route("/api/alerts/{id}/ack", post(api::ack))
        .route("/api/alerts/rules", get(api::alert_rules))
        .route("/api/requests/recent", get(api::recent))
        .route("/api/cache/purge", post(api::purge))
        .route("/api/stream", get(stream::stream))
        .route("/api/config/reload", post(api::config_reload))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such admin endpoint") })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_token,
        ))
        .with_state(state)
}

/// Serves the admin API on `listener` until `shutdown` resolves (which also ends every stream,
/// so the graceful shutdown does not wait on them).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AdminState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let hub = stream::StreamHub::start(state.clone(), stopped);
    let signal = async move {
        shutdown.await;
        let _ = stop.send(true);
    };
    let served = axum::serve(conn::AdminListener(listener), router(state))
        .with_graceful_shutdown(signal)
        .await;
    hub.abort();
    served
}

/// Compares without an early exit, so the time taken says nothing about the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

fn bearer(req: &Request) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// `?access_token=` on `GET /api/stream` only (see the module docs for why).
fn query_token(req: &Request) -> Option<String> {
    if req.uri().path() != "/api/stream" {
        return None;
    }
    let raw = req
        .uri()
        .query()?
        .split('&')
        .find_map(|kv| kv.strip_prefix("access_token="))?;
    let decoded = percent_encoding::percent_decode_str(&raw.replace('+', " "))
        .decode_utf8()
        .ok()?
        .into_owned();
    Some(decoded)
}

async fn require_token(State(state): State<AdminState>, req: Request, next: Next) -> Response {
    let Some(token) = state.token.as_deref() else {
        return next.run(req).await;
    };
    let matches = |t: &str| constant_time_eq(t.as_bytes(), token.as_bytes());
    // `/health` is for probes; `/` is the static page shell, which holds no figures and must
    // load before it can send the token it reads from `#token=`.
    let path = req.uri().path();
    if path == "/jaeger" || path.starts_with("/jaeger/") {
        return match jaeger::proof(&req, &matches) {
            jaeger::Proof::None if bearer(&req).is_some_and(matches) => next.run(req).await,
            jaeger::Proof::None => unauthorized(),
            jaeger::Proof::Held => next.run(req).await,
            jaeger::Proof::Query => {
                let mut resp = next.run(req).await;
                let cookie = jaeger::set_cookie(token);
                resp.headers_mut().append(header::SET_COOKIE, cookie);
                resp
            }
        };
    }
    if matches!(path, "/health" | "/")
        || path.starts_with("/web/")
        || bearer(&req).is_some_and(matches)
        || query_token(&req).is_some_and(|t| matches(&t))
    {
        return next.run(req).await;
    }
    unauthorized()
}

fn unauthorized() -> Response {
    let mut resp = error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token");
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"sightline admin\""),
    );
    resp
}

#[cfg(test)]
pub(crate) mod tests;

#[cfg(test)]
mod unit_tests {
    use super::constant_time_eq;

    #[test]
    fn constant_time_eq_compares_fully() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }
}

//! The admin HTTP service, on its own listener (`admin.listen`). Every answer is computed from
//! the observatory's latest snapshot, the alert engine, or the cache purger; nothing here
//! touches the request path.
//!
//! # Routes
//! | route | answer |
//! |---|---|
//! | `GET /health` | [`health::HealthBody`]; 200 healthy/degraded, 503 unhealthy; never needs the token |
//! | `GET /dashboard` | the text dashboard (`text/plain`) |
//! | `GET /metrics` | Prometheus text exposition |
//! | `GET /api/summary` | [`api::Summary`]: the snapshot, health status, 10 slowest requests with trace links |
//! | `GET /api/metrics/history?duration=60` | per-second samples, newest last |
//! | `GET /api/upstreams` | every upstream's state and traffic |
//! | `GET /api/upstreams/{addr}?duration=60` | one upstream, with its per-second history |
//! | `GET /api/alerts` | `{"active": [...], "history": [...]}` (history newest first) |
//! | `POST /api/alerts/{id}/ack` | acknowledges an alert |
//! | `GET /api/alerts/rules` | `{"rules": [...], "upstream_down": bool}`: configured thresholds |
//! | `GET /api/requests/recent` | the last 200 requests, newest first |
//! | `POST /api/cache/purge` | body `{"path": "/x"}` or `{"all": true}` → `{"purged": n}` |
//! | `GET /` | the web dashboard |
//!
//! Errors are JSON `{"error": "..."}`: 400 for bad parameters or bodies, 401 without the bearer
//! token (when `admin.token` is set), 404 for unknown paths or ids.

pub mod api;
pub mod health;
pub mod prometheus;

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
    /// `telemetry.jaeger_ui_url` without a trailing slash (empty: no trace links).
    pub jaeger_ui_url: Arc<str>,
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
            jaeger_ui_url: Arc::from(cfg.telemetry.jaeger_ui_url.trim_end_matches('/')),
        }
    }

    /// The Jaeger UI link for a trace id, when configured.
    pub fn trace_link(&self, trace_id: Option<&str>) -> Option<String> {
        let id = trace_id?;
        (!self.jaeger_ui_url.is_empty()).then(|| format!("{}/trace/{id}", self.jaeger_ui_url))
    }
}

/// A JSON error response.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = serde_json::json!({ "error": message.into() });
    (status, Json(body)).into_response()
}

/// The admin router with every route, the token check and the JSON 404.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/", get(api::web_page))
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
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such admin endpoint") })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_token,
        ))
        .with_state(state)
}

/// Serves the admin API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AdminState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
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

async fn require_token(State(state): State<AdminState>, req: Request, next: Next) -> Response {
    let Some(token) = state.token.as_deref() else {
        return next.run(req).await;
    };
    if req.uri().path() == "/health"
        || bearer(&req).is_some_and(|t| constant_time_eq(t.as_bytes(), token.as_bytes()))
    {
        return next.run(req).await;
    }
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

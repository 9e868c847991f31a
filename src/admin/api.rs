//! The admin route handlers: each reads a snapshot (or the alert engine, or the purger) and
//! shapes one answer.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::{error, prometheus, AdminState};
use crate::dashboard::text::render;
use crate::observe::history::{resolution_for, MINUTES_KEPT};
use crate::observe::snapshot::MetricsSnapshot;
use crate::observe::summary::{self, HealthStatus, LinkedRequest};

// Re-exported only so `dashboard/tui.rs` (rewritten on another branch) still builds; everything
// else imports it from `observe::summary`. Remove once the TUI does too.
#[doc(hidden)]
pub use crate::observe::summary::Summary;

/// `duration` when the query has none, seconds.
const DEFAULT_DURATION: u64 = 60;
/// The longest `duration` accepted, seconds (answers hold what history keeps).
const MAX_DURATION: u64 = 86_400;

/// Reads `duration` (whole seconds, 1..=86400) from a query string.
fn duration_param(query: Option<&str>) -> Result<Duration, String> {
    let raw = query
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "duration")
        .map(|(_, v)| v);
    let secs = match raw {
        None => DEFAULT_DURATION,
        Some(v) => v
            .parse::<u64>()
            .ok()
            .filter(|s| (1..=MAX_DURATION).contains(s))
            .ok_or_else(|| {
                format!("duration must be whole seconds from 1 to {MAX_DURATION}, got {v:?}")
            })?,
    };
    Ok(Duration::from_secs(secs))
}

/// `GET /health`.
pub async fn health(State(s): State<AdminState>) -> Response {
    let body = summary::body(&s.snapshot());
    let code = match body.status {
        HealthStatus::Unhealthy => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::OK,
    };
    (code, Json(body)).into_response()
}

/// `GET /dashboard`.
pub async fn dashboard(State(s): State<AdminState>) -> Response {
    let text = render(&s.snapshot());
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}

/// `GET /metrics`: Prometheus text, or OpenMetrics (with exemplars) when `Accept` asks for it.
pub async fn metrics(State(s): State<AdminState>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = prometheus::Format::from_accept(accept);
    let reload = s.reload.get().map(|r| r.status());
    let text = prometheus::render(&s.snapshot(), reload.as_ref(), format);
    let vary = [(header::VARY, "Accept")];
    ([(header::CONTENT_TYPE, format.content_type())], vary, text).into_response()
}

/// `GET /api/summary`.
pub async fn summary(State(s): State<AdminState>) -> Response {
    let summary = Summary::new(MetricsSnapshot::clone(&s.snapshot()), &s.links);
    let Some(r) = s.reload.get() else {
        return Json(summary).into_response();
    };
    // The reload status sits beside the snapshot's fields (`reload: {..}`).
    let mut body = serde_json::to_value(summary).unwrap_or_default();
    if let Some(obj) = body.as_object_mut() {
        obj.insert("reload".into(), json!(r.status()));
    }
    Json(body).into_response()
}

/// `GET /api/metrics/history?duration=60`.
pub async fn history(State(s): State<AdminState>, RawQuery(q): RawQuery) -> Response {
    let span = match duration_param(q.as_deref()) {
        Ok(d) => d,
        Err(msg) => return error(StatusCode::BAD_REQUEST, msg),
    };
    let samples = s.observatory.history(span);
    Json(json!({
        "duration_seconds": span.as_secs(),
        "resolution_seconds": resolution_for(span),
        "kept_seconds": s.observatory.history_capacity(),
        "kept_minutes": MINUTES_KEPT,
        "samples": samples,
    }))
    .into_response()
}

/// `GET /api/upstreams`.
pub async fn upstreams(State(s): State<AdminState>) -> Response {
    Json(json!({ "upstreams": s.observatory.snapshot().upstreams })).into_response()
}

/// `GET /api/upstreams/{addr}?duration=60`.
pub async fn upstream(
    State(s): State<AdminState>,
    Path(addr): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let span = match duration_param(q.as_deref()) {
        Ok(d) => d,
        Err(msg) => return error(StatusCode::BAD_REQUEST, msg),
    };
    let Ok(wanted) = addr.parse::<SocketAddr>() else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("{addr:?} is not an upstream address (host:port)"),
        );
    };
    let snap = s.observatory.snapshot();
    let found = snap
        .upstreams
        .iter()
        .position(|u| u.address.parse::<SocketAddr>().ok() == Some(wanted));
    let Some(id) = found else {
        return error(StatusCode::NOT_FOUND, format!("no upstream {wanted}"));
    };
    Json(json!({
        "upstream": snap.upstreams[id],
        "duration_seconds": span.as_secs(),
        "history": s.observatory.upstream_history(id, span),
    }))
    .into_response()
}

/// `GET /api/alerts`.
pub async fn alerts(State(s): State<AdminState>) -> Response {
    Json(json!({ "active": s.alerts.active(), "history": s.alerts.history() })).into_response()
}

/// `GET /api/alerts/rules`: the configured rules and thresholds (read-only).
pub async fn alert_rules(State(s): State<AdminState>) -> Response {
    let (rules, upstream_down) = s.alerts.rules();
    Json(json!({ "rules": rules, "upstream_down": upstream_down })).into_response()
}

/// `POST /api/alerts/{id}/ack`.
pub async fn ack(State(s): State<AdminState>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("alert id {id:?} is not a number"),
        );
    };
    match s.alerts.ack(id) {
        Some(alert) => Json(json!({ "alert": alert })).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no alert {id}")),
    }
}

/// `GET /api/requests/recent`.
pub async fn recent(State(s): State<AdminState>) -> Response {
    let list: Vec<LinkedRequest> = s
        .observatory
        .recent_requests()
        .into_iter()
        .map(|r| s.links.link(r))
        .collect();
    Json(json!({ "requests": list })).into_response()
}

/// The purge request body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PurgeBody {
    path: Option<String>,
    #[serde(default)]
    all: bool,
}

/// `POST /api/cache/purge`.
pub async fn purge(State(s): State<AdminState>, body: Bytes) -> Response {
    let usage = r#"expected {"path": "/x"} or {"all": true}"#;
    let parsed: PurgeBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("{usage}: {e}")),
    };
    let Some(purger) = &s.purger else {
        return error(StatusCode::CONFLICT, "the cache is disabled");
    };
    let purged = match (parsed.path, parsed.all) {
        (None, true) => purger.purge_all(),
        (Some(path), false) if path.starts_with('/') => purger.purge_path(&path),
        _ => return error(StatusCode::BAD_REQUEST, usage),
    };
    Json(json!({ "purged": purged })).into_response()
}

/// `POST /api/config/reload`: 200 with the [`crate::reload::ReloadStatus`] when applied, 400 with it (its
/// `errors`) when refused, 409 when the process has no config file to re-read.
pub async fn config_reload(State(s): State<AdminState>) -> Response {
    let Some(r) = s.reload.get().cloned() else {
        return error(StatusCode::CONFLICT, "this process has no reloader");
    };
    match r.reload().await {
        Ok(st) => (StatusCode::OK, Json(st)).into_response(),
        Err(st) => (StatusCode::BAD_REQUEST, Json(st)).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_param_bounds() {
        assert_eq!(duration_param(None).unwrap(), Duration::from_secs(60));
        assert_eq!(
            duration_param(Some("x=1&duration=300")).unwrap(),
            Duration::from_secs(300)
        );
        for bad in [
            "duration=0",
            "duration=abc",
            "duration=-5",
            "duration=86401",
        ] {
            assert!(duration_param(Some(bad)).is_err(), "{bad}");
        }
    }
}

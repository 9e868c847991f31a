//! The built-in demo origin servers behind `sightline demo`: small axum apps on loopback that
//! answer like a real site, with knobs to make them slow or failing.
//!
//! Routes (every response carries `X-Origin: <name>`, so round-robin is visible):
//! - `/`: a small HTML page.
//! - `/api/items/{id}`: a JSON item, `Cache-Control: no-store`.
//! - `/static/{*path}`: a CSS/JS/text body of 3–6 KiB, `Cache-Control: max-age=30`, a strong
//!   `ETag` derived from the path and a fixed `Last-Modified`; a matching `If-None-Match` (or,
//!   without one, an `If-Modified-Since` equal to `Last-Modified`) gets 304.
//! - `/healthz`: 200 `ok`, never delayed, failed nor counted.
//! - anything else: 404.
//!
//! Every other request first waits `latency` + `?delay_ms=N` (capped at 60 s); then `?status=NNN`
//! (100..=599, else 400) replaces the answer, and `/api/*` fails with 500 at `error_rate`.
//! hyper cannot send a 1xx status as a final response, so `?status=1xx` is answered 501.
//! With a [`chaos::Chaos`] schedule (`sightline demo --chaos`) the origin also takes its turns
//! at being down (including `/healthz`), slow and failing.

pub mod chaos;
mod content;

pub use content::{
    content_type_for, demo_body_for, etag_for, etag_matches, index_html, item_json, parse_query,
    DemoQuery, QueryError, MAX_DELAY_MS, STATIC_LAST_MODIFIED,
};

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio::sync::oneshot;

use self::chaos::Fault;

/// The `X-Origin` response header naming the origin that answered.
pub static X_ORIGIN: HeaderName = HeaderName::from_static("x-origin");

/// How one demo origin behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoOptions {
    /// Added before answering every request except `/healthz`.
    pub latency: Duration,
    /// Share of `/api/*` requests answered 500, in `0.0..=1.0`.
    pub error_rate: f64,
    /// Sent as `X-Origin` on every response; must be a valid header value.
    pub name: String,
    /// Take turns failing on this schedule (`--chaos`); `None`: never.
    pub chaos: Option<chaos::Chaos>,
}

impl DemoOptions {
    /// An origin called `name` with no added latency and no errors.
    pub fn named(name: impl Into<String>) -> DemoOptions {
        DemoOptions {
            latency: Duration::ZERO,
            error_rate: 0.0,
            name: name.into(),
            chaos: None,
        }
    }
}

/// A running demo origin; it stops when shut down or dropped.
#[derive(Debug)]
pub struct DemoOrigin {
    addr: SocketAddr,
    state: Arc<OriginState>,
    stop: Option<oneshot::Sender<()>>,
}

impl DemoOrigin {
    /// The address the origin listens on (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Requests answered so far, `/healthz` excluded.
    pub fn requests(&self) -> u64 {
        self.state.served.load(Relaxed)
    }

    /// Stops accepting connections at once; requests in flight still finish.
    pub fn shutdown(self) {
        drop(self);
    }
}

impl Drop for DemoOrigin {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            // The server task may already have ended; nothing else to do then.
            let _ = stop.send(());
        }
    }
}

/// What the handlers share.
#[derive(Debug)]
struct OriginState {
    name: String,
    name_header: HeaderValue,
    latency: Duration,
    error_rate: f64,
    chaos: Option<chaos::Chaos>,
    served: AtomicU64,
}

/// Binds `addr` (port 0 allowed) and serves the demo routes in a spawned task.
///
/// Fails if the address cannot be bound, `error_rate` is outside `0.0..=1.0`, or `name` is not
/// a valid header value. Must be called within a tokio runtime.
pub async fn spawn_origin(addr: SocketAddr, opts: DemoOptions) -> std::io::Result<DemoOrigin> {
    let DemoOptions {
        latency,
        error_rate,
        name,
        chaos,
    } = opts;
    let invalid = |msg: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, msg);
    if !(0.0..=1.0).contains(&error_rate) {
        return Err(invalid(format!(
            "error_rate must be in 0..=1, got {error_rate}"
        )));
    }
    let name_header = HeaderValue::from_str(&name)
        .map_err(|_| invalid(format!("origin name {name:?} is not a valid header value")))?;
    let state = Arc::new(OriginState {
        name,
        name_header,
        latency,
        error_rate,
        chaos,
        served: AtomicU64::new(0),
    });
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let app = router(state.clone());
    let origin_name = state.name.clone();
    tokio::spawn(async move {
        let served = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        if let Err(error) = served.await {
            tracing::warn!(origin = %origin_name, %error, "demo origin stopped with an error");
        }
    });
    Ok(DemoOrigin {
        addr,
        state,
        stop: Some(stop),
    })
}

fn router(state: Arc<OriginState>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/api/items/{id}", get(item))
        .route("/static/{*path}", get(static_asset))
        .route("/healthz", get(|| async { "ok" }))
        .fallback(|| async { (StatusCode::NOT_FOUND, "not found\n") })
        .layer(middleware::from_fn_with_state(state.clone(), frame))
        .with_state(state)
}

/// Wraps every route: delays, forced statuses and random errors, the request count, `X-Origin`.
async fn frame(State(state): State<Arc<OriginState>>, req: Request, next: Next) -> Response {
    let fault = state.chaos.map_or(Fault::None, |c| c.now());
    let mut response = if let Some(failed) = chaos_answer(fault, req.uri().path()) {
        failed
    } else if req.uri().path() == "/healthz" {
        next.run(req).await
    } else {
        let response = shape(&state, req, next).await;
        state.served.fetch_add(1, Relaxed);
        response
    };
    response
        .headers_mut()
        .insert(X_ORIGIN.clone(), state.name_header.clone());
    response
}

/// The answer a chaos fault gives instead of the route's, if any (slowness is added in `shape`).
fn chaos_answer(fault: Fault, path: &str) -> Option<Response> {
    match fault {
        Fault::Down => {
            let close = [(header::CONNECTION, "close")];
            Some(
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    close,
                    "down (demo chaos)\n",
                )
                    .into_response(),
            )
        }
        Fault::Errors if path != "/healthz" => {
            let body = serde_json::json!({"error": "demo chaos: answering 5xx"});
            Some((StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response())
        }
        _ => None,
    }
}

async fn shape(state: &OriginState, req: Request, next: Next) -> Response {
    let query = parse_query(req.uri().query());
    let delay = query.as_ref().map(|q| q.delay).unwrap_or_default();
    let slow = match state.chaos.map(|c| c.now()) {
        Some(Fault::Slow) => chaos::SLOW_BY,
        _ => Duration::ZERO,
    };
    let wait = state.latency + delay + slow;
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    let query = match query {
        Ok(query) => query,
        Err(error) => return (StatusCode::BAD_REQUEST, format!("{error}\n")).into_response(),
    };
    if let Some(status) = query.status {
        return forced_status(status);
    }
    // The draw happens before any await, so the non-Send thread RNG never crosses one.
    let fail = req.uri().path().starts_with("/api/")
        && state.error_rate > 0.0
        && rand::random::<f64>() < state.error_rate;
    if fail {
        let body = serde_json::json!({"error": "injected failure", "origin": state.name});
        return (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response();
    }
    next.run(req).await
}

fn forced_status(status: StatusCode) -> Response {
    if status.is_informational() {
        let why = format!("status {status} cannot be sent as a final response\n");
        return (StatusCode::NOT_IMPLEMENTED, why).into_response();
    }
    if matches!(status, StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED) {
        return status.into_response();
    }
    let reason = status.canonical_reason().unwrap_or("");
    (status, format!("{} {reason}\n", status.as_u16())).into_response()
}

async fn index(State(state): State<Arc<OriginState>>) -> Html<String> {
    Html(index_html(&state.name))
}

async fn item(State(state): State<Arc<OriginState>>, Path(id): Path<String>) -> Response {
    let headers = [(header::CACHE_CONTROL, content::API_CACHE_CONTROL)];
    (headers, Json(item_json(&id, &state.name))).into_response()
}

async fn static_asset(uri: Uri, request_headers: HeaderMap) -> Response {
    let path = uri.path();
    let etag = etag_for(path);
    let not_modified = match request_headers.get(header::IF_NONE_MATCH) {
        // RFC 9110 §13.2.2: If-None-Match, when present, decides alone.
        Some(inm) => inm.to_str().is_ok_and(|inm| etag_matches(inm, &etag)),
        // Exact match only, like nginx's default: all origins share one fixed date.
        None => request_headers
            .get(header::IF_MODIFIED_SINCE)
            .is_some_and(|ims| ims == STATIC_LAST_MODIFIED),
    };
    let validators = [
        (
            header::CACHE_CONTROL,
            content::STATIC_CACHE_CONTROL.to_owned(),
        ),
        (header::ETAG, etag),
        (header::LAST_MODIFIED, STATIC_LAST_MODIFIED.to_owned()),
    ];
    if not_modified {
        return (StatusCode::NOT_MODIFIED, validators).into_response();
    }
    let content_type = [(header::CONTENT_TYPE, content_type_for(path))];
    (validators, content_type, demo_body_for(path)).into_response()
}

#[cfg(test)]
mod tests;

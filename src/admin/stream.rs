//! `GET /api/stream`: server-sent events, one message per sample (once a second).
//!
//! One hub task follows the observatory: for each new snapshot it waits (briefly) until the alert
//! engine has evaluated it, builds the [`message::SampleMessage`], serialises it once and
//! broadcasts the same [`Bytes`] to every client. A new client first gets a
//! [`message::HelloMessage`] (the last 5 minutes of history, every alert, the recent requests),
//! itself built once per sample and shared by every client that connects during that second.
//!
//! Memory per client is bounded: a client holds a broadcast receiver over the one shared ring
//! of [`CHANNEL_CAPACITY`] messages and at most a few queued references into it. A client that
//! falls more than that many messages behind is dropped (its stream ends), and one whose socket
//! stops taking bytes is cut by the admin listener's write deadline ([`super::conn`]); nothing is
//! buffered for it.

pub mod message;

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::broadcast;

use self::message::{
    cap_requests, sse_frame, AlertCursor, HelloMessage, SampleMessage, StreamFigures,
    MAX_REQUESTS_PER_MESSAGE, RETRY_MS,
};
use super::{error, AdminState};
use crate::observe::observatory::{shutdown_requested, Shutdown};
use crate::observe::snapshot::MetricsSnapshot;
use crate::observe::summary::{LinkedRequest, Summary};

/// Messages a client may fall behind before it is dropped.
pub const CHANNEL_CAPACITY: usize = 8;
/// How long the hub waits for the alert engine to evaluate a snapshot before sending anyway.
const ALERT_WAIT: Duration = Duration::from_millis(300);
/// The history a hello carries.
const HELLO_HISTORY: Duration = Duration::from_secs(300);

/// The sequence number of the frame that ends every stream (shutdown).
const END: u64 = u64::MAX;

/// One serialised message and the sample it is about.
#[derive(Debug, Clone)]
struct Frame {
    seq: u64,
    bytes: Bytes,
}

/// The state the last message was built from: what a hello starts from.
#[derive(Debug)]
struct Base {
    seq: u64,
    summary: Summary,
    /// Requests numbered below this were covered by messages up to `seq`.
    recent_cursor: u64,
    hello: OnceLock<Bytes>,
}

/// Fans each sample's message out to every connected client.
#[derive(Debug)]
pub struct StreamHub {
    tx: broadcast::Sender<Frame>,
    base: ArcSwapOption<Base>,
    clients: AtomicU64,
    dropped_slow: AtomicU64,
}

impl Default for StreamHub {
    fn default() -> Self {
        StreamHub {
            tx: broadcast::Sender::new(CHANNEL_CAPACITY),
            base: ArcSwapOption::empty(),
            clients: AtomicU64::new(0),
            dropped_slow: AtomicU64::new(0),
        }
    }
}

/// Counts a connected client while it lives.
struct ClientGuard(Arc<StreamHub>);

impl ClientGuard {
    fn new(hub: Arc<StreamHub>) -> Self {
        hub.clients.fetch_add(1, Relaxed);
        ClientGuard(hub)
    }
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.0.clients.fetch_sub(1, Relaxed);
    }
}

impl StreamHub {
    /// The stream's own figures now.
    pub fn figures(&self) -> StreamFigures {
        StreamFigures {
            clients: self.clients.load(Relaxed),
            dropped_slow: self.dropped_slow.load(Relaxed),
        }
    }

    /// Spawns the hub task on the current runtime; it ends (and so does every client's stream)
    /// when `shutdown` fires.
    pub fn start(state: AdminState, mut shutdown: Shutdown) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let hub = state.stream.clone();
            let mut snapshots = state.observatory.subscribe();
            let mut published = state.alerts.watch_published();
            let mut alerts = AlertCursor::default();
            alerts.changed(&state.alerts.history());
            let mut cursor = state.observatory.stats().recent_since(u64::MAX).1;
            let mut last_minute = state.observatory.last_minute().map_or(0, |m| m.unix_ms);
            let first = state.snapshot();
            hub.base.store(Some(Arc::new(Base {
                seq: first.generated_unix_ms,
                summary: Summary::new(MetricsSnapshot::clone(&first), &state.links),
                recent_cursor: cursor,
                hello: OnceLock::new(),
            })));
            loop {
                tokio::select! {
                    changed = snapshots.changed() => if changed.is_err() { break },
                    _ = shutdown_requested(&mut shutdown) => break,
                }
                let snap = Arc::clone(&snapshots.borrow_and_update());
                let seq = snap.generated_unix_ms;
                let evaluated = published.wait_for(|p| p.evaluated_unix_ms >= seq);
                let _ = tokio::time::timeout(ALERT_WAIT, evaluated).await;
                let snap = MetricsSnapshot::with_alerts(snap, &state.alerts.published().active);
                let summary = Summary::new(MetricsSnapshot::clone(&snap), &state.links);
                let listening = hub.tx.receiver_count() > 0;
                // With nobody listening the tail is skipped, not copied out of the ring.
                let (requests, next) = if listening {
                    state.observatory.stats().recent_since(cursor)
                } else {
                    (
                        Vec::new(),
                        state.observatory.stats().recent_since(u64::MAX).1,
                    )
                };
                let lapped = next
                    .saturating_sub(cursor)
                    .saturating_sub(requests.len() as u64);
                cursor = next;
                let changed = alerts.changed(&state.alerts.history());
                let minute = state
                    .observatory
                    .last_minute()
                    .filter(|m| m.unix_ms > last_minute);
                if let Some(m) = &minute {
                    last_minute = m.unix_ms;
                }
                if listening {
                    let linked = requests.into_iter().map(|r| state.links.link(r)).collect();
                    let (requests, skipped) = cap_requests(linked);
                    let point = state.observatory.last_second();
                    let msg = SampleMessage {
                        seq,
                        summary: &summary,
                        point: point.as_ref(),
                        minute: minute.as_ref(),
                        alerts: &changed,
                        requests: &requests,
                        requests_skipped: skipped + lapped,
                        stream: hub.figures(),
                    };
                    let bytes = sse_frame("sample", seq, &msg, None);
                    // No receiver left between the check and the send is fine: nobody missed it.
                    let _ = hub.tx.send(Frame { seq, bytes });
                }
                hub.base.store(Some(Arc::new(Base {
                    seq,
                    summary,
                    recent_cursor: cursor,
                    hello: OnceLock::new(),
                })));
            }
            // Ends every client's stream, so a graceful shutdown does not wait on them.
            let _ = hub.tx.send(Frame {
                seq: END,
                bytes: Bytes::new(),
            });
        })
    }

    /// The hello for `base`, built by the first client that needs it.
    fn hello(&self, state: &AdminState, base: &Base) -> Bytes {
        base.hello
            .get_or_init(|| {
                let history = state.observatory.history(HELLO_HISTORY);
                let alerts = state.alerts.history();
                let requests: Vec<LinkedRequest> = state
                    .observatory
                    .stats()
                    .recent_before(base.recent_cursor)
                    .into_iter()
                    .take(MAX_REQUESTS_PER_MESSAGE)
                    .map(|r| state.links.link(r))
                    .collect();
                let msg = HelloMessage {
                    seq: base.seq,
                    summary: &base.summary,
                    history: &history,
                    alerts: &alerts,
                    requests: &requests,
                    stream: self.figures(),
                };
                sse_frame("hello", base.seq, &msg, Some(RETRY_MS))
            })
            .clone()
    }
}

/// `GET /api/stream`.
pub async fn stream(State(state): State<AdminState>) -> Response {
    let hub = Arc::clone(&state.stream);
    // Subscribe before reading the base, so no message after the hello can be missed.
    let rx = hub.tx.subscribe();
    let Some(base) = hub.base.load_full() else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "the stream is starting");
    };
    let hello = hub.hello(&state, &base);
    let guard = ClientGuard::new(Arc::clone(&hub));
    let after = base.seq;
    drop(base);
    let later =
        futures_util::stream::unfold((rx, guard, after), |(mut rx, guard, after)| async move {
            loop {
                match rx.recv().await {
                    Ok(f) if f.seq == END => return None,
                    Ok(f) if f.seq <= after => continue,
                    Ok(f) => return Some((f.bytes, (rx, guard, f.seq))),
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        guard.0.dropped_slow.fetch_add(1, Relaxed);
                        tracing::debug!("stream client fell behind; dropped");
                        return None;
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
    let body = futures_util::stream::once(async move { hello })
        .chain(later)
        .map(Ok::<_, Infallible>);
    let mut resp = Body::from_stream(body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;

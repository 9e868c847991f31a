//! The stream's messages, as pure functions of what the hub read: the `hello` a new client gets
//! first, the `sample` every client gets once a second, their server-sent-event framing, and the
//! cursor that finds which alerts changed since the last message.

use std::collections::HashMap;

use bytes::Bytes;
use serde::Serialize;

use crate::alerts::{AlertEventKind, AlertRecord};
use crate::observe::history::HistoryPoint;
use crate::observe::summary::{LinkedRequest, Summary};

/// New requests a sample message carries at most (the newest; the rest are counted).
pub const MAX_REQUESTS_PER_MESSAGE: usize = 50;
/// What a browser waits before reconnecting after the stream ends, ms (`retry:`).
pub const RETRY_MS: u64 = 1_000;

/// The stream's own figures, carried in every message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StreamFigures {
    /// Clients connected when the message was built.
    pub clients: u64,
    /// Clients dropped since start because they fell behind.
    pub dropped_slow: u64,
}

/// The message every client gets once per sample.
#[derive(Debug, Serialize)]
pub struct SampleMessage<'a> {
    /// The sample's `generated_unix_ms` (also the event id).
    pub seq: u64,
    /// Every current figure, alerts combined in.
    pub summary: &'a Summary,
    /// The one-second history point of this sample.
    pub point: Option<&'a HistoryPoint>,
    /// A one-minute point, in the message after its minute closed.
    pub minute: Option<&'a HistoryPoint>,
    /// Alerts that fired, resolved, changed peak or were acknowledged since the last message.
    pub alerts: &'a [AlertRecord],
    /// Requests finished since the last message, newest first (at most
    /// [`MAX_REQUESTS_PER_MESSAGE`]).
    pub requests: &'a [LinkedRequest],
    /// Requests since the last message not carried (beyond the cap or lapped by the ring).
    pub requests_skipped: u64,
    /// Stream figures.
    pub stream: StreamFigures,
}

/// The message a new client gets first: the same shape as a sample, plus the last 5 minutes of
/// history and the whole alert history.
#[derive(Debug, Serialize)]
pub struct HelloMessage<'a> {
    /// The sample this hello stands for: later samples have a larger seq.
    pub seq: u64,
    /// Every current figure, alerts combined in.
    pub summary: &'a Summary,
    /// One-second history, oldest first.
    pub history: &'a [HistoryPoint],
    /// Firing and past alerts, newest first.
    pub alerts: &'a [AlertRecord],
    /// The recent requests up to this sample, newest first (at most
    /// [`MAX_REQUESTS_PER_MESSAGE`]).
    pub requests: &'a [LinkedRequest],
    /// Stream figures.
    pub stream: StreamFigures,
}

/// One server-sent event: `retry:` (when given), `id:`, `event:` and a single `data:` line (JSON
/// has no raw newlines), serialised once so every client is sent the same bytes.
pub fn sse_frame(event: &str, id: u64, data: &impl Serialize, retry_ms: Option<u64>) -> Bytes {
    let mut out = Vec::with_capacity(4096);
    if let Some(ms) = retry_ms {
        out.extend_from_slice(format!("retry: {ms}\n").as_bytes());
    }
    out.extend_from_slice(format!("id: {id}\nevent: {event}\ndata: ").as_bytes());
    // Serialising plain data into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut out, data);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// The newest `MAX_REQUESTS_PER_MESSAGE` of `requests` (newest first) and how many were left.
pub fn cap_requests(mut requests: Vec<LinkedRequest>) -> (Vec<LinkedRequest>, u64) {
    let left = requests.len().saturating_sub(MAX_REQUESTS_PER_MESSAGE) as u64;
    requests.truncate(MAX_REQUESTS_PER_MESSAGE);
    (requests, left)
}

/// What was last sent about each alert, to send only what changed.
#[derive(Debug, Default)]
pub struct AlertCursor {
    seen: HashMap<u64, (AlertEventKind, bool, u64)>,
}

impl AlertCursor {
    /// The alerts of `history` that are new or changed since the last call, newest first; the
    /// cursor then remembers `history` (alerts that left it are forgotten).
    pub fn changed(&mut self, history: &[AlertRecord]) -> Vec<AlertRecord> {
        let key = |a: &AlertRecord| (a.state, a.acknowledged, a.peak.to_bits());
        let changed = history
            .iter()
            .filter(|a| self.seen.get(&a.id) != Some(&key(a)))
            .cloned()
            .collect();
        self.seen = history.iter().map(|a| (a.id, key(a))).collect();
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::snapshot::{AlertLevel, MetricsSnapshot};
    use crate::observe::summary::TraceLinks;
    use crate::telemetry::recent::RequestInfo;

    fn record(id: u64) -> AlertRecord {
        AlertRecord {
            id,
            name: "high_latency".into(),
            target: None,
            severity: AlertLevel::Warning,
            metric: "avg_response_time_ms".into(),
            op: ">".into(),
            threshold: 200.0,
            for_seconds: 0.0,
            state: AlertEventKind::Firing,
            value: 250.0,
            peak: 250.0,
            started_unix_ms: 1,
            ended_unix_ms: None,
            duration_seconds: None,
            acknowledged: false,
            acknowledged_unix_ms: None,
            trace_ids: vec![],
            message: "ALERT FIRING".into(),
        }
    }

    fn request(path: &str) -> LinkedRequest {
        TraceLinks::new("/jaeger").link(RequestInfo {
            unix_ms: 5,
            method: "GET".into(),
            path: path.into(),
            status: 200,
            latency_ms: 1.5,
            cache: "hit".into(),
            upstream: None,
            trace_id: Some("ab".into()),
        })
    }

    #[test]
    fn frames_are_one_event_with_one_data_line() {
        let summary = Summary::new(MetricsSnapshot::default(), &TraceLinks::new(""));
        let requests = [request("/a\nb")];
        let msg = SampleMessage {
            seq: 42,
            summary: &summary,
            point: None,
            minute: None,
            alerts: &[],
            requests: &requests,
            requests_skipped: 3,
            stream: StreamFigures {
                clients: 7,
                dropped_slow: 1,
            },
        };
        let frame = sse_frame("sample", 42, &msg, None);
        let text = std::str::from_utf8(&frame).unwrap();
        let (head, data) = text.split_once("data: ").unwrap();
        assert_eq!(head, "id: 42\nevent: sample\n");
        assert!(data.ends_with("\n\n"));
        let data = data.trim_end_matches('\n');
        assert!(!data.contains('\n'), "a newline in a path stays escaped");
        let v: serde_json::Value = serde_json::from_str(data).unwrap();
        assert_eq!(v["seq"], 42);
        assert_eq!(v["summary"]["status"], "unhealthy");
        assert_eq!(v["requests"][0]["path"], "/a\nb");
        assert_eq!(v["requests"][0]["trace_url"], "/jaeger/trace/ab");
        assert_eq!(v["requests_skipped"], 3);
        assert_eq!(v["stream"]["clients"], 7);
        let hello = sse_frame("hello", 1, &msg, Some(RETRY_MS));
        assert!(hello.starts_with(b"retry: 1000\nid: 1\nevent: hello\ndata: {"));
    }

    #[test]
    fn requests_are_capped_newest_first() {
        let many: Vec<LinkedRequest> = (0..70).map(|i| request(&format!("/{i}"))).collect();
        let (kept, left) = cap_requests(many);
        assert_eq!((kept.len(), left), (MAX_REQUESTS_PER_MESSAGE, 20));
        assert_eq!(kept[0].request.path, "/0");
        let (kept, left) = cap_requests(vec![request("/x")]);
        assert_eq!((kept.len(), left), (1, 0));
    }

    #[test]
    fn alert_cursor_sends_only_changes() {
        let mut c = AlertCursor::default();
        let mut a = record(1);
        assert_eq!(c.changed(std::slice::from_ref(&a)).len(), 1, "new");
        assert!(c.changed(std::slice::from_ref(&a)).is_empty(), "unchanged");
        a.peak = 300.0;
        assert_eq!(c.changed(std::slice::from_ref(&a))[0].peak, 300.0);
        a.acknowledged = true;
        assert!(c.changed(std::slice::from_ref(&a))[0].acknowledged);
        let b = record(2);
        a.state = AlertEventKind::Resolved;
        let both = c.changed(&[b.clone(), a.clone()]);
        assert_eq!(both.iter().map(|x| x.id).collect::<Vec<_>>(), vec![2, 1]);
        assert!(c.changed(&[b, a]).is_empty());
    }
}

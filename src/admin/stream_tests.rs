//! The stream in process: hello first, then one message per sample carrying only what is new;
//! the query-string token; the end of every stream at shutdown.

use std::time::Duration;

use serde_json::Value;

use crate::admin::tests::Admin;
use crate::telemetry::record::CacheOutcome;

/// Reads server-sent events from one response, one `(event, data)` at a time.
struct Events {
    resp: reqwest::Response,
    buf: String,
}

impl Events {
    async fn open(url: &str) -> Events {
        let resp = reqwest::Client::new().get(url).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{url}");
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        Events {
            resp,
            buf: String::new(),
        }
    }

    /// The next event, or `None` when the stream ended (5 s at most).
    async fn next(&mut self) -> Option<(String, Value)> {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let frame: String = self.buf.drain(..end + 2).collect();
                let field = |name: &str| {
                    frame
                        .lines()
                        .find_map(|l| l.strip_prefix(name))
                        .map(str::to_owned)
                };
                let event = field("event: ").unwrap_or_default();
                let data = serde_json::from_str(&field("data: ").unwrap_or_default()).unwrap();
                return Some((event, data));
            }
            let chunk = tokio::time::timeout(Duration::from_secs(5), self.resp.chunk())
                .await
                .expect("a stream message within 5 s")
                .ok()??;
            self.buf.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}

/// Waits until the hub has taken its first base (it starts with the server).
async fn started(a: &Admin) {
    let url = format!("{}/api/stream", a.url);
    for _ in 0..250 {
        if reqwest::get(&url).await.unwrap().status() == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the stream never started");
}

#[tokio::test]
async fn hello_then_one_message_per_sample_with_only_what_is_new() {
    let a = Admin::start(None, "http://jaeger:16686").await;
    a.f.feed(3, 200, CacheOutcome::Hit, 1);
    a.f.second();
    started(&a).await;
    let mut s = Events::open(&format!("{}/api/stream", a.url)).await;
    let (event, hello) = s.next().await.unwrap();
    assert_eq!(event, "hello");
    assert_eq!(hello["summary"]["status"], "healthy");
    assert!(hello["history"].as_array().unwrap().len() <= 300);
    let hello_requests = hello["requests"].as_array().unwrap().len();

    a.f.feed(2, 200, CacheOutcome::Miss, 4);
    a.f.second();
    let (event, m) = s.next().await.unwrap();
    assert_eq!(event, "sample");
    assert!(m["seq"].as_u64() > hello["seq"].as_u64());
    assert_eq!(
        m["seq"], m["summary"]["generated_unix_ms"],
        "one sample, one seq"
    );
    let new = m["requests"].as_array().unwrap();
    assert_eq!(
        new.len() + hello_requests,
        5,
        "no request twice, none missing"
    );
    assert!(new.iter().all(|r| r["cache"] == "miss"));
    assert_eq!(m["point"]["requests"], 2);
    assert_eq!(m["point"]["resolution_seconds"], 1);
    assert_eq!(m["stream"]["clients"], 1);
    assert_eq!(m["summary"]["totals"]["requests"], 5);

    // A latency alert, evaluated by the engine: the next message carries it once.
    a.f.feed(5, 200, CacheOutcome::Miss, 400);
    a.f.second();
    a.engine.evaluate(&a.f.obs.snapshot());
    let (_, m) = s.next().await.unwrap();
    assert_eq!(m["alerts"][0]["name"], "high_latency");
    assert_eq!(m["summary"]["alerts"][0]["name"], "high_latency");
    assert_eq!(m["summary"]["status"], "degraded");
    assert!(m["requests"][0]["trace_url"]
        .as_str()
        .unwrap()
        .starts_with("http://jaeger:16686/trace/"));
    a.f.second();
    a.engine.evaluate(&a.f.obs.snapshot());
    let (_, m) = s.next().await.unwrap();
    assert!(
        m["alerts"].as_array().unwrap().is_empty(),
        "unchanged: not sent again"
    );
    assert!(m["requests"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn the_stream_takes_the_token_in_the_query_only() {
    let a = Admin::start(Some("to+k/en"), "").await;
    a.f.second();
    let url = |q: &str| format!("{}/api/stream{q}", a.url);
    let status = |u: String| async move { reqwest::get(u).await.unwrap().status() };
    assert_eq!(status(url("")).await, 401);
    assert_eq!(status(url("?access_token=wrong")).await, 401);
    for _ in 0..250 {
        if status(url("?access_token=to%2Bk%2Fen")).await == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut s = Events::open(&url("?access_token=to%2Bk%2Fen")).await;
    assert_eq!(s.next().await.unwrap().0, "hello");
    let summary = format!("{}/api/summary?access_token=to%2Bk%2Fen", a.url);
    assert_eq!(
        status(summary).await,
        401,
        "other routes never take a token from the URL"
    );
}

#[tokio::test]
async fn shutdown_ends_every_stream() {
    let a = Admin::start(None, "").await;
    started(&a).await;
    let mut s = Events::open(&format!("{}/api/stream", a.url)).await;
    assert_eq!(s.next().await.unwrap().0, "hello");
    a.stop();
    assert!(s.next().await.is_none(), "the stream ends with the server");
}

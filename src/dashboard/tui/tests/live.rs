//! The HTTP side against real local listeners: the acknowledgement request on the wire, the
//! fetch loop's backoff and refresh, the token, and the figures `top` shows against
//! `/api/summary` for the same sample.

use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, watch};

use super::keys::with_alerts;
use super::*;
use crate::admin::tests::Admin;
use crate::dashboard::tui::app::{View, Wants};
use crate::dashboard::tui::fetch::{self, AdminClient, Msg};
use crate::dashboard::tui::fmt;
use crate::dashboard::tui::keys::on_key;
use crate::dashboard::tui::model::figure;
use crate::dashboard::tui::{dispatch, on_msg};
use crate::telemetry::record::CacheOutcome;

/// A listener on 127.0.0.1:0 that answers every request `200 {}` and hands over its head.
async fn recorder() -> (String, mpsc::UnboundedReceiver<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let _ = tx.send(String::from_utf8_lossy(&head).into_owned());
            let _ = conn
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}")
                .await;
        }
    });
    (url, rx)
}

fn dead_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}", l.local_addr().unwrap())
}

#[tokio::test]
async fn ack_sends_post_with_the_bearer_token() {
    let (url, mut seen) = recorder().await;
    let mut a = app(1);
    with_alerts(&mut a);
    a.instances[0].url = url;
    let action = on_key(
        &mut a,
        KeyEvent::new(KeyCode::Char('a'), KeyModifiers::NONE),
    )
    .unwrap();
    let client = Arc::new(AdminClient::new(Duration::from_secs(5), Some("s3cret".into())).unwrap());
    let (tx, mut rx) = mpsc::channel(4);
    dispatch(action, &a, &client, &tx);
    let head = tokio::time::timeout(Duration::from_secs(10), seen.recv())
        .await
        .expect("the ack reached the listener")
        .unwrap();
    assert!(
        head.starts_with("POST /api/alerts/7/ack HTTP/1.1\r\n"),
        "{head}"
    );
    assert!(
        head.to_ascii_lowercase()
            .contains("\r\nauthorization: bearer s3cret\r\n"),
        "{head}"
    );
    let msg = rx.recv().await.unwrap();
    let seq = a.refresh_seq;
    on_msg(&mut a, msg);
    assert_eq!(a.note.as_deref(), Some("alert 7 acknowledged"));
    assert_eq!(a.refresh_seq, seq + 1, "refetches after an ack");
}

#[tokio::test]
async fn ack_against_the_real_admin_api() {
    let admin = Admin::start(Some("tok"), "").await;
    let no_token = AdminClient::new(Duration::from_secs(5), None).unwrap();
    assert_eq!(
        no_token.ack(&admin.url, 1).await,
        Err("HTTP 401 Unauthorized".into())
    );
    let client = AdminClient::new(Duration::from_secs(5), Some("tok".into())).unwrap();
    assert_eq!(
        client.ack(&admin.url, 999).await,
        Err("HTTP 404 Not Found".into())
    );
    assert!(client
        .get::<crate::dashboard::tui::model::SummaryView>(&admin.url, "/api/summary")
        .await
        .is_ok());
}

#[tokio::test]
async fn fetcher_backs_off_and_r_retries_at_once() {
    let client = Arc::new(AdminClient::new(Duration::from_secs(2), None).unwrap());
    let (wants_tx, wants_rx) = watch::channel(Wants {
        history_seconds: 300,
        ..Default::default()
    });
    let (tx, mut rx) = mpsc::channel(8);
    // A long refresh: the backoff after one failure is 20 s, so a quick second try is `r`'s.
    let task = fetch::spawn(client, 0, dead_url(), wants_rx, tx, Duration::from_secs(10));
    let Ok(Some(Msg::Round(0, first))) =
        tokio::time::timeout(Duration::from_secs(8), rx.recv()).await
    else {
        panic!("no first round");
    };
    assert!(
        matches!(&first.summary, Some(Err(e)) if e.contains("cannot connect")),
        "{first:?}"
    );
    assert_eq!(first.retry_in, Some(Duration::from_secs(20)));
    // A view change does not defeat the backoff…
    wants_tx.send_modify(|w| w.view = View::Alerts);
    assert!(
        tokio::time::timeout(Duration::from_millis(500), rx.recv())
            .await
            .is_err(),
        "no fetch on a view change while backing off"
    );
    // …`r` does.
    wants_tx.send_modify(|w| w.refresh_seq += 1);
    let Ok(Some(Msg::Round(0, second))) =
        tokio::time::timeout(Duration::from_secs(8), rx.recv()).await
    else {
        panic!("no retry after r");
    };
    assert_eq!(
        second.retry_in,
        Some(Duration::from_secs(30)),
        "2nd failure: capped"
    );
    task.abort();
}

#[tokio::test]
async fn figures_agree_with_api_summary_for_the_same_sample() {
    let admin = Admin::start(None, "").await;
    for _ in 0..3 {
        admin.f.feed(30, 200, CacheOutcome::Hit, 2);
        admin.f.feed(9, 200, CacheOutcome::Miss, 40);
        admin.f.feed(2, 503, CacheOutcome::Bypass, 120);
        admin.f.second();
    }
    let client = AdminClient::new(Duration::from_secs(5), None).unwrap();
    let mut a = app(1);
    a.instances[0].url = admin.url.clone();
    let round = client.round(&admin.url, 0, &a.wants(), true).await;
    assert!(round
        .rules
        .as_ref()
        .is_some_and(|r| r[0].metric == "avg_response_time_ms"));
    a.apply(0, round);
    // The fixture's clock only moves on `second()`: this is the same sample.
    let v: serde_json::Value = reqwest::get(format!("{}/api/summary", admin.url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let s = a.current().summary.clone().unwrap();
    assert_eq!(v["generated_unix_ms"].as_u64(), Some(s.generated_unix_ms));
    let w = &v["window"];
    let f = |k: &str| w[k].as_f64().unwrap();
    assert_eq!(w["requests"].as_u64(), Some(123));
    let buf = draw(&a, 160, 48);
    let text = screen(&buf);
    for (label, want) in [
        ("req/s", figure(f("requests_per_second"))),
        ("avg", fmt::ms(f("avg_response_time_ms"))),
        ("p99", fmt::ms(f("p99_ms"))),
        ("errors", fmt::pct(f("error_rate_percent"))),
        ("hit ratio", fmt::pct(f("cache_hit_ratio_percent"))),
        ("in flight", v["queue_size"].to_string()),
        (
            "upstreams",
            format!("{}/{}", v["healthy_upstreams"], v["total_upstreams"]),
        ),
    ] {
        assert!(
            find_in_row(&buf, label, &format!(" {want} ")).is_some(),
            "{label} = {want}:\n{text}"
        );
    }
    assert_eq!(f("requests_per_second"), 123.0 / f("covered_seconds"));
    let window = format!("window {}s", figure(f("window_seconds")));
    assert!(rows(&buf)[0].contains(&window), "{}", rows(&buf)[0]);
    assert!(rows(&buf)[0].contains(&format!("sample {}", fmt::clock(s.generated_unix_ms))));
    // The 2xx/5xx mix is the window's.
    let mix = rows(&buf)
        .into_iter()
        .find(|r| r.starts_with("5xx"))
        .unwrap();
    assert!(mix.contains(&w["status"]["5xx"].to_string()), "{mix}");
    // The cluster row says the same.
    a.view = View::Cluster;
    let buf = draw(&a, 160, 20);
    let row = rows(&buf)
        .into_iter()
        .find(|r| r.starts_with(&admin.url[7..]))
        .unwrap_or_else(|| panic!("no cluster row:\n{}", screen(&buf)));
    assert!(row.contains(&figure(f("requests_per_second"))), "{row}");
    assert!(row.contains(&fmt::ms(f("p99_ms"))), "{row}");
    assert!(
        row.contains(&fmt::pct(f("cache_hit_ratio_percent"))),
        "{row}"
    );
}

#[tokio::test]
async fn plain_frame_shows_each_admin_and_unreachable_ones() {
    let admin = Admin::start(None, "").await;
    admin.f.feed(4, 200, CacheOutcome::Hit, 2);
    admin.f.second();
    let dead = dead_url();
    let client = AdminClient::new(Duration::from_secs(5), None).unwrap();
    let (text, ok) =
        crate::dashboard::tui::plain::frame(&client, &[admin.url.clone(), dead.clone()]).await;
    assert_eq!(ok, 1);
    assert!(
        text.contains(&format!("== {} — healthy", admin.url)),
        "{text}"
    );
    assert!(text.contains("Cache Hit Ratio: 100% (Cache Hits: 4, Cache Misses: 0)"));
    assert!(text.contains("127.0.0.1:9001"), "{text}");
    assert!(
        text.contains(&format!("== {dead} — unreachable: cannot connect")),
        "{text}"
    );
}

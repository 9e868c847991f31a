//! Fetching beside the draw loop: one task per instance asks its admin API for a round of
//! answers every refresh and sends them to the UI over a channel; the UI never waits on the
//! network. A failing instance is retried with exponential backoff (refresh × 2ⁿ, at most
//! [`MAX_BACKOFF`]); `r` retries at once.

use std::sync::Arc;
use std::time::{Duration, Instant};

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, watch};

use super::app::{Round, View, Wants};
use super::model::{
    AlertsView, HistoryView, RecentView, RulesView, SummaryView, UpstreamDetailView,
};

/// The longest wait between retries of an unreachable instance.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// How often the alert rules (thresholds) are read again.
const RULES_EVERY: Duration = Duration::from_secs(30);

/// What the fetchers tell the UI.
#[derive(Debug)]
pub enum Msg {
    /// A round from instance `.0`.
    Round(usize, Box<Round>),
    /// The answer to an acknowledgement.
    Acked {
        /// The instance.
        instance: usize,
        /// The alert.
        id: u64,
        /// `Err` with why it failed.
        result: Result<(), String>,
    },
}

/// The wait before retry `failures` (1 after the first failure).
pub fn backoff(refresh: Duration, failures: u32) -> Duration {
    refresh
        .saturating_mul(1 << failures.min(16))
        .min(MAX_BACKOFF)
        .max(refresh)
}

/// An HTTP client for admin APIs, with the bearer token when one is given.
#[derive(Debug, Clone)]
pub struct AdminClient {
    http: reqwest::Client,
    token: Option<String>,
}

impl AdminClient {
    /// A client whose requests give up after `timeout`.
    pub fn new(timeout: Duration, token: Option<String>) -> reqwest::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()?;
        Ok(AdminClient { http, token })
    }

    fn auth(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    /// GETs `base` + `path` as JSON.
    pub async fn get<T: DeserializeOwned>(&self, base: &str, path: &str) -> Result<T, String> {
        let resp = self
            .auth(self.http.get(format!("{base}{path}")))
            .send()
            .await
            .map_err(|e| describe(&e))?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status()));
        }
        let body = resp.bytes().await.map_err(|e| describe(&e))?;
        serde_json::from_slice(&body).map_err(|e| format!("bad answer from {path}: {e}"))
    }

    /// `POST /api/alerts/{id}/ack`.
    pub async fn ack(&self, base: &str, id: u64) -> Result<(), String> {
        let resp = self
            .auth(self.http.post(format!("{base}/api/alerts/{id}/ack")))
            .send()
            .await
            .map_err(|e| describe(&e))?;
        match resp.status() {
            s if s.is_success() => Ok(()),
            s => Err(format!("HTTP {s}")),
        }
    }

    /// One round for instance `index`: the summary and history always; the request tail, the
    /// alerts and an upstream's detail only when the UI shows them for this instance.
    pub async fn round(&self, base: &str, index: usize, w: &Wants, want_rules: bool) -> Round {
        let mine = w.selected == index;
        let history_path = format!("/api/metrics/history?duration={}", w.history_seconds);
        let summary = self.get::<SummaryView>(base, "/api/summary");
        let history = self.get::<HistoryView>(base, &history_path);
        let recent = async {
            if mine && w.view == View::Requests && !w.paused {
                self.get::<RecentView>(base, "/api/requests/recent")
                    .await
                    .ok()
            } else {
                None
            }
        };
        let alerts = async {
            if mine && w.view == View::Alerts {
                self.get::<AlertsView>(base, "/api/alerts").await.ok()
            } else {
                None
            }
        };
        let rules = async {
            if want_rules {
                self.get::<RulesView>(base, "/api/alerts/rules").await.ok()
            } else {
                None
            }
        };
        let detail = async {
            let addr = w.detail.as_ref().filter(|_| mine)?;
            let path = format!(
                "/api/upstreams/{}?duration={}",
                utf8_percent_encode(addr, NON_ALPHANUMERIC),
                w.history_seconds
            );
            let d = self.get::<UpstreamDetailView>(base, &path).await.ok()?;
            Some((addr.clone(), d))
        };
        let (summary, history, recent, alerts, rules, detail) =
            tokio::join!(summary, history, recent, alerts, rules, detail);
        let summary = summary.map(|mut s| {
            absolute_links(base, &mut s.slowest);
            s
        });
        Round {
            summary: Some(summary),
            history: history.ok(),
            recent: recent.map(|mut r| {
                absolute_links(base, &mut r.requests);
                r.requests
            }),
            alerts,
            rules: rules.map(|r| r.rules),
            detail,
            retry_in: None,
        }
    }
}

/// A transport error in a few words ("connection refused", "timed out").
/// A relative trace link (the built-in view's `/jaeger/trace/…`) is relative to the instance's
/// admin base; a terminal cannot resolve it, so it is made absolute here.
pub fn absolute_links(base: &str, requests: &mut [super::model::RequestView]) {
    for url in requests.iter_mut().filter_map(|r| r.trace_url.as_mut()) {
        if url.starts_with('/') {
            *url = format!("{}{url}", base.trim_end_matches('/'));
        }
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".to_owned();
    }
    let mut source: Option<&dyn std::error::Error> = Some(e);
    let mut last = e.to_string();
    while let Some(s) = source {
        last = s.to_string();
        source = s.source();
    }
    if e.is_connect() {
        format!("cannot connect: {last}")
    } else {
        last
    }
}

/// Starts the fetch task of instance `index`; it ends when the UI drops its receiver.
pub fn spawn(
    client: Arc<AdminClient>,
    index: usize,
    base: String,
    mut wants: watch::Receiver<Wants>,
    tx: mpsc::Sender<Msg>,
    refresh: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut failures = 0u32;
        let mut rules_read: Option<Instant> = None;
        loop {
            let w = wants.borrow_and_update().clone();
            let want_rules = rules_read.is_none_or(|t| t.elapsed() >= RULES_EVERY);
            let mut round = client.round(&base, index, &w, want_rules).await;
            let ok = matches!(round.summary, Some(Ok(_)));
            if ok && want_rules {
                rules_read = Some(Instant::now());
            }
            failures = if ok { 0 } else { failures.saturating_add(1) };
            let delay = if ok {
                refresh
            } else {
                backoff(refresh, failures)
            };
            round.retry_in = (!ok).then_some(delay);
            if tx.send(Msg::Round(index, Box::new(round))).await.is_err() {
                return;
            }
            let deadline = tokio::time::Instant::now() + delay;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => break,
                    changed = wants.changed() => {
                        if changed.is_err() {
                            return;
                        }
                        let now = wants.borrow().clone();
                        // `r` always fetches; other changes (view, detail) only when healthy,
                        // so key presses do not defeat the backoff.
                        if now.refresh_seq != w.refresh_seq || (ok && now != w) {
                            break;
                        }
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let s = Duration::from_secs(1);
        assert_eq!(backoff(s, 1), Duration::from_secs(2));
        assert_eq!(backoff(s, 2), Duration::from_secs(4));
        assert_eq!(backoff(s, 4), Duration::from_secs(16));
        assert_eq!(backoff(s, 5), MAX_BACKOFF);
        assert_eq!(backoff(s, 99), MAX_BACKOFF);
        let slow = Duration::from_secs(60);
        assert_eq!(backoff(slow, 1), slow, "never faster than the refresh");
    }

    #[test]
    fn relative_trace_links_get_the_admin_base() {
        let view = |url: Option<&str>| crate::dashboard::tui::model::RequestView {
            trace_url: url.map(str::to_owned),
            ..Default::default()
        };
        let mut rs = [
            view(Some("/jaeger/trace/ab")),
            view(Some("http://jaeger:16686/trace/ab")),
            view(None),
        ];
        absolute_links("http://127.0.0.1:9190/", &mut rs);
        assert_eq!(
            rs[0].trace_url.as_deref(),
            Some("http://127.0.0.1:9190/jaeger/trace/ab")
        );
        assert_eq!(
            rs[1].trace_url.as_deref(),
            Some("http://jaeger:16686/trace/ab")
        );
        assert_eq!(rs[2].trace_url, None);
    }
}

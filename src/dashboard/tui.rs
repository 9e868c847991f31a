//! `sightline top`: a live terminal dashboard over one or more proxies' admin APIs.
//!
//! Each refresh fetches `/api/summary` from every admin URL at once and prints one block per
//! proxy: the text dashboard plus upstreams and the slowest requests. On a terminal the screen is
//! redrawn until Ctrl-C; with `--once`, or when stdout is not a terminal, one plain frame is
//! printed. `SIGHTLINE_ADMIN_TOKEN`, when set, is sent as the bearer token.

use std::fmt::Write;
use std::io::IsTerminal;
use std::time::Duration;

use anyhow::bail;

use super::text::{figure, render};
use crate::admin::api::Summary;

/// The admin URL used when none is given.
pub const DEFAULT_ADMIN: &str = "http://127.0.0.1:9190";
/// The environment variable holding the admin bearer token.
pub const TOKEN_ENV: &str = "SIGHTLINE_ADMIN_TOKEN";

/// Runs `sightline top` until Ctrl-C (or once).
pub async fn run_top(admins: Vec<String>, refresh: Duration, once: bool) -> anyhow::Result<()> {
    let admins = if admins.is_empty() {
        vec![DEFAULT_ADMIN.to_owned()]
    } else {
        admins
    };
    let token = std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty());
    let client = reqwest::Client::builder()
        .timeout(refresh.clamp(Duration::from_millis(500), Duration::from_secs(5)))
        .build()?;
    let tty = std::io::stdout().is_terminal();
    if once || !tty {
        let (text, reachable) = frame(&client, &admins, token.as_deref()).await;
        print!("{text}");
        if reachable == 0 {
            bail!("no admin API answered");
        }
        return Ok(());
    }
    let mut every = tokio::time::interval(refresh.max(Duration::from_millis(100)));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {
                let (text, _) = frame(&client, &admins, token.as_deref()).await;
                // Clear and home, then draw: one write so the screen does not flicker.
                print!("\x1b[2J\x1b[H{text}");
            }
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

/// Fetches one summary.
pub async fn fetch(
    client: &reqwest::Client,
    admin: &str,
    token: Option<&str>,
) -> Result<Summary, String> {
    let url = format!("{}/api/summary", admin.trim_end_matches('/'));
    let mut req = client.get(&url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.map_err(|e| format!("unreachable: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("HTTP {}", resp.status()));
    }
    resp.json::<Summary>()
        .await
        .map_err(|e| format!("bad summary: {e}"))
}

/// Fetches every admin at once and renders one frame; also returns how many answered.
pub async fn frame(
    client: &reqwest::Client,
    admins: &[String],
    token: Option<&str>,
) -> (String, usize) {
    let mut tasks = tokio::task::JoinSet::new();
    for (i, admin) in admins.iter().enumerate() {
        let (client, admin, token) = (client.clone(), admin.clone(), token.map(str::to_owned));
        tasks.spawn(async move { (i, fetch(&client, &admin, token.as_deref()).await) });
    }
    let mut results: Vec<Option<Result<Summary, String>>> = vec![None; admins.len()];
    while let Some(done) = tasks.join_next().await {
        if let Ok((i, r)) = done {
            results[i] = Some(r);
        }
    }
    let mut out = String::new();
    let mut reachable = 0;
    for (admin, r) in admins.iter().zip(results) {
        let r = r.unwrap_or_else(|| Err("fetch task failed".to_owned()));
        reachable += usize::from(r.is_ok());
        out.push_str(&block(admin, &r));
        out.push('\n');
    }
    (out, reachable)
}

/// One proxy's block of a frame.
pub fn block(admin: &str, r: &Result<Summary, String>) -> String {
    let s = match r {
        Ok(s) => s,
        Err(e) => return format!("== {admin} — {e}\n"),
    };
    let status = serde_json::to_value(s.status).unwrap_or_default();
    let mut out = format!(
        "== {admin} — {} (sightline {})\n",
        status.as_str().unwrap_or("?"),
        s.snapshot.version
    );
    out.push_str(&render(&s.snapshot));
    let _ = writeln!(
        out,
        "{:<24} {:<5} {:>9} {:>10} {:>8} {:>9}",
        "UPSTREAM", "STATE", "IN FLIGHT", "REQUESTS", "ERRORS", "AVG MS"
    );
    for u in &s.snapshot.upstreams {
        let _ = writeln!(
            out,
            "{:<24} {:<5} {:>9} {:>10} {:>8} {:>9}",
            u.address,
            if u.healthy { "up" } else { "DOWN" },
            u.in_flight,
            u.requests,
            u.errors,
            figure(u.window_avg_response_time_ms)
        );
    }
    if !s.slowest.is_empty() {
        let _ = writeln!(out, "Slowest in the window:");
        for r in s.slowest.iter().take(5) {
            let req = &r.request;
            let trace = r
                .trace_url
                .clone()
                .or_else(|| req.trace_id.clone())
                .unwrap_or_else(|| "-".to_owned());
            let _ = writeln!(
                out,
                "  {:>8} ms  {} {} {} {}",
                figure(req.latency_ms),
                req.status,
                req.method,
                req.path,
                trace
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::tests::Admin;
    use crate::telemetry::record::CacheOutcome;

    #[tokio::test]
    async fn frame_shows_each_admin_and_unreachable_ones() {
        let a = Admin::start(None, "").await;
        a.f.feed(4, 200, CacheOutcome::Hit, 2);
        a.f.second();
        // A port that was free a moment ago: nothing listens there.
        let dead = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}", l.local_addr().unwrap())
        };
        let client = reqwest::Client::new();
        let (text, ok) = frame(&client, &[a.url.clone(), dead.clone()], None).await;
        assert_eq!(ok, 1);
        assert!(text.contains(&format!("== {} — healthy", a.url)), "{text}");
        assert!(text.contains("Cache Hit Ratio: 100% (Cache Hits: 4, Cache Misses: 0)"));
        assert!(text.contains("127.0.0.1:9001"), "{text}");
        assert!(text.contains(&format!("== {dead} — unreachable")), "{text}");
    }

    #[tokio::test]
    async fn token_is_sent() {
        let a = Admin::start(Some("tok"), "").await;
        let client = reqwest::Client::new();
        let r = fetch(&client, &a.url, None).await;
        assert_eq!(r.unwrap_err(), "HTTP 401 Unauthorized");
        assert!(fetch(&client, &a.url, Some("tok")).await.is_ok());
    }
}

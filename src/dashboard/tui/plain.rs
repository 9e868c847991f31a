//! The plain-text frame of `top --once` (and of `top` without a terminal): per instance the
//! text dashboard, its upstreams and the slowest requests.

use std::fmt::Write;

use super::fetch::AdminClient;
use super::model::{figure, render_text, Summary};

/// Fetches every admin at once and renders one frame; also returns how many answered.
pub async fn frame(client: &AdminClient, admins: &[String]) -> (String, usize) {
    let fetches = admins
        .iter()
        .map(|a| client.get::<Summary>(a.trim_end_matches('/'), "/api/summary"));
    let results = futures_util::future::join_all(fetches).await;
    let mut out = String::new();
    let mut reachable = 0;
    for (admin, r) in admins.iter().zip(results) {
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
        Err(e) => return format!("== {admin} — unreachable: {e}\n"),
    };
    let status = serde_json::to_value(s.status).unwrap_or_default();
    let mut out = format!(
        "== {admin} — {} (sightline {})\n",
        status.as_str().unwrap_or("?"),
        s.snapshot.version
    );
    out.push_str(&render_text(&s.snapshot));
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
            if u.ejected {
                "EJECT"
            } else if u.healthy {
                "up"
            } else {
                "DOWN"
            },
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

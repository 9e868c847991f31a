//! `sightline top`, the real binary in a real terminal (tmux), against a running
//! `sightline demo` on free ports: upstream rows, sparkline glyphs, Tab, `q` exits 0, and the
//! figures on screen equal `/api/summary`'s for the same sample.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sightline::dashboard::tui::fmt;
use sightline::dashboard::tui::model::figure;

use crate::util::{client, free_addr, poll_for, poll_until, sightline_command, SIGHTLINE_BIN};

/// A running `sightline demo`; SIGTERM, then SIGKILL, on drop.
struct Demo {
    child: Child,
    proxy: SocketAddr,
    admin: SocketAddr,
}

impl Demo {
    async fn start() -> Demo {
        let (proxy, admin) = (free_addr(), free_addr());
        let child = sightline_command([
            "demo",
            "--listen",
            &proxy.to_string(),
            "--admin",
            &admin.to_string(),
        ])
        .env("OTEL_SDK_DISABLED", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sightline demo");
        let demo = Demo {
            child,
            proxy,
            admin,
        };
        let http = client();
        let health = format!("{}/health", demo.admin_url());
        assert!(
            poll_until(Duration::from_secs(20), || async {
                http.get(&health).send().await.is_ok()
            })
            .await,
            "the demo's admin API never answered"
        );
        demo
    }

    fn admin_url(&self) -> String {
        format!("http://{}", self.admin)
    }

    async fn summary(&self) -> Value {
        client()
            .get(format!("{}/api/summary", self.admin_url()))
            .send()
            .await
            .expect("summary")
            .json()
            .await
            .expect("summary JSON")
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        // SAFETY: kill(2) has no memory-safety preconditions; the pid is our own child's.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Requests through the demo until dropped: static (cached) and API (forwarded, some slow).
struct Traffic(Arc<AtomicBool>);

impl Traffic {
    fn start(proxy: SocketAddr) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        tokio::spawn(async move {
            let http = client();
            let mut i = 0u64;
            while !flag.load(Ordering::Relaxed) {
                i += 1;
                let path = match i % 3 {
                    0 => "/static/app.css".to_owned(),
                    1 => format!("/api/items/{i}?delay_ms={}", i % 40),
                    _ => format!(
                        "/api/items/{i}?status={}",
                        if i % 10 == 2 { 503 } else { 200 }
                    ),
                };
                let _ = http.get(format!("http://{proxy}{path}")).send().await;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        Traffic(stop)
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// A private tmux server (its own socket) running one 160×48 session; killed on drop.
struct Tmux {
    socket: String,
    status: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmux {
    /// Runs `sightline top ARGS` in a fresh session; its exit status lands in a file.
    fn top(args: &[&str]) -> Tmux {
        static N: AtomicUsize = AtomicUsize::new(0);
        let socket = format!(
            "sightline-it-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let status = dir.path().join("status");
        let cmd = format!(
            "'{}' top {} ; echo $? > '{}'",
            SIGHTLINE_BIN,
            args.join(" "),
            status.display()
        );
        let t = Tmux {
            socket,
            status,
            _dir: dir,
        };
        let ok = t
            .tmux(&[
                "new-session",
                "-d",
                "-x",
                "160",
                "-y",
                "48",
                "-s",
                "top",
                &cmd,
            ])
            .status
            .success();
        assert!(ok, "tmux new-session failed (is tmux installed?)");
        t
    }

    fn tmux(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .env_remove("TMUX")
            .output()
            .expect("run tmux")
    }

    fn capture(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p", "-t", "top"]).stdout)
            .into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "top"];
        args.extend_from_slice(keys);
        assert!(self.tmux(&args).status.success(), "send-keys {keys:?}");
    }

    /// Polls the pane until `check` accepts it; panics with the last capture after `secs`.
    async fn wait_for(&self, secs: u64, what: &str, check: impl Fn(&str) -> bool) -> String {
        let mut last = String::new();
        let found = poll_for(Duration::from_secs(secs), || {
            last = self.capture();
            let ok = check(&last);
            let pane = last.clone();
            async move { ok.then_some(pane) }
        })
        .await;
        found.unwrap_or_else(|| panic!("{what} never showed; last screen:\n{last}"))
    }

    /// The exit status `top` wrote, once it has exited.
    async fn exit_status(&self, secs: u64) -> Option<String> {
        poll_for(Duration::from_secs(secs), || async {
            std::fs::read_to_string(&self.status)
                .ok()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        })
        .await
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.tmux(&["kill-server"]);
    }
}

fn is_bar(c: char) -> bool {
    ('▁'..='█').contains(&c)
}

/// The overview row starting with `label`.
fn row<'a>(pane: &'a str, label: &str) -> Option<&'a str> {
    pane.lines().find(|l| l.starts_with(label))
}

#[tokio::test]
async fn top_in_tmux_shows_upstreams_and_sparklines_tab_switches_q_exits_0() {
    let demo = Demo::start().await;
    let _traffic = Traffic::start(demo.proxy);
    let upstreams: Vec<String> = demo.summary().await["upstreams"]
        .as_array()
        .expect("upstreams")
        .iter()
        .map(|u| u["address"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(upstreams.len(), 3);
    let tmux = Tmux::top(&["--admin", &demo.admin_url()]);
    let pane = tmux
        .wait_for(30, "the overview with req/s sparkline glyphs", |p| {
            p.contains("HEALTHY")
                && row(p, "req/s").is_some_and(|r| r.chars().filter(|&c| is_bar(c)).count() >= 3)
        })
        .await;
    assert!(pane.contains("figures · last 5 min"), "{pane}");
    assert!(
        row(&pane, "memory").is_some_and(|r| r.chars().any(is_bar)),
        "{pane}"
    );
    tmux.keys(&["Tab"]);
    let pane = tmux
        .wait_for(10, "the upstreams view with every upstream", |p| {
            p.contains("ADDRESS") && upstreams.iter().all(|u| p.contains(u.as_str()))
        })
        .await;
    assert!(
        !pane.contains("figures · last 5 min"),
        "the view changed:\n{pane}"
    );
    for u in &upstreams {
        let line = pane.lines().find(|l| l.starts_with(u.as_str())).unwrap();
        assert!(line.contains(" up ") && line.contains("ok "), "{line}");
    }
    // A resize to a narrow terminal drops columns, not the program.
    assert!(tmux
        .tmux(&["resize-window", "-t", "top", "-x", "40", "-y", "12"])
        .status
        .success());
    let narrow = tmux
        .wait_for(10, "the narrow upstreams table", |p| {
            p.lines().all(|l| l.chars().count() <= 40)
                && p.contains("ADDRESS")
                && !p.contains("LAST CHECK")
        })
        .await;
    assert!(narrow.contains(upstreams[0].as_str()), "{narrow}");
    tmux.keys(&["q"]);
    let status = tmux.exit_status(10).await;
    assert_eq!(status.as_deref(), Some("0"), "q exits 0");
}

#[tokio::test]
async fn top_in_tmux_agrees_with_api_summary_for_the_same_sample() {
    let demo = Demo::start().await;
    let _traffic = Traffic::start(demo.proxy);
    let tmux = Tmux::top(&["--admin", &demo.admin_url()]);
    tmux.wait_for(30, "the overview", |p| row(p, "req/s").is_some())
        .await;
    // Summaries before and after a capture with the same sample time bracket the sample the
    // screen shows; the screen must show its figures exactly.
    let mut compared = 0;
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let before = demo.summary().await;
        let pane = tmux.capture();
        let after = demo.summary().await;
        let t = before["generated_unix_ms"].as_u64().unwrap();
        if after["generated_unix_ms"].as_u64() != Some(t)
            || !pane.contains(&format!("sample {}", fmt::clock(t)))
        {
            continue;
        }
        let w = &before["window"];
        let f = |k: &str| w[k].as_f64().unwrap();
        if f("requests") < 10.0 {
            continue;
        }
        for (label, want) in [
            ("req/s", figure(f("requests_per_second"))),
            ("avg", fmt::ms(f("avg_response_time_ms"))),
            ("p99", fmt::ms(f("p99_ms"))),
            ("errors", fmt::pct(f("error_rate_percent"))),
            ("hit ratio", fmt::pct(f("cache_hit_ratio_percent"))),
            ("in flight", before["queue_size"].to_string()),
        ] {
            let line = row(&pane, label).unwrap_or_else(|| panic!("no {label} row:\n{pane}"));
            let shown = line[label.len()..].split('↑').next().unwrap();
            let shown = shown.split(['→', '↓']).next().unwrap().trim();
            assert_eq!(shown, want, "{label} for sample {t}:\n{pane}\n{before}");
        }
        let window = format!("window {}s", figure(f("window_seconds")));
        assert!(pane.lines().next().unwrap().contains(&window), "{pane}");
        compared += 1;
        if compared == 3 {
            break;
        }
    }
    assert_eq!(
        compared, 3,
        "never caught the screen and /api/summary on one sample"
    );
    tmux.keys(&["C-c"]);
    assert_eq!(
        tmux.exit_status(10).await.as_deref(),
        Some("0"),
        "Ctrl-C exits 0"
    );
}

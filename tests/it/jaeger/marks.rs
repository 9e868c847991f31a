//! The web dashboard with the built-in view, in headless Chromium: the latency chart's marks
//! link to `/jaeger/trace/<id>` on the admin listener, and following one opens that trace, also
//! with `admin.token` set (the page opened as `/#token=TOKEN`).

use std::collections::HashSet;
use std::time::Duration;

use super::{trace_id, with_view};
use crate::util::{
    client, fetch, poll_until, Browser, ConfigBuilder, ProxyProcess, TestOrigin, TestResponse,
};

const TOKEN: &str = "s3cret";

/// The hrefs of the latency chart's marks.
const MARKS: &str = r##"[...document.querySelectorAll("#c-lat ~ .marks a.mark")].map(a => a.getAttribute("href"))"##;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_marks_open_their_traces_in_the_built_in_view() {
    let origin = TestOrigin::spawn(|req| {
        let r = TestResponse::ok("item").header("cache-control", "no-store");
        match req.path().strip_prefix("/slow/") {
            Some(_) => r.delay(Duration::from_millis(50)),
            None => r,
        }
    })
    .await;
    let cfg = ConfigBuilder::new(&[origin.addr()])
        .set("upstreams.health_check.kind", "none")
        .set("admin.token", TOKEN);
    let proxy = ProxyProcess::start_with_admin(with_view(cfg)).await;
    let admin = proxy.admin_url("");
    let admin = admin.trim_end_matches('/');
    let http = client();
    let mut sent = HashSet::new();
    for i in 0..6 {
        for path in [format!("/fast/{i}"), format!("/slow/{i}")] {
            let r = fetch(http.get(proxy.url(&path))).await;
            assert_eq!(r.status, 200, "{r:?}");
            sent.insert(trace_id(&r));
        }
    }

    let mut browser = Browser::launch().await;
    browser.open(&format!("{admin}/#token={TOKEN}")).await;
    let marks = browser
        .poll(MARKS, Duration::from_secs(20), |v| {
            v.as_array().is_some_and(|m| !m.is_empty())
        })
        .await
        .expect("the latency chart marks its slowest samples");
    let href = marks[0].as_str().expect("marks are links").to_owned();
    let id = href
        .strip_prefix("/jaeger/trace/")
        .unwrap_or_else(|| panic!("{href} is no built-in view link"));
    assert!(sent.contains(id), "{href} links no request's trace");
    let stored = format!("{admin}/jaeger/api/traces/{id}?access_token={TOKEN}");
    let held = poll_until(Duration::from_secs(20), || async {
        let r = http.get(&stored).send().await;
        r.is_ok_and(|r| r.status().is_success())
    })
    .await;
    assert!(held, "trace {id} never reached the embedded store");

    // What a click does: the page's own origin, with whatever the page holds for /jaeger.
    let follow = format!("fetch({href:?}).then(r => r.status)");
    let status = browser
        .poll(&follow, Duration::from_secs(5), |v| *v == 200)
        .await;
    assert!(
        status.is_some(),
        "following {href} from the dashboard: HTTP {}",
        browser.eval(&follow).await
    );
    browser.open(&format!("{admin}{href}")).await;
    let text = "document.body.innerText";
    let shown = browser
        .poll(text, Duration::from_secs(20), |v| {
            v.as_str().is_some_and(|t| t.contains("sightline: GET"))
        })
        .await;
    assert!(
        shown.is_some(),
        "{href} renders the trace: {}",
        browser.eval(text).await
    );
    browser.quit().await;
}

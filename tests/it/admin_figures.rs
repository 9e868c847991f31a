//! The admin's figures against what the test really sent through the real binary: exact cache
//! counts on the dashboard, windowed request rate and latency, `/metrics` as Prometheus text
//! agreeing with `/api/summary`, and `/health` latency while the proxy is saturated.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::admin::{admin_get, num, site, summary_counting, summary_where};
use crate::load::{finished_between, mean_ms, measuring_alone, quantile, unix_ms_now, Load};
use crate::util::{
    client, client_builder, fetch, with_healthz, ConfigBuilder, ProxyProcess, TestOrigin,
    TestResponse,
};

#[tokio::test]
async fn dashboard_counts_10_misses_and_30_hits_exactly() {
    let origin = TestOrigin::spawn(site).await;
    let cfg = ConfigBuilder::new(&[origin.addr()]).set("upstreams.health_check.kind", "none");
    let proxy = ProxyProcess::start_with_admin(cfg).await;
    let http = client();
    for round in 0..4 {
        for i in 0..10 {
            let r = fetch(http.get(proxy.url(&format!("/c/page-{i}")))).await;
            assert_eq!(r.status, 200, "round {round}, page {i}: {r:?}");
        }
    }
    assert_eq!(
        origin.requests().len(),
        10,
        "the origin saw more than the misses"
    );
    summary_counting(&proxy, 40).await;
    let r = admin_get(&proxy, "/dashboard", None).await;
    eprintln!("GET /dashboard after 10 misses + 30 hits:\n{}", r.body);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/plain")),
        "{r:?}"
    );
    assert!(
        r.body
            .lines()
            .any(|l| l == "Cache Hit Ratio: 75% (Cache Hits: 30, Cache Misses: 10)"),
        "wrong counts:\n{}",
        r.body
    );
    for line in [
        "Real-Time Metrics Dashboard:",
        "Upstreams: 1/1 healthy",
        "Active Alerts: none",
        "Error Rate: 0%",
    ] {
        assert!(
            r.body.lines().any(|l| l == line),
            "no {line:?}:\n{}",
            r.body
        );
    }
    let h = proxy.admin_json("/health").await;
    assert_eq!(h["cache_hit_ratio"], 0.75, "{h}");
    assert_eq!(h["cache_entries"], 10, "{h}");
}

/// Waits until a summary's whole window lies inside a load that started at `started_unix_ms`
/// and covers at least `min_covered` seconds.
async fn summary_inside_load(
    proxy: &ProxyProcess,
    started_unix_ms: u64,
    min_covered: f64,
) -> (Value, u64, u64) {
    let s = summary_where(
        proxy,
        Duration::from_secs(5),
        "a window entirely inside the load",
        |s| {
            let gen = s["generated_unix_ms"].as_u64().unwrap_or(0);
            let covered = s["window"]["covered_seconds"].as_f64().unwrap_or(0.0);
            let start = gen.saturating_sub((covered * 1000.0) as u64);
            covered >= min_covered && start >= started_unix_ms
        },
    )
    .await;
    let gen = num(&s, "/generated_unix_ms") as u64;
    let start = gen - (num(&s, "/window/covered_seconds") * 1000.0) as u64;
    (s, start, gen)
}

#[tokio::test]
async fn summary_rate_reads_a_steady_200_per_second() {
    let _alone = measuring_alone().await;
    const RATE: f64 = 200.0;
    let origin = TestOrigin::spawn(site).await;
    let cfg = ConfigBuilder::new(&[origin.addr()])
        .set("upstreams.health_check.kind", "none")
        .set("dashboard.window", "10s");
    let proxy = ProxyProcess::start_with_admin(cfg).await;
    let started = unix_ms_now();
    let load = Load::paced(proxy.url("/fresh"), Duration::from_millis(5));
    // The load itself: 10 s of it, then the first reading whose 10 s window it fills.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let (s, from, to) = summary_inside_load(&proxy, started, 9.5).await;
    let outcomes = load.stop().await;
    let failed = outcomes.iter().filter(|o| o.status != 200).count();
    let secs = (unix_ms_now() - started) as f64 / 1000.0;
    let covered = num(&s, "/window/covered_seconds");
    let in_window = finished_between(&outcomes, from, to).len();
    let sent_rate = in_window as f64 / covered;
    let read = num(&s, "/window/requests_per_second");
    eprintln!(
        "rate: paced {RATE}/s (one GET every 5 ms) for {secs:.1} s -> {} requests ({:.1}/s), \
         {failed} failed; window {covered} s: client finished {in_window} in it = \
         {sent_rate:.1}/s; /api/summary window.requests_per_second = {read} (window.requests \
         {})",
        outcomes.len(),
        outcomes.len() as f64 / secs,
        s["window"]["requests"]
    );
    assert_eq!(failed, 0, "requests failed under a 200/s load");
    assert!(
        (sent_rate - RATE).abs() <= 10.0,
        "the load generator itself fell behind: {sent_rate:.1}/s in the window"
    );
    assert!(
        (read - RATE).abs() <= 10.0,
        "/api/summary reads {read} req/s for a steady {RATE}/s (client: {sent_rate:.1}/s)"
    );
    assert!(
        (read - sent_rate).abs() <= 0.02 * sent_rate,
        "/api/summary reads {read} req/s; the client finished {sent_rate:.1}/s in that window"
    );
}

#[tokio::test]
async fn average_latency_through_a_100ms_origin_reads_100_to_115ms() {
    let _alone = measuring_alone().await;
    const DELAY: Duration = Duration::from_millis(100);
    let origin = TestOrigin::spawn(with_healthz(|_| {
        TestResponse::ok("slow")
            .header("cache-control", "no-store")
            .delay(DELAY)
    }))
    .await;
    let cfg = ConfigBuilder::new(&[origin.addr()])
        .set("upstreams.health_check.kind", "none")
        .set("dashboard.window", "3s");
    let proxy = ProxyProcess::start_with_admin(cfg).await;
    let started = unix_ms_now();
    let load = Load::closed(proxy.url("/slow"), 4);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (s, from, to) = summary_inside_load(&proxy, started, 2.5).await;
    let health = proxy.admin_json("/health").await;
    let outcomes = load.stop().await;
    let in_window: Vec<Duration> = finished_between(&outcomes, from, to)
        .iter()
        .map(|o| o.latency)
        .collect();
    let read = num(&s, "/window/avg_response_time_ms");
    let client_mean = mean_ms(&in_window);
    eprintln!(
        "latency: origin sleeps {DELAY:?}; 4 clients, {} requests in the {} s window; client \
         mean {client_mean:.1} ms; /api/summary window.avg_response_time_ms = {read} (p50 {}, \
         p99 {}); /health avg_response_time_ms = {}",
        in_window.len(),
        s["window"]["covered_seconds"],
        s["window"]["p50_ms"],
        s["window"]["p99_ms"],
        health["avg_response_time_ms"]
    );
    assert!(outcomes.iter().all(|o| o.status == 200), "requests failed");
    assert!(
        (100.0..=115.0).contains(&read),
        "avg latency reads {read} ms through a {DELAY:?} origin (client mean {client_mean:.1} ms)"
    );
    assert!(
        read <= client_mean + 1.0,
        "the proxy reports {read} ms, more than the client waited ({client_mean:.1} ms)"
    );
}

/// One sample of a Prometheus exposition.
#[derive(Debug, Clone, PartialEq)]
struct PromSample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A parsed exposition: family types and the samples in order.
#[derive(Debug, Default)]
struct Exposition {
    types: HashMap<String, String>,
    samples: Vec<PromSample>,
}

impl Exposition {
    /// The value of the sample `name` with exactly these labels.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let want: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.samples
            .iter()
            .find(|s| s.name == name && s.labels == want)
            .unwrap_or_else(|| panic!("no sample {name}{labels:?}"))
            .value
    }
}

fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(s: &str) -> bool {
    is_metric_name(s) && !s.contains(':')
}

fn parse_value(s: &str) -> Result<f64, String> {
    match s {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => s.parse().map_err(|e| format!("bad value {s:?}: {e}")),
    }
}

/// Parses `k="v",...}` (after the `{`); returns the labels and the rest after the `}`.
fn parse_labels(mut rest: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let (name, after) = rest.split_once("=\"").ok_or("label without =\"")?;
        if !is_label_name(name) {
            return Err(format!("bad label name {name:?}"));
        }
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().ok_or("unterminated label value")? {
                (i, '"') => break i,
                (_, '\\') => match chars.next().ok_or("dangling escape")?.1 {
                    'n' => value.push('\n'),
                    c @ ('\\' | '"') => value.push(c),
                    c => return Err(format!("bad escape \\{c}")),
                },
                (_, c) => value.push(c),
            }
        };
        if labels.insert(name.to_owned(), value).is_some() {
            return Err(format!("label {name} repeated"));
        }
        rest = &after[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

/// The family a sample belongs to: its own name, or a histogram's for `_bucket/_sum/_count`.
fn family_of<'a>(name: &'a str, types: &HashMap<String, String>) -> Option<&'a str> {
    if types.contains_key(name) {
        return Some(name);
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
        let base = name.strip_suffix(suffix)?;
        (types.get(base).map(String::as_str) == Some("histogram")).then_some(base)
    })
}

/// Parses the Prometheus text format (0.0.4): `# HELP`/`# TYPE` lines, then samples
/// `name{labels} value [timestamp]`; every sample needs a TYPE declared before it.
fn parse_prometheus(text: &str) -> Result<Exposition, String> {
    let mut out = Exposition::default();
    let mut helps = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let at = |e: String| format!("line {}: {e}: {line:?}", n + 1);
        if line.trim().is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            if !is_metric_name(name) || helps.insert(name.to_owned(), help.to_owned()).is_some() {
                return Err(at("bad or repeated HELP".into()));
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest
                .split_once(' ')
                .ok_or_else(|| at("TYPE without kind".into()))?;
            let known = ["counter", "gauge", "histogram", "summary", "untyped"];
            if !is_metric_name(name) || !known.contains(&kind) {
                return Err(at("bad TYPE".into()));
            }
            if out
                .samples
                .iter()
                .any(|s| family_of(&s.name, &out.types) == Some(name))
            {
                return Err(at("TYPE after its samples".into()));
            }
            if out.types.insert(name.to_owned(), kind.to_owned()).is_some() {
                return Err(at("repeated TYPE".into()));
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let name_end = line
            .find(['{', ' '])
            .ok_or_else(|| at("sample without value".into()))?;
        let name = &line[..name_end];
        if !is_metric_name(name) {
            return Err(at("bad metric name".into()));
        }
        let (labels, rest) = match line[name_end..].strip_prefix('{') {
            Some(inner) => parse_labels(inner).map_err(at)?,
            None => (BTreeMap::new(), &line[name_end..]),
        };
        let mut fields = rest.split_whitespace();
        let value = parse_value(fields.next().ok_or_else(|| at("no value".into()))?).map_err(at)?;
        if let Some(ts) = fields.next() {
            ts.parse::<i64>()
                .map_err(|e| at(format!("bad timestamp: {e}")))?;
        }
        if fields.next().is_some() {
            return Err(at("trailing fields".into()));
        }
        if family_of(name, &out.types).is_none() {
            return Err(at("sample without a TYPE".into()));
        }
        out.samples.push(PromSample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    Ok(out)
}

/// Checks every histogram (buckets by ascending `le`, counts monotone, last `+Inf` equal to
/// `_count`, `_sum` present) and every counter (finite, not negative).
fn check_families(e: &Exposition) -> Result<(), String> {
    for (family, kind) in &e.types {
        let of = |suffix: &str| {
            let name = format!("{family}{suffix}");
            e.samples.iter().filter(move |s| s.name == name)
        };
        match kind.as_str() {
            "counter" => {
                for s in of("") {
                    if !(s.value.is_finite() && s.value >= 0.0) {
                        return Err(format!("counter {family} = {}", s.value));
                    }
                }
            }
            "histogram" => {
                let mut groups: BTreeMap<BTreeMap<String, String>, Vec<(f64, f64)>> =
                    BTreeMap::new();
                for s in of("_bucket") {
                    let mut rest = s.labels.clone();
                    let le = rest
                        .remove("le")
                        .ok_or(format!("{family} bucket without le"))?;
                    groups
                        .entry(rest)
                        .or_default()
                        .push((parse_value(&le)?, s.value));
                }
                if groups.is_empty() {
                    return Err(format!("histogram {family} without buckets"));
                }
                for (labels, buckets) in groups {
                    let ordered = buckets
                        .windows(2)
                        .all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1);
                    let last = buckets.last().expect("a group has a bucket");
                    let count = of("_count").find(|s| s.labels == labels);
                    let sum = of("_sum").find(|s| s.labels == labels);
                    if !ordered || last.0 != f64::INFINITY {
                        return Err(format!("{family}{labels:?} buckets: {buckets:?}"));
                    }
                    if count.map(|c| c.value) != Some(last.1) || sum.is_none() {
                        return Err(format!(
                            "{family}{labels:?}: +Inf {} vs _count {count:?}, _sum {sum:?}",
                            last.1
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[test]
fn prometheus_parser_rejects_what_it_should() {
    let ok = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"q\\\"\"} 3\n\
              # TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.3\nh_count 2\n";
    let e = parse_prometheus(ok).expect("valid exposition");
    check_families(&e).expect("valid families");
    assert_eq!(e.value("a_total", &[("x", "q\"")]), 3.0);
    for bad in [
        "a_total 3\n",                               // no TYPE
        "# TYPE a counter\na{x=\"1} 3\n",            // unterminated label
        "# TYPE a counter\na three\n",               // bad value
        "# TYPE a counter\na 1\n# TYPE a counter\n", // TYPE after samples
        "# TYPE a gauge\n9a 1\n",                    // bad name
    ] {
        assert!(parse_prometheus(bad).is_err(), "accepted {bad:?}");
    }
    for bad in [
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n",
        "# TYPE c counter\nc -1\n",
    ] {
        let e = parse_prometheus(bad).expect("parses");
        assert!(check_families(&e).is_err(), "accepted {bad:?}");
    }
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text_and_agree_with_the_summary() {
    let origin = TestOrigin::spawn(site).await;
    let addr = origin.addr().to_string();
    let cfg = ConfigBuilder::new(&[origin.addr()]).set("upstreams.health_check.kind", "none");
    let proxy = ProxyProcess::start_with_admin(cfg).await;
    let http = client();
    let mut paths: Vec<String> = Vec::new();
    for i in 0..5 {
        paths.push(format!("/c/{i}"));
        paths.push(format!("/c/{i}"));
    }
    paths.extend(["/status/404", "/status/404", "/status/500", "/u/1", "/u/2"].map(String::from));
    for p in &paths {
        fetch(http.get(proxy.url(p))).await;
    }
    let n = paths.len() as u64;
    summary_counting(&proxy, n).await;
    let r = admin_get(&proxy, "/metrics", None).await;
    let s = proxy.admin_json("/api/summary").await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/plain")),
        "{r:?}"
    );
    let e = parse_prometheus(&r.body)
        .unwrap_or_else(|err| panic!("/metrics is not Prometheus text: {err}\n{}", r.body));
    check_families(&e).unwrap_or_else(|err| panic!("/metrics: {err}\n{}", r.body));
    eprintln!(
        "/metrics: {} families, {} samples; sightline_requests_total = {} after {n} requests",
        e.types.len(),
        e.samples.len(),
        e.value("sightline_requests_total", &[])
    );

    let t = &s["totals"];
    let h = "http_server_request_duration_seconds";
    let agree = [
        ("sightline_requests_total", vec![], num(t, "/requests")),
        (&format!("{h}_count"), vec![], num(t, "/latency/count")),
        ("sightline_errors_total", vec![], num(t, "/errors")),
        ("sightline_bytes_sent_total", vec![], num(t, "/bytes_sent")),
        ("sightline_cache_entries", vec![], num(&s, "/cache/entries")),
        (
            "sightline_upstream_requests_total",
            vec![("upstream", addr.as_str())],
            num(&s, "/upstreams/0/requests"),
        ),
    ];
    for (name, labels, want) in agree {
        assert_eq!(
            e.value(name, &labels),
            want,
            "{name}{labels:?} vs /api/summary"
        );
    }
    for class in ["1xx", "2xx", "3xx", "4xx", "5xx"] {
        assert_eq!(
            e.value("sightline_responses_total", &[("class", class)]),
            num(t, &format!("/status/{class}")),
            "{class}"
        );
    }
    for result in ["hit", "miss", "stale", "bypass"] {
        assert_eq!(
            e.value("sightline_cache_requests_total", &[("result", result)]),
            num(t, &format!("/cache/{result}")),
            "{result}"
        );
    }
    let sum = e.value(&format!("{h}_sum"), &[]);
    assert!(
        (sum - num(t, "/latency/sum_seconds")).abs() < 1e-6,
        "{h}_sum {sum} vs {}",
        t["latency"]["sum_seconds"]
    );
    // And both agree with what was sent.
    assert_eq!(e.value("sightline_requests_total", &[]), n as f64);
    assert_eq!(e.value(&format!("{h}_count"), &[]), n as f64);
    assert_eq!(
        e.value("sightline_responses_total", &[("class", "4xx")]),
        2.0
    );
    assert_eq!(
        e.value("sightline_responses_total", &[("class", "5xx")]),
        1.0
    );
    assert_eq!(
        e.value("sightline_cache_requests_total", &[("result", "hit")]),
        5.0
    );
    assert_eq!(e.types.get(h).map(String::as_str), Some("histogram"));
}

/// The admin's promise under load (issue 4): `/health` within 10 ms at p99.
const HEALTH_P99_LIMIT: Duration = Duration::from_millis(10);

/// A trivial HTTP server on a thread and runtime of its own: the yardstick for how fast this
/// machine lets any other thread answer while the proxy is saturated.
struct Yardstick {
    addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Yardstick {
    fn start() -> Yardstick {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a current-thread runtime builds")
                .block_on(async move {
                    let server = TestOrigin::spawn(|_| TestResponse::ok("{}")).await;
                    addr_tx
                        .send(server.addr())
                        .expect("the test waits for the address");
                    let _ = stopped.await;
                });
        });
        let addr = addr_rx.recv().expect("the yardstick server starts");
        Yardstick {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Yardstick {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Times one GET of `url` to the end of its body.
async fn timed_get(http: &reqwest::Client, url: &str) -> Duration {
    let t = Instant::now();
    let r = http.get(url).send().await.expect("the server answers");
    assert_eq!(r.status(), 200, "{url}");
    r.bytes().await.expect("the body arrives");
    t.elapsed()
}

fn distribution(times: &[Duration]) -> String {
    format!(
        "p50 {:?}, p99 {:?}, max {:?}, mean {:.2} ms",
        quantile(times, 0.50),
        quantile(times, 0.99),
        quantile(times, 1.0),
        mean_ms(times)
    )
}

#[tokio::test]
async fn health_answers_within_10ms_p99_while_the_proxy_is_saturated() {
    let _alone = measuring_alone().await;
    let origin = TestOrigin::spawn(site).await;
    let cfg = ConfigBuilder::new(&[origin.addr()]).set("upstreams.health_check.kind", "none");
    let proxy = ProxyProcess::start_with_admin(cfg).await;
    let warm = fetch(client().get(proxy.url("/c/hot"))).await;
    assert_eq!(warm.status, 200);
    let yardstick = Yardstick::start();
    // The load runs on its own thread and runtime, so only the answers are timed here.
    let load = Load::closed_on_thread(proxy.url("/c/hot"), 8);
    let load_started = Instant::now();
    while load.outcomes().len() < 200 && load_started.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let http = client_builder()
        .build()
        .expect("a plain HTTP client builds");
    let health_url = proxy.admin_url("/health");
    let yard_url = format!("http://{}/", yardstick.addr);
    // Interleaved, so both see the same moments of the load.
    let (mut health, mut yard) = (Vec::with_capacity(200), Vec::with_capacity(200));
    for _ in 0..200 {
        health.push(timed_get(&http, &health_url).await);
        yard.push(timed_get(&http, &yard_url).await);
    }
    let measured_for = load_started.elapsed();
    // Keep the load on for the promised 5 s so the reading is not from a tail-off.
    if let Some(left) = Duration::from_secs(5).checked_sub(measured_for) {
        tokio::time::sleep(left).await;
    }
    let outcomes = load.stop().await;
    drop(yardstick);
    let secs = load_started.elapsed().as_secs_f64();
    let hits_ok = outcomes.iter().filter(|o| o.status == 200).count();
    let p99 = quantile(&health, 0.99);
    eprintln!(
        "admin p99 under load: 8 clients on a cache hit -> {} requests in {secs:.1} s \
         ({:.0}/s, {hits_ok} ok); 200 sequential GET /health: {}; a trivial server on its own \
         thread, interleaved: {}",
        outcomes.len(),
        outcomes.len() as f64 / secs,
        distribution(&health),
        distribution(&yard)
    );
    assert_eq!(hits_ok, outcomes.len(), "load requests failed");
    // MACHINE-SENSITIVE: the strict promise, asserted as is. On a shared 2-core VM running
    // other tests and builds, the OS can leave any thread waiting this long; the yardstick's
    // figures in the message say whether the machine or the admin was slow.
    assert!(
        p99 < HEALTH_P99_LIMIT,
        "/health p99 {p99:?} >= {HEALTH_P99_LIMIT:?} under load ({}); yardstick server at \
         the same moments: {}",
        distribution(&health),
        distribution(&yard)
    );
}

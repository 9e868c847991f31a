// sightline web dashboard: fed by GET /api/stream (server-sent events), not polled. The first
// message (hello) carries 5 minutes of one-second history, every alert and the recent requests;
// each later message (once a second) the new sample, alerts that changed and new requests.
// EventSource reconnects by itself; a watchdog reopens the stream when it stays silent or closed.
// With admin.token set, open the page as /#token=TOKEN: the token is kept in sessionStorage, sent
// as a bearer header on fetches and as ?access_token= on the stream (EventSource sends no headers)
// and, once, on the built-in trace view, whose cookie then lets its trace links open.
"use strict";

const TOKEN_KEY = "sightline-token";
(() => {
  const t = new URLSearchParams(location.hash.slice(1)).get("token");
  if (t) { sessionStorage.setItem(TOKEN_KEY, t); history.replaceState(null, "", location.pathname); }
})();
const token = () => sessionStorage.getItem(TOKEN_KEY);

async function api(url, opts) {
  const headers = token() ? { Authorization: "Bearer " + token() } : {};
  const r = await fetch(url, Object.assign({ headers }, opts || {}));
  if (r.status === 401) throw new Error("unauthorized: open this page as /#token=YOUR_TOKEN");
  if (!r.ok) throw new Error(url + ": HTTP " + r.status);
  return r.json();
}

const SECONDS_KEPT = 300, REQUESTS_SHOWN = 30, SILENCE_MS = 5000;
const state = {
  summary: null, seconds: [], minutes: { 3600: null, 86400: null }, alerts: new Map(),
  requests: [], range: 300, stream: null, lastMessage: 0, retryMs: 1000, error: "",
};

const F = Format;
const CARDS = [
  { key: "rps", label: "Requests/s", value: s => s.window.requests_per_second, text: F.figure, spark: p => p.requests_per_second, color: "#58a6ff" },
  { key: "avg", label: "Avg latency", value: s => s.window.avg_response_time_ms, text: v => F.figure(v) + " ms", spark: p => p.requests ? p.avg_response_time_ms : null, color: "#58a6ff" },
  { key: "p99", label: "p99 latency", value: s => s.window.p99_ms, text: v => F.figure(v) + " ms", spark: p => p.requests ? p.p99_ms : null, color: "#bc8cff" },
  { key: "errors", label: "Error rate", value: s => s.window.error_rate_percent, text: v => F.figure(v) + " %", spark: p => p.error_rate_percent, color: "#f85149" },
  { key: "hit", label: "Hit ratio", value: s => s.window.cache_hit_ratio_percent, text: v => F.figure(v) + " %", spark: p => cacheable(p) ? p.cache_hit_ratio_percent : null, color: "#3fb950" },
  { key: "inflight", label: "In flight", value: s => s.queue_size, text: String, spark: p => p.in_flight, color: "#d29922" },
  { key: "memory", label: "Memory", value: s => s.memory_usage_bytes, text: F.bytes, spark: p => p.memory_usage_bytes, color: "#bc8cff" },
  { key: "cpu", label: "CPU", value: s => s.cpu_percent, text: v => F.figure(v) + " %", spark: p => p.cpu_percent, color: "#f0883e" },
  { key: "connections", label: "Connections", value: s => s.connections, text: String, spark: p => p.connections, color: "#58a6ff" },
  { key: "bytes_out", label: "Sent/s", value: s => s.bytes_sent_per_second, text: v => F.bytes(v) + "/s", spark: p => p.bytes_sent_per_second, color: "#3fb950" },
  { key: "bytes_in", label: "Received/s", value: s => s.bytes_received_per_second, text: v => F.bytes(v) + "/s", spark: p => p.bytes_received_per_second, color: "#d29922" },
];
const cacheable = p => p.cache.hit + p.cache.miss + p.cache.stale > 0;

function buildCards() {
  document.getElementById("cards").innerHTML = CARDS.map(c =>
    '<div class="card" data-key="' + c.key + '"><div class="k">' + c.label + '</div><div class="v">…</div><canvas class="spark"></canvas></div>').join("");
}

// ---- the stream ----
function connect() {
  if (state.stream) state.stream.close();
  const url = "/api/stream" + (token() ? "?access_token=" + encodeURIComponent(token()) : "");
  const es = new EventSource(url);
  state.stream = es;
  setConn("connecting");
  es.addEventListener("hello", e => { onHello(JSON.parse(e.data)); });
  es.addEventListener("sample", e => { onSample(JSON.parse(e.data)); });
  es.onerror = () => {
    setConn("reconnecting");
    if (es.readyState === EventSource.CLOSED) reopenLater();
  };
}

function reopenLater() {
  // EventSource gives up for good on an HTTP error (a 401, a 503 while starting): find out why,
  // then try again with backoff.
  api("/api/summary").then(() => { state.error = ""; }, e => { state.error = String(e.message || e); renderHeader(); });
  setTimeout(connect, state.retryMs);
  state.retryMs = Math.min(state.retryMs * 2, 10000);
}

// A stream that stays silent (a half-open connection after the proxy went away) is reopened.
setInterval(() => {
  if (state.stream && Date.now() - state.lastMessage > SILENCE_MS && state.stream.readyState !== EventSource.CONNECTING) {
    setConn("reconnecting");
    connect();
  }
}, 1000);

function heard() { state.lastMessage = Date.now(); state.retryMs = 1000; state.error = ""; setConn("live"); }

function setConn(c) {
  document.body.dataset.conn = c;
  const el = document.getElementById("conn");
  el.textContent = c === "live" ? "● live" : c === "connecting" ? "connecting…" : "reconnecting…";
  el.className = "conn " + c;
}

function onHello(m) {
  heard();
  state.summary = m.summary;
  traceViewCookie(m.summary.jaeger_ui_url);
  state.seconds = m.history.slice(-SECONDS_KEPT);
  state.alerts = new Map(m.alerts.map(a => [a.id, a]));
  state.requests = m.requests.slice(0, REQUESTS_SHOWN * 2);
  state.minutes = { 3600: null, 86400: null };
  if (state.range > 300) loadMinutes(state.range);
  render();
}

function onSample(m) {
  heard();
  state.summary = m.summary;
  const last = state.seconds[state.seconds.length - 1];
  if (m.point && (!last || m.point.unix_ms > last.unix_ms)) {
    state.seconds.push(m.point);
    if (state.seconds.length > SECONDS_KEPT) state.seconds.shift();
  }
  if (m.minute) {
    for (const r of [3600, 86400]) {
      const list = state.minutes[r];
      if (list && (!list.length || m.minute.unix_ms > list[list.length - 1].unix_ms)) {
        list.push(m.minute);
        if (list.length > r / 60) list.shift();
      }
    }
  }
  for (const a of m.alerts) state.alerts.set(a.id, a);
  state.requests = m.requests.concat(state.requests).slice(0, REQUESTS_SHOWN * 2);
  render();
}

async function loadMinutes(range) {
  try {
    const h = await api("/api/metrics/history?duration=" + range);
    state.minutes[range] = h.samples;
    renderCharts();
  } catch (e) { state.error = String(e.message || e); renderHeader(); }
}

function setRange(r) {
  state.range = r;
  document.querySelectorAll("#ranges button").forEach(b => b.classList.toggle("on", Number(b.dataset.range) === r));
  if (r > 300 && !state.minutes[r]) loadMinutes(r);
  renderCharts();
}

async function ack(id) {
  try {
    const r = await api("/api/alerts/" + id + "/ack", { method: "POST" });
    state.alerts.set(r.alert.id, r.alert);
    renderAlerts();
  } catch (e) { state.error = String(e.message || e); renderHeader(); }
}

// The built-in trace view (links on this origin, "/jaeger") is opened by following a link, which
// cannot carry the bearer header: trade the token once for the view's cookie (Path=/jaeger).
let viewCookie = false;
function traceViewCookie(base) {
  if (viewCookie || !token() || !base || !base.startsWith("/")) return;
  viewCookie = true;
  fetch(base + "/api/services?access_token=" + encodeURIComponent(token())).then(r => { viewCookie = r.ok; }, () => { viewCookie = false; });
}

// ---- rendering ----
function traceUrl(id) {
  const base = state.summary && state.summary.jaeger_ui_url;
  return id && base ? base + "/trace/" + id : null;
}

function render() {
  if (!state.summary) return;
  renderHeader(); renderCards(); renderCharts(); renderUpstreams(); renderAlerts(); renderRequests();
}

function renderHeader() {
  const s = state.summary;
  document.getElementById("err").textContent = state.error;
  if (!s) return;
  const st = document.getElementById("status");
  st.textContent = s.status; st.className = "badge " + s.status;
  document.body.dataset.seq = s.generated_unix_ms;
  document.body.dataset.uptime = s.uptime_seconds;
  const firing = s.alerts.length;
  document.getElementById("meta").textContent = "v" + s.version + " · up " + F.dur(s.uptime_seconds) +
    " · window " + s.window.window_seconds + " s · " + firing + " alert" + (firing === 1 ? "" : "s") +
    " · sample " + F.time(s.generated_unix_ms);
}

function renderCards() {
  const s = state.summary;
  for (const c of CARDS) {
    const el = document.querySelector('.card[data-key="' + c.key + '"]');
    const v = c.value(s);
    el.dataset.value = v;
    el.querySelector(".v").textContent = c.text(v);
    Charts.sparkline(el.querySelector("canvas"), state.seconds.map(c.spark), c.color);
  }
}

function renderCharts() {
  const r = state.range, points = r === 300 ? state.seconds : (state.minutes[r] || []);
  const opts = { span: r, step: r === 300 ? 1 : 60 };
  Charts.lines(document.getElementById("c-rps"), points, [{ value: p => p.requests_per_second, color: "#58a6ff" }], opts);
  const lat = Charts.lines(document.getElementById("c-lat"), points, [
    { value: p => p.requests ? p.avg_response_time_ms : null, color: "#58a6ff" },
    { value: p => p.requests ? p.p99_ms : null, color: "#bc8cff" }], Object.assign({ unit: " ms" }, opts));
  Charts.lines(document.getElementById("c-hit"), points, [{ value: p => cacheable(p) ? p.cache_hit_ratio_percent : null, color: "#3fb950" }], Object.assign({ max: 100, unit: "%" }, opts));
  Charts.stacked(document.getElementById("c-status"), points, [
    { value: p => p.status["2xx"], color: "#3fb950" }, { value: p => p.status["3xx"], color: "#58a6ff" },
    { value: p => p.status["4xx"], color: "#d29922" }, { value: p => p.status["5xx"], color: "#f85149" }], opts);
  // The slowest samples in view, marked on the latency chart and linked to their traces.
  const worst = points.filter(p => p.requests && p.slowest && p.unix_ms >= (points.length ? points[points.length - 1].unix_ms : 0) - r * 1000)
    .sort((a, b) => b.p99_ms - a.p99_ms).slice(0, 5);
  const marks = worst.map(p => ({
    t: p.unix_ms, v: p.p99_ms, trace: p.slowest.trace_id || "", href: traceUrl(p.slowest.trace_id),
    title: F.time(p.unix_ms) + ": p99 " + F.figure(p.p99_ms) + " ms; slowest " + F.figure(p.slowest.latency_ms) + " ms " + p.slowest.method + " " + p.slowest.path,
  }));
  Charts.marks(document.getElementById("c-lat"), lat, marks);
  document.getElementById("slow-samples").innerHTML = marks.length ? "slowest samples: " + marks.map(m =>
    (m.href ? '<a class="trace" target="_blank" rel="noopener" href="' + F.esc(m.href) + '">' : "<span>") +
    F.esc(F.time(m.t) + " " + F.figure(m.v) + " ms") + (m.href ? "</a>" : "</span>")).join(" · ") : "";
}

function table(id, head, rows) {
  document.getElementById(id).innerHTML = "<tr>" + head.map(h => "<th>" + h + "</th>").join("") + "</tr>" +
    (rows.length ? rows.join("") : '<tr><td class="dim" colspan="' + head.length + '">none</td></tr>');
}

function renderUpstreams() {
  const state_of = u => u.ejected ? "ejected" : u.healthy ? "up" : "down";
  table("upstreams", ["address", "state", "in flight", "requests", "errors", "avg ms", "window avg ms", "last check", "failures", "downtime", "ejections"],
    state.summary.upstreams.map(u => '<tr data-address="' + F.esc(u.address) + '"><td>' + F.esc(u.address) + '</td><td class="st-' + state_of(u) + '" title="' +
      F.esc(u.ejection_reason || "") + '">' + state_of(u) + (u.ejected && u.ejected_until_unix_ms ? " until " + F.time(u.ejected_until_unix_ms) : "") +
      "</td><td>" + u.in_flight + "</td><td>" + u.requests + "</td><td>" + u.errors + "</td><td>" + F.figure(u.avg_response_time_ms) +
      "</td><td>" + F.figure(u.window_avg_response_time_ms) + "</td><td>" +
      (u.last_check_unix_ms ? F.ago(u.last_check_unix_ms) + " · " + F.figure(u.last_check_duration_ms) + " ms" + (u.last_check_ok ? "" : " (failed)") : "–") +
      "</td><td>" + u.consecutive_failures + "</td><td>" + F.dur(u.downtime_seconds) + "</td><td>" + (u.ejections || 0) + "</td></tr>"));
}

function renderAlerts() {
  const list = [...state.alerts.values()].sort((a, b) => b.id - a.id).slice(0, 30);
  const links = a => a.trace_ids.map(id => traceUrl(id) ? '<a class="trace" target="_blank" rel="noopener" href="' + F.esc(traceUrl(id)) + '">' + F.esc(id.slice(0, 8)) + "</a>" : F.esc(id.slice(0, 8))).join(" ");
  table("alerts", ["state", "severity", "alert", "value", "peak", "started", "duration", "traces", ""],
    list.map(a => '<tr data-alert-id="' + a.id + '" data-alert-name="' + F.esc(a.name) + '" data-state="' + a.state + '"><td class="' + (a.state === "firing" ? "sev-" + a.severity : "dim") + '">' + a.state +
      '</td><td class="sev-' + a.severity + '">' + a.severity + "</td><td>" + F.esc(a.name + (a.target ? "(" + a.target + ")" : "")) +
      ' <span class="dim">' + F.esc(a.metric + " " + a.op + " " + a.threshold) + "</span></td><td>" + F.figure(a.value) + "</td><td>" + F.figure(a.peak) +
      "</td><td>" + F.time(a.started_unix_ms) + "</td><td>" + (a.duration_seconds != null ? F.dur(a.duration_seconds) : "ongoing") + "</td><td>" + links(a) +
      "</td><td>" + (a.acknowledged ? '<span class="dim">acked</span>' : '<button class="ack" data-id="' + a.id + '">ack</button>') + "</td></tr>"));
}

function reqRow(r) {
  const url = r.trace_url || traceUrl(r.trace_id);
  const trace = !r.trace_id ? '<span class="dim">–</span>' : url ? '<a class="trace" target="_blank" rel="noopener" href="' + F.esc(url) + '">' + F.esc(r.trace_id.slice(0, 12)) + "…</a>" : "<code>" + F.esc(r.trace_id.slice(0, 12)) + "…</code>";
  return "<tr><td>" + F.time(r.unix_ms) + "</td><td>" + F.esc(r.method) + '</td><td class="path" title="' + F.esc(r.path) + '">' + F.esc(r.path) +
    '</td><td class="s' + Math.floor(r.status / 100) + '">' + r.status + "</td><td>" + F.figure(r.latency_ms) + " ms</td><td>" + F.esc(r.cache) + "</td><td>" +
    F.esc(r.upstream || "–") + "</td><td>" + trace + "</td></tr>";
}

function renderRequests() {
  const head = ["time", "method", "path", "status", "latency", "cache", "upstream", "trace"];
  table("slowest", head, state.summary.slowest.map(reqRow));
  table("recent", head, state.requests.slice(0, REQUESTS_SHOWN).map(reqRow));
}

document.addEventListener("click", e => {
  const b = e.target.closest("button.ack");
  if (b) ack(Number(b.dataset.id));
  const r = e.target.closest("#ranges button");
  if (r) setRange(Number(r.dataset.range));
});
window.addEventListener("resize", () => render());
buildCards();
connect();

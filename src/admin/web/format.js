// sightline web dashboard: how figures read. The same rules as the server's observe::format
// (whole numbers from 10 up, two decimals below 0.1, one decimal otherwise, no trailing ".0";
// ties round to even, as Rust's formatting does), so the page and /api/summary agree to the digit.
"use strict";

const Format = (() => {
  // v.toFixed(d), but an exact tie rounds to even (toFixed rounds it up; Rust to even).
  function fixed(v, d) {
    const k = Math.pow(10, d), x = v * k;
    if (Math.abs(x % 1) === 0.5) {
      let n = Math.floor(x);
      if (n % 2 !== 0) n += 1;
      return (n / k).toFixed(d);
    }
    return v.toFixed(d);
  }

  function oneDecimal(v) {
    const s = fixed(v, 1);
    return s.endsWith(".0") ? s.slice(0, -2) : s;
  }

  function figure(v) {
    if (v == null || !isFinite(v)) return "–";
    if (v >= 10) return fixed(v, 0);
    if (v > 0 && v < 0.1) return fixed(v, 2);
    return oneDecimal(v);
  }

  // Bytes in the largest binary unit that keeps the figure at or above 1.
  function bytes(b) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (b >= 1024 && i < units.length - 1) { b /= 1024; i++; }
    return figure(b) + " " + units[i];
  }

  // A span of seconds for axis labels: 300 → "5m", 3600 → "1h", 86400 → "24h".
  function span(s) {
    return s >= 3600 ? Math.round(s / 3600) + "h" : s >= 60 ? Math.round(s / 60) + "m" : s + "s";
  }

  // An uptime or duration: "2d 4h 12m", "4h 0m", "5m 3s", "42s".
  function dur(s) {
    s = Math.max(0, Math.floor(s));
    const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
    return d ? d + "d " + h + "h " + m + "m" : h ? h + "h " + m + "m" : m ? m + "m " + (s % 60) + "s" : s + "s";
  }

  function ago(ms) {
    return dur((Date.now() - ms) / 1000) + " ago";
  }

  function time(ms) {
    return new Date(ms).toLocaleTimeString();
  }

  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  }

  return { fixed, figure, bytes, span, dur, ago, time, esc };
})();

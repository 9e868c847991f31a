// sightline web dashboard: drawing. Canvas line, stacked-area and sparkline charts over
// history points placed by time, and trace marks laid over a chart as real links.
"use strict";

const Charts = (() => {
  // Sizes the canvas backing store to its CSS box (sharp on HiDPI screens).
  function prepare(c) {
    const dpr = window.devicePixelRatio || 1, w = c.clientWidth, h = c.clientHeight;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) {
      c.width = Math.round(w * dpr); c.height = Math.round(h * dpr);
    }
    const g = c.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    return { g, w, h };
  }

  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v))), m = v / p;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
  }

  // A small line of the values (a card's last minutes), no axes.
  function sparkline(c, values, color) {
    const { g, w, h } = prepare(c);
    const vs = values.filter(v => v != null && isFinite(v));
    if (vs.length < 2) return;
    const max = Math.max(...vs), min = Math.min(0, ...vs), span = (max - min) || 1;
    g.strokeStyle = color; g.lineWidth = 1.2; g.beginPath();
    values.forEach((v, i) => {
      if (v == null || !isFinite(v)) return;
      const x = (w - 2) * i / (values.length - 1) + 1, y = h - 2 - (h - 4) * (v - min) / span;
      if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
    });
    g.stroke();
    g.lineTo(w - 1, h); g.lineTo(1, h); g.closePath();
    g.globalAlpha = 0.12; g.fillStyle = color; g.fill(); g.globalAlpha = 1;
  }

  // The frame shared by the time charts: grid, y labels, time labels; returns the mapping.
  function frame(c, span, end, max, unit) {
    const { g, w, h } = prepare(c);
    const left = 44, right = w - 8, top = 8, bottom = h - 18;
    g.strokeStyle = "#26323d"; g.fillStyle = "#8a99a6"; g.font = "11px system-ui, sans-serif"; g.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const y = top + (bottom - top) * i / 4;
      g.beginPath(); g.moveTo(left, y); g.lineTo(right, y); g.stroke();
      g.fillText(Format.figure(max * (1 - i / 4)) + (i === 0 && unit ? unit : ""), 2, y + 4);
    }
    g.fillText("-" + Format.span(span), left, h - 4);
    g.fillText("now", right - 22, h - 4);
    const x = t => left + (right - left) * (1 - (end - t) / (span * 1000));
    const y = v => bottom - (bottom - top) * Math.min(v, max) / max;
    return { g, x, y, left, right, top, bottom, w, h };
  }

  // Lines of `series` ({values: fn(point), color}) over `points` (sorted by unix_ms).
  function lines(c, points, series, opts) {
    const end = points.length ? points[points.length - 1].unix_ms : Date.now();
    let max = opts.max;
    if (!max) {
      let top = 0;
      for (const s of series) for (const p of points) { const v = s.value(p); if (v != null && v > top) top = v; }
      max = niceMax(top * 1.1);
    }
    const f = frame(c, opts.span, end, max, opts.unit);
    const gap = (opts.step || 1) * 2500;
    for (const s of series) {
      f.g.strokeStyle = s.color; f.g.lineWidth = 1.6; f.g.beginPath();
      let prev = null;
      for (const p of points) {
        if (p.unix_ms < end - opts.span * 1000) continue;
        const v = s.value(p);
        if (v == null) { prev = null; continue; }
        const X = f.x(p.unix_ms), Y = f.y(v);
        if (prev && p.unix_ms - prev <= gap) f.g.lineTo(X, Y); else f.g.moveTo(X, Y);
        prev = p.unix_ms;
      }
      f.g.stroke();
    }
    return f;
  }

  // Stacked areas (status mix): `series` ({value, color}) summed bottom-up, as shares (%).
  function stacked(c, points, series, opts) {
    const end = points.length ? points[points.length - 1].unix_ms : Date.now();
    const f = frame(c, opts.span, end, 100, "%");
    const shown = points.filter(p => p.unix_ms >= end - opts.span * 1000);
    const totals = shown.map(p => series.reduce((a, s) => a + s.value(p), 0));
    let base = shown.map(() => 0);
    for (const s of series) {
      const topv = shown.map((p, i) => base[i] + (totals[i] ? 100 * s.value(p) / totals[i] : 0));
      f.g.fillStyle = s.color; f.g.globalAlpha = 0.75; f.g.beginPath();
      shown.forEach((p, i) => { const X = f.x(p.unix_ms), Y = f.y(topv[i]); if (i) f.g.lineTo(X, Y); else f.g.moveTo(X, Y); });
      for (let i = shown.length - 1; i >= 0; i--) f.g.lineTo(f.x(shown[i].unix_ms), f.y(base[i]));
      f.g.closePath(); f.g.fill(); f.g.globalAlpha = 1;
      base = topv;
    }
    return f;
  }

  // Lays `marks` ({t, v, href, title}) over the chart `f` drawn in canvas `c`, as links.
  function marks(c, f, list) {
    const layer = c.parentElement.querySelector(".marks");
    layer.innerHTML = "";
    for (const m of list) {
      const el = document.createElement(m.href ? "a" : "span");
      el.className = "mark";
      if (m.href) { el.href = m.href; el.target = "_blank"; el.rel = "noopener"; }
      el.title = m.title;
      el.dataset.trace = m.trace || "";
      el.style.left = (f.x(m.t) - 5) + "px";
      el.style.top = (f.y(m.v) - 5) + "px";
      layer.appendChild(el);
    }
  }

  return { sparkline, lines, stacked, marks };
})();

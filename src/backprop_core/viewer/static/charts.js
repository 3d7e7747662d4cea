"use strict";
// One uPlot chart per metric: zoom (drag; double-click resets), hover values in the legend,
// EMA smoothing and log scale shared by all charts on the page, live appends.
window.bp.charts = (function () {
  var PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777", "#4b5563", "#65a30d", "#7c3aed", "#0d9488"];
  var all = [];
  var smoothing = 0, logScale = false;

  function ema(values, s) {
    if (!s) return values;
    var out = new Array(values.length), last = 0, w = 0;
    for (var i = 0; i < values.length; i++) {
      var v = values[i];
      if (v == null) { out[i] = null; continue; }
      last = last * s + (1 - s) * v; w = w * s + (1 - s);
      out[i] = last / w;
    }
    return out;
  }

  function useSteps(list) {
    return list.every(function (s) { return s.steps.every(function (x) { return x != null; }); });
  }

  function table(s, bySteps, t0) {
    var n = s.values.length, idx = new Array(n);
    for (var i = 0; i < n; i++) idx[i] = i;
    var xs = bySteps ? s.steps : s.times.map(function (t) { return t - t0; });
    var sorted = true;
    for (var j = 1; j < n; j++) if (xs[j] < xs[j - 1]) { sorted = false; break; }
    if (!sorted) idx.sort(function (a, b) { return xs[a] - xs[b]; });
    var x = new Array(n), y = new Array(n);
    for (var k = 0; k < n; k++) {
      var v = bp.num(s.values[idx[k]]);
      x[k] = xs[idx[k]];
      y[k] = logScale && v != null && v <= 0 ? null : v;
    }
    return [x, ema(y, smoothing)];
  }

  function buildData(c) {
    var bySteps = useSteps(c.series);
    c.xLabel = bySteps ? "step" : "seconds";
    var t0 = Infinity;
    c.series.forEach(function (s) { if (s.times.length) t0 = Math.min(t0, s.times[0]); });
    var tables = c.series.map(function (s) { return table(s, bySteps, t0); });
    if (tables.length === 1) return tables[0];
    return uPlot.join(tables);
  }

  function opts(c, width) {
    return {
      width: width, height: 240,
      scales: { x: { time: false }, y: { distr: logScale ? 3 : 1 } },
      series: [{ label: c.xLabel }].concat(c.series.map(function (s, i) {
        return { label: s.label, stroke: s.color || PALETTE[i % PALETTE.length], width: 1.5, spanGaps: true, points: { show: false },
                 value: function (u, v) { return v == null ? "—" : bp.fmtValue(v); } };
      })),
      axes: [{ label: c.xLabel, size: 36, labelSize: 14 }, { size: 64, values: function (u, vals) { return vals.map(bp.fmtValue); } }],
      cursor: { drag: { x: true, y: false } },
      hooks: { setSelect: [function () { c.zoomed = true; }] },
    };
  }

  function render(c) {
    var data = buildData(c);
    if (c.plot) c.plot.destroy();
    var width = Math.max(280, c.body.clientWidth);
    c.plot = new uPlot(opts(c, width), data, c.body);
    c.el.dataset.series = String(c.series.length);
    c.el.dataset.points = String(data[0].length);
    c.plot.over.addEventListener("dblclick", function () { c.zoomed = false; });
  }

  function create(container, key, series) {
    var el = document.createElement("div");
    el.className = "chart"; el.dataset.key = key;
    var total = series.reduce(function (a, s) { return a + (s.total || s.values.length); }, 0);
    el.innerHTML = '<h3>' + bp.esc(key) + ' <span class="total"></span></h3><div class="body"></div>';
    container.appendChild(el);
    var c = { el: el, key: key, series: series, body: el.querySelector(".body"), plot: null, zoomed: false };
    updateTotal(c, total);
    render(c);
    all.push(c);
    return c;
  }

  function updateTotal(c, total) {
    var shown = c.series.reduce(function (a, s) { return a + s.values.length; }, 0);
    c.el.querySelector(".total").textContent = total > shown ? "(" + shown + " of " + total + " points)" : "(" + total + " points)";
  }

  // points: [[step, time, value], ...] for series index i
  function append(c, i, points) {
    var s = c.series[i];
    var lastStep = s.steps.length ? s.steps[s.steps.length - 1] : null;
    var added = 0;
    points.forEach(function (p) {
      if (p[0] != null && lastStep != null && p[0] <= lastStep) return; // already have it
      s.steps.push(p[0]); s.times.push(p[1]); s.values.push(p[2]);
      if (p[0] != null) lastStep = p[0];
      added++;
    });
    if (!added) return;
    s.total = (s.total || 0) + added;
    updateTotal(c, c.series.reduce(function (a, x) { return a + (x.total || x.values.length); }, 0));
    if (c.zoomed) { c.plot.setData(buildData(c), false); } else { c.plot.setData(buildData(c)); }
    c.el.dataset.points = String(c.plot.data[0].length);
  }

  function rerenderAll() { all.forEach(render); }

  function bindControls() {
    var slider = document.getElementById("smoothing"), out = document.getElementById("smoothing-value");
    var log = document.getElementById("logscale");
    if (slider) slider.addEventListener("input", function () {
      smoothing = parseFloat(slider.value) || 0; if (out) out.textContent = slider.value; rerenderAll();
    });
    if (log) log.addEventListener("change", function () { logScale = log.checked; rerenderAll(); });
    var timer = null;
    window.addEventListener("resize", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        all.forEach(function (c) { if (c.plot) c.plot.setSize({ width: Math.max(280, c.body.clientWidth), height: 240 }); });
      }, 100);
    });
  }

  function fromApi(s, label, color) {
    return { label: label, color: color, steps: s.steps.slice(), times: s.times.slice(), values: s.values.slice(), total: s.total };
  }

  return { create: create, append: append, bindControls: bindControls, fromApi: fromApi, palette: PALETTE, all: all };
})();

"use strict";
// uPlot charts of one or more series: zoom (drag; double-click resets), hover values in the
// legend, EMA smoothing and log scale shared by all charts on the page, live appends, and
// dashed vertical marks where sessions start.
window.bp.charts = (function () {
  var PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777", "#4b5563", "#65a30d", "#7c3aed", "#0d9488"];
  var FEW_POINTS = 20;
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
    // Marks: {step, time, label}; on a time axis at their time, on a step axis at their step.
    c.markXs = (c.marks || []).map(function (m) {
      return { x: bySteps ? m.step : (m.time != null && isFinite(t0) ? m.time - t0 : null), label: m.label };
    }).filter(function (m) { return m.x != null; });
    var tables = c.series.map(function (s) { return table(s, bySteps, t0); });
    if (tables.length === 1) return tables[0];
    return uPlot.join(tables);
  }

  // A single x value (one point, or one step logged by every run) still gets a span to draw in.
  function xRange(u, min, max) {
    if (min == null || max == null) return [0, 1];
    return min === max ? [min - 1, max + 1] : [min, max];
  }

  // The y axis as wide as its longest label (uPlot's axis auto-size recipe), so "-8.000e-4"
  // is never clipped.
  function axisSize(u, values, axisIdx, cycleNum) {
    var axis = u.axes[axisIdx];
    if (cycleNum > 1) return axis._size;
    var size = axis.ticks.size + axis.gap;
    var longest = (values || []).reduce(function (a, v) { return String(v).length > a.length ? String(v) : a; }, "");
    if (longest) { u.ctx.font = axis.font[0]; size += u.ctx.measureText(longest).width / devicePixelRatio; }
    return Math.ceil(size) + 4;
  }

  // Lines alone show nothing for one point and little for a few: draw the points too.
  function opts(c, width, few) {
    return {
      width: width, height: 240,
      scales: { x: { time: false, range: xRange }, y: { distr: logScale ? 3 : 1 } },
      series: [{ label: c.xLabel }].concat(c.series.map(function (s, i) {
        return { label: s.label, stroke: s.color || PALETTE[i % PALETTE.length], width: 1.5, spanGaps: true,
                 points: { show: few, size: 6, fill: s.color || PALETTE[i % PALETTE.length] },
                 value: function (u, v) { return v == null ? "—" : bp.fmtValue(v); } };
      })),
      axes: [{ label: c.xLabel, size: 36, labelSize: 14 }, { size: axisSize, values: function (u, vals) { return vals.map(bp.fmtValue); } }],
      cursor: { drag: { x: true, y: false } },
      hooks: { setSelect: [function () { c.zoomed = true; }], draw: [function (u) { drawMarks(u, c); }] },
    };
  }

  function drawMarks(u, c) {
    var ctx = u.ctx, top = u.bbox.top, height = u.bbox.height;
    ctx.save();
    ctx.strokeStyle = "#6b7280"; ctx.fillStyle = "#6b7280"; ctx.lineWidth = 1;
    ctx.setLineDash([4, 4]);
    ctx.font = Math.round(11 * devicePixelRatio) + "px sans-serif";
    (c.markXs || []).forEach(function (m) {
      var x = Math.round(u.valToPos(m.x, "x", true));
      if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) return;
      ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + height); ctx.stroke();
      ctx.fillText(m.label, x + 3 * devicePixelRatio, top + 12 * devicePixelRatio);
    });
    ctx.restore();
  }

  function render(c) {
    var data = buildData(c);
    if (c.plot) c.plot.destroy();
    var width = Math.max(280, c.body.clientWidth);
    c.few = data[0].length <= FEW_POINTS;
    c.plot = new uPlot(opts(c, width, c.few), data, c.body);
    c.el.dataset.series = String(c.series.length);
    c.el.dataset.points = String(data[0].length);
    c.el.dataset.marks = String(c.markXs.length);
    c.plot.over.addEventListener("dblclick", function () { c.zoomed = false; });
  }

  // options.marks: [{step, time, label}] drawn as dashed vertical lines (session starts).
  function create(container, key, series, options) {
    var el = document.createElement("div");
    el.className = "chart"; el.dataset.key = key;
    el.dataset.keys = series.map(function (s) { return s.key || s.label; }).join(",");
    var total = series.reduce(function (a, s) { return a + (s.total || s.values.length); }, 0);
    el.innerHTML = '<h3>' + bp.esc(key) + ' <span class="total"></span></h3><div class="body"></div>';
    container.appendChild(el);
    var c = { el: el, key: key, series: series, body: el.querySelector(".body"), plot: null, zoomed: false,
              marks: (options && options.marks) || [] };
    updateTotal(c, total);
    render(c);
    all.push(c);
    return c;
  }

  function updateTotal(c, total) {
    var shown = c.series.reduce(function (a, s) { return a + s.values.length; }, 0);
    var noun = total === 1 ? " point)" : " points)";
    c.el.querySelector(".total").textContent = total > shown ? "(" + shown + " of " + total + noun : "(" + total + noun;
  }

  // points: [[step, time, value], ...] for series index i
  function append(c, i, points) {
    var s = c.series[i];
    var lastStep = s.steps.length ? s.steps[s.steps.length - 1] : null;
    var added = 0;
    var lastTime = s.times.length ? s.times[s.times.length - 1] : null;
    points.forEach(function (p) {
      if (p[0] != null && lastStep != null && p[0] <= lastStep) return; // already have it
      if (p[0] == null && lastTime != null && p[1] <= lastTime) return; // a step-less one, by time
      s.steps.push(p[0]); s.times.push(p[1]); s.values.push(p[2]);
      if (p[0] != null) lastStep = p[0];
      lastTime = p[1];
      added++;
    });
    if (!added) return;
    s.total = (s.total || 0) + added;
    updateTotal(c, c.series.reduce(function (a, x) { return a + (x.total || x.values.length); }, 0));
    var data = buildData(c);
    if ((data[0].length <= FEW_POINTS) !== c.few) { render(c); }  // points on or off: new options
    else if (c.zoomed) { c.plot.setData(data, false); } else { c.plot.setData(data); }
    c.el.dataset.points = String(c.plot.data[0].length);
  }

  function rerenderAll() { all.forEach(render); }

  function removeAll() {
    all.splice(0).forEach(function (c) { if (c.plot) c.plot.destroy(); c.el.remove(); });
  }

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

  function fromApi(s, label, color, key) {
    return { key: key, label: label, color: color, steps: s.steps.slice(), times: s.times.slice(), values: s.values.slice(), total: s.total };
  }

  // One series per session (for "all sessions"): {session: series}, in session order.
  function bySession(s, key) {
    var out = {}, sessions = s.sessions || [];
    for (var i = 0; i < s.values.length; i++) {
      var n = sessions[i] == null ? 0 : sessions[i];
      var part = out[n] || (out[n] = { key: key, session: n, label: n ? key + " #" + n : key, steps: [], times: [], values: [], total: 0 });
      part.steps.push(s.steps[i]); part.times.push(s.times[i]); part.values.push(s.values[i]); part.total++;
    }
    return Object.keys(out).sort(function (a, b) { return a - b; }).map(function (n) { return out[n]; });
  }

  return { create: create, append: append, bindControls: bindControls, fromApi: fromApi, bySession: bySession,
           removeAll: removeAll, palette: PALETTE, all: all };
})();

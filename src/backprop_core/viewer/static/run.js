"use strict";
// Run page: sessions timeline, checkpoints, charts, log tail, and live updates while active.
(function () {
  var run = bp.readJSON("run-data");
  var charts = {};           // metric key (all sessions: key + "#" + session) -> {chart, index}
  var metrics = null;        // the last /metrics answer
  var grouped = true, allSessions = false, reloading = null, pending = [];
  var sysEl = document.getElementById("system-charts");
  var logSession = Math.max(run.session_count, 1), logNext = null, followLatest = true;
  var chartsEl = document.getElementById("charts");
  var logEl = document.getElementById("log");
  var logView = bp.LogView(logEl);

  // Active seconds of a session now: the stored figure lags while it runs.
  function activeSeconds(s) {
    if (s.ended_at != null || !s.active) return s.active_seconds || 0;
    var now = Date.now() / 1000;
    var paused = (s.pauses || []).reduce(function (a, p) { return a + ((p.ended_at || now) - p.started_at); }, 0);
    return Math.max(s.active_seconds || 0, now - s.started_at - paused);
  }

  function renderSessions(sessions) {
    var body = document.querySelector("#sessions-table tbody");
    document.getElementById("sessions-empty").hidden = sessions.length > 0;
    document.getElementById("sessions-table").hidden = sessions.length === 0;
    body.innerHTML = sessions.map(function (s) {
      var pauses = (s.pauses || []).map(function (p) {
        return bp.esc(p.reason) + " (" + bp.fmtDuration((p.ended_at || Date.now() / 1000) - p.started_at) + ")";
      }).join(", ");
      return "<tr><td>" + s.number + '</td><td><span class="badge ' + bp.esc(s.status) + '">' + bp.esc(s.status) + "</span></td><td>" +
        bp.fmtTime(s.started_at) + "</td><td>" + bp.fmtTime(s.ended_at) + '</td><td class="num">' + bp.fmtDuration(activeSeconds(s)) +
        "</td><td>" + (pauses || "—") + "</td><td>" + bp.esc((s.gpus || []).join(", ") || "—") + "</td><td>" +
        (s.exit_code != null ? s.exit_code : s.signal != null ? "signal " + s.signal : "—") + "</td><td>" + bp.esc(s.reason || "") + "</td></tr>";
    }).join("");
    renderTimeline(sessions);
  }

  function renderTimeline(sessions) {
    var el = document.getElementById("timeline");
    el.hidden = sessions.length === 0;
    if (!sessions.length) return;
    var now = Date.now() / 1000;
    var t0 = sessions[0].started_at, t1 = Math.max.apply(null, sessions.map(function (s) { return s.ended_at || now; }));
    var span = Math.max(t1 - t0, 1);
    var pct = function (t) { return ((t - t0) / span * 100).toFixed(3) + "%"; };
    el.innerHTML = sessions.map(function (s) {
      var end = s.ended_at || now, w = ((end - s.started_at) / span * 100).toFixed(3) + "%";
      var html = '<div class="seg ' + bp.esc(s.status) + '" style="left:' + pct(s.started_at) + ";width:" + w + '" title="session ' + s.number + ": " + bp.esc(s.status) + '"></div>';
      (s.pauses || []).forEach(function (p) {
        var pw = (((p.ended_at || now) - p.started_at) / span * 100).toFixed(3) + "%";
        html += '<div class="pause" style="left:' + pct(p.started_at) + ";width:" + pw + '" title="paused: ' + bp.esc(p.reason) + '"></div>';
      });
      return html + '<span class="label" style="left:' + pct(s.started_at) + '">#' + s.number + "</span>";
    }).join("");
  }

  function renderCheckpoints(cps) {
    var body = document.querySelector("#checkpoints-table tbody");
    document.getElementById("checkpoints-empty").hidden = cps.length > 0;
    document.getElementById("checkpoints-table").hidden = cps.length === 0;
    body.innerHTML = cps.slice().reverse().map(function (c) {
      var m = Object.keys(c.metrics || {}).map(function (k) { return bp.esc(k) + "=" + bp.fmtValue(c.metrics[k]); }).join(" ");
      var gone = c.exists === false;
      return "<tr" + (gone ? ' class="missing" title="the file no longer exists"' : "") + "><td>" + bp.fmtTime(c.time) + '</td><td class="num">' + (c.step != null ? c.step : "—") + "</td><td>" +
        (c.session != null ? c.session : "—") + "</td><td><code>" + bp.esc(c.path) + "</code>" + (c.best ? ' <span class="tag">best</span>' : "") +
        (gone ? ' <span class="tag missing">missing</span>' : "") + "</td><td>" + m + "</td></tr>";
    }).join("");
  }

  function renderAlerts(alerts) {
    document.getElementById("alerts-card").hidden = alerts.length === 0;
    document.querySelector("#alerts-table tbody").innerHTML = alerts.map(function (a) {
      return '<tr class="alert-' + bp.esc(a.level) + '"><td>' + bp.fmtTime(a.time) + '</td><td><span class="badge level-' + bp.esc(a.level) + '">' +
        bp.esc(a.level) + "</span></td><td>" + (a.session != null ? a.session : "—") + '</td><td class="num">' +
        (a.step != null ? a.step : "—") + "</td><td>" + bp.esc(a.text) + "</td></tr>";
    }).join("");
  }

  function renderRun(r) {
    run = r;
    var badge = document.getElementById("run-status");
    badge.textContent = r.status; badge.className = "badge " + r.status;
    document.getElementById("run-ended").textContent = bp.fmtTime(r.ended_at);
    // The record's figure lags while a session runs; the sessions carry the live one.
    var active = r.sessions.reduce(function (a, s) { return a + activeSeconds(s); }, 0);
    document.getElementById("run-active").textContent = bp.fmtDuration(Math.max(active, r.active_seconds || 0));
    document.getElementById("run-step").textContent = r.last_step != null ? r.last_step : "—";
    document.getElementById("run-exit").textContent = r.exit_code != null ? r.exit_code : "—";
    renderSessions(r.sessions);
    renderCheckpoints(r.checkpoints);
    renderAlerts(r.alerts || []);
  }

  function sessionOptions(n) {
    var sel = document.getElementById("log-session");
    for (var i = sel.options.length + 1; i <= n; i++) {
      var o = document.createElement("option"); o.value = String(i); o.textContent = "#" + i; sel.appendChild(o);
    }
    sel.value = String(logSession);
  }

  async function loadLog(session) {
    logSession = session;
    try {
      var chunk = await bp.getJSON("/api/runs/" + encodeURIComponent(run.id) + "/logs?session=" + session);
      logView.set(chunk.exists ? (chunk.offset > 0 ? "…\n" : "") + chunk.text : "(no output recorded for this session)");
      logNext = chunk.exists ? chunk.next_offset : 0;
      logEl.scrollTop = logEl.scrollHeight;
    } catch (e) { logView.set("Could not read the log: " + e.message); }
  }

  function appendLog(text) {
    var atBottom = logEl.scrollHeight - logEl.scrollTop - logEl.clientHeight < 40;
    if (logEl.textContent.startsWith("(no output")) logView.set("");
    logView.append(text);
    if (atBottom) logEl.scrollTop = logEl.scrollHeight;
  }

  async function loadMetrics() {
    var data = await bp.getJSON("/api/runs/" + encodeURIComponent(run.id) + "/metrics?max_points=2000" +
      (allSessions ? "&all_sessions=true" : ""));
    var status = document.getElementById("charts-status");
    if (status) status.remove();
    metrics = data;
    drawCharts();
    return data.seq;
  }

  // Session starts as chart marks: where each later session took over (its boundary step).
  function marks() {
    return (metrics.sessions || []).filter(function (s) { return s.number > 1; }).map(function (s) {
      return { step: s.boundary != null ? s.boundary : s.first_step, time: s.started_at, label: "#" + s.number };
    });
  }

  function drawCharts() {
    bp.charts.removeAll();
    charts = {};
    var groups = grouped ? metrics.groups : metrics.keys.map(function (k) {
      return { title: k, keys: [k], system: k.indexOf("sys/") === 0 };
    });
    groups.forEach(function (g) {
      var series = [];
      g.keys.forEach(function (k) {
        var s = metrics.series[k];
        if (!s) return;
        var parts = allSessions ? bp.charts.bySession(s, k) : [bp.charts.fromApi(s, k, null, k)];
        parts.forEach(function (part) {
          charts[allSessions ? k + "#" + part.session : k] = { index: series.length };
          series.push(part);
        });
      });
      if (!series.length) return;
      var chart = bp.charts.create(g.system ? sysEl : chartsEl, g.title, series, { marks: marks() });
      Object.keys(charts).forEach(function (id) { if (!charts[id].chart) charts[id].chart = chart; });
    });
    document.getElementById("system-section").hidden = !sysEl.querySelector(".chart");
    showNoMetrics();
  }

  // A point from a session or a metric the charts do not have yet: fetch them again (the server
  // decides what the new session supersedes); the stream keeps going meanwhile.
  function reloadSoon() {
    if (reloading) return;
    reloading = setTimeout(function () {
      loadMetrics().catch(function () {}).then(function () {
        reloading = null;
        pending.splice(0).forEach(onPoints);  // what arrived meanwhile (appends skip repeats)
      });
    }, 300);
  }

  function showNoMetrics() {
    var empty = document.getElementById("charts-empty");
    if (chartsEl.querySelector(".chart")) { if (empty) empty.remove(); return; }
    if (!empty) {
      chartsEl.insertAdjacentHTML("beforeend", '<p class="muted" id="charts-empty">' +
        (run.active ? "No metrics yet; charts appear as soon as the script logs some." : "This run logged no metrics.") + "</p>");
    }
  }

  function onPoints(msg) {
    if (!metrics || reloading) { pending.push(msg); return; }
    var known = (metrics.sessions || []).map(function (s) { return s.number; });
    Object.keys(msg.points).forEach(function (k) {
      var pts = msg.points[k];
      var last = pts[pts.length - 1];
      if (last && last[0] != null && k.indexOf("sys/") !== 0) document.getElementById("run-step").textContent = last[0];
      var fresh = pts.some(function (p) { return p[3] != null && known.indexOf(p[3]) < 0; });
      var target = charts[allSessions && last ? k + "#" + (last[3] == null ? 0 : last[3]) : k];
      if (fresh || !target) { reloadSoon(); return; }
      bp.charts.append(target.chart, target.index, pts);
    });
  }

  function live(seq) {
    var url = "/api/runs/" + encodeURIComponent(run.id) + "/stream?after_seq=" + seq +
      "&log_session=" + logSession + (logNext != null ? "&log_offset=" + logNext : "");
    var es = new EventSource(url);
    bp.setConn("live");
    es.addEventListener("open", function () { bp.setConn("live"); });
    es.addEventListener("error", function () { bp.setConn("down"); });
    es.addEventListener("points", function (e) { onPoints(JSON.parse(e.data)); });
    es.addEventListener("run", function (e) { renderRun(JSON.parse(e.data)); });
    es.addEventListener("log", function (e) {
      var m = JSON.parse(e.data);
      if (m.new_session) {
        sessionOptions(m.session);
        if (followLatest) { logSession = m.session; document.getElementById("log-session").value = String(m.session); logView.set(""); }
        return;
      }
      if (m.session === logSession) appendLog(m.text);
    });
    es.addEventListener("end", function () { es.close(); bp.setConn("off"); });
  }

  async function main() {
    renderRun(run);
    sessionOptions(Math.max(run.session_count, 1));
    document.getElementById("log-session").addEventListener("change", function (e) {
      var n = parseInt(e.target.value, 10);
      followLatest = n >= run.session_count;
      loadLog(n);
    });
    bp.charts.bindControls();
    document.getElementById("group-metrics").addEventListener("change", function (e) {
      grouped = e.target.checked; if (metrics) drawCharts();
    });
    document.getElementById("all-sessions").addEventListener("change", function (e) {
      allSessions = e.target.checked; reloadSoon();
    });
    var seq = 0;
    try {
      var results = await Promise.all([loadMetrics(), loadLog(logSession)]);
      seq = results[0];
    } catch (e) {
      var st = document.getElementById("charts-status");
      if (st) { st.textContent = "Could not load metrics: " + e.message; st.className = "notice error"; }
    }
    if (run.active) {
      live(seq);
      var tick = setInterval(function () {
        if (!run.active) { clearInterval(tick); return; }
        renderRun(run);
      }, 1000);
    }
    document.body.dataset.ready = "true";
  }
  main();
})();

"use strict";
// Runs table: selection for comparing, and live rows (new runs, status and metric changes).
(function () {
  var table = document.getElementById("runs-table");
  var body = document.getElementById("runs-body");
  var btn = document.getElementById("compare-btn");
  var params = (table.dataset.params || "").split(",").filter(Boolean);
  var METRICS_SHOWN = 4;

  // The run's own last metrics (not the sampled sys/… ones), as the server renders them.
  function ownMetrics(last) {
    var own = Object.keys(last || {}).filter(function (k) { return k.indexOf("sys/") !== 0; }).slice(0, METRICS_SHOWN);
    if (!own.length) return "—";
    return own.map(function (k) {
      return '<span class="metric" data-metric="' + bp.esc(k) + '">' + bp.esc(k) + " <b>" + bp.fmtValue(last[k]) + "</b></span>";
    }).join("");
  }
  var limit = parseInt(table.dataset.limit, 10) || 50;
  var hosts = table.dataset.hosts === "true";

  function selected() {
    return Array.prototype.map.call(document.querySelectorAll("input.pick:checked"), function (el) { return el.value; });
  }
  function updateSelection() {
    var ids = selected();
    document.getElementById("sel-count").textContent = String(ids.length);
    btn.disabled = ids.length < 2;
  }
  body.addEventListener("change", function (e) { if (e.target.classList.contains("pick")) updateSelection(); });
  document.getElementById("select-all").addEventListener("change", function (e) {
    document.querySelectorAll("input.pick").forEach(function (el) { el.checked = e.target.checked; });
    updateSelection();
  });
  btn.addEventListener("click", function () {
    window.location.href = "/compare?ids=" + selected().map(encodeURIComponent).join(",");
  });

  function rowHtml(r) {
    var tags = Object.keys(r.tags || {}).map(function (k) { return '<span class="tag">' + bp.esc(k) + "=" + bp.esc(r.tags[k]) + "</span>"; }).join("");
    return '<td class="sel"><input type="checkbox" class="pick" value="' + bp.esc(r.id) + '" aria-label="select ' + bp.esc(r.id) + '"></td>' +
      '<td><span class="badge ' + bp.esc(r.status) + '">' + bp.esc(r.status) + "</span></td>" +
      '<td class="name"><a href="/runs/' + encodeURIComponent(r.id) + '">' + bp.esc(r.name || r.id) + "</a>" + (r.name ? '<div class="sub">' + bp.esc(r.id) + "</div>" : "") + "</td>" +
      '<td class="tags">' + tags + "</td>" +
      '<td class="num">' + r.session_count + "</td>" +
      '<td class="num" data-col="duration">' + bp.fmtDuration(r.active_seconds) + "</td>" +
      '<td class="num" data-col="step">' + (r.last_step != null ? r.last_step : "—") + "</td>" +
      params.map(function (p) {
        var has = r.params && Object.prototype.hasOwnProperty.call(r.params, p);
        return '<td class="param" data-param="' + bp.esc(p) + '">' + (has ? bp.esc(bp.fmtParam(r.params[p])) : "—") + "</td>";
      }).join("") +
      '<td class="metrics">' + ownMetrics(r.last_metrics) + "</td>" +
      '<td class="time">' + bp.fmtTime(r.started_at || r.created_at) + "</td>" +
      (hosts ? '<td class="host">' + bp.esc(r.origin || "local") + "</td>" : "");
  }

  function upsert(msg) {
    var r = msg.run;
    var row = body.querySelector('tr[data-id="' + CSS.escape(r.id) + '"]');
    if (row) {
      var checked = row.querySelector("input.pick").checked;
      row.innerHTML = rowHtml(r);
      row.querySelector("input.pick").checked = checked;
      row.className = "status-" + r.status;
    } else if (msg.new) {
      if (table.dataset.live !== "true") { document.getElementById("new-runs").hidden = false; return; }
      row = document.createElement("tr");
      row.dataset.id = r.id; row.className = "status-" + r.status;
      row.innerHTML = rowHtml(r);
      body.insertBefore(row, body.firstChild);
      while (body.rows.length > limit) body.deleteRow(body.rows.length - 1);
      var total = document.getElementById("total");
      total.textContent = String((parseInt(total.textContent, 10) || 0) + 1);
      document.getElementById("range-last").textContent = String(body.rows.length);
      document.getElementById("range").hidden = false;
      table.hidden = false;
      var empty = document.getElementById("runs-empty");
      if (empty) empty.remove();
    } else { return; }
    row.classList.add("flash");
  }

  var since = parseFloat(table.dataset.renderedAt) || Date.now() / 1000;
  var es = new EventSource("/api/runs/stream?since=" + since);
  es.addEventListener("open", function () { bp.setConn("live"); });
  es.addEventListener("error", function () { bp.setConn("down"); });
  es.addEventListener("run", function (e) { upsert(JSON.parse(e.data)); });
  document.body.dataset.ready = "true";
})();

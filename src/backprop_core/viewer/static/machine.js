"use strict";
// Machine page: host and each GPU, refreshed every 2 s, with the runs holding each GPU.
(function () {
  function bar(pct, cls) {
    var p = pct == null ? 0 : Math.max(0, Math.min(100, pct));
    return '<div class="bar ' + (cls || "") + '"><span style="width:' + p.toFixed(1) + '%"></span></div>';
  }
  function kv(k, v) { return '<div class="kv"><span class="muted">' + bp.esc(k) + "</span><span>" + v + "</span></div>"; }

  function renderHost(h, err) {
    var el = document.getElementById("host");
    if (!h) { el.innerHTML = '<p class="muted">' + bp.esc(err || "The host probe gave no reading.") + "</p>"; return; }
    var used = h.ram_total_bytes - h.ram_available_bytes;
    var load = h.load_per_core;
    el.innerHTML = kv("Host", bp.esc(h.hostname)) + kv("CPU cores", h.cpu_count) +
      kv("Load (1 min)", h.load_1m != null ? h.load_1m.toFixed(2) + (load != null ? " (" + load.toFixed(2) + " per core)" : "") : "—") +
      bar(load != null ? load * 100 : null, load > 1 ? "hot" : load > 0.8 ? "warm" : "") +
      kv("RAM", bp.fmtBytes(used) + " used of " + bp.fmtBytes(h.ram_total_bytes) + " · " + bp.fmtBytes(h.ram_available_bytes) + " available") +
      bar(h.ram_total_bytes ? used / h.ram_total_bytes * 100 : null);
  }

  function renderGpus(m) {
    var el = document.getElementById("gpus");
    if (!m.gpus.length) {
      el.innerHTML = '<p class="muted">No GPUs seen (probe: ' + bp.esc(m.gpu_probe) + ")" + (m.gpu_error ? ": " + bp.esc(m.gpu_error) : "") + ".</p>";
      return;
    }
    el.innerHTML = m.gpus.map(function (g) {
      var memPct = g.memory_total_bytes ? (g.memory_used_bytes || 0) / g.memory_total_bytes * 100 : null;
      var t = g.temperature_c;
      var runs = g.runs.length ? g.runs.map(function (r) {
        return '<a href="/runs/' + encodeURIComponent(r.id) + '">' + bp.esc(r.name || r.id) + '</a> <span class="badge ' + bp.esc(r.status) + '">' + bp.esc(r.status) + "</span>";
      }).join("<br>") : '<span class="muted">free</span>';
      return '<div class="gpu" data-index="' + g.index + '"><h3>GPU ' + g.index + " · " + bp.esc(g.name || "unknown") + "</h3>" +
        kv("Memory", bp.fmtBytes(g.memory_used_bytes) + " / " + bp.fmtBytes(g.memory_total_bytes)) + bar(memPct, memPct > 90 ? "hot" : memPct > 75 ? "warm" : "") +
        kv("Temperature", t != null ? t.toFixed(0) + " °C" : "unknown") + bar(t, t >= 85 ? "hot" : t >= 75 ? "warm" : "") +
        kv("Utilisation", g.utilization_pct != null ? g.utilization_pct.toFixed(0) + " %" : "unknown") + bar(g.utilization_pct) +
        kv("Held by", runs) + "</div>";
    }).join("");
  }

  async function refresh() {
    var err = document.getElementById("machine-error");
    try {
      var m = await bp.getJSON("/api/machine");
      err.hidden = true;
      renderHost(m.host, m.host_error);
      renderGpus(m);
      document.getElementById("machine-time").textContent = "Read at " + bp.fmtTime(m.taken_at) + " · GPU probe: " + m.gpu_probe +
        (m.driver_version ? " · driver " + m.driver_version : "") + (m.warnings.length ? " · " + m.warnings.join("; ") : "");
      bp.setConn("live");
    } catch (e) {
      err.hidden = false; err.textContent = "Could not read the machine: " + e.message;
      bp.setConn("down");
    }
    document.body.dataset.ready = "true";
  }
  refresh();
  setInterval(refresh, 2000);
})();

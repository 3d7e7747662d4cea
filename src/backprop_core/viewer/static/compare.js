"use strict";
// Compare page: each metric any chosen run logged, one chart, one series per run.
(function () {
  var data = bp.readJSON("compare-data");
  if (!data || !data.runs.length) { document.body.dataset.ready = "true"; return; }
  var palette = bp.charts.palette;
  document.querySelectorAll(".swatch").forEach(function (el) {
    el.style.background = palette[parseInt(el.dataset.index, 10) % palette.length];
  });
  bp.charts.bindControls();

  async function main() {
    var chartsEl = document.getElementById("charts");
    try {
      var results = await Promise.all(data.runs.map(function (r) {
        return bp.getJSON("/api/runs/" + encodeURIComponent(r.id) + "/metrics?max_points=2000");
      }));
      var status = document.getElementById("charts-status");
      if (status) status.remove();
      data.keys.forEach(function (key) {
        var series = [];
        results.forEach(function (res, i) {
          var s = res.series[key];
          if (s && s.values.length) series.push(bp.charts.fromApi(s, data.runs[i].name || data.runs[i].id, palette[i % palette.length]));
        });
        if (series.length) bp.charts.create(chartsEl, key, series);
      });
    } catch (e) {
      chartsEl.innerHTML = '<p class="notice error">Could not load metrics: ' + bp.esc(e.message) + "</p>";
    }
    document.body.dataset.ready = "true";
  }
  main();
})();

"use strict";
// Helpers shared by every page (no framework, no build step).
window.bp = (function () {
  function esc(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function num(v) { return typeof v === "number" && isFinite(v) ? v : null; }
  function fmtValue(v) {
    if (v === "NaN" || v === "Infinity" || v === "-Infinity") return v;
    if (typeof v !== "number") return v == null ? "—" : String(v);
    if (v === 0) return "0";
    var a = Math.abs(v);
    return a >= 1e5 || a < 1e-3 ? v.toExponential(3) : String(+v.toPrecision(4));
  }
  // A parameter as it was given (the server's fmt_param).
  function fmtParam(v) {
    if (typeof v === "string") return v;
    if (typeof v === "number" || typeof v === "boolean") return String(v);
    return JSON.stringify(v);
  }
  function fmtTime(t) {
    if (t == null) return "—";
    var d = new Date(t * 1000), p = function (n) { return String(n).padStart(2, "0"); };
    return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + " " + p(d.getHours()) + ":" + p(d.getMinutes()) + ":" + p(d.getSeconds());
  }
  function fmtDuration(s) {
    if (s == null) return "—";
    s = Math.round(s);
    if (s < 60) return s + "s";
    if (s < 3600) return Math.floor(s / 60) + "m " + String(s % 60).padStart(2, "0") + "s";
    return Math.floor(s / 3600) + "h " + String(Math.floor((s % 3600) / 60)).padStart(2, "0") + "m";
  }
  function fmtBytes(b) {
    if (b == null) return "—";
    var u = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0;
    while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
    return (i ? b.toFixed(1) : b) + " " + u[i];
  }
  async function getJSON(url) {
    var r = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    var body = await r.json().catch(function () { return null; });
    if (!r.ok) {
      var msg = body && body.error ? body.error.message : r.status + " " + r.statusText;
      throw new Error(msg);
    }
    return body;
  }
  function setConn(state) {
    var el = document.getElementById("conn");
    if (!el) return;
    el.hidden = state === "off";
    el.textContent = state === "down" ? "reconnecting…" : "live";
    el.classList.toggle("down", state === "down");
  }
  function readJSON(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }
  return { esc: esc, num: num, fmtValue: fmtValue, fmtParam: fmtParam, fmtTime: fmtTime, fmtDuration: fmtDuration,
           fmtBytes: fmtBytes, getJSON: getJSON, setConn: setConn, readJSON: readJSON };
})();

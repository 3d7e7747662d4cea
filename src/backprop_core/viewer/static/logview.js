"use strict";
// The log pane: session logs as a terminal shows them. Colours and styles (SGR escape
// sequences) become styled spans; every other escape sequence and control character is
// dropped, never shown raw. Text goes in as text nodes only, so nothing in a log is ever
// interpreted as HTML.
bp.LogView = function (el) {
  var PALETTE = ["#1e293b", "#f87171", "#4ade80", "#facc15", "#60a5fa", "#e879f9", "#22d3ee", "#e2e8f0"];
  var BRIGHT = ["#64748b", "#fca5a5", "#86efac", "#fde047", "#93c5fd", "#f0abfc", "#67e8f9", "#ffffff"];
  // CSI (ESC [ … final), OSC (ESC ] … BEL or ESC \), other two-byte escapes, a lone ESC.
  var ESCAPE = /\x1b\[([0-?]*)[ -\/]*([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?/g;
  var CONTROLS = /[\x00-\x08\x0b-\x1f\x7f]/g;
  var style = {};
  var chars = 0;

  function color256(n) {
    if (n < 8) return PALETTE[n];
    if (n < 16) return BRIGHT[n - 8];
    if (n >= 232) { var g = 8 + (n - 232) * 10; return "rgb(" + g + "," + g + "," + g + ")"; }
    n -= 16;
    var c = function (v) { return v ? 55 + v * 40 : 0; };
    return "rgb(" + c(Math.floor(n / 36)) + "," + c(Math.floor(n / 6) % 6) + "," + c(n % 6) + ")";
  }

  function applySgr(params) {
    var codes = params === "" ? [0] : params.split(/[;:]/).map(function (p) { return parseInt(p, 10) || 0; });
    for (var i = 0; i < codes.length; i++) {
      var c = codes[i];
      if (c === 0) style = {};
      else if (c === 1) style.bold = true;
      else if (c === 2) style.dim = true;
      else if (c === 3) style.italic = true;
      else if (c === 4) style.underline = true;
      else if (c === 7) style.inverse = true;
      else if (c === 22) { delete style.bold; delete style.dim; }
      else if (c === 23) delete style.italic;
      else if (c === 24) delete style.underline;
      else if (c === 27) delete style.inverse;
      else if (c >= 30 && c <= 37) style.fg = PALETTE[c - 30];
      else if (c >= 90 && c <= 97) style.fg = BRIGHT[c - 90];
      else if (c === 39) delete style.fg;
      else if (c >= 40 && c <= 47) style.bg = PALETTE[c - 40];
      else if (c >= 100 && c <= 107) style.bg = BRIGHT[c - 100];
      else if (c === 49) delete style.bg;
      else if ((c === 38 || c === 48) && codes[i + 1] === 5) {
        style[c === 38 ? "fg" : "bg"] = color256(codes[i + 2] || 0); i += 2;
      } else if ((c === 38 || c === 48) && codes[i + 1] === 2) {
        style[c === 38 ? "fg" : "bg"] = "rgb(" + (codes[i + 2] || 0) + "," + (codes[i + 3] || 0) + "," + (codes[i + 4] || 0) + ")"; i += 4;
      }
    }
  }

  function node(text) {
    text = text.replace(/\r(?=\n|$)/g, "").replace(/[^\n]*\r/g, "").replace(CONTROLS, "");
    if (!text) return null;
    chars += text.length;
    if (!Object.keys(style).length) return document.createTextNode(text);
    var span = document.createElement("span");
    span.textContent = text;
    var fg = style.fg, bg = style.bg;
    if (style.inverse) { fg = style.bg || "#0f172a"; bg = style.fg || "#e2e8f0"; }
    if (fg) span.style.color = fg;
    if (bg) span.style.backgroundColor = bg;
    if (style.bold) span.style.fontWeight = "bold";
    if (style.dim) span.style.opacity = "0.7";
    if (style.italic) span.style.fontStyle = "italic";
    if (style.underline) span.style.textDecoration = "underline";
    return span;
  }

  function append(text) {
    var frag = document.createDocumentFragment(), last = 0, m;
    ESCAPE.lastIndex = 0;
    while ((m = ESCAPE.exec(text)) !== null) {
      var piece = node(text.slice(last, m.index));
      if (piece) frag.appendChild(piece);
      if (m[2] === "m") applySgr(m[1]);
      last = ESCAPE.lastIndex;
      if (m[0] === "") ESCAPE.lastIndex++;
    }
    var rest = node(text.slice(last));
    if (rest) frag.appendChild(rest);
    el.appendChild(frag);
    if (chars > 400000) {
      while (chars > 300000 && el.firstChild) {
        chars -= (el.firstChild.textContent || "").length;
        el.removeChild(el.firstChild);
      }
      el.insertBefore(document.createTextNode("…\n"), el.firstChild);
    }
  }

  function set(text) { el.textContent = ""; style = {}; chars = 0; append(text); }

  return { set: set, append: append, text: function () { return el.textContent; } };
};

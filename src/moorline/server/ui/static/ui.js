// moorline UI: small progressive enhancements. Every page works without this file.
"use strict";

(function () {
  // Runs table: select runs, then compare them (/ui/compare?runs=a,b,c).
  function setUpCompare() {
    var form = document.getElementById("compare-form");
    if (!form) return;
    var button = document.getElementById("compare-button");
    var counter = form.querySelector(".selected-count");
    var boxes = Array.prototype.slice.call(document.querySelectorAll('input[name="runs"][form="compare-form"]'));
    var all = document.getElementById("select-all");

    function selected() {
      return boxes.filter(function (b) { return b.checked; }).map(function (b) { return b.value; });
    }
    function refresh() {
      var ids = selected();
      button.disabled = ids.length < 2;
      counter.textContent = ids.length ? ids.length + " selected" : "";
      if (all) {
        all.checked = ids.length > 0 && ids.length === boxes.length;
        all.indeterminate = ids.length > 0 && ids.length < boxes.length;
      }
    }
    boxes.forEach(function (b) { b.addEventListener("change", refresh); });
    if (all) {
      all.addEventListener("change", function () {
        boxes.forEach(function (b) { b.checked = all.checked; });
        refresh();
      });
    }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var ids = selected();
      if (ids.length < 2) return;
      window.location.href = "/ui/compare?runs=" + ids.map(encodeURIComponent).join(",");
    });
    refresh();
  }

  // Compare page: hide the rows where every run agrees.
  function setUpDiffToggle() {
    var toggle = document.getElementById("only-diffs");
    var table = document.getElementById("compare-table");
    if (!toggle || !table) return;
    toggle.addEventListener("change", function () {
      table.classList.toggle("only-diffs", toggle.checked);
    });
  }

  // Charts: a guide line and the exact values of every series at the step under the pointer.
  // moorline.charts embeds the drawn points (data-values) and the plot geometry (data-plot).
  var SVG_NS = "http://www.w3.org/2000/svg";

  function parseValues(text) {
    var xs = [], ys = [];
    (text || "").split(" ").forEach(function (pair) {
      var i = pair.indexOf(",");
      if (i > 0) { xs.push(parseFloat(pair.slice(0, i))); ys.push(parseFloat(pair.slice(i + 1))); }
    });
    return { xs: xs, ys: ys };
  }

  function nearest(xs, x) {
    var lo = 0, hi = xs.length - 1;
    if (hi < 0) return -1;
    while (hi - lo > 1) {
      var mid = (lo + hi) >> 1;
      if (xs[mid] < x) lo = mid; else hi = mid;
    }
    return Math.abs(xs[lo] - x) <= Math.abs(xs[hi] - x) ? lo : hi;
  }

  function show(value) {
    if (!isFinite(value)) return String(value);
    return String(Number(value.toPrecision(6)));
  }

  function setUpChart(figure) {
    var svg = figure.querySelector("svg.moorline-chart");
    if (!svg || !svg.getAttribute("data-plot")) return;
    var box = svg.getAttribute("data-plot").split(" ").map(parseFloat);
    var xMin = parseFloat(svg.getAttribute("data-x-min"));
    var xMax = parseFloat(svg.getAttribute("data-x-max"));
    var viewWidth = svg.viewBox.baseVal.width;
    var xName = (svg.querySelector(".x-label") || {}).textContent || "x";
    var series = Array.prototype.slice.call(svg.querySelectorAll("g.series[data-values]")).map(function (g) {
      var data = parseValues(g.getAttribute("data-values"));
      return { label: g.getAttribute("data-label"), color: g.getAttribute("stroke"), xs: data.xs, ys: data.ys };
    });
    if (!series.length) return;
    var guide = document.createElementNS(SVG_NS, "line");
    guide.setAttribute("class", "hover-guide");
    guide.setAttribute("y1", box[1]);
    guide.setAttribute("y2", box[1] + box[3]);
    guide.setAttribute("stroke", "#9ca3af");
    guide.setAttribute("stroke-dasharray", "3 3");
    guide.setAttribute("visibility", "hidden");
    svg.appendChild(guide);
    var readout = document.createElement("div");
    readout.className = "chart-readout";
    readout.hidden = true;
    figure.appendChild(readout);

    svg.addEventListener("mousemove", function (event) {
      var rect = svg.getBoundingClientRect();
      var vx = (event.clientX - rect.left) * (viewWidth / rect.width);
      if (vx < box[0] || vx > box[0] + box[2]) { hide(); return; }
      var x = xMin + (vx - box[0]) / box[2] * (xMax - xMin);
      var best = null;
      var rows = [];
      series.forEach(function (s) {
        var i = nearest(s.xs, x);
        if (i < 0) return;
        if (best === null || Math.abs(s.xs[i] - x) < Math.abs(best - x)) best = s.xs[i];
        rows.push({ s: s, x: s.xs[i], y: s.ys[i] });
      });
      if (best === null) { hide(); return; }
      var gx = box[0] + (best - xMin) / (xMax - xMin) * box[2];
      guide.setAttribute("x1", gx);
      guide.setAttribute("x2", gx);
      guide.setAttribute("visibility", "visible");
      readout.textContent = "";
      var head = document.createElement("div");
      head.textContent = xName + " " + show(best);
      readout.appendChild(head);
      rows.forEach(function (r) {
        if (r.x !== best) return;
        var line = document.createElement("div");
        var swatch = document.createElement("span");
        swatch.className = "sw";
        swatch.style.background = r.s.color;
        line.appendChild(swatch);
        line.appendChild(document.createTextNode(r.s.label + ": " + show(r.y)));
        readout.appendChild(line);
      });
      readout.hidden = false;
      var fig = figure.getBoundingClientRect();
      var left = event.clientX - fig.left + 14;
      if (left + readout.offsetWidth > fig.width) left = event.clientX - fig.left - readout.offsetWidth - 14;
      readout.style.left = Math.max(0, left) + "px";
      readout.style.top = Math.max(0, event.clientY - fig.top - readout.offsetHeight - 8) + "px";
    });
    svg.addEventListener("mouseleave", hide);

    function hide() {
      guide.setAttribute("visibility", "hidden");
      readout.hidden = true;
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    setUpCompare();
    setUpDiffToggle();
    Array.prototype.forEach.call(document.querySelectorAll("figure.chart-card"), setUpChart);
  });
})();

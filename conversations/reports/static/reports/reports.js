/* Report charts: each <canvas data-chart="ID"> is drawn from the JSON in <script id="ID"> (json_script),
   numbers formatted for the page's language. No inline script (CSP); redrawn after an HTMX swap. */
(function () {
  "use strict";
  var PALETTE = ["#2563eb", "#16a34a", "#f59e0b", "#dc2626", "#7c3aed", "#0891b2", "#db2777", "#65a30d"];

  function locale() {
    var lang = document.documentElement.lang || "en";
    return lang.toLowerCase() === "pt-br" ? "pt-BR" : lang;
  }

  function formatter(unit) {
    var loc = locale();
    if (unit === "percent") {
      var pct = new Intl.NumberFormat(loc, { maximumFractionDigits: 1 });
      return function (v) { return v === null ? "—" : pct.format(v) + " %"; };
    }
    if (unit === "duration") {
      var mins = new Intl.NumberFormat(loc, { maximumFractionDigits: 1 });
      return function (v) { return v === null ? "—" : mins.format(v) + " min"; };
    }
    var num = new Intl.NumberFormat(loc);
    return function (v) { return v === null ? "—" : num.format(v); };
  }

  function dayLabel(label) {
    if (!/^\d{4}-\d{2}-\d{2}$/.test(label)) { return label; }
    var parts = label.split("-");
    var date = new Date(Date.UTC(+parts[0], +parts[1] - 1, +parts[2]));
    return new Intl.DateTimeFormat(locale(), { day: "2-digit", month: "2-digit", timeZone: "UTC" }).format(date);
  }

  function draw(canvas) {
    if (canvas.dataset.drawn === "1" || typeof window.Chart === "undefined") { return; }
    var source = document.getElementById(canvas.dataset.chart);
    if (!source) { return; }
    var spec = JSON.parse(source.textContent);
    var kind = spec.kind === "stacked" ? "bar" : spec.kind;
    var unit = spec.series.length ? spec.series[0].unit : "count";
    var format = formatter(unit);
    var doughnut = kind === "doughnut";
    var datasets = spec.series.map(function (s, i) {
      var color = doughnut ? spec.labels.map(function (_l, j) { return PALETTE[j % PALETTE.length]; }) : PALETTE[i % PALETTE.length];
      return { label: s.label, data: s.values, backgroundColor: color, borderColor: doughnut ? "#fff" : color,
               cubicInterpolationMode: "monotone", pointRadius: spec.labels.length > 40 ? 0 : 2, spanGaps: true };
    });
    var options = {
      responsive: true, maintainAspectRatio: false, animation: false, locale: locale(),
      plugins: {
        legend: { display: datasets.length > 1 || doughnut, position: "bottom" },
        tooltip: { callbacks: { label: function (ctx) {
          var value = doughnut ? ctx.parsed : ctx.parsed.y;
          return (doughnut ? ctx.label : ctx.dataset.label) + ": " + format(value);
        } } }
      }
    };
    if (!doughnut) {
      options.scales = {
        x: { stacked: spec.kind === "stacked", ticks: { callback: function (value) { return dayLabel(this.getLabelForValue(value)); }, maxRotation: 0, autoSkip: true } },
        y: { stacked: spec.kind === "stacked", beginAtZero: true, ticks: { precision: unit === "count" ? 0 : undefined, callback: function (v) { return format(v); } } }
      };
    }
    new window.Chart(canvas, { type: kind, data: { labels: spec.labels, datasets: datasets }, options: options });
    canvas.dataset.drawn = "1";
  }

  function drawAll(root) {
    (root || document).querySelectorAll("canvas.report-chart").forEach(draw);
  }

  function togglePeriod() {
    var preset = document.getElementById("id_preset");
    if (!preset) { return; }
    var custom = preset.value === "custom";
    document.querySelectorAll(".filter-date_from, .filter-date_to").forEach(function (el) { el.hidden = !custom; });
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawAll(document);
    togglePeriod();
    var preset = document.getElementById("id_preset");
    if (preset) { preset.addEventListener("change", togglePeriod); }
  });
  document.addEventListener("htmx:afterSettle", function (event) { drawAll(event.target); });
})();
